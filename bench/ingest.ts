/**
 * bench/ingest — throughput of the durable receiver against bare Koa, same run,
 * same machine. Each server runs pinned to core 0; autocannon (this process)
 * runs on core 1 when started through `npm run bench:ingest`.
 *
 * Prints req/s, p50, p99 of each, the ratio receiver / bare Koa and the
 * receiver's peak RSS. Targets (2-core machine): ratio ≥ 0.30, p99 ≤ 20 ms, RSS ≤ 150 MB.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { generateWebhook } from '../src/simulate/generate.js';
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

async function load(url: string, warmup: boolean) {
  // A fresh webhook_id per request (autocannon's own idReplacement keeps the old Content-Length).
  const requests = bodies().map((template) => ({
    method: 'POST' as const,
    path: new URL(url).pathname,
    headers: { 'content-type': 'application/json' },
    setupRequest: (req: autocannon.Request) => ({ ...req, body: template.replace('__ID__', `bench-${runId}-${counter++}`) }),
  }));
  if (warmup) await autocannon({ url, connections, duration: 2, requests });
  const r = await autocannon({ url, connections, duration, requests });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, ok: r['2xx'], non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, total: r.requests.total };
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
  await stop(recv);

  const db = new Database(join(dataDir, 'ember-sync.db'), { readonly: true });
  const stored = db.prepare('SELECT count(*) FROM events').pluck().get() as number;
  const projected = db.prepare('SELECT seq FROM projector_state').pluck().get() as number;
  db.close();
  rmSync(dataDir, { recursive: true, force: true });

  const row = (name: string, r: Awaited<ReturnType<typeof load>>) =>
    `${name.padEnd(34)} ${r.rps.toFixed(0).padStart(8)} req/s   p50 ${String(r.p50).padStart(3)} ms   p99 ${String(r.p99).padStart(3)} ms   non-2xx ${r.non2xx}  errors ${r.errors}`;
  console.log(row('(a) bare Koa, 200', a));
  console.log(row('(b) ember-sync receiver, durable', b));
  console.log(`ratio b/a: ${(b.rps / a.rps).toFixed(2)}   (target ≥ 0.30)`);
  console.log(`receiver p99: ${b.p99} ms (target ≤ 20)   peak RSS: ${rss.toFixed(0)} MB (target ≤ 150)`);
  console.log(`events stored: ${stored} (2xx answered incl. warm-up ≥ ${b.ok}); projected at shutdown: ${projected}`);
}

await main();
