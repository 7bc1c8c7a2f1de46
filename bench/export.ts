/**
 * bench/export — CSV export and the scheduled CSV sync on a long history.
 *
 * Builds (once, kept in bench/out/export-<events>-<months>m/) a database of
 * BENCH_EVENTS coherent webhooks (simulate's call stream) spread evenly over
 * BENCH_MONTHS months of received_at, with the store's bulk paths. The default
 * number of months keeps a month at ~166,667 webhooks whatever the size (1M
 * over 6 months, 5M over 30): the month a sync writes stays the same size
 * while the history grows. Then, in one run:
 *   - the sqlite3 shell writing `SELECT * FROM scores` with `.mode csv` (baseline)
 *     against `ember-sync export scores`, round after round: rows/s, the ratio
 *     of the two (same run; also by CPU time, which a busy machine does not
 *     skew) and ember-sync's peak RSS (also for the wide `completions`);
 *   - a first full CSV sync (`ember-sync sync --target csv`, CSV_PARTITION=month,
 *     into an empty CSV_DIR with the CSV target's cursors cleared), then the
 *     next 1,000 webhooks of the stream and the scheduled sync that follows:
 *     its seconds and the files it changed.
 * The run works in place (no copy: at 5M webhooks the database is ~22 GB), so
 * each run leaves 1,000 more webhooks in it, which it reports.
 * Targets: export ratio ≥ 0.5; peak RSS ≤ 100 MB; the 1,000-webhook sync < 2 s.
 *
 * BENCH_EVENTS (default 1,000,000), BENCH_MONTHS (default BENCH_EVENTS / 166,667),
 * BENCH_ROUNDS (export rounds, default 3), BENCH_BUILD_ONLY=1 (build the database and stop).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { classify } from '../src/ingest/validate.js';
import type { EmberQAWebhook } from '../src/model/payload-types.js';
import { generateWebhooks } from '../src/simulate/calls.js';
import { createStore, type SqliteStore } from '../src/store/create-store.js';
import { measure, type Measured } from './lib/measure.js';
import { machine } from './lib/proc.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PER_MONTH = 1_000_000 / 6;
const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 1_000_000);
const MONTHS = Number(process.env['BENCH_MONTHS'] ?? Math.max(1, Math.round(EVENTS / PER_MONTH)));
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const NEW = 1_000;
const out = join(root, 'bench', 'out');
const cli = join(root, 'dist', 'cli', 'main.js');
/**
 * The end of the history (fixed: the kept database and the new webhooks agree
 * on it). Mid-month: each run's new webhooks follow on the same clock (4.4 hours
 * of them at the default density), so dozens of runs still land in the month
 * the history ends in.
 */
const END = Date.parse('2026-11-20T12:00:00.000Z');
const MONTH_MS = (365.2425 / 12) * 86_400_000;
/** received_at steps evenly through the months; the new webhooks continue the same clock. */
const STEP_MS = (MONTHS * MONTH_MS) / EVENTS;

if (!(Number.isSafeInteger(EVENTS) && EVENTS >= 1000)) throw new Error(`BENCH_EVENTS must be a whole number ≥ 1000 (got ${process.env['BENCH_EVENTS']})`);
if (!(Number.isSafeInteger(MONTHS) && MONTHS >= 1 && MONTHS <= 1000)) throw new Error(`BENCH_MONTHS must be 1–1000 (got ${process.env['BENCH_MONTHS']})`);
if (!(Number.isSafeInteger(ROUNDS) && ROUNDS >= 1)) throw new Error(`BENCH_ROUNDS must be ≥ 1 (got ${process.env['BENCH_ROUNDS']})`);

/** The history (appendNew continues the same stream). */
function stream(): Generator<EmberQAWebhook> {
  return generateWebhooks(EVENTS, { seed: 9, now: END, days: (MONTHS * MONTH_MS) / 86_400_000, idPrefix: 'bx-' });
}

/** Logs webhooks `firstIndex…` in one transaction, received_at on the history's clock. */
function append(store: SqliteStore, webhooks: readonly EmberQAWebhook[], firstIndex: number): void {
  store.db.transaction(() => {
    webhooks.forEach((w, i) => {
      const type = classify(w as unknown as Record<string, unknown>);
      if (!type) throw new Error('the generator made a webhook of no known type');
      const at = new Date(END - (EVENTS - (firstIndex + i)) * STEP_MS).toISOString();
      store.sqlite.events.append({ webhookId: w.webhook_id, type, receivedAt: at, body: Buffer.from(JSON.stringify(w)) });
    });
  })();
}

/**
 * The history through the store's own paths: the log in transactions of
 * 20,000, then every view derived by the projection's bulk rebuild (large
 * batches, commits not forced to disk one by one).
 */
function build(path: string): void {
  const store = createStore({ dbPath: path });
  // A throwaway file being built: no commit needs to reach the disk until the end.
  store.db.pragma('synchronous = OFF');
  store.db.pragma('cache_size = -262144');
  const started = performance.now();
  let chunk: EmberQAWebhook[] = [];
  let i = 0;
  for (const w of stream()) {
    chunk.push(w);
    i++;
    if (chunk.length === 20_000) {
      append(store, chunk, i - chunk.length);
      chunk = [];
      if (i % 500_000 === 0) process.stderr.write(`  ${i.toLocaleString('en')}/${EVENTS.toLocaleString('en')} webhooks logged (${s(performance.now() - started)})\n`);
    }
  }
  if (chunk.length) append(store, chunk, i - chunk.length);
  const t = performance.now();
  store.sqlite.projection.rebuild(20_000);
  process.stderr.write(`  logged in ${s(t - started)}, every view derived in ${s(performance.now() - t)}\n`);
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.close();
}

/**
 * The next 1,000 webhooks of the stream after the `have` already logged (the
 * calls in flight go on: completions of alerts, re-scores), logged as the
 * receiver would; the scheduled sync projects them. Returns how many were new.
 */
function appendNew(dbPath: string): { have: number; added: number } {
  const store = createStore({ dbPath });
  // count(*) walks the webhook_id index; store.events.counts() would also group the whole log by type (a full scan).
  const logged = store.db.prepare<[], number>('SELECT count(*) FROM events').pluck();
  const have = logged.get()!;
  let i = 0;
  const next: EmberQAWebhook[] = [];
  for (const w of generateWebhooks(have + NEW, { seed: 9, now: END, days: (MONTHS * MONTH_MS) / 86_400_000, idPrefix: 'bx-' })) if (i++ >= have) next.push(w);
  append(store, next, have);
  const added = logged.get()! - have;
  store.close();
  return { have, added };
}

/** A CSV target that never ran: no files, no cursors (its bookkeeping lives in sync_state). */
function resetCsvTarget(dbPath: string, csvDir: string): void {
  rmSync(csvDir, { recursive: true, force: true });
  const store = createStore({ dbPath });
  store.db.prepare<[string]>('DELETE FROM sync_state WHERE target = ?').run('csv');
  store.close();
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const n = (x: number) => Math.round(x).toLocaleString('en');

/** Every file under `dir` with its size and mtime: what a sync changed is the difference. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = statSync(p);
        files.set(relative(dir, p), `${st.size}:${st.mtimeMs}`);
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return files;
}

function ok(m: Measured, what: string): Measured {
  if (m.code !== 0) throw new Error(`${what} failed (exit ${m.code}): ${m.stderr}`);
  return m;
}

/** `ember-sync export <view> --out`; checks that it wrote every row of the view. */
async function exportView(view: string, file: string, rows: number, env: NodeJS.ProcessEnv): Promise<Measured> {
  const m = ok(await measure(process.execPath, [cli, 'export', view, '--out', file], env), `export ${view}`);
  const wrote = Number(/wrote (\d+) rows/.exec(m.stderr)?.[1]);
  if (wrote !== rows) throw new Error(`export ${view} wrote ${wrote} rows, the view holds ${rows}`);
  rmSync(file, { force: true });
  return m;
}

async function main() {
  // The CLI runs from dist/: build it from the current sources so the run measures them.
  try {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (err) {
    if (!existsSync(cli)) throw err;
    process.stderr.write('warning: npm run build reported errors; measuring dist/ as emitted\n');
  }
  execFileSync('sqlite3', ['--version']);
  mkdirSync(out, { recursive: true });
  const dataDir = join(out, `export-${EVENTS}-${MONTHS}m`);
  const dbPath = join(dataDir, 'ember-sync.db');
  const csvDir = join(dataDir, 'csv');
  if (!existsSync(dbPath)) {
    process.stderr.write(`building ${dbPath} (${EVENTS.toLocaleString('en')} webhooks over ${MONTHS} month(s), kept for later runs)…\n`);
    mkdirSync(dataDir, { recursive: true });
    const temp = join(dataDir, 'building.db');
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${temp}${suffix}`, { force: true });
    build(temp);
    renameSync(temp, dbPath);
  }
  // Build now, measure later (on an idle machine).
  if (process.env['BENCH_BUILD_ONLY'] === '1') return;
  const env = { ...process.env, DATA_DIR: dataDir, DB_PATH: dbPath, CSV_DIR: csvDir, CSV_PARTITION: 'month', SYNC_TARGETS: 'csv', LOG_LEVEL: 'warn' };

  const count = (sql: string) => Number(execFileSync('sqlite3', ['-readonly', dbPath, sql]).toString().trim());
  const scoresRows = count('SELECT count(*) FROM score_rows');
  const wideRows = count('SELECT count(*) FROM completion_rows');
  const logged = count('SELECT count(*) FROM events');
  console.log(`bench/export on ${machine()}`);
  console.log(
    `${n(EVENTS)} webhooks over ${MONTHS} month${MONTHS === 1 ? '' : 's'} (~${n(EVENTS / MONTHS)} a month: the month a sync writes keeps its size while the history grows)` +
      `${logged > EVENTS ? `, plus ${n(logged - EVENTS)} added by earlier runs` : ''}; ${n(scoresRows)} scores rows; database ${n(statSync(dbPath).size / 2 ** 20)} MB`,
  );

  // Rounds alternate the two programs, so both see the same machine load; the ratio is per round.
  const shellFile = join(dataDir, 'sqlite3-scores.csv');
  const rounds: Array<{ shell: number; ember: number; shellCpu: number; emberCpu: number; rss: number }> = [];
  for (let r = 0; r < ROUNDS; r++) {
    const fd = openSync(shellFile, 'w');
    const shell = ok(await measure('sqlite3', ['-readonly', '-csv', '-header', dbPath, 'SELECT * FROM scores;'], env, fd), 'sqlite3');
    closeSync(fd);
    rmSync(shellFile);
    const ember = await exportView('scores', join(dataDir, 'export-scores.csv'), scoresRows, env);
    const round = { shell: scoresRows / shell.seconds, ember: scoresRows / ember.seconds, shellCpu: scoresRows / shell.cpuSeconds, emberCpu: scoresRows / ember.cpuSeconds, rss: ember.peakRssMb };
    rounds.push(round);
    console.log(
      `  round ${r + 1}: sqlite3 shell ${n(round.shell).padStart(9)} rows/s (${shell.seconds.toFixed(2)} s, CPU ${shell.cpuSeconds.toFixed(2)} s)  ` +
        `ember-sync export ${n(round.ember).padStart(9)} rows/s (${ember.seconds.toFixed(2)} s, CPU ${ember.cpuSeconds.toFixed(2)} s, peak RSS ${ember.peakRssMb.toFixed(0)} MB)  ` +
        `ratio ${(round.ember / round.shell).toFixed(2)} (by CPU time ${(round.emberCpu / round.shellCpu).toFixed(2)})`,
    );
  }
  const wide = await exportView('completions', join(dataDir, 'export-completions.csv'), wideRows, env);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const ratio = median(rounds.map((r) => r.ember / r.shell));
  const cpuRatio = median(rounds.map((r) => r.emberCpu / r.shellCpu));
  const peak = Math.max(wide.peakRssMb, ...rounds.map((r) => r.rss));

  resetCsvTarget(dbPath, csvDir);
  const first = ok(await measure(process.execPath, [cli, 'sync', '--target', 'csv'], env), 'first sync');
  const before = snapshot(csvDir);
  const { have, added } = appendNew(dbPath);
  const steady = ok(await measure(process.execPath, [cli, 'sync', '--target', 'csv'], env), 'scheduled sync');
  const after = snapshot(csvDir);
  const changed = [...after].filter(([f, v]) => before.get(f) !== v).map(([f]) => f + (before.has(f) ? '' : ' (new)'));
  const delivered = Number(/csv\tok\t(\d+) rows delivered/.exec(steady.stdout)?.[1]);

  const met = (yes: boolean) => (yes ? 'met' : 'NOT met');
  console.log(`sqlite3 shell .mode csv, scores:   ${n(median(rounds.map((r) => r.shell)))} rows/s (median of ${ROUNDS})`);
  console.log(`ember-sync export scores:          ${n(median(rounds.map((r) => r.ember)))} rows/s (median of ${ROUNDS})`);
  console.log(`ratio ember-sync / sqlite3:        ${ratio.toFixed(2)} (median of the rounds' ratios; target ≥ 0.5: ${met(ratio >= 0.5)})`);
  // Wall times swing with whatever else runs; CPU time is what each program itself costs.
  console.log(`ratio by CPU time (user + sys):    ${cpuRatio.toFixed(2)} (median; the same on a busy machine)`);
  console.log(`peak RSS of ember-sync export:     ${peak.toFixed(0)} MB (scores ${Math.max(...rounds.map((r) => r.rss)).toFixed(0)} MB, completions (wide) ${wide.peakRssMb.toFixed(0)} MB with ${n(wideRows)} rows; target ≤ 100 MB: ${met(peak <= 100)})`);
  console.log(`first full CSV sync (CSV_PARTITION=month): ${first.seconds.toFixed(2)} s, ${before.size} files, peak RSS ${first.peakRssMb.toFixed(0)} MB`);
  console.log(
    `scheduled CSV sync of ${n(added)} new webhooks after ${n(have)} (${delivered} rows): ${steady.seconds.toFixed(2)} s, peak RSS ${steady.peakRssMb.toFixed(0)} MB (target < 2 s: ${met(steady.seconds < 2)}); ` +
      `${changed.length} of ${after.size} files changed:`,
  );
  for (const f of changed.sort()) console.log(`  ${f}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
