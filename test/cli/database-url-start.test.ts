import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Client } from 'pg';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';
import { freshDatabase, PG_SKIP, privateCluster, testPool } from '../store/pg/pg-test-db.js';

/**
 * Starting on PostgreSQL that cannot be used: one line naming DATABASE_URL,
 * what is wrong and what to do (exit 2), the password never shown, and no
 * hang — also when the server asks for a password the URL lacks
 * (node-postgres leaves that socket open).
 */

const TOKENS = { WEBHOOK_TOKEN: 'start-webhook-token-0123456789a', ADMIN_TOKEN: 'start-admin-token-0123456789abc' };
const SECRET = 'hunter2-start-secret';

function oneLine(r: { code: number | null; stderr: string; stdout: string }, re: RegExp): void {
  assert.equal(r.code, 2, r.stderr + r.stdout);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^ember-sync: invalid setting DATABASE_URL: /);
  assert.match(lines[0]!, re);
  assert.ok(!(r.stderr + r.stdout).includes(SECRET), 'the password is never printed');
}

test('CLI commands on a database ember-sync never started on: refused, nothing created; serve creates it', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const env = { ...TOKENS, DATABASE_URL: url, DATA_DIR: tempDir(t) };
  for (const args of [['status'], ['export', 'scores'], ['sync'], ['replay'], ['rebuild']]) oneLine(await runCli(args, env), /no ember-sync database at .*start ember-sync serve once/);
  const tables = await testPool(t, url).query<{ n: number }>({ text: "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'" });
  assert.equal(tables.rows[0]?.n, 0, 'no command created a table');
});

test('an unreachable server, a missing database, a wrong or missing password: one line each, no hang', { skip: PG_SKIP, timeout: 120_000 }, async (t) => {
  const { dir, url } = privateCluster(t);
  const admin = new Client({ connectionString: url });
  await admin.connect();
  await admin.query(`ALTER USER postgres PASSWORD '${SECRET}'`);
  await admin.end();
  // Passwords required from now on (the cluster was made with trust).
  const hba = join(dir, 'data', 'pg_hba.conf');
  writeFileSync(hba, readFileSync(hba, 'utf8').replace(/\btrust\b/g, 'scram-sha-256'));
  const reload = new Client({ connectionString: `postgres://postgres:${SECRET}@/postgres?host=${dir}` });
  await reload.connect();
  await reload.query('SELECT pg_reload_conf()');
  await reload.end();

  const run = (databaseUrl: string, args = ['status']) => runCli(args, { ...TOKENS, DATABASE_URL: databaseUrl, DATA_DIR: tempDir(t), PORT: '0' }, 30_000);
  oneLine(await run(`postgres://postgres@/postgres?host=${dir}`), /asks for a password and DATABASE_URL has none/);
  oneLine(await run(`postgres://postgres:wrong-${SECRET}@/postgres?host=${dir}`), /postgres:\*\*\*@.*the password is wrong/);
  oneLine(await run(`postgres://postgres:${SECRET}@/nodb?host=${dir}`), /the database does not exist/);
  oneLine(await run(`postgres://postgres:${SECRET}@/nodb?host=${dir}`, ['serve']), /the database does not exist/);
  oneLine(await run(`postgres://postgres:${SECRET}@/postgres?host=${dir}-gone`), /no PostgreSQL socket in that folder/);
});

test('sslmode=require is accepted without a SECURITY WARNING; a server without TLS then fails in one line', { skip: PG_SKIP, timeout: 120_000 }, async (t) => {
  // The throwaway cluster has no TLS: the URL is accepted, the connection is not, and stderr holds that one line only.
  const url = await freshDatabase(t);
  const env = { ...TOKENS, DATA_DIR: tempDir(t) };
  for (const query of ['sslmode=require', 'sslmode=prefer', 'uselibpqcompat=true&sslmode=require']) {
    const r = await runCli(['status'], { ...env, DATABASE_URL: `${url}&${query}` }, 30_000);
    assert.doesNotMatch(r.stderr, /SECURITY WARNING|Warning/, query);
    oneLine(r, /cannot use the database at .*: The server does not support SSL connections/);
  }
});
