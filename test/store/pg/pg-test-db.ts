/**
 * PostgreSQL for the tests in this folder: EMBER_SYNC_TEST_DATABASE_URL names a
 * server where we may create and drop databases (.ci/run starts a throwaway
 * cluster; locally: `test/store/pg/pg-cluster.sh npm test`). Without it the
 * tests that need a server skip, saying so.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Client, escapeIdentifier } from 'pg';
import { createPgPool, type PgPool, type PgPoolOptions } from '../../../src/store/pg/pg-pool.js';

export const PG_URL: string | undefined = process.env['EMBER_SYNC_TEST_DATABASE_URL'] || undefined;

export const PG_SKIP: string | false = PG_URL
  ? false
  : 'EMBER_SYNC_TEST_DATABASE_URL is not set: this test needs a PostgreSQL server (.ci/run starts a throwaway cluster; locally run `test/store/pg/pg-cluster.sh npm test`)';

/** The same server and credentials, another database: the URL's path is the database name. */
export function databaseUrl(url: string, database: string): string {
  const authority = /^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?/;
  if (!authority.test(url)) throw new Error('EMBER_SYNC_TEST_DATABASE_URL must be a postgres:// or postgresql:// URL');
  return url.replace(authority, `$1/${encodeURIComponent(database)}`);
}

async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: PG_URL!, application_name: 'ember-sync-test-admin' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Clean-ups of a test, run last-registered first (pools close before their database is dropped). */
const cleanups = new WeakMap<TestContext, Array<() => Promise<unknown>>>();
function onEnd(t: TestContext, fn: () => Promise<unknown>): void {
  let stack = cleanups.get(t);
  if (!stack) {
    const fresh: Array<() => Promise<unknown>> = [];
    cleanups.set(t, fresh);
    t.after(async () => {
      for (const f of fresh.reverse()) await f();
    });
    stack = fresh;
  }
  stack.push(fn);
}

/**
 * An empty database of this test's own, dropped when the test ends (advisory
 * locks and schemas are per database, so test files running at once do not meet).
 */
export async function freshDatabase(t: TestContext): Promise<string> {
  const name = `ember_sync_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${escapeIdentifier(name)}`));
  onEnd(t, () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`)));
  return databaseUrl(PG_URL!, name);
}

/** A pool closed when the test ends. */
export function testPool(t: TestContext, url: string, options: Omit<PgPoolOptions, 'connectionString'> = {}): PgPool {
  const pool = createPgPool({ connectionString: url, ...options });
  onEnd(t, () => pool.end());
  return pool;
}

/** A plain client of its own (a session the test drives step by step), closed when the test ends. */
export async function testClient(t: TestContext, url: string, applicationName = 'ember-sync-test'): Promise<Client> {
  const client = new Client({ connectionString: url, application_name: applicationName });
  // A terminated session must not crash the test process.
  client.on('error', () => undefined);
  await client.connect();
  onEnd(t, () => client.end().catch(() => undefined));
  return client;
}

/** Waits until a backend of `applicationName` waits on `waitEvent` (e.g. 'advisory', 'PgSleep'); returns its pid. */
export async function waitForBackend(observer: Client, applicationName: string, waitEvent: string, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await observer.query<{ pid: number }>({
      text: 'SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event = $2 AND datname = current_database()',
      values: [applicationName, waitEvent],
    });
    if (res.rows[0]) return res.rows[0].pid;
    if (Date.now() > deadline) throw new Error(`no backend of ${applicationName} waited on ${waitEvent} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A small deterministic PRNG for batch sizes and orders: simulate's own (mulberry32). */
export { rng as prng } from '../../../src/simulate/generate.js';

/** An event as the receiver would log it. */
export function event(webhookId: string, options: { type?: 'red_flag' | 'low_score' | 'completion' | 'workflow'; receivedAt?: string; body?: Buffer; outcome?: 'accepted' | 'replayed' } = {}) {
  return {
    webhookId,
    type: options.type ?? ('completion' as const),
    receivedAt: options.receivedAt ?? new Date().toISOString(),
    body: options.body ?? Buffer.from(JSON.stringify({ webhook_id: webhookId, trigger_reason: 'completed_action' })),
    ...(options.outcome === undefined ? {} : { outcome: options.outcome }),
  };
}

const CLUSTER_SCRIPT = join(import.meta.dirname, 'pg-cluster.sh');

/** Runs one of pg-cluster.sh's functions on the cluster in `dir`. */
export function clusterCommand(fn: 'pg_cluster_pause' | 'pg_cluster_resume' | 'pg_cluster_stop', dir: string): void {
  execFileSync('bash', ['-c', `source "$1" && PG_CLUSTER_DIR="$2" && ${fn}`, 'pg-cluster', CLUSTER_SCRIPT, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/**
 * A cluster of the test's own (the shared one serves other test files at the
 * same time): for a test that stops the server or changes its authentication.
 * Stopped and deleted when the test ends.
 */
export function privateCluster(t: TestContext): { dir: string; url: string } {
  const dir = execFileSync('bash', ['-c', 'source "$1" >/dev/null && pg_cluster_start 2>/dev/null && printf %s "$PG_CLUSTER_DIR"', 'pg-cluster', CLUSTER_SCRIPT], { encoding: 'utf8' });
  t.after(() => clusterCommand('pg_cluster_stop', dir));
  return { dir, url: `postgres://postgres@/postgres?host=${dir}` };
}
