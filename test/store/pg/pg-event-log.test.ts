/**
 * The raw log on PostgreSQL: append_events' answers (seq, duplicate) within a
 * batch, across batches and across connections racing on one webhook_id; what
 * is stored (bytes and times verbatim); a seq never reused after deletions; a
 * batch is all or nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatabaseError } from 'pg';
import { StoreUnavailableError } from '../../../src/errors.js';
import { createPgEventLog } from '../../../src/store/pg/pg-event-log.js';
import { migratePg } from '../../../src/store/pg/pg-migrations.js';
import { event, freshDatabase, PG_SKIP, prng, testClient, testPool } from './pg-test-db.js';

test('a batch: seqs dense in array order; duplicates within it (first wins) and of earlier batches get the stored seq', { skip: PG_SKIP }, async (t) => {
  const pool = testPool(t, await freshDatabase(t));
  await migratePg(pool);
  const log = createPgEventLog(pool);
  assert.deepEqual(await log.appendBatch([]), []);
  assert.deepEqual(await log.appendBatch([event('a'), event('b'), event('a'), event('c'), event('b')]), [
    { seq: 1, duplicate: false },
    { seq: 2, duplicate: false },
    { seq: 1, duplicate: true },
    { seq: 3, duplicate: false },
    { seq: 2, duplicate: true },
  ]);
  assert.deepEqual(await log.appendBatch([event('d'), event('c'), event('e'), event('d'), event('a')]), [
    { seq: 4, duplicate: false },
    { seq: 3, duplicate: true },
    { seq: 5, duplicate: false },
    { seq: 4, duplicate: true },
    { seq: 1, duplicate: true },
  ]);
  // The first of an in-batch pair is the one kept (its bytes), not the later one.
  const [stored] = await log.eventsAfter(0, 1);
  assert.equal(stored!.webhook_id, 'a');
  assert.deepEqual(JSON.parse(stored!.body.toString()), { webhook_id: 'a', trigger_reason: 'completed_action' });
  assert.deepEqual(
    (await log.eventsAfter(0, 100)).map((e) => [e.seq, e.webhook_id]),
    [
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
      [4, 'd'],
      [5, 'e'],
    ],
  );
  assert.deepEqual(
    (await log.eventsAfter(2, 2)).map((e) => e.seq),
    [3, 4],
  );
});

test('bytes, times, type and outcome come back exactly as given', { skip: PG_SKIP }, async (t) => {
  const pool = testPool(t, await freshDatabase(t));
  await migratePg(pool);
  const log = createPgEventLog(pool);
  const binary = Buffer.from([0x00, 0xff, 0xfe, 0x5c, 0x22, 0x7b, 0x0a, 0x00]); // NUL, invalid UTF-8, backslash, quote
  const big = Buffer.alloc(300_000, 'x');
  await log.appendBatch([
    event('bin', { body: binary, receivedAt: '2026-11-30T09:24:41.923Z', type: 'red_flag' }),
    event('big', { body: big, receivedAt: '1999-01-01T00:00:00.000Z', type: 'workflow', outcome: 'replayed' }),
    event('empty-ish', { body: Buffer.from('{}'), receivedAt: '2026-02-28T23:59:59.999Z', type: 'low_score' }),
  ]);
  const rows = await log.eventsAfter(0, 10);
  assert.deepEqual(rows[0], { seq: 1, webhook_id: 'bin', type: 'red_flag', received_at: '2026-11-30T09:24:41.923Z', body: binary });
  assert.ok(rows[1]!.body.equals(big));
  assert.equal(rows[1]!.received_at, '1999-01-01T00:00:00.000Z');
  const outcomes = await pool.query<{ outcome: string }>({ text: 'SELECT outcome FROM events ORDER BY seq' });
  assert.deepEqual(
    outcomes.rows.map((r) => r.outcome),
    ['accepted', 'replayed', 'accepted'],
  );
  const counts = await log.counts();
  assert.deepEqual(counts, { events: 3, lastSeq: 3, lastAssignedSeq: 3, quarantineHeld: 0, quarantineAttempts: 0, byType: { red_flag: 1, workflow: 1, low_score: 1 } });
});

test('a batch with one bad event stores nothing (the error is rethrown, not "unavailable"), and uses up no seq', { skip: PG_SKIP }, async (t) => {
  const pool = testPool(t, await freshDatabase(t));
  await migratePg(pool);
  const log = createPgEventLog(pool);
  await log.appendBatch([event('before')]);
  for (const bad of [
    event('x2', { receivedAt: '2026-11-30T09:24:41Z' }), // no milliseconds: not the text ember-sync writes
    event('x2', { receivedAt: '2026-11-30T09:24:41.923+00:00' }),
    { ...event('x2'), type: 'nope' as 'completion' },
  ]) {
    await assert.rejects(log.appendBatch([event('x1'), bad, event('x3')]), (err: unknown) => {
      assert.ok(!(err instanceof StoreUnavailableError));
      assert.ok(err instanceof DatabaseError);
      assert.equal(err.code, '23514'); // check_violation
      return true;
    });
  }
  assert.deepEqual(await log.appendBatch([event('x1'), event('x3')]), [
    { seq: 2, duplicate: false },
    { seq: 3, duplicate: false },
  ]);
});

test('seq is never reused: after the newest events are deleted, new ones get numbers above every one ever assigned', { skip: PG_SKIP }, async (t) => {
  const pool = testPool(t, await freshDatabase(t));
  await migratePg(pool);
  const log = createPgEventLog(pool);
  await log.appendBatch(Array.from({ length: 10 }, (_, i) => event(`e${i + 1}`)));
  // A poller read everything: its cursor is at 10.
  const cursor = (await log.eventsAfter(0, 100)).at(-1)!.seq;
  assert.equal(cursor, 10);
  // The newest go (retention, a repair by hand), then everything.
  await pool.query({ text: 'DELETE FROM events WHERE seq > $1', values: [7] });
  assert.deepEqual(await log.appendBatch([event('n1'), event('n2')]), [
    { seq: 11, duplicate: false },
    { seq: 12, duplicate: false },
  ]);
  await pool.query({ text: 'DELETE FROM events' });
  assert.deepEqual(await log.appendBatch([event('n3')]), [{ seq: 13, duplicate: false }]);
  // The poller past 10 sees the new ones; a webhook_id whose event was deleted is new again (as in SQLite).
  assert.deepEqual(
    (await log.eventsAfter(cursor, 100)).map((e) => e.webhook_id),
    ['n3'],
  );
  assert.deepEqual(await log.appendBatch([event('e10')]), [{ seq: 14, duplicate: false }]);
  const c = await log.counts();
  assert.equal(c.lastSeq, 14);
  assert.equal(c.lastAssignedSeq, 14);
});

test('the same webhook_id sent on 8 connections at once, 40 times over: stored once, one caller gets duplicate:false, all get its seq', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  await migratePg(testPool(t, url));
  // One pool of one connection per sender: 8 sessions racing, as 8 replicas' writers would.
  const logs = Array.from({ length: 8 }, () => createPgEventLog(testPool(t, url, { max: 1 })));
  const random = prng(20261130);
  const ROUNDS = 40;
  let unique = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const id = `dup-${round}`;
    // Each sender puts the contested event somewhere in a batch of its own unique events (some alone).
    const batches = logs.map((_, s) => {
      const size = random() < 0.3 ? 1 : 1 + Math.floor(random() * 40);
      const at = Math.floor(random() * size);
      return Array.from({ length: size }, (_, i) => (i === at ? event(id) : event(`u-${round}-${s}-${i}`)));
    });
    unique += batches.reduce((n, b) => n + b.length - 1, 0);
    const answers = await Promise.all(logs.map((log, s) => log.appendBatch(batches[s]!)));
    const contested = answers.map((a, s) => a[batches[s]!.findIndex((e) => e.webhookId === id)]!);
    assert.equal(contested.filter((r) => !r.duplicate).length, 1, `round ${round}: ${JSON.stringify(contested)}`);
    assert.equal(new Set(contested.map((r) => r.seq)).size, 1, `round ${round}: ${JSON.stringify(contested)}`);
    // The others in those batches are all new.
    for (const [s, a] of answers.entries()) {
      a.forEach((r, i) => {
        if (batches[s]![i]!.webhookId !== id) assert.equal(r.duplicate, false);
      });
    }
  }
  const check = await testClient(t, url);
  const res = await check.query<{ n: string; ids: string; max: string; dense: boolean }>({
    text: `SELECT count(*) AS n, count(DISTINCT webhook_id) AS ids, max(seq) AS max, max(seq) = count(*) AS dense FROM events`,
  });
  assert.deepEqual(res.rows[0], { n: String(ROUNDS + unique), ids: String(ROUNDS + unique), max: String(ROUNDS + unique), dense: true });
});

test('append_events refuses to run under REPEATABLE READ (its duplicate check needs a snapshot taken after the lock)', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  await migratePg(testPool(t, url));
  const client = await testClient(t, url);
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  await assert.rejects(
    client.query({ text: 'SELECT * FROM append_events($1, $2, $3, $4, $5)', values: [['a'], ['completion'], [new Date().toISOString()], ['accepted'], [Buffer.from('{}')]] }),
    /needs READ COMMITTED, not repeatable read/,
  );
  await client.query('ROLLBACK');
  await assert.rejects(
    client.query({ text: 'SELECT * FROM append_events($1, $2, $3, $4, $5)', values: [['a', 'b'], ['completion'], [new Date().toISOString()], ['accepted'], [Buffer.from('{}')]] }),
    /the five arrays must have the same length/,
  );
});

test('quarantine: the same bytes again count as another attempt; counts() sees the held ones', { skip: PG_SKIP }, async (t) => {
  const pool = testPool(t, await freshDatabase(t));
  await migratePg(pool);
  const log = createPgEventLog(pool);
  const q = { webhookId: 'q1', receivedAt: '2026-11-30T09:00:00.000Z', body: Buffer.from('{"bad":1}'), reason: 'schema', errors: [{ path: '/x', message: 'nope' }] };
  assert.deepEqual(await log.quarantine(q), { id: 1, attempts: 1 });
  assert.deepEqual(await log.quarantine({ ...q, receivedAt: '2026-11-30T10:00:00.000Z' }), { id: 1, attempts: 2 });
  // Other bytes: another entry (an identity column: the attempt above used up id 2, ids only grow).
  const other = await log.quarantine({ ...q, body: Buffer.from('{"bad":2}') });
  assert.equal(other.attempts, 1);
  assert.ok(other.id > 1);
  const row = await pool.query<{ received_at: string; last_received_at: string; errors: string }>({ text: 'SELECT received_at, last_received_at, errors FROM quarantine WHERE id = 1' });
  assert.deepEqual(row.rows[0], { received_at: '2026-11-30T09:00:00.000Z', last_received_at: '2026-11-30T10:00:00.000Z', errors: '[{"path":"/x","message":"nope"}]' });
  const c = await log.counts();
  assert.equal(c.quarantineHeld, 2);
  assert.equal(c.quarantineAttempts, 3);
});

test('a session that appended while the log was tiny still finds duplicates through the index once it is large (no plan cached from then)', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  await migratePg(testPool(t, url));
  const session = await testClient(t, url, 'long-lived');
  const other = await testClient(t, url, 'other');
  // No ANALYZE in between (it would re-plan): only what the session cached can differ.
  await other.query('ALTER TABLE events SET (autovacuum_enabled = false)');
  const append = (c: typeof session, ids: string[]) =>
    c.query<{ seq: string; duplicate: boolean }>({
      text: 'SELECT seq, duplicate FROM append_events($1, $2, $3, $4, $5)',
      values: [ids, ids.map(() => 'completion'), ids.map(() => '2026-11-30T09:24:41.923Z'), ids.map(() => 'accepted'), ids.map(() => Buffer.from('{}'))],
    });
  // More calls than PostgreSQL's custom plans before it caches a generic one (5), on a tiny log.
  for (let i = 0; i < 10; i++) await append(session, [`tiny-${i}`]);
  // The log grows to 20,000 events of 1 KB meanwhile (other replicas): large enough that the index is the cheaper way.
  await other.query(`
    INSERT INTO events (seq, webhook_id, type, received_at, outcome, body)
      SELECT 10 + g, 'bulk-' || g, 'completion', '2026-11-30T09:24:41.923Z', 'accepted', convert_to(repeat('x', 1000), 'UTF8') FROM generate_series(1, 20000) g;
    UPDATE log_state SET last_seq = 20010;
  `);
  // Scans of events by this call alone: the session's counters before and after it, in one transaction (no flush between).
  const scans = () =>
    session.query<{ seq_scan: string; idx_scan: string }>({ text: 'SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = $1', values: ['events'] }).then((r) => r.rows[0]!);
  await session.query('BEGIN');
  const before = await scans();
  const res = await append(
    session,
    Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? `new-${i}` : `bulk-${i * 100}`)),
  );
  const after = await scans();
  await session.query('COMMIT');
  assert.equal(res.rows.filter((r) => r.duplicate).length, 100);
  assert.equal(res.rows[0]!.seq, '20011');
  // (An index scan with an array counts one scan per element, a bitmap scan one in all.)
  const seqScans = Number(after.seq_scan) - Number(before.seq_scan);
  const indexScans = Number(after.idx_scan) - Number(before.idx_scan);
  assert.ok(seqScans === 0 && indexScans >= 1, `the duplicate check read the whole log instead of its index: ${seqScans} seq scans, ${indexScans} index scans`);
});
