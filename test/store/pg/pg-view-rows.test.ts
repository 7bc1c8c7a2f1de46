/**
 * The PostgreSQL view rows reader against SQLite's: cells of every type as
 * SQLite gives them (a number where text is expected, text with U+0000, -0, a
 * string where a number is expected), keyset pages of any size across the
 * metric rows of one event, the received_at window's bounds, rows aligned to
 * an older column list, and the keyed views through pg-keyed-rows.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Cell } from '../../../src/model/cells.js';
import type { NewEvent } from '../../../src/model/writes.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { assertSameView, assertSameViews, twinStores } from './pg-projection-harness.js';
import { PG_SKIP } from './pg-test-db.js';

const at = (ms: number) => new Date(Date.UTC(2026, 10, 30, 9, 0, 0, ms)).toISOString();
/** A body as a sender writes it (-0 stays -0: JSON.stringify would write 0). */
const raw = (webhookId: string, type: NewEvent['type'], receivedAt: string, json: string): NewEvent => ({ webhookId, type, receivedAt, body: Buffer.from(json) });

async function rowsOf(pages: Iterable<Cell[][]> | AsyncIterable<Cell[][]>): Promise<Cell[][]> {
  const out: Cell[][] = [];
  for await (const p of pages) out.push(...p);
  return out;
}

test('cells as SQLite keeps them: text with U+0000, a number in a text column, text in a number column, -0, extremes', { skip: PG_SKIP }, async (t) => {
  const twin = await twinStores(t);
  await twin.append([
    raw(
      'odd-1',
      'red_flag',
      at(1),
      String.raw`{"webhook_id":"odd-1","content_id":"c\u0000id","alert_type":"red_flag","content_type":"Call","file_name":42,"agent_name":"a\u0000b","red_flag_reason":"r","total_score":-0,"timestamp":"2026-11-30T09:00:00-05:00","score_details":{"x\u0000_score":-0,"plain":"t\u0000","big":1.7976931348623157e308,"tiny":5e-324,"neg":-1e21}}`,
    ),
    raw(
      'odd-2',
      'low_score',
      at(2),
      String.raw`{"webhook_id":"odd-2","content_id":"c2","alert_type":"low_score","content_type":"Call","file_name":"f","agent_name":"a","summary":null,"total_score":"high","total_score_threshold":-0.0,"timestamp":12345,"score_details":{"m_score":"ten","m_justification":7}}`,
    ),
    raw(
      'odd-3',
      'workflow',
      at(3),
      String.raw`{"webhook_id":"odd-3","trigger_reason":"completed_action","content_id":"c3","data":{"status":7,"cost":"free","output_schema":{"f\u0000":{"value":1.5,"reasoning":"\u0000"},"g":{"value":"v","reasoning":-0}}}}`,
    ),
  ]);
  await twin.sqlite.projection.catchUp();
  assert.equal(await twin.projection.catchUp(), 3);
  assert.equal(await twin.projection.parkedCount(), 0);
  await assertSameViews(twin, [{}, { pageSize: 1 }]);
  // And what that means, spelled out.
  const redFlags = await twin.views.snapshot('red_flags');
  const [row] = await rowsOf(redFlags.rows.pages({ toSeq: 3 }));
  const cell = (name: string) => row![redFlags.header.indexOf(name)];
  assert.equal(cell('content_id'), 'c\u0000id');
  assert.equal(cell('file_name'), 42);
  assert.equal(cell('agent_name'), 'a\u0000b');
  assert.ok(Object.is(cell('total_score'), -0));
  assert.equal(cell('timestamp'), '2026-11-30T14:00:00.000Z');
  assert.equal(cell('plain'), 't\u0000');
  assert.equal(cell('big'), Number.MAX_VALUE);
  assert.equal(cell('tiny'), 5e-324);
  assert.equal(cell('neg'), -1e21);
  const lowScores = await twin.views.snapshot('low_scores');
  const [low] = await rowsOf(lowScores.rows.pages({ toSeq: 3 }));
  assert.equal(low![lowScores.header.indexOf('total_score')], 'high');
  assert.equal(low![lowScores.header.indexOf('timestamp')], 12345);
  // The SQL views for people show what the typed columns could hold.
  const sqlView = await twin.pool.query<{ content_id: string; total_score: number }>({ text: 'SELECT content_id, total_score FROM red_flags' });
  assert.equal(sqlView.rows[0]!.content_id, 'c\ufffdid');
});

test('keyset pages of any size through long views (many rows per event), seq slices and received_at bounds', { skip: PG_SKIP }, async (t) => {
  const twin = await twinStores(t);
  const metrics = Array.from({ length: 9 }, (_, i) => `metric_${i}`);
  const events: NewEvent[] = Array.from({ length: 12 }, (_, i) => {
    const w = generateWebhook(i, { kind: i % 3 === 0 ? 'workflow' : 'low_score', metrics, seed: 3 });
    // Some events share a received_at (a window bound falls on several of them).
    return { webhookId: w.webhook_id, type: i % 3 === 0 ? 'workflow' : 'low_score', receivedAt: at(Math.floor(i / 2) * 1000), body: Buffer.from(JSON.stringify(w)) };
  });
  await twin.append(events);
  await twin.sqlite.projection.catchUp();
  await twin.projection.catchUp(5);
  const slices = [
    { toSeq: 12 },
    { toSeq: 12, pageSize: 1 },
    { toSeq: 12, pageSize: 4 },
    { fromSeq: 3, toSeq: 8, pageSize: 2 },
    { toSeq: 12, since: at(2000), pageSize: 3 },
    { toSeq: 12, until: at(4000), pageSize: 5 },
    { toSeq: 12, since: at(1000), until: at(1000) },
    { toSeq: 12, since: at(1000), until: at(1001), pageSize: 1 },
    { fromSeq: 5, toSeq: 11, since: '2026-11-30', until: '2026-12-01' },
    { toSeq: 0 },
  ];
  for (const view of ['scores', 'workflow_fields', 'low_scores', 'workflows'] as const) await assertSameView(twin, view, slices);
  const scores = await twin.views.snapshot('scores');
  assert.equal(await scores.rows.count({ toSeq: 12 }), 8 * 9, 'nine metrics per low score');
  assert.equal((await rowsOf(scores.rows.pages({ toSeq: 12, pageSize: 1 }))).length, 8 * 9);
  // since is inclusive, until exclusive: events 3 and 4 (received at 1000 ms), whose one low score has nine metrics.
  assert.equal(await scores.rows.count({ toSeq: 12, since: at(1000), until: at(1001) }), 9);
  assert.equal(await scores.rows.count({ toSeq: 12, since: at(1001), until: at(2000) }), 0);
});

test('rows are aligned to the column list the reader took, whatever columns came later', { skip: PG_SKIP }, async (t) => {
  const twin = await twinStores(t);
  const body = (i: number, details: Record<string, unknown>) => {
    const w = { ...generateWebhook(i, { kind: 'red_flag' }), score_details: details };
    return { webhookId: w.webhook_id, type: 'red_flag' as const, receivedAt: at(i), body: Buffer.from(JSON.stringify(w)) };
  };
  await twin.append([body(1, { a: 1, b: 'x' })]);
  await twin.projection.catchUp();
  await twin.sqlite.projection.catchUp();
  const before = await twin.projection.snapshot();
  const old = await twin.views.snapshot('red_flags', before.registry);
  await twin.append([body(2, { c: 3, a: 2 })]);
  await twin.projection.catchUp();
  await twin.sqlite.projection.catchUp();
  const rows = await rowsOf(old.rows.pages({ toSeq: 2 }));
  assert.equal(old.header.length, 9 + 2);
  assert.deepEqual(
    rows.map((r) => r.length),
    [11, 11],
  );
  assert.deepEqual(rows[1]!.slice(9), [2, null], 'the new key is not in the old list');
  const expected = await rowsOf((await twin.sqlite.views.snapshot('red_flags', before.registry)).rows.pages({ toSeq: 2 }));
  assert.deepStrictEqual(rows, expected);
  await assertSameViews(twin);
});
