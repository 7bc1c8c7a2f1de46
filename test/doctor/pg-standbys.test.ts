/**
 * `ember-sync doctor` on PostgreSQL warns (⚠, exit status unchanged) when
 * synchronous_standby_names makes every commit wait for a standby: with the
 * standby down, webhook commits wait and are answered 503. The setting is
 * reloaded cluster-wide (it cannot be set per database: ALTER DATABASE …
 * SET synchronous_standby_names fails with "cannot be changed now"), so the
 * test runs on a cluster of its own.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Client } from 'pg';
import { createPgStore } from '../../src/store/pg/create-pg-store.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';
import { databaseUrl, PG_SKIP, privateCluster } from '../store/pg/pg-test-db.js';

const TOKENS = { WEBHOOK_TOKEN: 'doctor-sb-webhook-token-0123456', ADMIN_TOKEN: 'doctor-sb-admin-token-012345678' };

/** The `database standbys` line, the count of failed checks and of warnings (the summary line). */
function standbyLine(r: CliResult): { mark: string; detail: string; failed: number; warned: number } {
  const m = /^([✔✘⚠]) database standbys: (.*)$/m.exec(r.stdout);
  assert.ok(m, r.stdout + r.stderr);
  const summary = /^(?:(\d+) of \d+ checks failed|all \d+ checks passed)(?: \((\d+) with a warning\))?$/m.exec(r.stdout);
  assert.ok(summary, r.stdout);
  return { mark: m[1]!, detail: m[2]!, failed: Number(summary[1] ?? 0), warned: Number(summary[2] ?? 0) };
}

/** The PostgreSQL binaries of the cluster (pg-cluster.sh picks the newest, or PG_BIN). */
function pgBin(name: string): string {
  if (process.env['PG_BIN']) return join(process.env['PG_BIN'], name);
  const version = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))[0]!;
  return join('/usr/lib/postgresql', version, 'bin', name);
}

async function sql(url: string, text: string): Promise<void> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

async function until(url: string, text: string, wanted: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = new Client({ connectionString: url });
    await c.connect();
    const got = String(Object.values((await c.query(text)).rows[0] ?? {})[0]);
    await c.end();
    if (got === wanted) return;
    if (Date.now() > deadline) throw new Error(`${text}: ${got}, not ${wanted}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('doctor on PostgreSQL: synchronous_standby_names set → ⚠ database standbys (commits wait for a standby), not a failure', { skip: PG_SKIP, timeout: 180_000 }, async (t) => {
  const { dir, url: admin } = privateCluster(t);
  await sql(admin, 'CREATE DATABASE ember');
  await sql(admin, 'CREATE ROLE watcher LOGIN; GRANT pg_read_all_data TO watcher');
  const url = databaseUrl(admin, 'ember');
  await (await createPgStore({ connectionString: url })).close();
  const dataDir = tempDir(t);
  const doctor = (u = url) => runCli(['doctor'], { ...TOKENS, DATABASE_URL: u, DATA_DIR: dataDir, SYNC_SCHEDULE: '0 0 1 1 *', PUBLIC_URL: 'https://hooks.example.com' });

  const before = standbyLine(await doctor());
  assert.equal(before.mark, '✔');
  assert.equal(before.detail, 'synchronous_standby_names is empty: a commit waits for no standby');

  await sql(admin, "ALTER SYSTEM SET synchronous_standby_names = 'replica_a'");
  await sql(admin, 'SELECT pg_reload_conf()');
  await until(url, 'SHOW synchronous_standby_names', 'replica_a');
  const down = standbyLine(await doctor());
  assert.equal(down.mark, '⚠', down.detail);
  assert.match(
    down.detail,
    /^synchronous_standby_names = 'replica_a' with synchronous_commit=on: every commit waits until a standby confirms it \(no standby is connected now\); while none answers, webhook commits wait until ember-sync gives up and are answered 503 \(EmberQA retries them\)\. To avoid: keep a synchronous standby up/,
  );
  assert.equal(down.failed, before.failed, 'a warning is not a failed check');
  assert.equal(down.warned, before.warned + 1, 'the summary counts the warning');

  // A synchronous standby connected (pg_receivewal --synchronous, named replica_a): a superuser sees it as such; another role only sees a WAL sender.
  const receiver = spawn(pgBin('pg_receivewal'), ['-D', tempDir(t), '--synchronous', '--no-loop', '-d', `host=${dir} user=postgres dbname=replication application_name=replica_a`], { stdio: 'ignore' });
  t.after(async () => {
    if (receiver.exitCode === null) {
      receiver.kill('SIGTERM');
      await once(receiver, 'exit');
    }
  });
  await until(admin, "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'replica_a' AND sync_state = 'sync'", '1');
  const up = standbyLine(await doctor());
  assert.equal(up.mark, '⚠');
  assert.match(up.detail, /every commit waits until a standby confirms it \(1 synchronous standby\(s\) connected now\)/);
  const watcher = standbyLine(await doctor(url.replace('postgres://postgres@', 'postgres://watcher@')));
  assert.equal(watcher.mark, '⚠');
  assert.match(watcher.detail, /\(1 WAL sender\(s\) connected now \(this role cannot see which are synchronous\)\)/);

  // synchronous_commit=local for ember-sync's database: its commits do not wait.
  await sql(admin, 'ALTER DATABASE ember SET synchronous_commit = local');
  const local = standbyLine(await doctor());
  assert.equal(local.mark, '✔');
  assert.equal(local.detail, "synchronous_standby_names = 'replica_a', but synchronous_commit=local: ember-sync's commits do not wait for a standby");
});
