/**
 * Sync cursors and the sync lease on PostgreSQL, with replicas as separate
 * pools on one database: one contender wins; a lease is judged by the
 * database's clock, never a replica's; a stale lease is taken over, and the
 * old holder's heartbeat and commitRun fail without writing anything; a
 * commit waiting behind a takeover sees it; runs are pruned per target.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { KEYED_VIEWS } from '../../../src/model/views.js';
import { migratePg } from '../../../src/store/pg/pg-migrations.js';
import type { PgPool } from '../../../src/store/pg/pg-pool.js';
import { createPgSyncState } from '../../../src/store/pg/pg-sync-state.js';
import { LockLostError } from '../../../src/store/lock-lost-error.js';
import type { SyncStateStore } from '../../../src/store/store.js';
import { freshDatabase, PG_SKIP, testClient, testPool } from './pg-test-db.js';

async function replicas(t: TestContext, n: number): Promise<{ url: string; pools: PgPool[]; states: SyncStateStore[] }> {
  const url = await freshDatabase(t);
  const pools = Array.from({ length: n }, () => testPool(t, url, { max: 3 }));
  await migratePg(pools[0]!);
  return { url, pools, states: pools.map((p) => createPgSyncState(p)) };
}

const ok = (view: 'red_flags' | 'contents', totalRows: number, rows: number, state: unknown = null) => ({ view, ok: true as const, totalRows, rows, state });

test('cursors: a confirmed view moves (never backwards), a failed one keeps its cursor and records its error; totals add up', { skip: PG_SKIP }, async (t) => {
  const { states } = await replicas(t, 1);
  const s = states[0]!;
  assert.deepEqual(await s.cursor('csv', 'red_flags'), { deliveredSeq: 0, deliveredRows: 0, state: undefined, lastError: null, lastErrorAt: null });
  const ticket = (await s.tryLock('csv', s.newOwner()))!;
  const at = new Date('2026-11-30T10:00:00.000Z');
  await s.commitRun(ticket, 7, [ok('red_flags', 5, 5, { file: 'a.csv', n: [1, 2] }), { view: 'contents', ok: false, error: 'disk full' }], at);
  assert.deepEqual(await s.cursor('csv', 'red_flags'), { deliveredSeq: 7, deliveredRows: 5, state: { file: 'a.csv', n: [1, 2] }, lastError: null, lastErrorAt: null });
  assert.deepEqual(await s.cursor('csv', 'contents'), { deliveredSeq: 0, deliveredRows: 0, state: undefined, lastError: 'disk full', lastErrorAt: at.toISOString() });
  assert.deepEqual(await s.viewErrors('csv'), [{ view: 'contents', last_error: 'disk full', last_error_at: at.toISOString() }]);
  // A later confirmation at a lower seq (a rebuild's) keeps the cursor where it was, takes the rows and state.
  await s.commitRun(ticket, 3, [ok('red_flags', 6, 1), ok('contents', 2, 2)]);
  assert.deepEqual(await s.cursor('csv', 'red_flags'), { deliveredSeq: 7, deliveredRows: 6, state: null, lastError: null, lastErrorAt: null });
  assert.equal((await s.cursor('csv', 'contents')).lastError, null);
  assert.deepEqual(await s.viewErrors('csv'), []);
  assert.equal(await s.totalRows('csv'), 5 + 1 + 2);
  assert.equal(await s.totalRows('sheets'), 0);
});

test('runs: latest, last finished, last success; the newest 1000 of a target are kept', { skip: PG_SKIP }, async (t) => {
  const { pools, states } = await replicas(t, 1);
  const s = states[0]!;
  assert.equal(await s.lastRun('csv'), undefined);
  const a = await s.startRun('csv', new Date('2026-11-30T10:00:00.000Z'));
  await s.finishRun(a, 'csv', { ok: true, rows: 3, error: null, details: { views: 2 } }, new Date('2026-11-30T10:00:01.000Z'));
  const b = await s.startRun('csv', new Date('2026-11-30T11:00:00.000Z'));
  await s.finishRun(b, 'csv', { ok: false, rows: 0, error: 'boom', details: null }, new Date('2026-11-30T11:00:01.000Z'));
  const c = await s.startRun('csv', new Date('2026-11-30T12:00:00.000Z'));
  assert.deepEqual(await s.lastSuccess('csv'), { id: a, target: 'csv', started_at: '2026-11-30T10:00:00.000Z', finished_at: '2026-11-30T10:00:01.000Z', ok: 1, rows: 3, error: null, details: '{"views":2}' });
  assert.deepEqual(await s.lastRun('csv'), { id: b, target: 'csv', started_at: '2026-11-30T11:00:00.000Z', finished_at: '2026-11-30T11:00:01.000Z', ok: 0, rows: 0, error: 'boom', details: 'null' });
  assert.deepEqual(await s.latestRun('csv'), { id: c, target: 'csv', started_at: '2026-11-30T12:00:00.000Z', finished_at: null, ok: null, rows: 0, error: null, details: null });
  assert.equal(await s.latestRun('sheets'), undefined);

  const other = await s.startRun('sheets');
  for (let i = 0; i < 1001; i++) {
    const id = await s.startRun('csv');
    await s.finishRun(id, 'csv', { ok: true, rows: i, error: null, details: null });
  }
  const { rows } = await pools[0]!.query<{ target: string; n: string; min: string }>({
    text: 'SELECT target, count(*) AS n, min(id) AS min FROM sync_runs GROUP BY target ORDER BY target',
  });
  assert.deepEqual(
    rows.map((r) => [r.target, Number(r.n)]),
    [
      ['csv', 1000],
      ['sheets', 1],
    ],
  );
  assert.equal(Number(rows[1]!.min), other, "another target's runs are not pruned");
  assert.ok(Number(rows[0]!.min) > c, 'the oldest runs went');
});

test('two replicas contend for one target at once: exactly one gets the lease, each time; generations never repeat', { skip: PG_SKIP }, async (t) => {
  const { states } = await replicas(t, 2);
  const [a, b] = states as [SyncStateStore, SyncStateStore];
  const generations: number[] = [];
  for (let round = 0; round < 10; round++) {
    const tickets = await Promise.all([a.tryLock('sheets', a.newOwner()), b.tryLock('sheets', b.newOwner())]);
    const won = tickets.filter((x) => x !== undefined);
    assert.equal(won.length, 1, `round ${round}: ${won.length} winners`);
    const ticket = won[0]!;
    assert.equal(ticket.tookOverLive, false);
    generations.push(ticket.generation);
    const holder = (await a.lockHolder('sheets'))!;
    assert.equal(holder.owner, ticket.owner);
    assert.equal(holder.generation, ticket.generation);
    assert.match(holder.heartbeat_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(await b.liveHolder('sheets'), holder);
    // The loser's own holder check agrees, and it cannot commit with a made-up ticket.
    await assert.rejects(b.commitRun({ ...ticket, owner: 'someone-else' }, 1, [ok('red_flags', 1, 1)]), LockLostError);
    assert.equal(await (ticket === tickets[0] ? a : b).unlock(ticket), true);
    assert.equal(await a.lockHolder('sheets'), undefined);
  }
  assert.deepEqual(
    generations,
    Array.from({ length: 10 }, (_, i) => i + 1),
  );
  assert.equal((await b.cursor('sheets', 'red_flags')).deliveredSeq, 0);
});

test("a lease is judged by the database's clock: a replica whose clock runs ahead does not take a live lease", { skip: PG_SKIP }, async (t) => {
  const { states } = await replicas(t, 2);
  const [a, b] = states as [SyncStateStore, SyncStateStore];
  const ticket = (await a.tryLock('csv', a.newOwner()))!;
  const tomorrow = new Date(Date.now() + 86_400_000);
  assert.equal(await b.tryLock('csv', b.newOwner(), tomorrow), undefined);
  assert.equal((await b.liveHolder('csv', tomorrow))?.owner, ticket.owner);
  assert.equal(await a.heartbeat(ticket, new Date(0)), true);
  await a.assertHolds(ticket);
});

test('a stale lease is taken over: the old holder cannot beat, fence nor commit (nothing written); a repair opens for the keyed views', { skip: PG_SKIP }, async (t) => {
  const { url, states } = await replicas(t, 2);
  const [a, b] = states as [SyncStateStore, SyncStateStore];
  const observer = await testClient(t, url);
  const first = (await a.tryLock('csv', a.newOwner()))!;
  await a.commitRun(first, 10, [ok('red_flags', 10, 10), ok('contents', 4, 4)]);
  assert.equal(await a.unlock(first), true);

  const old = (await a.tryLock('csv', a.newOwner()))!;
  assert.equal(await a.heartbeat(old), true);
  // Its heartbeat stops (a stuck run): two minutes and more by the database's clock.
  await observer.query("UPDATE sync_locks SET heartbeat_at = clock_timestamp() - interval '121 seconds'");
  assert.equal(await b.liveHolder('csv'), undefined);
  assert.equal((await b.lockHolder('csv'))?.owner, old.owner);

  const taker = (await b.tryLock('csv', b.newOwner()))!;
  assert.ok(taker, 'the stale lease was taken over');
  assert.equal(taker.tookOverLive, true);
  assert.equal(taker.generation, old.generation + 1);
  assert.equal(await a.heartbeat(old), false);
  await assert.rejects(a.assertHolds(old), LockLostError);
  await assert.rejects(a.commitRun(old, 20, [ok('red_flags', 30, 20), { view: 'contents', ok: false, error: 'late' }]), LockLostError);
  assert.deepEqual(await a.cursor('csv', 'red_flags'), { deliveredSeq: 10, deliveredRows: 10, state: null, lastError: null, lastErrorAt: null });
  assert.equal((await a.cursor('csv', 'contents')).lastError, null);
  assert.equal(await a.totalRows('csv'), 14);
  // The old holder's release does not free the taker's lease.
  assert.equal(await a.unlock(old), true);
  assert.equal((await a.lockHolder('csv'))?.owner, taker.owner);

  // Keyed views are delivered again from where the run taken over started, for two successful syncs.
  for (const view of KEYED_VIEWS) assert.equal(await b.repairFrom('csv', view), view === 'contents' ? 10 : 0, view);
  assert.equal(await b.repairFrom('csv', 'red_flags'), undefined);
  await b.commitRun(taker, 20, [ok('contents', 5, 1)]);
  assert.equal(await b.repairFrom('csv', 'contents'), 10);
  await b.commitRun(taker, 21, [ok('contents', 6, 1)]);
  assert.equal(await b.repairFrom('csv', 'contents'), undefined);
  assert.equal(await b.repairFrom('csv', 'content_scores'), 0, 'a view not confirmed keeps its repair');
});

test('a commit waiting behind a takeover sees it: LockLostError, nothing written', { skip: PG_SKIP }, async (t) => {
  const { url, states } = await replicas(t, 1);
  const a = states[0]!;
  const ticket = (await a.tryLock('csv', a.newOwner()))!;
  const other = await testClient(t, url);
  // Another replica's takeover, not committed yet: it holds the lease row.
  await other.query('BEGIN');
  await other.query("UPDATE sync_locks SET owner = 'other', generation = generation + 1, heartbeat_at = clock_timestamp()");
  const commit = a.commitRun(ticket, 5, [ok('red_flags', 5, 5)]);
  const settled = await Promise.race([commit.then(() => 'done', () => 'failed'), new Promise((r) => setTimeout(() => r('waiting'), 200))]);
  assert.equal(settled, 'waiting', 'commitRun waits for the lease row');
  await other.query('COMMIT');
  await assert.rejects(commit, LockLostError);
  assert.equal((await a.cursor('csv', 'red_flags')).deliveredSeq, 0);
  assert.equal(await a.heartbeat(ticket), false);
});

test('a lease this replica could not release is taken back by its next attempt, as no takeover of a live run', { skip: PG_SKIP }, async (t) => {
  const { url, states } = await replicas(t, 2);
  const [a, b] = states as [SyncStateStore, SyncStateStore];
  const observer = await testClient(t, url);
  const ticket = (await a.tryLock('csv', a.newOwner()))!;
  await observer.query(`
    CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full' USING ERRCODE = '53100'; END $$;
    CREATE TRIGGER refuse BEFORE DELETE ON sync_locks FOR EACH ROW EXECUTE FUNCTION refuse();
  `);
  assert.equal(await a.unlock(ticket), false);
  // Another replica still sees a live holder.
  assert.equal(await b.tryLock('csv', b.newOwner()), undefined);
  await observer.query('DROP TRIGGER refuse ON sync_locks');
  const next = (await a.tryLock('csv', a.newOwner()))!;
  assert.ok(next);
  assert.equal(next.tookOverLive, false);
  assert.equal(next.generation, ticket.generation + 1);
  assert.equal(await a.repairFrom('csv', 'contents'), undefined);
});

test('the stale age is an option (the default is LOCK_STALE_MS); a fresh heartbeat keeps the lease', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const [pa, pb] = [testPool(t, url, { max: 2 }), testPool(t, url, { max: 2 })];
  await migratePg(pa);
  const a = createPgSyncState(pa, { staleMs: 300 });
  const b = createPgSyncState(pb, { staleMs: 300 });
  const ticket = (await a.tryLock('csv', a.newOwner()))!;
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(await a.heartbeat(ticket), true);
    assert.equal(await b.tryLock('csv', b.newOwner()), undefined, 'beating on time keeps it');
  }
  await new Promise((r) => setTimeout(r, 400));
  const taken = await b.tryLock('csv', b.newOwner());
  assert.ok(taken);
  assert.equal(await a.heartbeat(ticket), false);
});
