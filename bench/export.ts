/**
 * bench/export — CSV export and the scheduled CSV sync on a large database.
 *
 * Builds (once, cached in bench/out/) a database of EVENTS webhooks with six
 * metrics each (6 × EVENTS `scores` rows), then in the same run times:
 *   - the sqlite3 shell writing `SELECT * FROM scores` with `.mode csv` (baseline),
 *   - `ember-sync export scores` (long view) and `ember-sync export low_scores` (wide),
 *   - a first full CSV sync, and a scheduled CSV sync of 1,000 new events on top.
 * Prints rows/s, peak RSS and the ratio ember-sync / sqlite3 for `scores`.
 * Targets: ratio ≥ 0.33; peak RSS ≤ 200 MB; the 1,000-event sync < 6 s (10% of a minute).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, rmSync, statSync, renameSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStore } from '../src/store/create-store.js';
import { generateWebhook } from '../src/simulate/generate.js';
import type { WebhookType } from '../src/model/webhooks.js';
import { machine } from './lib/proc.js';
import { measure } from './lib/measure.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 1_000_000);
const out = join(root, 'bench', 'out');
const cli = join(root, 'dist', 'cli', 'main.js');

const KINDS = ['red_flag', 'low_score', 'completion'] as const;

/** Appends `n` scored webhooks (six metrics each) starting at index `from`, then projects them. */
function addEvents(dbPath: string, from: number, n: number, label: string): void {
  const store = createStore({ dbPath });
  const now = Date.now();
  const chunk = 20_000;
  for (let i = from; i < from + n; i += chunk) {
    store.db.transaction(() => {
      for (let j = i; j < Math.min(i + chunk, from + n); j++) {
        const kind = KINDS[j % 3]!;
        const w = generateWebhook(j, { kind, seed: 7, idPrefix: `${label}-${j}-` });
        store.events.append({ webhookId: w.webhook_id, type: kind as WebhookType, receivedAt: new Date(now - (from + n - j) * 10).toISOString(), body: Buffer.from(JSON.stringify(w)) });
      }
    })();
    if ((i - from) % 200_000 === 0) process.stderr.write(`  ${label}: ${i - from}/${n} events\n`);
  }
  const t = Date.now();
  store.projection.catchUp(5000);
  process.stderr.write(`  ${label}: projected in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
  store.close();
}

function rowsOf(file: string, header: boolean): number {
  return Number(execFileSync('wc', ['-l', file]).toString().trim().split(/\s+/)[0]) - (header ? 1 : 0);
}

async function main() {
  if (!existsSync(cli)) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  execFileSync('sqlite3', ['--version']);
  mkdirSync(out, { recursive: true });
  const base = join(out, `export-${EVENTS}.db`);
  if (!existsSync(base)) {
    process.stderr.write(`building ${base} (${EVENTS} events, cached for later runs)…\n`);
    addEvents(`${base}.tmp`, 0, EVENTS, 'base');
    execFileSync('sqlite3', [`${base}.tmp`, 'PRAGMA wal_checkpoint(TRUNCATE);']);
    renameSync(`${base}.tmp`, base);
  }
  // Work on a copy: the sync part adds events.
  const dataDir = join(out, 'export-run');
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const dbPath = join(dataDir, 'ember-sync.db');
  execFileSync('cp', ['--reflink=auto', base, dbPath]);
  const env = { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn' };

  console.log(`bench/export on ${machine()}; ${EVENTS.toLocaleString('en')} events, ${(EVENTS * 6).toLocaleString('en')} scores rows; database ${(statSync(dbPath).size / 2 ** 20).toFixed(0)} MB`);

  const shellFile = join(dataDir, 'sqlite3-scores.csv');
  const fd = openSync(shellFile, 'w');
  const shell = await measure('sqlite3', ['-readonly', '-csv', '-header', dbPath, 'SELECT * FROM scores;'], env, fd);
  closeSync(fd);
  const shellRows = rowsOf(shellFile, true);

  const results: Array<{ name: string; rows: number; seconds: number; rss: number }> = [{ name: 'sqlite3 shell .mode csv, scores', rows: shellRows, seconds: shell.seconds, rss: shell.peakRssMb }];
  for (const view of ['scores', 'low_scores'] as const) {
    const file = join(dataDir, `export-${view}.csv`);
    const m = await measure(process.execPath, [cli, 'export', view, '--out', file], env);
    if (m.code !== 0) throw new Error(`export ${view} failed: ${m.stderr}`);
    results.push({ name: `ember-sync export ${view}`, rows: rowsOf(file, true), seconds: m.seconds, rss: m.peakRssMb });
  }

  const first = await measure(process.execPath, [cli, 'sync'], env);
  if (first.code !== 0) throw new Error(`first sync failed: ${first.stderr}`);
  addEvents(dbPath, EVENTS, 1000, 'new');
  const steady = await measure(process.execPath, [cli, 'sync'], env);
  if (steady.code !== 0) throw new Error(`sync failed: ${steady.stderr}`);
  const steadyRows = Number(/csv\tok\t(\d+) rows delivered/.exec(steady.stdout)?.[1]);

  for (const r of results) {
    console.log(`${r.name.padEnd(36)} ${r.rows.toLocaleString('en').padStart(10)} rows  ${r.seconds.toFixed(2).padStart(7)} s  ${Math.round(r.rows / r.seconds).toLocaleString('en').padStart(10)} rows/s  peak RSS ${r.rss.toFixed(0).padStart(4)} MB`);
  }
  const ratio = results[1]!.rows / results[1]!.seconds / (results[0]!.rows / results[0]!.seconds);
  console.log(`ratio ember-sync / sqlite3 (scores, rows/s): ${ratio.toFixed(2)}   (target ≥ 0.33)`);
  console.log(`peak RSS of ember-sync exports: ${Math.max(results[1]!.rss, results[2]!.rss).toFixed(0)} MB   (target ≤ 200)`);
  console.log(`first CSV sync (all six views, full write): ${first.seconds.toFixed(2)} s, peak RSS ${first.peakRssMb.toFixed(0)} MB`);
  console.log(`scheduled CSV sync of 1,000 new events (${steadyRows} rows): ${steady.seconds.toFixed(2)} s, peak RSS ${steady.peakRssMb.toFixed(0)} MB   (target < 6 s, 10% of the 1-minute schedule)`);
  rmSync(dataDir, { recursive: true, force: true });
}

await main();
