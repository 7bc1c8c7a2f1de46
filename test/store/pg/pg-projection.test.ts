/**
 * The PostgreSQL projector with several replicas: one batch at a time holds
 * the projector (SKIP LOCKED: the others return 0 at once), every event is
 * projected exactly once, parked events and their retry behave as SQLite's,
 * the keyed views are fed in the same transaction (a failing event parked
 * alone), rebuilds derive the same rows again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PoolClient } from 'pg';
import type { WebhookType } from '../../../src/model/webhooks.js';
import type { NewEvent } from '../../../src/model/writes.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { createPgEventLog } from '../../../src/store/pg/pg-event-log.js';
import { migratePg } from '../../../src/store/pg/pg-migrations.js';
import { createPgProjection, type PgKeyedItem, type PgKeyedProjection } from '../../../src/store/pg/pg-projection.js';
import { fromPgText, toPgText } from '../../../src/store/pg/pg-text.js';
import { KEYED_VIEWS } from '../../../src/model/views.js';
import { assertSameKeyed, assertSameViews, twinStores } from './pg-projection-harness.js';
import { event, freshDatabase, PG_SKIP, prng, testClient, testPool } from './pg-test-db.js';

function webhooks(from: number, n: number, options: { kind?: 'red_flag' | 'low_score' | 'completion' | 'workflow' } = {}): NewEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const w = generateWebhook(from + i, {
      seed: 11,
      idPrefix: 'r-',
      now: new Date(Date.UTC(2026, 10, 30, 12)),
      ...options,
    });
    const data = (w as { data?: object }).data ?? {};
    const type: WebhookType = 'alert_type' in w ? (w.alert_type as WebhookType) : 'output_schema' in data ? 'workflow' : 'completion';
    return {
      webhookId: w.webhook_id,
      type,
      receivedAt: new Date(Date.UTC(2026, 10, 30, 12, 0, 0, from + i)).toISOString(),
      body: Buffer.from(JSON.stringify(w)),
    };
  });
}

test('U+0000 and U+FFFF escaping of registry text is reversible and leaves other text as it is', () => {
  for (const s of ['', 'plain', 'é🔥', '\u0000', 'a\u0000b', '\uffff', '\uffff0', '\uffff\uffff', '\u0000\uffff0\u0000', 'x\uffff\u0000y']) {
    assert.equal(fromPgText(toPgText(s)), s, JSON.stringify(s));
    assert.ok(!toPgText(s).includes('\u0000'));
  }
  assert.equal(toPgText('plain é'), 'plain é');
  assert.notEqual(toPgText('\u0000'), toPgText('\uffff0'));
});

test('a replica holding the projector: another returns 0 at once (SKIP LOCKED), then projects once it is free', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const pool = testPool(t, url);
  await migratePg(pool);
  await createPgEventLog(pool).appendBatch(webhooks(0, 5));
  const projection = createPgProjection(pool, { keyed: null });
  assert.equal(await projection.lag(), 5);
  const holder = await testClient(t, url);
  await holder.query('BEGIN');
  await holder.query('SELECT seq FROM projector_state WHERE id = 1 FOR UPDATE');
  const started = Date.now();
  assert.equal(await projection.projectBatch(100), 0, 'another replica projects: nothing taken');
  assert.equal(await projection.catchUp(), 0);
  assert.ok(Date.now() - started < 5_000, 'it did not wait for the lock');
  await holder.query('COMMIT');
  assert.equal(await projection.catchUp(2), 5);
  assert.equal(await projection.cursor(), 5);
  assert.equal(await projection.lag(), 0);
  // Nothing pending: 0, and no lock taken (a holder does not make it wait either).
  await holder.query('BEGIN');
  await holder.query('SELECT seq FROM projector_state WHERE id = 1 FOR UPDATE');
  assert.equal(await projection.projectBatch(100), 0);
  await holder.query('ROLLBACK');
});

test('two projectors on two pools racing while events are appended: each event projected exactly once, rows as SQLite has them', { skip: PG_SKIP, timeout: 300_000 }, async (t) => {
  const twin = await twinStores(t);
  const replicas = [twin.projection, createPgProjection(testPool(t, twin.url, { max: 2 }), { keyed: null })];
  const random = prng(20261130);
  const events = webhooks(0, 600);
  let appending = true;
  const appender = (async () => {
    for (let i = 0; i < events.length;) {
      const n = 1 + Math.floor(random() * 60);
      await twin.append(events.slice(i, i + n));
      i += n;
      await new Promise((r) => setTimeout(r, random() * 5));
    }
    appending = false;
  })();
  const taken = [0, 0];
  const skipped = [0, 0];
  await Promise.all([
    appender,
    ...replicas.map(async (p, r) => {
      while (appending || (await p.lag()) > 0) {
        const n = await p.projectBatch(1 + Math.floor(random() * 40));
        taken[r]! += n;
        if (n === 0) {
          skipped[r]!++;
          await new Promise((res) => setTimeout(res, 1));
        }
      }
    }),
  ]);
  assert.equal(taken[0]! + taken[1]!, events.length, `every event taken once (${JSON.stringify({ taken, skipped })})`);
  if (process.env['EMBER_SYNC_TEST_VERBOSE']) console.log('race', { taken, skipped });
  for (const p of replicas) assert.equal(await p.cursor(), events.length);
  assert.equal(await twin.projection.parkedCount(), 0, 'no event was refused (a row written twice would be)');
  const seqs = await twin.pool.query<{
    n: string;
    distinct_seqs: string;
    max: string;
  }>({
    text: `SELECT count(*) AS n, count(DISTINCT seq) AS distinct_seqs, max(seq) AS max FROM (
             SELECT seq FROM red_flag_rows UNION ALL SELECT seq FROM low_score_rows UNION ALL SELECT seq FROM completion_rows UNION ALL SELECT seq FROM workflow_rows) x`,
  });
  assert.deepEqual(seqs.rows[0], {
    n: String(events.length),
    distinct_seqs: String(events.length),
    max: String(events.length),
  });
  await twin.sqlite.projection.catchUp();
  await assertSameViews(twin, [{}, { fromSeq: 100, pageSize: 7 }]);
});

for (const keyed of [null, 'store'] as const) {
  test(
    `an event that cannot be projected is parked with its error, the rest flow; retried, it moves to the end of the log (as on SQLite); keyed views: ${keyed ?? 'none'}`,
    { skip: PG_SKIP },
    async (t) => {
      const twin = await twinStores(t, { keyed });
      const sameKeyed = async (message: string) => {
        if (keyed) for (const view of KEYED_VIEWS) await assertSameKeyed(twin, view, message);
      };
      // A fault of this one event at projection time (a rule the row breaks), made real inside each database.
      twin.db.exec("CREATE TRIGGER poison BEFORE INSERT ON red_flag_rows WHEN NEW.content_id = 'poison' BEGIN SELECT RAISE(ABORT, 'row refused'); END");
      await twin.pool.query({
        text: `CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN IF NEW.content_id = 'poison' THEN RAISE EXCEPTION 'row refused' USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$;
           CREATE TRIGGER poison BEFORE INSERT ON red_flag_rows FOR EACH ROW EXECUTE FUNCTION poison();`,
      });
      const poison = {
        ...generateWebhook(5, { kind: 'red_flag', idPrefix: 'p-' }),
        content_id: 'poison',
        score_details: { only_poison_score: 3, only_poison_justification: 'x' },
      };
      const garbage = event('garbage', {
        type: 'low_score',
        body: Buffer.from('{"not": json'),
        receivedAt: '2026-11-30T12:00:00.000Z',
      });
      await twin.append([
        ...webhooks(0, 5),
        {
          webhookId: poison.webhook_id,
          type: 'red_flag',
          receivedAt: '2026-11-30T12:00:00.000Z',
          body: Buffer.from(JSON.stringify(poison)),
        },
        garbage,
        ...webhooks(10, 5),
      ]);
      // released_seq of a payload replayed from quarantine points at the poison event: it follows the move.
      await twin.pool.query({
        text: `INSERT INTO quarantine (body_sha256, webhook_id, received_at, last_received_at, reason, errors, body, status, released_seq)
           VALUES (repeat('a', 64), $1, '2026-11-30T11:00:00.000Z', '2026-11-30T11:00:00.000Z', 'schema', '[]', '\\x00', 'released', 6)`,
        values: [poison.webhook_id],
      });
      await twin.sqlite.projection.catchUp();
      assert.equal(await twin.projection.catchUp(4), 12);
      assert.equal(await twin.projection.lag(), 0, 'the projector went past them');
      assert.equal(await twin.projection.parkedCount(), 2);
      const parked = await twin.projection.parked();
      assert.deepEqual(
        parked.map((p) => [p.seq, p.webhook_id, p.type]),
        [
          [6, poison.webhook_id, 'red_flag'],
          [7, 'garbage', 'low_score'],
        ],
      );
      assert.match(parked[0]!.error, /row refused/);
      assert.match(parked[1]!.error, /MalformedJsonError|JSON/);
      assert.equal(
        (await twin.projection.columns()).red_flags.find((c) => c.key.startsWith('only_poison')),
        undefined,
        'its columns were not added',
      );
      const half = await twin.pool.query({
        text: "SELECT 1 FROM score_rows WHERE content_id = 'poison'",
      });
      assert.equal(half.rowCount, 0, 'nothing of it half-written');
      await assertSameViews(twin, [{}], 'parked:');
      await sameKeyed('parked:');

      // Still failing: stays parked with its new error; fixed: moved to the end of the log and projected there.
      assert.deepEqual(await twin.projection.retryParked(), {
        moved: 0,
        still: 2,
      });
      assert.deepEqual(await twin.sqlite.projection.retryParked(), {
        moved: 0,
        still: 2,
      });
      twin.db.exec('DROP TRIGGER poison');
      await twin.pool.query({ text: 'DROP TRIGGER poison ON red_flag_rows' });
      assert.deepEqual(await twin.projection.retryParked(), {
        moved: 1,
        still: 1,
      });
      assert.deepEqual(await twin.sqlite.projection.retryParked(), {
        moved: 1,
        still: 1,
      });
      const moved = await twin.pool.query<{ seq: string }>({
        text: 'SELECT seq FROM events WHERE webhook_id = $1',
        values: [poison.webhook_id],
      });
      assert.equal(moved.rows[0]!.seq, '13', 'a new seq above every one assigned');
      const link = await twin.pool.query<{ released_seq: string }>({
        text: 'SELECT released_seq FROM quarantine',
      });
      assert.equal(link.rows[0]!.released_seq, '13');
      assert.equal(await twin.projection.cursor(), 13);
      await assertSameViews(twin, [{}, { fromSeq: 12 }], 'retried:');
      await sameKeyed('retried:');
      // The next event gets the seq after it.
      await twin.append(webhooks(20, 1));
      assert.equal(await twin.projection.catchUp(), 1);
      await twin.sqlite.projection.catchUp();
      await assertSameViews(twin, [{}], 'after:');

      // Rebuild: the same rows again (the registry kept), the one still failing parked again.
      assert.equal(await twin.projection.rebuild(3), 13);
      await twin.sqlite.projection.rebuild();
      assert.equal(await twin.projection.parkedCount(), 1);
      await assertSameViews(twin, [{}], 'rebuilt:');
      await sameKeyed('rebuilt:');
    },
  );
}

test('keyed views: fed in the projector transaction; an event they refuse rolls the batch back and is parked alone; resetKeyed derives them again', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const pool = testPool(t, url);
  await migratePg(pool);
  await pool.query({
    text: 'CREATE TABLE keyed_probe (seq bigint PRIMARY KEY)',
  });
  const calls: number[][] = [];
  let wiped = 0;
  const keyed: PgKeyedProjection = {
    async applyBatch(client: PoolClient, items: PgKeyedItem[]) {
      calls.push(items.map((i) => i.seq));
      for (const i of items) assert.equal(typeof i.payload, 'object');
      // Written in the projector's transaction: gone with it when it rolls back.
      await client.query({
        text: 'INSERT INTO keyed_probe SELECT unnest($1::bigint[])',
        values: [items.map((i) => i.seq)],
      });
      const refused = items.find((i) => (i.payload as { content_id?: unknown }).content_id === 'refused');
      if (refused) throw Object.assign(new Error('cannot apply'), { seq: refused.seq });
    },
    async wipe(client: PoolClient) {
      wiped++;
      await client.query('DELETE FROM keyed_probe');
      return false;
    },
  };
  const projection = createPgProjection(pool, { keyed });
  const refused = {
    ...generateWebhook(3, { kind: 'low_score' }),
    content_id: 'refused',
  };
  const events = [
    ...webhooks(0, 2, { kind: 'red_flag' }),
    {
      webhookId: refused.webhook_id,
      type: 'low_score' as const,
      receivedAt: '2026-11-30T12:00:00.000Z',
      body: Buffer.from(JSON.stringify(refused)),
    },
    ...webhooks(3, 1, { kind: 'workflow' }),
    ...webhooks(4, 2, { kind: 'completion' }),
  ];
  await createPgEventLog(pool).appendBatch(events);
  assert.equal(await projection.projectBatch(100), 1, 'the batch rolled back; the refused event parked alone');
  assert.deepEqual(calls, [[1, 2, 3, 4, 5, 6]]);
  assert.equal(await projection.cursor(), 0);
  assert.equal((await pool.query({ text: 'SELECT 1 FROM keyed_probe' })).rowCount, 0);
  const [parked] = await projection.parked();
  assert.equal(parked!.seq, 3);
  assert.match(parked!.error, /cannot apply/);
  assert.equal(await projection.projectBatch(100), 6);
  assert.deepEqual(calls.at(-1), [1, 2, 4, 5, 6]);
  assert.deepEqual([await projection.cursor(), await projection.keyedCursor(), await projection.lag()], [6, 6, 0]);
  const rows = await pool.query<{ n: string }>({
    text: 'SELECT (SELECT count(*) FROM red_flag_rows) + (SELECT count(*) FROM low_score_rows) + (SELECT count(*) FROM workflow_rows) + (SELECT count(*) FROM completion_rows) AS n',
  });
  assert.equal(rows.rows[0]!.n, '5', 'the refused event has no rows either');

  // A new REPORT_TIMEZONE: the keyed views alone are derived again (workflows tell them nothing, parked events are skipped).
  await projection.resetKeyed();
  assert.equal(wiped, 1);
  assert.deepEqual([await projection.cursor(), await projection.keyedCursor(), await projection.lag()], [6, 0, 6]);
  assert.equal(await projection.catchUp(), 6);
  assert.deepEqual(calls.at(-1), [1, 2, 5, 6]);
  assert.deepEqual([await projection.cursor(), await projection.keyedCursor()], [6, 6]);
  assert.equal(await projection.rebuildKeyed(), 6);
  assert.equal(wiped, 2);
  const probe = await pool.query<{ seq: string }>({
    text: 'SELECT seq FROM keyed_probe ORDER BY seq',
  });
  assert.deepEqual(
    probe.rows.map((r) => Number(r.seq)),
    [1, 2, 5, 6],
  );
});

test('snapshot: the cursor and the registry from one statement; lag never below 0', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const pool = testPool(t, url);
  await migratePg(pool);
  const projection = createPgProjection(pool, { keyed: null });
  assert.deepEqual(await projection.snapshot(), {
    toSeq: 0,
    registry: {
      red_flags: [],
      low_scores: [],
      completions: [],
      workflows: [],
      contents: [],
    },
  });
  await createPgEventLog(pool).appendBatch(webhooks(0, 20));
  await projection.catchUp(7);
  const snap = await projection.snapshot();
  assert.equal(snap.toSeq, 20);
  assert.deepEqual(snap.registry, await projection.columns());
  assert.ok(snap.registry.red_flags.length + snap.registry.low_scores.length > 0);
  // Retention may move the cursors past the last event.
  await pool.query({
    text: 'UPDATE projector_state SET seq = 50, keyed_seq = 50',
  });
  assert.equal(await projection.lag(), 0);
  assert.equal(await projection.projectBatch(10), 0);
});

test(
  'with the keyed views of pg-keyed-projection.ts: log and keyed views as SQLite has them, in small batches, after resetKeyed and after a rebuild',
  { skip: PG_SKIP, timeout: 300_000 },
  async (t) => {
    const twin = await twinStores(t, { keyed: 'store' });
    const events = webhooks(0, 150);
    for (let i = 0; i < events.length; i += 40) {
      await twin.append(events.slice(i, i + 40));
      await twin.projection.catchUp(17);
    }
    await twin.sqlite.projection.catchUp();
    assert.deepEqual([await twin.projection.cursor(), await twin.projection.keyedCursor(), await twin.projection.lag()], [150, 150, 0]);
    await assertSameViews(twin);
    for (const view of KEYED_VIEWS) await assertSameKeyed(twin, view);
    await twin.projection.resetKeyed();
    assert.equal(await twin.projection.keyedCursor(), 0);
    assert.equal(await twin.projection.catchUp(33), 150);
    for (const view of KEYED_VIEWS) await assertSameKeyed(twin, view, 'reset:');
    assert.equal(await twin.projection.rebuild(50), 150);
    await assertSameViews(twin, [{}], 'rebuilt:');
    for (const view of KEYED_VIEWS) await assertSameKeyed(twin, view, 'rebuilt:');
  },
);
