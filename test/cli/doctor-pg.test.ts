import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPgStore } from '../../src/store/pg/create-pg-store.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';
import { freshDatabase, PG_SKIP, testPool } from '../store/pg/pg-test-db.js';

/** `ember-sync doctor` with DATABASE_URL: a read-only look at PostgreSQL (never migrates, never writes). */

const TOKENS = { WEBHOOK_TOKEN: 'doctor-pg-webhook-token-0123456', ADMIN_TOKEN: 'doctor-pg-admin-token-012345678' };

function lines(r: CliResult): Map<string, { ok: boolean; detail: string }> {
  const out = new Map<string, { ok: boolean; detail: string }>();
  for (const line of r.stdout.split('\n')) {
    const m = /^([✔✘]) ([^:]+): (.*)$/.exec(line);
    if (m) out.set(m[2]!, { ok: m[1] === '✔', detail: m[3]! });
  }
  return out;
}

const doctor = (url: string, dataDir: string) => runCli(['doctor'], { ...TOKENS, DATABASE_URL: url, DATA_DIR: dataDir, SYNC_SCHEDULE: '0 0 1 1 *', PUBLIC_URL: 'https://hooks.example.com' });

test('doctor on PostgreSQL: a database ember-sync never started on is reported, and left untouched', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const r = await doctor(url, tempDir(t));
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const checks = lines(r);
  assert.equal(checks.get('database')?.ok, true, r.stdout);
  assert.match(checks.get('database')!.detail, /^PostgreSQL \d+/);
  assert.equal(checks.get('database schema')?.ok, false);
  assert.match(checks.get('database schema')!.detail, /no ember-sync tables.*start ember-sync serve once/);
  const pool = testPool(t, url);
  const tables = await pool.query<{ n: number }>({ text: "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'" });
  assert.equal(tables.rows[0]?.n, 0, 'doctor created nothing');
});

test('doctor on PostgreSQL: a migrated database passes its checks and shows the server\'s settings; the password is never shown', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const store = await createPgStore({ connectionString: url });
  await store.meta.set('retention_days', '30');
  await store.close();
  const r = await doctor(url, tempDir(t));
  const checks = lines(r);
  for (const name of ['database', 'database schema', 'database durability']) assert.equal(checks.get(name)?.ok, true, `${name}: ${r.stdout}`);
  assert.match(checks.get('retention')!.detail, /RETENTION_DAYS=30: no run yet/);
  assert.ok(!checks.has('disk DB_PATH'), 'no SQLite file to check on PostgreSQL');

  // A URL with a password that cannot connect: one failed line, the password nowhere.
  const secret = 'hunter2-doctor-secret';
  const bad = `postgres://ember:${secret}@/nowhere?host=/nonexistent-socket-dir`;
  const down = await doctor(bad, tempDir(t));
  assert.equal(down.code, 1);
  const failed = lines(down).get('database');
  assert.equal(failed?.ok, false, down.stdout);
  assert.match(failed!.detail, /cannot open postgres:\/\/ember:\*\*\*@.*check DATABASE_URL/);
  assert.ok(!(down.stdout + down.stderr).includes(secret), 'the password is never printed');
});
