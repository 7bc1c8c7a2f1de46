/**
 * The webhook writer on PostgreSQL: the ops of one turn in one transaction
 * (events, quarantine, probe, hourly counts), batches one after another; a
 * batch the database cannot take (unavailable) rejects every op with
 * StoreUnavailableError and stores nothing;
 * a connection killed at COMMIT says the outcome is unknown; two replicas
 * writing the same webhook at once store it once; a connection killed while
 * batches stream loses nothing that was answered.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { StoreUnavailableError } from '../../../src/errors.js';
import type { WriteResult } from '../../../src/model/writes.js';
import { migratePg } from '../../../src/store/pg/pg-migrations.js';
import { createPgWriter } from '../../../src/store/pg/pg-writer.js';
import type { WebhookWriteOp } from '../../../src/store/store.js';
import { event, freshDatabase, PG_SKIP, testClient, testPool, waitForBackend } from './pg-test-db.js';

const VICTIM = 'ember-sync-writer';

async function setup(t: TestContext, options: { applicationName?: string } = {}) {
  const url = await freshDatabase(t);
  const pool = testPool(t, url, { max: 4, ...options });
  await migratePg(pool);
  const observer = await testClient(t, url, 'observer');
  return { url, pool, observer };
}

const ev = (id: string, receivedAt = '2026-11-30T09:15:00.000Z', type: 'red_flag' | 'completion' = 'completion'): WebhookWriteOp => ({ kind: 'event', event: event(id, { receivedAt, type }) });
const bad = (body: string, receivedAt = '2026-11-30T09:20:00.000Z', type?: 'low_score'): WebhookWriteOp => ({
  kind: 'quarantine',
  item: { webhookId: `q-${body}`, receivedAt, body: Buffer.from(body), reason: 'schema_validation_failed', errors: [{ path: '/x', message: 'bad' }], ...(type ? { type } : {}) },
});

async function expectUnavailable(p: Promise<unknown>, outcomeUnknown: boolean): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${String(err)}`);
    assert.equal(err.status, 503);
    assert.equal(err.outcomeUnknown, outcomeUnknown);
    if (outcomeUnknown) assert.doesNotMatch(err.message, /nothing was stored/);
    else assert.match(err.message, /nothing was stored/);
    return true;
  });
}

test('webhooks and the probe only (the common batch): one statement writes the events, counts them by hour and outcome, and the probe', { skip: PG_SKIP }, async (t) => {
  const { pool, observer } = await setup(t);
  const writer = createPgWriter(pool);
  await writer.submit(ev('old'));
  const ops: WebhookWriteOp[] = [ev('a'), ev('b', '2026-11-30T10:00:00.000Z', 'red_flag'), ev('a'), ev('old'), { kind: 'probe' }, ev('c', '2026-11-30T09:59:59.999Z')];
  const results = await Promise.all(ops.map((op) => writer.submit(op)));
  assert.deepEqual(results, [
    { kind: 'event', duplicate: false, seq: 2 },
    { kind: 'event', duplicate: false, seq: 3 },
    { kind: 'event', duplicate: true, seq: 2 },
    { kind: 'event', duplicate: true, seq: 1 },
    { kind: 'probe' },
    { kind: 'event', duplicate: false, seq: 4 },
  ]);
  // One transaction for the batch (the first webhook's has its own).
  const xids = await observer.query<{ xid: string }>('SELECT DISTINCT xmin::text AS xid FROM events WHERE seq > 1 UNION SELECT xmin::text FROM health_probe');
  assert.equal(xids.rows.length, 1);
  const hours = await observer.query('SELECT hour, type, outcome, n FROM webhook_hours ORDER BY hour, type, outcome');
  assert.deepEqual(hours.rows, [
    { hour: '2026-11-30T09', type: 'completion', outcome: 'accepted', n: 3 },
    { hour: '2026-11-30T09', type: 'completion', outcome: 'duplicate', n: 2 },
    { hour: '2026-11-30T10', type: 'red_flag', outcome: 'accepted', n: 1 },
  ]);
  // A probe alone is written too.
  await observer.query('DELETE FROM health_probe');
  await writer.submit({ kind: 'probe' });
  assert.equal((await observer.query('SELECT count(*)::int AS n FROM health_probe')).rows[0].n, 1);
  await writer.close();
});

test('the ops of one turn: one transaction with the events, the quarantine, the probe and the hourly counts; onCommit sees the results', { skip: PG_SKIP }, async (t) => {
  const { pool, observer } = await setup(t);
  const commits: WriteResult[][] = [];
  const writer = createPgWriter(pool, { onCommit: (r) => commits.push(r) });
  const ops: WebhookWriteOp[] = [ev('a'), bad('x'), ev('b', '2026-11-30T10:00:00.000Z', 'red_flag'), ev('a'), { kind: 'probe' }, bad('x'), bad('y', '2026-11-30T09:59:59.999Z', 'low_score')];
  const results = await Promise.all(ops.map((op) => writer.submit(op)));
  assert.deepEqual(results, [
    { kind: 'event', duplicate: false, seq: 1 },
    { kind: 'quarantine', id: 1, attempts: 1 },
    { kind: 'event', duplicate: false, seq: 2 },
    { kind: 'event', duplicate: true, seq: 1 },
    { kind: 'probe' },
    { kind: 'quarantine', id: 1, attempts: 2 },
    { kind: 'quarantine', id: 3, attempts: 1 },
  ]);
  assert.deepEqual(commits, [results]);
  // One transaction wrote every row (one xmin).
  const xids = await observer.query<{ xid: string }>(`
    SELECT xmin::text AS xid FROM events UNION SELECT xmin::text FROM quarantine UNION SELECT xmin::text FROM health_probe UNION SELECT xmin::text FROM webhook_hours`);
  assert.equal(xids.rows.length, 1);
  const hours = await observer.query('SELECT hour, type, outcome, n FROM webhook_hours ORDER BY hour, type, outcome');
  assert.deepEqual(hours.rows, [
    { hour: '2026-11-30T09', type: 'completion', outcome: 'accepted', n: 1 },
    { hour: '2026-11-30T09', type: 'completion', outcome: 'duplicate', n: 1 },
    { hour: '2026-11-30T09', type: 'low_score', outcome: 'quarantined', n: 1 },
    { hour: '2026-11-30T09', type: 'unknown', outcome: 'quarantined', n: 2 },
    { hour: '2026-11-30T10', type: 'red_flag', outcome: 'accepted', n: 1 },
  ]);
  // The next turn's counts add to the same rows.
  await writer.submit(ev('c'));
  const accepted = await observer.query("SELECT n FROM webhook_hours WHERE hour = '2026-11-30T09' AND type = 'completion' AND outcome = 'accepted'");
  assert.equal(accepted.rows[0].n, 2);
  assert.equal(writer.failingSince, undefined);
});

test('batches go one after another, at most maxBatch ops each, in submission order; close commits what is queued and refuses more', { skip: PG_SKIP }, async (t) => {
  const { pool, observer } = await setup(t);
  const sizes: number[] = [];
  const writer = createPgWriter(pool, { maxBatch: 3, onCommit: (r) => sizes.push(r.length) });
  const first = Array.from({ length: 7 }, (_, i) => writer.submit(ev(`e${i}`)));
  assert.equal(writer.pending, 7);
  await first[0];
  // Submitted while the first batches are in flight: they join the next batch.
  const late = writer.submit(ev('late'));
  const closing = writer.close();
  assert.equal(writer.closed, true);
  await expectUnavailable(writer.submit(ev('refused')), false);
  await closing;
  assert.equal(writer.pending, 0);
  const seqs = (await Promise.all([...first, late])).map((r) => (r.kind === 'event' ? r.seq : -1));
  assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.ok(sizes.every((n) => n <= 3));
  assert.equal(
    sizes.reduce((a, n) => a + n, 0),
    8,
  );
  const txs = await observer.query<{ n: string }>('SELECT count(DISTINCT xmin::text) AS n FROM events');
  assert.equal(Number(txs.rows[0]!.n), sizes.length);
  assert.ok(sizes.length >= 3);
  const refused = await observer.query("SELECT 1 FROM events WHERE webhook_id = 'refused'");
  assert.equal(refused.rows.length, 0);
});

test('a batch that fails rejects every op with StoreUnavailableError and stores nothing; failingSince until a webhook commit succeeds', { skip: PG_SKIP }, async (t) => {
  const { pool, observer } = await setup(t);
  const writer = createPgWriter(pool);
  await writer.submit(ev('before'));
  // The database refuses the batch for itself, not for its data: a disk full (SQLSTATE 53100) while writing one row.
  // (A refusal of one op's data fails that op alone: pg-hardening.test.ts.)
  await observer.query(`
    CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.webhook_id = 'broken' THEN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER disk_full BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION disk_full();
  `);
  const broken: WebhookWriteOp = ev('broken');
  const failing = [ev('a'), bad('x'), broken, { kind: 'probe' } as const].map((op) => expectUnavailable(writer.submit(op), false));
  await Promise.all(failing);
  const since = writer.failingSince;
  assert.ok(since !== undefined && since <= Date.now());
  const counts = await observer.query('SELECT (SELECT count(*) FROM events)::int AS e, (SELECT count(*) FROM quarantine)::int AS q, (SELECT count(*) FROM health_probe)::int AS p, (SELECT sum(n) FROM webhook_hours)::int AS h');
  assert.deepEqual(counts.rows[0], { e: 1, q: 0, p: 0, h: 1 });
  // A probe alone does not clear it; a webhook commit does.
  await writer.submit({ kind: 'probe' });
  assert.equal(writer.failingSince, since);
  assert.deepEqual(await writer.submit(ev('a')), { kind: 'event', duplicate: false, seq: 2 });
  assert.equal(writer.failingSince, undefined);
});

test('the connection dies at COMMIT: every op rejects saying the outcome is unknown (not "nothing was stored"); a retry tells', { skip: PG_SKIP }, async (t) => {
  const { url, pool, observer } = await setup(t, { applicationName: VICTIM });
  // A test-only deferred trigger runs at COMMIT and pauses there.
  await observer.query(`
    CREATE FUNCTION pause_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.webhook_id = 'slow' THEN PERFORM pg_sleep(30); END IF;
      RETURN NULL;
    END $$;
    CREATE CONSTRAINT TRIGGER pause_at_commit AFTER INSERT ON events DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pause_at_commit();
  `);
  const writer = createPgWriter(pool);
  const outcomes = [ev('slow'), ev('other'), bad('z')].map((op) => expectUnavailable(writer.submit(op), true));
  const pid = await waitForBackend(observer, VICTIM, 'PgSleep');
  const inCommit = await observer.query<{ query: string }>({ text: 'SELECT query FROM pg_stat_activity WHERE pid = $1', values: [pid] });
  assert.equal(inCommit.rows[0]!.query, 'COMMIT');
  await observer.query({ text: 'SELECT pg_terminate_backend($1)', values: [pid] });
  await Promise.all(outcomes);
  await observer.query('DROP TRIGGER pause_at_commit ON events');
  // Here the server had not committed: the retry stores them now (had it committed, they would be duplicates).
  const retry = await Promise.all([ev('slow'), ev('other')].map((op) => createPgWriter(testPool(t, url, { max: 1 })).submit(op)));
  assert.deepEqual(
    retry.map((r) => r.kind === 'event' && r.duplicate),
    [false, false],
  );
});

test('two replicas receive the same webhooks at once: each is stored once, exactly one of them answers duplicate:false, both the same seq', { skip: PG_SKIP }, async (t) => {
  const { url, observer } = await setup(t);
  const a = createPgWriter(testPool(t, url, { max: 2 }));
  const b = createPgWriter(testPool(t, url, { max: 2 }));
  for (let round = 0; round < 20; round++) {
    const ids = Array.from({ length: 5 }, (_, i) => `w-${round}-${i}`);
    const [ra, rb] = await Promise.all([Promise.all(ids.map((id) => a.submit(ev(id)))), Promise.all([...ids].reverse().map((id) => b.submit(ev(id))))]);
    rb.reverse();
    ids.forEach((id, i) => {
      const x = ra[i]!;
      const y = rb[i]!;
      assert.ok(x.kind === 'event' && y.kind === 'event');
      assert.equal(Number(x.duplicate) + Number(y.duplicate), 1, `${id}: one original`);
      assert.equal(x.seq, y.seq, `${id}: one seq`);
    });
  }
  const stored = await observer.query<{ n: number; distinct: number }>('SELECT count(*)::int AS n, count(DISTINCT webhook_id)::int AS distinct FROM events');
  assert.deepEqual(stored.rows[0], { n: 100, distinct: 100 });
  const hours = await observer.query<{ outcome: string; n: number }>('SELECT outcome, sum(n)::int AS n FROM webhook_hours GROUP BY outcome ORDER BY outcome');
  assert.deepEqual(hours.rows, [
    { outcome: 'accepted', n: 100 },
    { outcome: 'duplicate', n: 100 },
  ]);
});

test("the writer's connection is killed while batches stream: every op is answered, or rejected with StoreUnavailableError; nothing answered is missing", { skip: PG_SKIP }, async (t) => {
  const { url, pool, observer } = await setup(t, { applicationName: VICTIM });
  const writer = createPgWriter(pool, { maxBatch: 40 });
  // One batch pauses inside append_events (a test-only trigger) so that at least one kill lands mid-transaction.
  await observer.query(`
    CREATE FUNCTION pause_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.webhook_id = 's-3-7' THEN PERFORM pg_sleep(30); END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER pause_once BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION pause_once();
  `);
  const answered: Array<{ id: string; result: WriteResult }> = [];
  const rejected: string[] = [];
  const all: Promise<void>[] = [];
  const submit = (id: string) =>
    all.push(
      writer.submit(ev(id)).then(
        (result) => void answered.push({ id, result }),
        (err: unknown) => {
          assert.ok(err instanceof StoreUnavailableError, String(err));
          rejected.push(id);
        },
      ),
    );
  let killing = true;
  const killer = (async () => {
    const pid = await waitForBackend(observer, VICTIM, 'PgSleep');
    await observer.query({ text: 'SELECT pg_terminate_backend($1)', values: [pid] });
    // Then a few kills at whatever moment the writer is in.
    for (let k = 0; k < 5 && killing; k++) {
      await new Promise((r) => setTimeout(r, 3 + k * 7));
      await observer.query({ text: "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database() AND state <> 'idle'", values: [VICTIM] });
    }
  })();
  for (let turn = 0; turn < 30; turn++) {
    for (let i = 0; i < 25; i++) submit(`s-${turn}-${i}`);
    await new Promise((r) => setImmediate(r));
    if (turn === 3) await new Promise((r) => setTimeout(r, 50));
  }
  await Promise.all(all);
  killing = false;
  await killer;
  assert.equal(answered.length + rejected.length, 750);
  assert.ok(rejected.includes('s-3-7'), 'the paused batch was rejected');
  assert.ok(answered.length > 0, 'batches after the kill were committed');
  const stored = await createPgWriter(testPool(t, url, { max: 1 })).submit({ kind: 'probe' }).then(() =>
    observer.query<{ webhook_id: string; seq: string }>('SELECT webhook_id, seq FROM events'),
  );
  const bySeq = new Map(stored.rows.map((r) => [r.webhook_id, Number(r.seq)]));
  assert.equal(bySeq.size, stored.rows.length, 'stored once each');
  for (const { id, result } of answered) {
    assert.ok(result.kind === 'event' && !result.duplicate);
    assert.equal(bySeq.get(id), result.seq, `${id} answered and stored under its seq`);
  }
  // A rejected webhook is stored at most once: its retry answers duplicate if it was.
  await observer.query('DROP TRIGGER pause_once ON events');
  const retry = createPgWriter(testPool(t, url, { max: 1 }));
  for (const id of rejected) {
    const r = await retry.submit(ev(id));
    assert.ok(r.kind === 'event');
    assert.equal(r.duplicate, bySeq.has(id), id);
  }
});
