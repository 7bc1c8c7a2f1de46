/**
 * bench/retention — RETENTION_DAYS on a long history while webhooks keep
 * arriving: does a run block ingest?
 *
 * Builds (once, cached in bench/out/) a database of EVENTS coherent webhooks
 * over DAYS days, copies it, then in one process, with the server's own
 * group-commit writer on the same connection (as `serve` has it), commits
 * webhooks at RATE per second and measures each one's time from submit to
 * commit and the event loop's longest stall:
 *   (a) baseline: BASE_S seconds of ingest alone;
 *   (b) the same ingest while a retention run keeps 30 days (deletions, then
 *       the incremental vacuum).
 * Prints p50/p99/max commit latency of both phases, their ratio, the longest
 * event-loop stall, what the run deleted, how fast, and the file before/after.
 * Target: ingest not blocked for more than a few ms (p99 and max of (b) within
 * a few ms of (a)).
 *
 * BENCH_EVENTS (default 200,000), BENCH_DAYS (default 120), BENCH_RATE (default 200/s).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { classify } from '../src/ingest/validate.js';
import { runRetention } from '../src/jobs/retention.js';
import type { EmberQAWebhook } from '../src/model/payload-types.js';
import { generateWebhooks } from '../src/simulate/calls.js';
import { createStore, type SqliteStore } from '../src/store/create-store.js';
import { createWebhookWriter } from '../src/store/group-commit.js';
import { machine } from './lib/proc.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 200_000);
const DAYS = Number(process.env['BENCH_DAYS'] ?? 120);
const RATE = Number(process.env['BENCH_RATE'] ?? 200);
const BASE_S = 5;
const KEEP_DAYS = 30;
const out = join(root, 'bench', 'out');
const END = Date.parse('2026-11-30T12:00:00.000Z');

function build(path: string): void {
  const store = createStore({ dbPath: path });
  const spacing = (DAYS * 86_400_000) / EVENTS;
  let chunk: EmberQAWebhook[] = [];
  let i = 0;
  const flush = () => {
    const first = i - chunk.length;
    store.db.transaction(() => {
      chunk.forEach((w, k) => {
        const type = classify(w as unknown as Record<string, unknown>)!;
        const at = new Date(END - (EVENTS - (first + k)) * spacing).toISOString();
        store.sqlite.events.append({ webhookId: w.webhook_id, type, receivedAt: at, body: Buffer.from(JSON.stringify(w)) });
      });
    })();
    chunk = [];
  };
  for (const w of generateWebhooks(EVENTS, { seed: 17, now: END, days: DAYS, idPrefix: 'ret-' })) {
    chunk.push(w);
    i++;
    if (chunk.length === 20_000) flush();
  }
  if (chunk.length) flush();
  store.sqlite.projection.catchUp(5_000);
  store.close();
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const ms = (n: number) => `${n.toFixed(1)} ms`;

/** Commits a webhook every 1/RATE s until `until` resolves; returns each one's submit→commit time. */
async function ingestWhile(store: SqliteStore, until: Promise<unknown>, label: string): Promise<{ latencies: number[]; stallMs: number }> {
  const writer = createWebhookWriter(store);
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  let n = 0;
  let done = false;
  void until.finally(() => (done = true));
  const started = performance.now();
  while (!done) {
    const due = started + (n * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t = performance.now();
    const id = `${label}-${n++}`;
    const body = { webhook_id: id, content_id: `live-${id}`, alert_type: 'red_flag', content_type: 'Call', agent_name: 'Bench Agent', red_flag_reason: 'x', total_score: 5, score_details: { empathy_score: 3 }, timestamp: new Date().toISOString() };
    pending.push(
      writer.submit({ kind: 'event', event: { webhookId: id, type: 'red_flag', receivedAt: new Date().toISOString(), body: Buffer.from(JSON.stringify(body)) } }).then(() => void latencies.push(performance.now() - t)),
    );
  }
  await Promise.all(pending);
  await writer.close();
  loop.disable();
  return { latencies: latencies.sort((a, b) => a - b), stallMs: loop.max / 1e6 };
}

async function main() {
  mkdirSync(out, { recursive: true });
  const base = join(out, `retention-${EVENTS}-${DAYS}d.db`);
  if (!existsSync(base)) {
    process.stderr.write(`building ${base} (${EVENTS} webhooks over ${DAYS} days, cached)…\n`);
    rmSync(`${base}.tmp`, { force: true });
    build(`${base}.tmp`);
    execFileSync('sqlite3', [`${base}.tmp`, 'PRAGMA wal_checkpoint(TRUNCATE);']);
    renameSync(`${base}.tmp`, base);
  }
  const dir = join(out, 'retention-run');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dbPath = join(dir, 'ember-sync.db');
  execFileSync('cp', ['--reflink=auto', base, dbPath]);
  const store = createStore({ dbPath });
  const sizeBefore = statSync(dbPath).size;
  const events = (await store.events.counts()).events;
  console.log(`bench/retention on ${machine()}`);
  console.log(`${events.toLocaleString('en')} webhooks over ${DAYS} days (${(sizeBefore / 1048576).toFixed(0)} MB); ingest at ${RATE}/s; RETENTION_DAYS=${KEEP_DAYS}`);

  const a = await ingestWhile(store, new Promise((r) => setTimeout(r, BASE_S * 1000)), 'base');
  let runMs = 0;
  const run = (async () => {
    const t = performance.now();
    const r = await runRetention({ store, days: KEEP_DAYS, now: new Date(END) });
    runMs = performance.now() - t;
    return r;
  })();
  const b = await ingestWhile(store, run, 'ret');
  const result = await run;
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  const sizeAfter = statSync(dbPath).size;
  store.close();

  const line = (name: string, x: { latencies: number[]; stallMs: number }) =>
    `${name}: ${x.latencies.length} webhooks committed, p50 ${ms(pct(x.latencies, 50))}, p99 ${ms(pct(x.latencies, 99))}, max ${ms(x.latencies.at(-1) ?? NaN)}; longest event-loop stall ${ms(x.stallMs)}`;
  console.log(line('(a) ingest alone', a));
  console.log(line('(b) ingest during retention', b));
  console.log(`ratio (b)/(a): p99 ${(pct(b.latencies, 99) / pct(a.latencies, 99)).toFixed(2)}, max ${((b.latencies.at(-1) ?? 0) / (a.latencies.at(-1) ?? 1)).toFixed(2)}`);
  console.log(
    `retention run: ${(runMs / 1000).toFixed(1)} s; deleted ${result.events.toLocaleString('en')} webhooks (${Math.round(result.events / (runMs / 1000)).toLocaleString('en')}/s), ${result.contents.toLocaleString('en')} calls, ${result.metricRows.toLocaleString('en')} metric rows; ${(result.freedBytes / 1048576).toFixed(0)} MB given back; file ${(sizeBefore / 1048576).toFixed(0)} → ${(sizeAfter / 1048576).toFixed(0)} MB`,
  );
}

await main();
