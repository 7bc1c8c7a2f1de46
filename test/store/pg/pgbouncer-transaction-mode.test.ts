import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { Client } from 'pg';
import { StoreUnavailableError } from '../../../src/errors.js';
import { VIEW_NAMES } from '../../../src/model/views.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { createPgStore } from '../../../src/store/pg/create-pg-store.js';
import { migratePg, PG_MIGRATIONS } from '../../../src/store/pg/pg-migrations.js';
import { createPgPool, PGBOUNCER_ANSWER_MARGIN_MS, unavailableReason } from '../../../src/store/pg/pg-pool.js';
import { inTransaction } from '../../../src/store/pg/pg-unit-of-work.js';
import { runCli, startServeChild, type CliResult } from '../../helpers/cli.js';
import { exported } from '../../helpers/export.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { databaseOf, PGBOUNCER_SKIP, startPgBouncer } from './pgbouncer-test.js';
import { clusterCommand, freshDatabase, PG_SKIP, privateCluster, testPool } from './pg-test-db.js';

/**
 * ember-sync behind PgBouncer 1.18 in transaction pooling mode
 * (DATABASE_URL ?pgbouncer=true), two server connections per database handed
 * out round robin: consecutive transactions of one client connection run on
 * different server connections, where nothing of a session survives (a named
 * prepared statement, a SET, a session advisory lock).
 */

const LATEST = PG_MIGRATIONS.at(-1)!.version;

test('pgbouncer=true (on a direct connection, where the session can be seen): nothing prepared, no timeout at login, each transaction its own', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const seen = async (flag: boolean) => {
    const pool = testPool(t, flag ? `${url}&pgbouncer=true` : url, { statementTimeoutMs: 4_000, lockTimeoutMs: 900 });
    return pool.withClient(async (client) => {
      await client.query({ name: 'ember_test_seen', text: 'SELECT $1::int AS n', values: [1] });
      const session = await client.query<{ prepared: number; s: string; l: string }>(
        "SELECT (SELECT count(*)::int FROM pg_prepared_statements) AS prepared, current_setting('statement_timeout') AS s, current_setting('lock_timeout') AS l",
      );
      await client.query('BEGIN');
      const tx = await client.query<{ s: string; l: string }>("SELECT current_setting('statement_timeout') AS s, current_setting('lock_timeout') AS l");
      await client.query('COMMIT');
      return { session: session.rows[0], transaction: tx.rows[0] };
    });
  };
  assert.deepEqual(await seen(false), { session: { prepared: 1, s: '4s', l: '900ms' }, transaction: { s: '4s', l: '900ms' } });
  assert.deepEqual(await seen(true), { session: { prepared: 0, s: '0', l: '0' }, transaction: { s: '4s', l: '900ms' } });
});

test('through PgBouncer in transaction mode: without pgbouncer=true the login fails; with it, statements hop server connections and keep their timeouts', { skip: PGBOUNCER_SKIP }, async (t) => {
  const db = databaseOf(await freshDatabase(t));
  const bouncer = startPgBouncer(t, 2);

  // What operators met: node-postgres sends statement_timeout and lock_timeout at startup, which PgBouncer refuses.
  const plain = createPgPool({ connectionString: bouncer.url(db, false), connectTimeoutMs: 5_000 });
  t.after(() => plain.end());
  await assert.rejects(plain.query({ text: 'SELECT 1', values: [] }), (err: unknown) => {
    assert.ok(err instanceof StoreUnavailableError, String(err));
    assert.match(String((err.cause as Error).message), /unsupported startup parameter: statement_timeout/);
    return true;
  });

  const pool = testPool(t, bouncer.url(db), { statementTimeoutMs: 1_500, lockTimeoutMs: 700 });
  assert.equal(pool.pgbouncer, true);
  // Two transactions at once: PgBouncer opens its second server connection (it opens them on demand).
  await Promise.all([0, 1].map(() => inTransaction(pool, (c) => c.query('SELECT pg_sleep(0.3)'))));
  const pids = new Set<number>();
  await pool.withClient(async (client) => {
    for (let i = 0; i < 12; i++) {
      await client.query('BEGIN');
      pids.add((await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
      // Prepared on one server connection, it would be missing on the next ("prepared statement … does not exist").
      const named = await client.query<{ n: number }>({ name: 'ember_test_named', text: 'SELECT $1::int + 1 AS n', values: [i] });
      assert.equal(named.rows[0]!.n, i + 1);
      const timeouts = await client.query<{ s: string; l: string }>("SELECT current_setting('statement_timeout') AS s, current_setting('lock_timeout') AS l");
      assert.deepEqual(timeouts.rows[0], { s: '1500ms', l: '700ms' }, 'each transaction carries the pool\'s timeouts');
      await client.query('COMMIT');
    }
  });
  assert.ok(pids.size >= 2, `one client connection, transactions on ${pids.size} server connection(s): PgBouncer must hand out several`);
  for (let i = 0; i < 6; i++) {
    const res = await pool.query<{ n: number }>({ name: 'ember_test_pool_named', text: 'SELECT $1::int * 2 AS n', values: [i] });
    assert.equal(res.rows[0]!.n, i * 2);
  }

  // The server ends a statement past the transaction's statement_timeout: unavailable (503), not a hang.
  const started = Date.now();
  const err = await inTransaction(pool, (c) => c.query('SELECT pg_sleep(10)')).then(
    () => assert.fail('pg_sleep(10) under a 1.5 s statement_timeout returned'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof StoreUnavailableError, String(err));
  assert.equal(unavailableReason(err), 'timeout');
  assert.ok(Date.now() - started < 8_000, 'ended by the statement_timeout of the transaction');

  // A statement_timeout in the URL wins, as it does without PgBouncer; it is not sent at startup.
  const fromUrl = testPool(t, `${bouncer.url(db)}&statement_timeout=1200&lock_timeout=300`);
  const shown = await inTransaction(fromUrl, async (c) => (await c.query<{ s: string; l: string }>("SELECT current_setting('statement_timeout') AS s, current_setting('lock_timeout') AS l")).rows[0]);
  assert.deepEqual(shown, { s: '1200ms', l: '300ms' });
});

test('migrations through PgBouncer: replicas opening at once migrate once; a failed run leaves nothing and releases the lock', { skip: PGBOUNCER_SKIP, timeout: 60_000 }, async (t) => {
  const bouncer = startPgBouncer(t, 2);
  const direct = await freshDatabase(t);
  const url = bouncer.url(databaseOf(direct));
  const stores = await Promise.all([0, 1, 2].map(() => createPgStore({ connectionString: url })));
  await Promise.all(stores.map((s) => s.close()));
  const check = testPool(t, direct);
  assert.equal((await check.query<{ version: number }>({ text: 'SELECT version FROM schema_version WHERE id' })).rows[0]?.version, LATEST);
  assert.deepEqual(await migratePg(testPool(t, url)), { version: LATEST, applied: [] });

  // One transaction for the whole run: the migrations before the broken one are rolled back with it.
  const other = await freshDatabase(t);
  const pool = testPool(t, bouncer.url(databaseOf(other)));
  const broken = [...PG_MIGRATIONS.slice(0, 2), { version: 3, name: 'broken', sql: 'SELECT 1 / 0' }];
  await assert.rejects(migratePg(pool, broken), /migration 3 \(broken\): division by zero/);
  const left = await testPool(t, other).query<{ found: boolean }>({ text: "SELECT to_regclass('schema_version') IS NOT NULL AS found" });
  assert.equal(left.rows[0]?.found, false, 'nothing of the failed run stays');
  // Its transaction-level lock went with its ROLLBACK: the next run does not wait for it.
  assert.deepEqual(await migratePg(pool), { version: LATEST, applied: PG_MIGRATIONS.map((m) => m.version) });
});

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

async function post(url: string, body: Buffer): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function checks(r: CliResult): Map<string, { mark: string; detail: string }> {
  const out = new Map<string, { mark: string; detail: string }>();
  for (const line of r.stdout.split('\n')) {
    const m = /^([✔✘⚠]) ([^:]+): (.*)$/.exec(line);
    if (m) out.set(m[2]!, { mark: m[1]!, detail: m[3]! });
  }
  return out;
}

test('serve, sync, export, status and doctor through PgBouncer in transaction mode (pgbouncer=true)', { skip: PGBOUNCER_SKIP, timeout: 120_000 }, async (t) => {
  const direct = await freshDatabase(t);
  const db = databaseOf(direct);
  const bouncer = startPgBouncer(t, 2);
  const csvDir = tempDir(t, 'ember-sync-pgbouncer-csv-');
  const env = {
    DATABASE_URL: bouncer.url(db),
    WEBHOOK_TOKEN: 'pgbouncer-webhook-token-0123456',
    ADMIN_TOKEN: 'pgbouncer-admin-token-0123456789',
    SYNC_TARGETS: 'csv',
    CSV_DIR: csvDir,
    CSV_PARTITION: 'none',
    // No scheduled sync while the test runs: `sync` below is the one.
    SYNC_SCHEDULE: '0 0 1 1 *',
    PUBLIC_URL: 'https://hooks.example.com',
    LOG_LEVEL: 'warn',
  };
  const serve = await startServeChild(t, { ...env, DATA_DIR: tempDir(t, 'ember-sync-pgbouncer-serve-') });

  // Webhooks from 8 senders at once (group commits on 2 server connections), then some of them again: duplicates.
  const hooks = Array.from({ length: 60 }, (_, i) => Buffer.from(JSON.stringify(generateWebhook(i, { seed: 5, idPrefix: `pgb-${i}-` }))));
  let next = 0;
  const answers: Answer[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < hooks.length) answers.push(await post(serve.webhookUrl, hooks[next++]!));
    }),
  );
  assert.deepEqual(
    answers.map((a) => [a.status, a.json['duplicate']]),
    hooks.map(() => [200, false]),
  );
  for (const bytes of hooks.slice(0, 5)) {
    const again = await post(serve.webhookUrl, bytes);
    assert.equal(again.status, 200);
    assert.equal(again.json['duplicate'], true, 'the same webhook_id again is a duplicate');
  }
  // A payload that fails its schema is quarantined (422): a write of its own through PgBouncer.
  const bad = await post(serve.webhookUrl, Buffer.from(JSON.stringify({ ...generateWebhook(0, { seed: 5, idPrefix: 'pgb-bad-' }), content_id: 5 })));
  assert.equal(bad.status, 422, JSON.stringify(bad.json));

  // The projector of serve catches up (FOR UPDATE SKIP LOCKED, SET LOCAL, savepoints: all in its transactions).
  const observer = testPool(t, direct);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = await observer.query<{ seq: string; keyed_seq: string; last: string }>({ text: 'SELECT seq, keyed_seq, (SELECT last_seq FROM log_state) AS last FROM projector_state WHERE id = 1' });
    const row = c.rows[0]!;
    if (Number(row.seq) === hooks.length && Number(row.keyed_seq) === hooks.length) {
      assert.equal(Number(row.last), hooks.length, 'one seq per webhook, duplicates none');
      break;
    }
    assert.ok(Date.now() < deadline, `the projector did not catch up within 30 s: ${JSON.stringify(row)}`);
    await sleep(100);
  }

  // The CLI through PgBouncer as well, while serve keeps its connections.
  const cli = { ...env, DATA_DIR: tempDir(t, 'ember-sync-pgbouncer-cli-') };
  const sync = await runCli(['sync', '--wait', '30'], cli, 90_000);
  assert.equal(sync.code, 0, `${sync.stdout}\n${sync.stderr}`);
  const store = await createPgStore({ connectionString: direct, create: false });
  t.after(() => store.close());
  for (const view of VIEW_NAMES) assert.equal(readFileSync(join(csvDir, `${view}.csv`), 'utf8'), await exported(store, view), `${view}.csv equals the export`);
  const exportCli = await runCli(['export', 'scores'], cli);
  assert.equal(exportCli.code, 0, exportCli.stderr);
  assert.equal(exportCli.stdout, await exported(store, 'scores'));

  const status = await runCli(['status', '--json'], cli);
  assert.equal(status.code, 0, status.stderr);
  const json = JSON.parse(status.stdout) as { events: { total: number }; quarantine: { held: number }; projector: { lag: number }; targets: Record<string, { rows_pending: number; last_run: { ok: boolean } | null }> };
  assert.equal(json.events.total, hooks.length);
  assert.equal(json.quarantine.held, 1);
  assert.equal(json.projector.lag, 0);
  assert.equal(json.targets['csv']?.last_run?.ok, true);
  assert.equal(json.targets['csv']?.rows_pending, 0);

  // doctor: connects (no options startup parameter), and says that the role sets no statement_timeout.
  const before = checks(await runCli(['doctor'], cli));
  for (const name of ['database', 'database schema', 'database durability']) assert.equal(before.get(name)?.mark, '✔', `${name}: ${JSON.stringify([...before])}`);
  assert.equal(before.get('database timeouts')?.mark, '⚠', JSON.stringify([...before]));
  assert.match(before.get('database timeouts')!.detail, /statement_timeout and lock_timeout = 0 .*ALTER ROLE/);
  const admin = testPool(t, direct);
  await admin.query({ text: `ALTER DATABASE "${db}" SET statement_timeout = '30s'` });
  await admin.query({ text: `ALTER DATABASE "${db}" SET lock_timeout = '5s'` });
  // PgBouncer's server connections keep the settings they logged in with: new ones take the database's.
  const console = new Client({ connectionString: `postgres://postgres@/pgbouncer?host=${bouncer.dir}&port=6432` });
  await console.connect();
  await console.query(`RECONNECT ${db}`);
  await console.end();
  const after = checks(await runCli(['doctor'], cli));
  assert.equal(after.get('database timeouts')?.mark, '✔', JSON.stringify([...after]));
  assert.match(after.get('database timeouts')!.detail, /statement_timeout=30s, lock_timeout=5s/);

  serve.child.kill('SIGTERM');
  const [code] = await serve.exited;
  assert.equal(code, 0, serve.output());
});

test('the server behind PgBouncer down: a statement fails as unavailable a little after statement_timeout, not after PgBouncer\'s query_wait_timeout; then it recovers', { skip: PGBOUNCER_SKIP, timeout: 60_000 }, async (t) => {
  const cluster = privateCluster(t);
  const bouncer = startPgBouncer(t, 2, cluster.dir);
  const pool = testPool(t, bouncer.url('postgres'), { statementTimeoutMs: 1_000 });
  assert.equal((await pool.query<{ n: number }>({ text: 'SELECT 1 AS n', values: [] })).rows[0]!.n, 1);
  clusterCommand('pg_cluster_pause', cluster.dir);
  for (const run of [() => pool.query({ text: 'SELECT 1', values: [] }), () => inTransaction(pool, (c) => c.query('SELECT 1'))]) {
    const started = Date.now();
    const err = await run().then(
      () => assert.fail('a statement succeeded with the server down'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StoreUnavailableError, String(err));
    const ms = Date.now() - started;
    assert.ok(ms < 1_000 + PGBOUNCER_ANSWER_MARGIN_MS + 1_500, `answered unavailable after ${ms} ms (PgBouncer alone holds it for 120 s)`);
  }
  clusterCommand('pg_cluster_resume', cluster.dir);
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      assert.equal((await pool.query<{ n: number }>({ text: 'SELECT 2 AS n', values: [] })).rows[0]!.n, 2);
      break;
    } catch (err) {
      assert.ok(err instanceof StoreUnavailableError, String(err));
      assert.ok(Date.now() < deadline, `no recovery within 20 s: ${String(err)}`);
      await sleep(200);
    }
  }
});
