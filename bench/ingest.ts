/**
 * bench/ingest — throughput of the durable receiver against bare Koa, same run,
 * same machine. Each server runs pinned to core 0; autocannon (this process)
 * runs on core 1 when started through `npm run bench:ingest`.
 *
 * Prints req/s, p50, p99 of each, the ratio receiver / bare Koa and the
 * receiver's peak RSS. Targets (2-core machine): ratio ≥ 0.30, p99 ≤ 20 ms, RSS ≤ 150 MB.
 *
 * Then on PostgreSQL (a throwaway cluster, or PG_BENCH_URL; BENCH_PG=0 skips):
 * (c) one replica, (d) two replicas with the connections split between them,
 * each replica pinned to core 0 like (b) — PostgreSQL itself is not pinned and
 * shares both cores with the replicas and the load generator. Target: (c) ≥
 * 0.15 × (a) with p99 ≤ 30 ms, every acknowledged webhook committed. The
 * average group-commit batch is what each server reports in /metrics
 * (ember_sync_commit_batch_size).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { generateWebhook } from '../src/simulate/generate.js';
import pg from 'pg';
import { startBenchCluster } from './lib/pg-cluster.js';
import { machine, peakRssMb, spawnPinned, stop, waitForLine } from './lib/proc.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const duration = Number(process.env['BENCH_SECONDS'] ?? 10);
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 50);

/** One realistic body per webhook type; autocannon puts a fresh unique id in each request. */
function bodies(): string[] {
  return (['red_flag', 'low_score', 'completion', 'workflow'] as const).map((kind, i) => {
    const w = generateWebhook(i, { kind, seed: 42 });
    return JSON.stringify({ ...w, webhook_id: '__ID__' });
  });
}

let counter = 0;
const runId = Date.now().toString(36);
/** Which server the ids go to (c, d): each phase's events are counted apart on the shared database. */
let phase = 'b';

async function load(url: string, warmup: boolean, share = connections) {
  // A fresh webhook_id per request (autocannon's own idReplacement keeps the old Content-Length).
  const requests = bodies().map((template) => ({
    method: 'POST' as const,
    path: new URL(url).pathname,
    headers: { 'content-type': 'application/json' },
    setupRequest: (req: autocannon.Request) => ({ ...req, body: template.replace('__ID__', `bench-${runId}-${phase}-${counter++}`) }),
  }));
  const warm = warmup ? await autocannon({ url, connections: share, duration: 2, requests }) : undefined;
  const r = await autocannon({ url, connections: share, duration, requests });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, ok: r['2xx'], okWithWarmup: r['2xx'] + (warm?.['2xx'] ?? 0), non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, total: r.requests.total };
}
type Load = Awaited<ReturnType<typeof load>>;

/** Several loads at once (one per replica): req/s added up; p50/p99 the worst of them (not a merged histogram). */
async function loadSplit(urls: string[]): Promise<Load> {
  const parts = await Promise.all(urls.map((u) => load(u, true, Math.max(1, Math.floor(connections / urls.length)))));
  const sum = (f: (l: Load) => number) => parts.reduce((n, p) => n + f(p), 0);
  const max = (f: (l: Load) => number) => Math.max(...parts.map(f));
  return { rps: sum((p) => p.rps), p50: max((p) => p.p50), p99: max((p) => p.p99), ok: sum((p) => p.ok), okWithWarmup: sum((p) => p.okWithWarmup), non2xx: sum((p) => p.non2xx), errors: sum((p) => p.errors), timeouts: sum((p) => p.timeouts), total: sum((p) => p.total) };
}

/** The average group-commit batch a server reports (ember_sync_commit_batch_size sum / count). */
async function avgBatch(listenUrl: string): Promise<number> {
  const text = await (await fetch(`${listenUrl}/metrics`)).text();
  const read = (what: string) => Number(new RegExp(`^ember_sync_commit_batch_size_${what} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return read('sum') / read('count');
}

const TOKENS = { WEBHOOK_TOKEN: 'bench-webhook-token-0123456789ab', ADMIN_TOKEN: 'bench-admin-token-0123456789abcd' };

/** `ember-sync serve` replicas on PostgreSQL, pinned to core 0; returns their webhook URLs. */
async function startReplicas(n: number, url: string) {
  const children = [];
  for (let i = 0; i < n; i++) {
    const child = spawnPinned(0, process.execPath, [join(root, 'dist', 'cli', 'main.js'), 'serve'], {
      ...process.env,
      ...TOKENS,
      PORT: '0',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'ember-bench-pg-')),
      DATABASE_URL: url,
      LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info',
      SYNC_SCHEDULE: '0 0 1 1 *',
    });
    const listen = (await waitForLine(child, /listening on (http:\/\/\S+)/))[1]!;
    children.push({ child, listen, webhookUrl: `${listen}/webhooks/emberqa/${TOKENS.WEBHOOK_TOKEN}` });
  }
  return children;
}

/** Events one PostgreSQL run stored. */
async function pgStored(url: string, prefix: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query<{ n: string }>({ text: 'SELECT count(*) AS n FROM events WHERE webhook_id LIKE $1', values: [`${prefix}%`] });
    return Number(r.rows[0]!.n);
  } finally {
    await client.end();
  }
}

async function main() {
  // Always build: a stale dist/ would measure old code.
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  console.log(`bench/ingest on ${machine()}; ${connections} connections, ${duration} s each after a 2 s warm-up`);

  const bare = spawnPinned(0, process.execPath, ['--import', 'tsx', join(root, 'bench', 'lib', 'bare-koa.ts')], { ...process.env, PORT: '0' });
  const barePort = (await waitForLine(bare, /listening (\d+)/))[1];
  const a = await load(`http://127.0.0.1:${barePort}/`, true);
  await stop(bare);

  const dataDir = mkdtempSync(join(tmpdir(), 'ember-bench-'));
  const recv = spawnPinned(0, process.execPath, [join(root, 'dist', 'cli', 'main.js'), 'serve'], {
    ...process.env,
    PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info',
    SYNC_SCHEDULE: '0 0 1 1 *',
  });
  // Not a terminal: serve prints where the token is kept, not the URL.
  const listen = (await waitForLine(recv, /listening on (http:\/\/\S+)/))[1]!;
  const webhookUrl = `${listen}/webhooks/emberqa/${readFileSync(join(dataDir, 'webhook-token'), 'utf8').trim()}`;
  const b = await load(webhookUrl, true);
  const rss = peakRssMb(recv.pid!);
  const batchB = await avgBatch(listen);
  await stop(recv);

  const db = new Database(join(dataDir, 'ember-sync.db'), { readonly: true });
  const stored = db.prepare('SELECT count(*) FROM events').pluck().get() as number;
  const projected = db.prepare('SELECT seq FROM projector_state').pluck().get() as number;
  db.close();
  rmSync(dataDir, { recursive: true, force: true });

  const row = (name: string, r: Load) =>
    `${name.padEnd(34)} ${r.rps.toFixed(0).padStart(8)} req/s   p50 ${String(r.p50).padStart(3)} ms   p99 ${String(r.p99).padStart(3)} ms   non-2xx ${r.non2xx}  errors ${r.errors}`;
  console.log(row('(a) bare Koa, 200', a));
  console.log(row('(b) ember-sync receiver, durable', b));
  console.log(`ratio b/a: ${(b.rps / a.rps).toFixed(2)}   (target ≥ 0.30)`);
  console.log(`receiver p99: ${b.p99} ms (target ≤ 20)   peak RSS: ${rss.toFixed(0)} MB (target ≤ 150)   avg batch ${batchB.toFixed(1)}`);
  console.log(`events stored: ${stored} (2xx answered incl. warm-up ${b.okWithWarmup}); projected at shutdown: ${projected}`);
  if (process.env['BENCH_PG'] === '0') return;

  const cluster = startBenchCluster();
  try {
    phase = 'c';
    const [one] = await startReplicas(1, cluster.url);
    const c = await load(one!.webhookUrl, true);
    const rssC = peakRssMb(one!.child.pid!);
    const batchC = await avgBatch(one!.listen);
    await stop(one!.child);
    const storedC = await pgStored(cluster.url, `bench-${runId}-c-`);

    phase = 'd';
    const two = await startReplicas(2, cluster.url);
    const d = await loadSplit(two.map((r) => r.webhookUrl));
    const rssD = two.map((r) => peakRssMb(r.child.pid!));
    const batchD = await Promise.all(two.map((r) => avgBatch(r.listen)));
    await Promise.all(two.map((r) => stop(r.child)));
    const storedD = await pgStored(cluster.url, `bench-${runId}-d-`);

    console.log(row('(c) PostgreSQL, one replica', c));
    console.log(row('(d) PostgreSQL, two replicas', d));
    console.log(`ratio c/a: ${(c.rps / a.rps).toFixed(2)}   (target ≥ 0.15)   p99 ${c.p99} ms (target ≤ 30)   peak RSS ${rssC.toFixed(0)} MB   avg batch ${batchC.toFixed(1)}`);
    console.log(`ratio d/a: ${(d.rps / a.rps).toFixed(2)}   p99 ${d.p99} ms (worst replica)   peak RSS ${rssD.map((r) => r.toFixed(0)).join(' + ')} MB   avg batch ${batchD.map((x) => x.toFixed(1)).join(' / ')}`);
    for (const [name, l, st] of [['c', c, storedC], ['d', d, storedD]] as const) {
      const verdict = st >= l.okWithWarmup ? 'every acknowledged webhook committed' : `LOST ${l.okWithWarmup - st} ACKNOWLEDGED WEBHOOKS`;
      console.log(`(${name}) events stored: ${st}, 2xx answered incl. warm-up: ${l.okWithWarmup}: ${verdict}`);
    }
  } finally {
    cluster.stop();
  }
}

await main();
