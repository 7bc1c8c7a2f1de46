/**
 * bench/pg-project — the PostgreSQL projector deriving views from a backlog:
 * webhooks/s of `catchUp(chunk)` with the append-only views alone
 * (keyed: null) and with the keyed views too (the product's projector), each
 * against a baseline measured in the same run (read every body with
 * `SELECT body FROM events ORDER BY seq` in pages and JSON.parse it: the least
 * any derivation must do).
 *
 * Starts a throwaway cluster (bench/lib/pg-cluster.ts, fsync on) or uses
 * PG_BENCH_URL, creates a database, logs BENCH_WEBHOOKS (default 100,000)
 * webhooks of simulate's call stream over BENCH_DAYS (default 90) days through
 * append_events in batches of 5,000, then times:
 *   - the baseline;
 *   - log views only, catchUp(BENCH_CHUNK, default 500: the product's catch-up);
 *   - log + keyed views from scratch, catchUp(BENCH_CHUNK);
 *   - log + keyed views under bulk() (a rebuild: synchronous_commit off).
 * Prints statement counts per batch and the load average. BENCH_PROFILE=1
 * also prints, per statement, its calls, the rows sent (length of its first
 * array parameter) and the time from query() to its answer (includes
 * node-postgres serialising the parameters). BENCH_SKIP_BULK=1 skips the
 * third run.
 *
 *   npx tsx bench/pg-project.ts
 */
import { cpus, loadavg } from 'node:os';
import { Client, escapeIdentifier } from 'pg';
import { classify } from '../src/ingest/validate.js';
import type { NewEvent } from '../src/model/writes.js';
import { generateWebhooks } from '../src/simulate/calls.js';
import { createPgEventLog } from '../src/store/pg/pg-event-log.js';
import { migratePg } from '../src/store/pg/pg-migrations.js';
import { createPgPool, type PgPool } from '../src/store/pg/pg-pool.js';
import { createPgProjection } from '../src/store/pg/pg-projection.js';
import { startBenchCluster } from './lib/pg-cluster.js';
import { machine } from './lib/proc.js';

const WEBHOOKS = Number(process.env['BENCH_WEBHOOKS'] ?? 100_000);
const DAYS = Number(process.env['BENCH_DAYS'] ?? 90);
const CHUNK = Number(process.env['BENCH_CHUNK'] ?? 500);
const END = Date.parse('2026-11-30T12:00:00.000Z');

const n = (x: number) => Math.round(x).toLocaleString('en');
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

function withDatabase(url: string, database: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?/, `$1/${encodeURIComponent(database)}`);
}

async function fill(pool: PgPool): Promise<void> {
  const log = createPgEventLog(pool);
  let batch: NewEvent[] = [];
  let i = 0;
  const t = performance.now();
  for (const w of generateWebhooks(WEBHOOKS, { seed: 11, now: END, days: DAYS, idPrefix: 'bench-' })) {
    const type = classify(w as unknown as Record<string, unknown>);
    if (!type) throw new Error('the generator made a webhook of no known type');
    const at = new Date(END - (WEBHOOKS - i) * Math.floor((DAYS * 86_400_000) / WEBHOOKS)).toISOString();
    batch.push({ webhookId: w.webhook_id, type, receivedAt: at, body: Buffer.from(JSON.stringify(w)) });
    i++;
    if (batch.length === 5_000) {
      await log.appendBatch(batch);
      batch = [];
    }
  }
  if (batch.length) await log.appendBatch(batch);
  process.stderr.write(`  logged ${n(WEBHOOKS)} webhooks in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
}

/** Reads and parses every body, a page at a time (what any derivation must at least do). */
async function baseline(pool: PgPool): Promise<number> {
  const t = performance.now();
  let after = 0;
  let parsed = 0;
  for (;;) {
    const res = await pool.query<{ seq: string; body: Buffer }>({ text: 'SELECT seq, body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2', values: [after, CHUNK] });
    if (res.rows.length === 0) break;
    for (const r of res.rows) JSON.parse(r.body.toString('utf8'));
    parsed += res.rows.length;
    after = Number(res.rows.at(-1)!.seq);
  }
  return (parsed / (performance.now() - t)) * 1000;
}

/** Counts the statements sent through the pool's clients (each is one round trip). */
const PROFILE = process.env['BENCH_PROFILE'] === '1';
/** Per statement (its first words): calls and milliseconds until its answer (BENCH_PROFILE=1). */
const profile = new Map<string, { calls: number; ms: number; rows: number }>();

function countStatements(pool: PgPool): { count: () => number; reset: () => void } {
  let count = 0;
  pool.pool.on('connect', (client) => {
    const c = client as unknown as { query: (...a: unknown[]) => unknown };
    const query = c.query.bind(client);
    c.query = (...a: unknown[]) => {
      count++;
      if (!PROFILE) return query(...a);
      const q = a[0] as string | { text: string };
      const key = (typeof q === 'string' ? q : q.text).replace(/\s+/g, ' ').slice(0, 70);
      const t = performance.now();
      const values = typeof q === 'string' ? a[1] : (q as { values?: unknown[] }).values;
      const first = Array.isArray(values) ? values[0] : undefined;
      const done = () => {
        const p = profile.get(key) ?? { calls: 0, ms: 0, rows: 0 };
        p.calls++;
        p.rows += Array.isArray(first) ? first.length : 0;
        p.ms += performance.now() - t;
        profile.set(key, p);
      };
      const cb = a.at(-1);
      if (typeof cb === 'function') {
        a[a.length - 1] = (...args: unknown[]) => {
          done();
          return (cb as (...x: unknown[]) => unknown)(...args);
        };
        return query(...a);
      }
      const r = query(...a) as Promise<unknown>;
      r.then(done, done);
      return r;
    };
  });
  return { count: () => count, reset: () => void (count = 0) };
}

async function main(): Promise<void> {
  const cluster = startBenchCluster();
  const db = `ember_sync_bench_${process.pid}`;
  const admin = new Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${escapeIdentifier(db)}`);
  const pool = createPgPool({ connectionString: withDatabase(cluster.url, db), max: 2, applicationName: 'bench-pg-project' });
  const stmts = countStatements(pool);
  try {
    console.log(`bench/pg-project on ${machine()}; ${n(WEBHOOKS)} webhooks over ${DAYS} days, chunks of ${n(CHUNK)}`);
    await migratePg(pool);
    await fill(pool);
    await pool.query({ text: 'VACUUM ANALYZE events' });
    console.log(`load average before: ${load()} (${cpus().length} vCPU)`);
    const base = await baseline(pool);
    console.log(`baseline (read + JSON.parse every body, pages of ${n(CHUNK)}): ${n(base)} webhooks/s`);

    const run = async (label: string, work: () => Promise<number>) => {
      stmts.reset();
      const cpu = process.cpuUsage();
      const t = performance.now();
      const done = await work();
      const ms = performance.now() - t;
      const used = process.cpuUsage(cpu);
      const rate = (done / ms) * 1000;
      const batches = Math.ceil(done / CHUNK);
      console.log(
        `${label}: ${n(done)} webhooks in ${(ms / 1000).toFixed(1)} s = ${n(rate)} webhooks/s, ratio to baseline ${(rate / base).toFixed(3)}; ` +
          `node CPU ${(((used.user + used.system) / 1000 / ms) * 100).toFixed(0)}% of wall; ${(stmts.count() / batches).toFixed(1)} statements per batch`,
      );
      if (PROFILE) {
        for (const [k, p] of [...profile].sort((x, y) => y[1].ms - x[1].ms).slice(0, 14)) console.log(`  ${(p.ms / 1000).toFixed(2).padStart(6)} s ${String(p.calls).padStart(5)}× ${String(p.rows).padStart(8)} rows ${k}`);
        profile.clear();
      }
      return rate;
    };

    const logOnly = createPgProjection(pool, { keyed: null });
    await run('log views only, catchUp', () => logOnly.catchUp(CHUNK));
    const full = createPgProjection(pool);
    await logOnly.startRebuild();
    await run('log + keyed views, catchUp', () => full.catchUp(CHUNK));
    if (process.env['BENCH_SKIP_BULK'] !== '1') {
      await full.startRebuild();
      await run('log + keyed views, catchUp under bulk() (rebuild)', () => full.bulk(() => full.catchUp(CHUNK)));
    }
    const sizes = await pool.query<{ t: string; n: string }>({
      text: `SELECT 'contents' AS t, count(*) AS n FROM content_rows UNION ALL SELECT 'content_scores', count(*) FROM content_score_rows
       UNION ALL SELECT 'daily_agents', count(*) FROM daily_agent_rows UNION ALL SELECT 'daily_metrics', count(*) FROM daily_metric_rows
       UNION ALL SELECT 'scores', count(*) FROM score_rows`,
    });
    console.log(`rows: ${sizes.rows.map((r) => `${r.t} ${n(Number(r.n))}`).join(', ')}`);
    console.log(`load average after: ${load()}; peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`);
  } finally {
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(db)} WITH (FORCE)`);
    await admin.end();
    cluster.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
