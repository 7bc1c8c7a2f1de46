/**
 * The console's store on PostgreSQL: sign-ins (expiry, pruning, a flash taken
 * once even by two replicas at once), the hourly chart, the quarantine pages.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { createPgConsole } from '../../../src/store/pg/pg-console.js';
import { migratePg } from '../../../src/store/pg/pg-migrations.js';
import { createPgWriter } from '../../../src/store/pg/pg-writer.js';
import { freshDatabase, PG_SKIP, testClient, testPool } from './pg-test-db.js';

async function setup(t: TestContext) {
  const url = await freshDatabase(t);
  const pool = testPool(t, url, { max: 3 });
  await migratePg(pool);
  return { url, pool, console: createPgConsole(pool) };
}

test('sessions: found until they expire; a sign-in prunes the expired; delete; a flash is taken once', { skip: PG_SKIP }, async (t) => {
  const { url, console: c } = await setup(t);
  const t0 = new Date('2026-11-30T10:00:00.000Z');
  const later = (ms: number) => new Date(t0.getTime() + ms);
  await c.sessions.create('k1', later(60_000), t0);
  await c.sessions.create('k2', later(1_000), t0);
  assert.deepEqual(await c.sessions.find('k1', later(30_000)), { created_at: t0.toISOString(), expires_at: later(60_000).toISOString() });
  assert.equal(await c.sessions.find('k2', later(1_000)), undefined, 'expired at its expiry');
  assert.equal(await c.sessions.find('nope', t0), undefined);
  await c.sessions.create('k3', later(120_000), later(2_000));
  const observer = await testClient(t, url);
  const keys = await observer.query<{ key: string }>('SELECT key FROM console_sessions ORDER BY key');
  assert.deepEqual(
    keys.rows.map((r) => r.key),
    ['k1', 'k3'],
  );
  await assert.rejects(c.sessions.create('k1', later(9_000), later(3_000)), 'a key is never reused');

  assert.equal(await c.sessions.takeFlash('k1'), undefined);
  await c.sessions.setFlash('k1', 'first');
  await c.sessions.setFlash('k1', 'replayed 3 payloads');
  // Two replicas serving two tabs of one session: one of them shows it.
  const other = createPgConsole(testPool(t, url, { max: 1 }));
  const taken = await Promise.all([c.sessions.takeFlash('k1'), other.sessions.takeFlash('k1')]);
  assert.deepEqual(taken.filter((x) => x !== undefined), ['replayed 3 payloads']);
  assert.equal(await c.sessions.takeFlash('k1'), undefined);
  await c.sessions.delete('k1');
  assert.equal(await c.sessions.find('k1', t0), undefined);
});

test("hours: the writer's counts from an hour on, oldest first; the quarantine list newest first without bodies, one body by id", { skip: PG_SKIP }, async (t) => {
  const { pool, console: c } = await setup(t);
  const writer = createPgWriter(pool);
  const q = (body: string, at: string) => writer.submit({ kind: 'quarantine', item: { webhookId: `w-${body}`, receivedAt: at, body: Buffer.from(body), reason: 'schema_validation_failed', errors: [] } });
  await Promise.all([
    writer.submit({ kind: 'event', event: { webhookId: 'a', type: 'red_flag', receivedAt: '2026-11-30T08:59:59.999Z', body: Buffer.from('{}') } }),
    writer.submit({ kind: 'event', event: { webhookId: 'b', type: 'completion', receivedAt: '2026-11-30T09:00:00.000Z', body: Buffer.from('{}') } }),
    q('one', '2026-11-30T10:00:00.000Z'),
    q('two!', '2026-11-30T10:30:00.000Z'),
    q('three', '2026-11-30T11:00:00.000Z'),
  ]);
  await q('two!', '2026-11-30T12:00:00.000Z');
  assert.deepEqual(await c.hoursSince('2026-11-30T09'), [
    { hour: '2026-11-30T09', type: 'completion', outcome: 'accepted', n: 1 },
    { hour: '2026-11-30T10', type: 'unknown', outcome: 'quarantined', n: 2 },
    { hour: '2026-11-30T11', type: 'unknown', outcome: 'quarantined', n: 1 },
    { hour: '2026-11-30T12', type: 'unknown', outcome: 'quarantined', n: 1 },
  ]);
  assert.equal(await c.quarantine.held(), 3);
  const page = await c.quarantine.page(Number.MAX_SAFE_INTEGER, 2);
  assert.deepEqual(
    page.map((p) => [p.id, p.webhook_id, p.bytes, p.attempts, p.last_received_at]),
    [
      [3, 'w-three', 5, 1, '2026-11-30T11:00:00.000Z'],
      [2, 'w-two!', 4, 2, '2026-11-30T12:00:00.000Z'],
    ],
  );
  assert.deepEqual(
    (await c.quarantine.page(2, 10)).map((p) => p.id),
    [1],
  );
  assert.equal(page[0]!.reason, 'schema_validation_failed');
  assert.equal(page[0]!.errors, '[]');
  assert.ok(!('body' in page[0]!));
  assert.deepEqual(await c.quarantine.payload(2), { body: Buffer.from('two!'), webhook_id: 'w-two!', status: 'held' });
  assert.equal(await c.quarantine.payload(99), undefined);
});
