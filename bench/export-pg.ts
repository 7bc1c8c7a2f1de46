/**
 * bench/export-pg — `export` of the `scores` view (append-only, the longest)
 * and of `contents` (keyed) from PostgreSQL against SQLite holding the same
 * webhooks, in the same run, through the product's export path
 * (src/jobs/export-view.ts exportView on a store from createStore /
 * createPgStore) into a sink that drops the bytes: seconds, rows/s, the ratio
 * PG / SQLite, and the peak RSS of the process while each export runs
 * (sampled every 20 ms; the process also holds both stores' build, so the
 * rise during the export is printed too).
 *
 * Builds both stores from scratch (nothing is cached: a throwaway cluster from
 * bench/lib/pg-cluster.ts, or PG_BENCH_URL; the SQLite file in bench/out is
 * deleted at the end): BENCH_WEBHOOKS (default 1,000,000) webhooks of
 * simulate's call stream over BENCH_MONTHS (default 6) months, logged in
 * batches of 5,000 (PostgreSQL: append_events) and every view derived by each
 * backend's bulk catch-up, whose time is printed too. 1M takes several
 * minutes to build; BENCH_WEBHOOKS=200000 for a quick run. BENCH_ROUNDS
 * (default 2) exports per view and backend, alternating; the best is kept.
 * BENCH_VIEWS (default scores,contents) the views exported.
 *
 *   npx tsx bench/export-pg.ts
 */
import { mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Client, escapeIdentifier } from 'pg';
import { classify } from '../src/ingest/validate.js';
import { exportView } from '../src/jobs/export-view.js';
import { DEFAULT_CSV_DIALECT } from '../src/model/csv.js';
import type { EmberQAWebhook } from '../src/model/payload-types.js';
import type { ViewName } from '../src/model/views.js';
import type { NewEvent } from '../src/model/writes.js';
import { generateWebhooks } from '../src/simulate/calls.js';
import { createStore, type SqliteStore } from '../src/store/create-store.js';
import { createPgStore } from '../src/store/pg/create-pg-store.js';
import { createPgEventLog } from '../src/store/pg/pg-event-log.js';
import { createPgPool } from '../src/store/pg/pg-pool.js';
import type { Store } from '../src/store/store.js';
import { startBenchCluster } from './lib/pg-cluster.js';
import { machine } from './lib/proc.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const WEBHOOKS = Number(process.env['BENCH_WEBHOOKS'] ?? 1_000_000);
const MONTHS = Number(process.env['BENCH_MONTHS'] ?? 6);
const ROUNDS = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? 2));
const VIEWS = (process.env['BENCH_VIEWS'] ?? 'scores,contents').split(',') as ViewName[];
const END = Date.parse('2026-11-20T12:00:00.000Z');
const MONTH_MS = (365.2425 / 12) * 86_400_000;
const STEP_MS = (MONTHS * MONTH_MS) / WEBHOOKS;
const BATCH = 5_000;

if (!(Number.isSafeInteger(WEBHOOKS) && WEBHOOKS >= 1000)) throw new Error(`BENCH_WEBHOOKS must be a whole number ≥ 1000 (got ${process.env['BENCH_WEBHOOKS']})`);

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const n = (x: number) => Math.round(x).toLocaleString('en');
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

function withDatabase(url: string, database: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?/, `$1/${encodeURIComponent(database)}`);
}

/** The history in batches, as both stores log it. */
function* batches(): Generator<NewEvent[]> {
  let batch: NewEvent[] = [];
  let i = 0;
  for (const w of generateWebhooks(WEBHOOKS, { seed: 9, now: END, days: (MONTHS * MONTH_MS) / 86_400_000, idPrefix: 'bx-' }) as Generator<EmberQAWebhook>) {
    const type = classify(w as unknown as Record<string, unknown>);
    if (!type) throw new Error('the generator made a webhook of no known type');
    batch.push({ webhookId: w.webhook_id, type, receivedAt: new Date(END - (WEBHOOKS - i) * STEP_MS).toISOString(), body: Buffer.from(JSON.stringify(w)) });
    i++;
    if (batch.length === BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

async function buildSqlite(path: string): Promise<SqliteStore> {
  const store = createStore({ dbPath: path });
  // A throwaway file: no commit needs to reach the disk.
  store.db.pragma('synchronous = OFF');
  let t = performance.now();
  for (const batch of batches()) store.db.transaction(() => batch.forEach((e) => store.sqlite.events.append(e)))();
  const logged = performance.now() - t;
  t = performance.now();
  await store.projection.bulk(() => store.projection.catchUp(5_000));
  console.log(`SQLite: logged in ${s(logged)}, every view derived in ${s(performance.now() - t)} (${n((WEBHOOKS / (performance.now() - t)) * 1000)} webhooks/s)`);
  return store;
}

async function buildPg(url: string): Promise<Store> {
  const store = await createPgStore({ connectionString: url, applicationName: 'bench-export-pg' });
  const pool = createPgPool({ connectionString: url, max: 1, applicationName: 'bench-export-pg-log' });
  let t = performance.now();
  try {
    const log = createPgEventLog(pool);
    for (const batch of batches()) await log.appendBatch(batch);
    await pool.query({ text: 'VACUUM ANALYZE events' });
  } finally {
    await pool.end();
  }
  const logged = performance.now() - t;
  t = performance.now();
  await store.projection.bulk(() => store.projection.catchUp(5_000));
  console.log(`PostgreSQL: logged in ${s(logged)}, every view derived in ${s(performance.now() - t)} (${n((WEBHOOKS / (performance.now() - t)) * 1000)} webhooks/s)`);
  return store;
}

/** Exports a view into a sink that drops the bytes; rows, ms, bytes and the peak RSS while it ran. */
async function timedExport(store: Store, view: ViewName): Promise<{ rows: number; ms: number; bytes: number; peakMb: number; riseMb: number }> {
  let bytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      done();
    },
  });
  const before = process.memoryUsage.rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  const t = performance.now();
  try {
    const rows = await exportView(store, { view, since: undefined, until: undefined, dialect: DEFAULT_CSV_DIALECT }, sink);
    peak = Math.max(peak, process.memoryUsage.rss());
    return { rows, ms: performance.now() - t, bytes, peakMb: peak / 1024 / 1024, riseMb: (peak - before) / 1024 / 1024 };
  } finally {
    clearInterval(sampler);
  }
}

async function main(): Promise<void> {
  console.log(`bench/export-pg on ${machine()}; ${n(WEBHOOKS)} webhooks over ${MONTHS} months; load average ${load()}`);
  const out = join(root, 'bench', 'out');
  mkdirSync(out, { recursive: true });
  const sqlitePath = join(out, `export-pg-${process.pid}.db`);
  const cluster = startBenchCluster();
  const db = `ember_sync_bench_${process.pid}`;
  const admin = new Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${escapeIdentifier(db)}`);
  let sqlite: SqliteStore | undefined;
  let pg: Store | undefined;
  try {
    sqlite = await buildSqlite(sqlitePath);
    pg = await buildPg(withDatabase(cluster.url, db));
    global.gc?.();
    console.log(`load average before the exports: ${load()}`);
    for (const view of VIEWS) {
      const best: Record<'sqlite' | 'pg', Awaited<ReturnType<typeof timedExport>> | undefined> = { sqlite: undefined, pg: undefined };
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, store] of [
          ['sqlite', sqlite],
          ['pg', pg],
        ] as const) {
          const r = await timedExport(store, view);
          const b = best[name];
          best[name] = b === undefined ? r : { ...(r.ms < b.ms ? r : b), peakMb: Math.max(r.peakMb, b.peakMb), riseMb: Math.max(r.riseMb, b.riseMb) };
        }
      }
      const [a, b] = [best.sqlite!, best.pg!];
      if (a.rows !== b.rows || a.bytes !== b.bytes) console.log(`  ${view}: SQLite wrote ${n(a.rows)} rows / ${n(a.bytes)} bytes, PostgreSQL ${n(b.rows)} / ${n(b.bytes)}: NOT the same`);
      const line = (label: string, r: typeof a) => `${label} ${s(r.ms)} = ${n((r.rows / r.ms) * 1000)} rows/s, peak RSS ${Math.round(r.peakMb)} MB (+${Math.round(r.riseMb)} MB during the export)`;
      console.log(
        `export ${view} (${n(a.rows)} rows, ${(a.bytes / 1024 / 1024).toFixed(0)} MB of CSV), best of ${ROUNDS}: ${line('SQLite', a)}; ${line('PostgreSQL', b)}; ` + `time ratio PG/SQLite ${(b.ms / a.ms).toFixed(2)}`,
      );
    }
    console.log(`load average after: ${load()}`);
  } finally {
    await pg?.close();
    await sqlite?.close();
    rmSync(sqlitePath, { force: true });
    rmSync(`${sqlitePath}-wal`, { force: true });
    rmSync(`${sqlitePath}-shm`, { force: true });
    await admin.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(db)} WITH (FORCE)`);
    await admin.end();
    cluster.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
