/**
 * RETENTION_DAYS on PostgreSQL, what the contract suite does not see: a moved
 * call lands at the end of the first kept month with its metric rows, under a
 * seq of its own that the projector's cursors and the log's numbering pass;
 * released quarantine entries lose their link to a deleted event.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPgStore } from '../../../src/store/pg/create-pg-store.js';
import { freshDatabase, PG_SKIP, testClient } from './pg-test-db.js';

const call = (id: string, content: string, at: string, metrics: Record<string, number>) => ({
  kind: 'event' as const,
  event: { webhookId: id, type: 'completion' as const, receivedAt: at, body: Buffer.from(JSON.stringify({ webhook_id: id, trigger_reason: 'completed_action', content_id: content, data: { agent_name: 'Ann', score_details: metrics } })) },
});

test('a moved call goes to the end of the kept month with its metric rows, under a seq of its own; released payloads are unlinked', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const store = await createPgStore({ connectionString: url, max: 3 });
  t.after(() => store.close());
  const observer = await testClient(t, url);
  const writer = store.createWriter();
  await writer.submit(call('e1', 'old', '2026-10-05T10:00:00.000Z', { empathy: 1, clarity: 2 }));
  await writer.submit(call('e2', 'new', '2026-11-02T10:00:00.000Z', { empathy: 3 }));
  await writer.submit(call('e3', 'old', '2026-11-03T10:00:00.000Z', { empathy: 4, clarity: 5 }));
  const held = await writer.submit({ kind: 'quarantine', item: { webhookId: 'e0', receivedAt: '2026-12-01T10:00:00.000Z', body: Buffer.from('{"x":1}'), reason: 'x', errors: [] } });
  assert.ok(held.kind === 'quarantine');
  // A payload released to the old event (as replay would) keeps pointing at it until retention deletes it.
  await observer.query("UPDATE quarantine SET status = 'duplicate', released_seq = 1, resolved_at = '2026-12-01T11:00:00.000Z'");
  await store.projection.catchUp();
  const rows = async () =>
    (
      await observer.query<{ view: string; rid: string; part: string; part_pos: number; changed_seq: string }>(`
        SELECT 'contents' AS view, rid, part, part_pos, changed_seq FROM content_rows
        UNION ALL SELECT 'content_scores', rid, part, part_pos, changed_seq FROM content_score_rows ORDER BY 1, 2`)
    ).rows.map((r) => [r.view, Number(r.rid), r.part, r.part_pos, Number(r.changed_seq)]);
  assert.deepEqual(await rows(), [
    ['content_scores', 1, '2026-10', 1, 3],
    ['content_scores', 2, '2026-10', 2, 3],
    ['content_scores', 3, '2026-11', 1, 2],
    ['contents', 1, '2026-10', 1, 3],
    ['contents', 2, '2026-11', 1, 2],
  ]);
  const keep = { cutoff: '2026-11-01T00:00:00.000Z', day: '2026-11-01' };
  assert.deepEqual(await store.retention.activeCallsBefore('2026-11', keep), [1]);
  assert.equal(await store.retention.moveCalls('2026-11', [1]), 1);
  assert.deepEqual(await rows(), [
    ['content_scores', 1, '2026-11', 2, 4],
    ['content_scores', 2, '2026-11', 3, 4],
    ['content_scores', 3, '2026-11', 1, 2],
    ['contents', 1, '2026-11', 2, 4],
    ['contents', 2, '2026-11', 1, 2],
  ]);
  const parts = await observer.query('SELECT view, part, total FROM keyed_parts ORDER BY view, part');
  assert.deepEqual(
    parts.rows.filter((p: { part: string }) => p.part === '2026-11'),
    [
      { view: 'content_scores', part: '2026-11', total: 3 },
      { view: 'contents', part: '2026-11', total: 2 },
    ],
  );
  const cursors = await observer.query('SELECT p.seq::int AS seq, p.keyed_seq::int AS keyed, l.last_seq::int AS last FROM projector_state p, log_state l');
  assert.deepEqual(cursors.rows[0], { seq: 4, keyed: 4, last: 4 });
  assert.equal(await store.projection.lag(), 0);

  assert.equal(await store.retention.deleteEvents(keep.cutoff, 10), 1);
  const q = await observer.query('SELECT status, released_seq FROM quarantine');
  assert.deepEqual(q.rows, [{ status: 'duplicate', released_seq: null }]);
  const logRows = await observer.query<{ n: number }>('SELECT (SELECT count(*) FROM completion_rows WHERE seq = 1)::int + (SELECT count(*) FROM score_rows WHERE seq = 1)::int AS n');
  assert.equal(logRows.rows[0]!.n, 0, 'the append-only rows of the deleted event went with it');
  assert.deepEqual(await writer.submit(call('e4', 'x', '2026-11-04T10:00:00.000Z', { empathy: 1 })), { kind: 'event', duplicate: false, seq: 5 });
  await writer.close();
});
