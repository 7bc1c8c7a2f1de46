/**
 * PostgreSQL migrations: under an advisory lock, each applied exactly once
 * however many processes start at once; re-running is a no-op; a failing
 * migration leaves nothing behind; a newer database is refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { migratePg, PG_MIGRATIONS, type PgMigration } from '../../../src/store/pg/pg-migrations.js';
import type { PgPool } from '../../../src/store/pg/pg-pool.js';
import { freshDatabase, PG_SKIP, testPool } from './pg-test-db.js';

async function tables(pool: PgPool): Promise<string[]> {
  const res = await pool.query<{ name: string }>({ text: "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1" });
  return res.rows.map((r) => r.name);
}

test('two migrators starting at once on a new database: the migrations are applied once, both end at the latest version', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  // Separate pools: separate connections, as two replicas would have.
  const [a, b] = [testPool(t, url), testPool(t, url)];
  const results = await Promise.all([migratePg(a), migratePg(b)]);
  const latest = PG_MIGRATIONS.at(-1)!.version;
  assert.deepEqual(
    results.map((r) => r.version),
    [latest, latest],
  );
  assert.deepEqual(
    results.flatMap((r) => r.applied).sort((x, y) => x - y),
    PG_MIGRATIONS.map((m) => m.version),
  );
  const made = await tables(a);
  for (const core of ['events', 'log_state', 'quarantine', 'schema_version', 'sync_locks', 'projector_state']) assert.ok(made.includes(core), `${core} in ${made.join(', ')}`);
  const fn = await a.query<{ n: string }>({ text: "SELECT count(*) AS n FROM pg_proc WHERE proname = 'append_events'" });
  assert.equal(fn.rows[0]!.n, '1');

  // Again: nothing to do, nothing changes.
  const again = await migratePg(a);
  assert.deepEqual(again, { version: latest, applied: [] });
  assert.deepEqual(await tables(a), made);
});

test('slow migrations and three concurrent migrators: each version applied by exactly one of them, in order', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  // Without the lock, the second migrator would run version 1 again while the first sleeps in it (CREATE TABLE fails).
  const slow: PgMigration[] = [
    { version: 1, name: 'slow', sql: 'SELECT pg_sleep(0.3); CREATE TABLE one (x int); INSERT INTO one VALUES (1);' },
    { version: 2, name: 'after', sql: 'CREATE TABLE two (x int); INSERT INTO two SELECT x + 1 FROM one;' },
  ];
  const pools = [testPool(t, url), testPool(t, url), testPool(t, url)];
  const started = Date.now();
  const results = await Promise.all(pools.map((p) => migratePg(p, slow)));
  assert.ok(Date.now() - started >= 300);
  assert.deepEqual(
    results.map((r) => r.version),
    [2, 2, 2],
  );
  assert.deepEqual(results.flatMap((r) => r.applied).sort(), [1, 2]);
  const rows = await pools[0]!.query<{ x: number }>({ text: 'SELECT x FROM two' });
  assert.deepEqual(rows.rows, [{ x: 2 }]);
  // A released version list run against it later applies nothing.
  assert.deepEqual(await migratePg(pools[1]!, slow), { version: 2, applied: [] });
});

test('a failing migration is rolled back whole; the versions before it stay applied', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const pool = testPool(t, url);
  const list: PgMigration[] = [
    { version: 1, name: 'fine', sql: 'CREATE TABLE fine (x int);' },
    { version: 2, name: 'broken', sql: 'CREATE TABLE half (x int); SELECT 1 / 0;' },
  ];
  await assert.rejects(migratePg(pool, list), /migration 2 \(broken\): division by zero/);
  assert.deepEqual(await tables(pool), ['fine', 'schema_version']);
  assert.deepEqual(await migratePg(pool, list.slice(0, 1)), { version: 1, applied: [] });
  // The failed run released its lock (its connection was discarded): another migrator is not blocked.
  assert.deepEqual(await migratePg(testPool(t, url), list.slice(0, 1)), { version: 1, applied: [] });
});

test('a database migrated by a newer ember-sync is refused', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const pool = testPool(t, url);
  await migratePg(pool);
  await pool.query({ text: 'UPDATE schema_version SET version = $1', values: [99] });
  await assert.rejects(migratePg(pool), /schema version 99, newer than this ember-sync/);
});
