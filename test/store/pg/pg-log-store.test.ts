/**
 * The raw log's reads and the replay's settlement on PostgreSQL: counts, held
 * payloads by id and by webhook_id, a payload settled once (still held,
 * released, or a duplicate) even by two replicas replaying at once.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { createPgLogStore } from '../../../src/store/pg/pg-log-store.js';
import { migratePg } from '../../../src/store/pg/pg-migrations.js';
import { createPgWriter } from '../../../src/store/pg/pg-writer.js';
import { event, freshDatabase, PG_SKIP, testClient, testPool } from './pg-test-db.js';

async function setup(t: TestContext) {
  const url = await freshDatabase(t);
  const pool = testPool(t, url, { max: 3 });
  await migratePg(pool);
  const writer = createPgWriter(pool);
  const quarantine = (body: string, webhookId: string | undefined = `w-${body}`, at = '2026-11-30T10:00:00.000Z') =>
    writer.submit({ kind: 'quarantine', item: { webhookId, receivedAt: at, body: Buffer.from(body), reason: 'schema_validation_failed', errors: [{ path: '/a', message: 'missing' }] } });
  return { url, pool, log: createPgLogStore(pool), writer, quarantine };
}

test('counts, held payloads (by id, by webhook_id), events after a seq', { skip: PG_SKIP }, async (t) => {
  const { log, writer, quarantine } = await setup(t);
  assert.deepEqual(await log.counts(), { events: 0, lastSeq: 0, byType: {}, quarantineHeld: 0, quarantineAttempts: 0 });
  await Promise.all([
    writer.submit({ kind: 'event', event: event('a', { type: 'red_flag' }) }),
    writer.submit({ kind: 'event', event: event('b') }),
    writer.submit({ kind: 'event', event: event('c') }),
    quarantine('x'),
    quarantine('y', 'same'),
    quarantine('z', 'same'),
    quarantine('x'),
  ]);
  assert.deepEqual(await log.counts(), { events: 3, lastSeq: 3, byType: { red_flag: 1, completion: 2 }, quarantineHeld: 3, quarantineAttempts: 4 });
  assert.equal(await log.quarantineHeld(), 3);
  const held = await log.heldQuarantine(0, 10);
  assert.deepEqual(
    held.map((q) => [q.id, q.webhook_id, q.attempts, q.body.toString(), q.status]),
    [
      [1, 'w-x', 2, 'x', 'held'],
      [2, 'same', 1, 'y', 'held'],
      [3, 'same', 1, 'z', 'held'],
    ],
  );
  assert.equal(held[0]!.errors, '[{"path":"/a","message":"missing"}]');
  assert.deepEqual(
    (await log.heldQuarantine(1, 1)).map((q) => q.id),
    [2],
  );
  assert.deepEqual(
    (await log.heldQuarantineFor('same')).map((q) => q.id),
    [2, 3],
  );
  assert.deepEqual(
    (await log.eventsAfter(1, 10)).map((e) => [e.seq, e.webhook_id]),
    [
      [2, 'b'],
      [3, 'c'],
    ],
  );
});

test('settle: still held (new errors), released (a new event), duplicate (its webhook_id was logged); each in one transaction', { skip: PG_SKIP }, async (t) => {
  const { url, log, writer, quarantine } = await setup(t);
  await writer.submit({ kind: 'event', event: event('logged') });
  await quarantine('p1');
  await quarantine('p2');
  await quarantine('p3');
  assert.deepEqual(await log.settleQuarantine(1, { kind: 'still-held', reason: 'unknown_webhook_type', errors: [{ path: '/b', message: 'nope' }] }), { status: 'held' });
  const [p1] = await log.heldQuarantine(0, 1);
  assert.equal(p1!.reason, 'unknown_webhook_type');
  assert.equal(p1!.errors, '[{"path":"/b","message":"nope"}]');
  const at = '2026-11-30T12:00:00.000Z';
  const released = await log.settleQuarantine(2, { kind: 'append', event: event('fresh', { outcome: 'replayed', receivedAt: '2026-11-30T10:00:00.000Z' }), at });
  assert.deepEqual(released, { status: 'released', seq: 2 });
  assert.deepEqual(await log.settleQuarantine(3, { kind: 'append', event: event('logged', { outcome: 'replayed' }), at }), { status: 'duplicate', seq: 1 });
  const observer = await testClient(t, url);
  const rows = await observer.query('SELECT id, status, released_seq::int AS seq, resolved_at FROM quarantine ORDER BY id');
  assert.deepEqual(rows.rows, [
    { id: '1', status: 'held', seq: null, resolved_at: null },
    { id: '2', status: 'released', seq: 2, resolved_at: at },
    { id: '3', status: 'duplicate', seq: 1, resolved_at: at },
  ]);
  const outcome = await observer.query("SELECT outcome FROM events WHERE webhook_id = 'fresh'");
  assert.equal(outcome.rows[0].outcome, 'replayed');
  assert.deepEqual(await log.counts(), { events: 2, lastSeq: 2, byType: { completion: 2 }, quarantineHeld: 1, quarantineAttempts: 1 });
  // A settled payload settles no more: the answer is what it became, nothing is appended.
  assert.deepEqual(await log.settleQuarantine(2, { kind: 'append', event: event('other'), at }), { status: 'released', seq: 2 });
  assert.equal((await log.counts()).events, 2);
  await assert.rejects(log.settleQuarantine(42, { kind: 'still-held', reason: 'x', errors: [] }), /does not exist/);
});

test('a failed append leaves the payload held and the log as it was', { skip: PG_SKIP }, async (t) => {
  const { log, quarantine } = await setup(t);
  await quarantine('p');
  await assert.rejects(log.settleQuarantine(1, { kind: 'append', event: event('bad', { receivedAt: 'not a time' }), at: '2026-11-30T12:00:00.000Z' }));
  assert.equal(await log.quarantineHeld(), 1);
  assert.equal((await log.counts()).events, 0);
});

test('two replicas replay the same payload at once: one appends it, the other answers what it became', { skip: PG_SKIP }, async (t) => {
  const { url, log, quarantine } = await setup(t);
  const other = createPgLogStore(testPool(t, url, { max: 1 }));
  for (let i = 0; i < 10; i++) {
    const held = await quarantine(`p${i}`);
    assert.ok(held.kind === 'quarantine');
    const how = (replica: string) => ({ kind: 'append' as const, event: event(`r${i}-${replica}`, { outcome: 'replayed' }), at: '2026-11-30T12:00:00.000Z' });
    const [a, b] = await Promise.all([log.settleQuarantine(held.id, how('a')), other.settleQuarantine(held.id, how('b'))]);
    assert.deepEqual(a, b);
    assert.equal(a.status, 'released');
  }
  assert.equal((await log.counts()).events, 10);
});
