/**
 * bench/sheets — the Google Sheets target against the fake Sheets API (test/fakes),
 * driven by the real Google client library, with the production limiter (1 request/s,
 * 60 writes/min) and retry settings.
 *
 * 1. Backlog: BACKLOG webhooks (default 60,000) synced from scratch — write requests,
 *    total requests, bytes sent, wall time. Target: write requests ≤ 3 + ⌈bytes / 2 MB⌉.
 *    (100,000 webhooks no longer fit one spreadsheet now that the four keyed views are synced
 *    too: about 12M cells, over Google's 10M; ember-sync refuses the view that does not fit.)
 * 2. Steady state: one webhook per second, a sync per minute (the default schedule):
 *    requests per sync, and which. Target ≤ 4.
 * 3. Keyed steady state: a `contents` tab of BENCH_KEYED_ROWS rows (default 600,000), then
 *    BENCH_KEYED_SYNCS syncs (default 3) that each make BENCH_KEYED_CHANGED changes (default 600:
 *    a share BENCH_KEYED_SCATTERED (default 0.2) anywhere in the tab, the others among the
 *    BENCH_KEYED_RECENT most recent contents (default 5000)) and add BENCH_KEYED_NEW new contents
 *    (default 60). Built as deliveries straight from a synthetic keyed source (no database):
 *    requests per sync (target ≤ 4), as a ratio to the append-only steady syncs of part 2, the
 *    read-back (ranges, bytes) and the time spent outside the limiter.
 *
 * 4. Month tabs (SHEETS_PARTITION=month, the product's settings: protected tabs, SHEETS_ON_CONFLICT=rebuild,
 *    SHEETS_KEEP_MONTHS=auto): a history of BENCH_MONTH_BACKLOG webhooks (default 3000) over the last
 *    three months, then BENCH_STEADY_MINUTES steady syncs without and with the `ember-sync` status tab
 *    (target ≤ 4 requests each), then a month rollover: the first sync whose rows fall in a new month
 *    (a new tab per view), and the sync after it.
 *
 * BENCH_BACKLOG, BENCH_STEADY_MINUTES, BENCH_KEYED_ROWS and BENCH_MONTH_BACKLOG make a shorter run (e.g.
 * 5000, 2, 50000 and 1000: about a minute).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { runSync } from '../src/jobs/sync.js';
import type { Cell } from '../src/model/cells.js';
import type { KeyedDelivery, PositionedRow } from '../src/model/sync.js';
import { FIXED_COLUMNS } from '../src/model/views.js';
import { createSheetsAuth } from '../src/sinks/sheets/auth.js';
import { createSheetsTarget } from '../src/sinks/sheets/sheets-target.js';
import { createStore, type SqliteStore } from '../src/store/create-store.js';
import { generateWebhook } from '../src/simulate/generate.js';
import { classify } from '../src/ingest/validate.js';
import { startFakeSheets } from '../test/fakes/fake-sheets.js';
import { machine } from './lib/proc.js';

const BACKLOG = Number(process.env['BENCH_BACKLOG'] ?? 60_000);
const STEADY_MINUTES = Number(process.env['BENCH_STEADY_MINUTES'] ?? 3);
/**
 * 600,000 contents × 15 columns = 9M cells: about the largest contents tab a spreadsheet holds
 * (Google's limit is 10M cells; 750,000 contents would need 11.25M, and ember-sync refuses such a
 * tab before sending anything, as Google would).
 */
const KEYED_ROWS = Number(process.env['BENCH_KEYED_ROWS'] ?? 600_000);
const KEYED_SYNCS = Number(process.env['BENCH_KEYED_SYNCS'] ?? 3);
const KEYED_CHANGED = Number(process.env['BENCH_KEYED_CHANGED'] ?? 600);
const KEYED_NEW = Number(process.env['BENCH_KEYED_NEW'] ?? 60);
/** The recent contents most changes land on (the last hours' calls). */
const KEYED_RECENT = Number(process.env['BENCH_KEYED_RECENT'] ?? 5000);
/** The share of changes anywhere in the tab (the rest among the recent contents). */
const KEYED_SCATTERED = Number(process.env['BENCH_KEYED_SCATTERED'] ?? 0.2);
const MONTH_BACKLOG = Number(process.env['BENCH_MONTH_BACKLOG'] ?? 3000);
const SHEET = 'bench-spreadsheet-0001';
const TOKEN = 'bench-token';


function add(store: SqliteStore, from: number, n: number, startMs: number, stepMs: number): void {
  store.db.transaction(() => {
    for (let i = from; i < from + n; i++) {
      const w = generateWebhook(i, { seed: 99, idPrefix: `b${i}-` }) as unknown as Record<string, unknown>;
      store.sqlite.events.append({ webhookId: w['webhook_id'] as string, type: classify(w)!, receivedAt: new Date(startMs + (i - from) * stepMs).toISOString(), body: Buffer.from(JSON.stringify(w)) });
    }
  })();
  store.sqlite.projection.catchUp(5000);
}

/**
 * A `contents` view kept the way the store keeps it, without a database: row p (1..total) is
 * content p - 1 in its current version; a log of (seq, position) answers "changed since" from
 * the changes themselves, never by walking every row.
 */
class SyntheticContents {
  readonly header = [...FIXED_COLUMNS.contents];
  private versions: Int32Array;
  total = 0;
  seq = 0;
  private log: Array<{ seq: number; position: number }> = [];
  constructor(capacity: number) {
    this.versions = new Int32Array(capacity);
  }
  row(position: number): Cell[] {
    const i = position - 1;
    const v = this.versions[i]!;
    const t0 = Date.UTC(2025, 0, 1) + i * 41_000;
    const at = (ms: number) => new Date(ms).toISOString();
    return [
      `3f2a${String(i).padStart(8, '0')}-call-${(i * 7919) % 100_000}`,
      i % 3 ? 'call' : 'document',
      `recording-${i}.mp3`,
      `Agent ${i % 37}`,
      at(t0 + v * 3_600_000),
      at(t0),
      at(t0 + v * 3_600_000 + 5000),
      v + 1,
      v > 0,
      i % 11 === 0,
      v % 2 === 1,
      50 + ((i + v) % 50),
      70,
      i % 11 === 0 ? 'Customer asked for a supervisor twice' : null,
      v > 0 ? `Call ${i} summary, version ${v}: the agent resolved the billing question.` : null,
    ];
  }
  add(n: number): void {
    for (let k = 0; k < n; k++) {
      this.total++;
      this.log.push({ seq: ++this.seq, position: this.total });
    }
  }
  change(position: number): void {
    this.versions[position - 1]!++;
    this.log.push({ seq: ++this.seq, position });
  }
  private changedPositions(sinceSeq: number, known: number): number[] {
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.log[mid]!.seq <= sinceSeq) lo = mid + 1;
      else hi = mid;
    }
    const upd = new Set<number>();
    for (let k = lo; k < this.log.length; k++) if (this.log[k]!.position <= known) upd.add(this.log[k]!.position);
    const out = [...upd].sort((a, b) => a - b);
    for (let p = known + 1; p <= this.total; p++) out.push(p);
    return out;
  }
  delivery(cursor: { deliveredSeq: number; deliveredRows: number; state: unknown }): KeyedDelivery {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const total = this.total;
    const page = 500;
    return {
      kind: 'keyed',
      view: 'contents',
      zone: 'UTC',
      header: this.header,
      cursor: { ...cursor, lastError: null, lastErrorAt: null },
      toSeq: this.seq,
      epoch: 'bench',
      pending: this.changedPositions(cursor.deliveredSeq, cursor.deliveredRows).length,
      rows: {
        total,
        pages: async function* (this: void) {
          for (let p = 1; p <= total; p += page) yield Array.from({ length: Math.min(page, total - p + 1) }, (_, k) => self.row(p + k));
        },
        changed: async function* (this: void, sinceSeq: number, known: number) {
          const positions = self.changedPositions(sinceSeq, known);
          for (let k = 0; k < positions.length; k += page) yield positions.slice(k, k + page).map((position): PositionedRow => ({ position, cells: self.row(position) }));
        },
        countChanged: async (sinceSeq, known) => self.changedPositions(sinceSeq, known).length,
      },
    };
  }
}

/** Keyed steady state: returns the requests of each steady sync. */
async function keyedSteady(fake: Awaited<ReturnType<typeof startFakeSheets>>, auth: ReturnType<typeof createSheetsAuth>): Promise<{ perSync: number[]; kinds: Map<string, number> }> {
  const id = 'bench-keyed-0001';
  fake.createSpreadsheet(id);
  const model = new SyntheticContents(KEYED_ROWS + KEYED_SYNCS * KEYED_NEW + 10);
  model.add(KEYED_ROWS);
  const cursor = { deliveredSeq: 0, deliveredRows: 0, state: undefined as unknown };
  const commit = (d: KeyedDelivery, out: Awaited<ReturnType<ReturnType<typeof createSheetsTarget>['deliver']>>[number] | undefined) => {
    if (!out?.ok) throw new Error(`keyed sync failed: ${JSON.stringify(out)}`);
    cursor.deliveredSeq = d.toSeq;
    cursor.deliveredRows = out.receipt.totalRows;
    cursor.state = out.receipt.state;
  };
  // The first sync writes the whole tab, without the limiter's waits (only the steady syncs are measured).
  const fast = createSheetsTarget({ spreadsheetId: id, auth, rootUrl: fake.url, limiter: { minIntervalMs: 0, writesPerMinute: 1e9 } });
  let t0 = Date.now();
  const first = model.delivery(cursor);
  commit(first, (await fast.deliver([first]))[0]);
  console.log(`keyed: first sync of a contents tab of ${KEYED_ROWS.toLocaleString('en')} rows (${fake.totalCells(id).toLocaleString('en')} cells): ${fake.requests.filter((r) => r.spreadsheetId === id).length} requests, ${((Date.now() - t0) / 1000).toFixed(1)} s without limiter waits`);

  const target = createSheetsTarget({ spreadsheetId: id, auth, rootUrl: fake.url });
  const perSync: number[] = [];
  const kinds = new Map<string, number>();
  // mulberry32: a small PRNG good enough to scatter rows (repeatable runs).
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
  for (let s = 0; s < KEYED_SYNCS; s++) {
    // Most changes land on recent contents (completions after red flags, re-scores), a fifth anywhere.
    const recent = Math.max(1, Math.min(KEYED_RECENT, model.total));
    for (let k = 0; k < KEYED_CHANGED; k++) model.change(k < KEYED_CHANGED * KEYED_SCATTERED ? 1 + rnd(model.total) : model.total - rnd(recent));
    model.add(KEYED_NEW);
    fake.resetRequests();
    const built = Date.now();
    const d = model.delivery(cursor);
    t0 = Date.now();
    const out = (await target.deliver([d]))[0];
    const ms = Date.now() - t0;
    const server = fake.requests.reduce((n, q) => n + q.ms, 0);
    commit(d, out);
    perSync.push(fake.requests.length);
    const shape = fake.requests.map((q) => q.kind).join(' + ');
    kinds.set(shape, (kinds.get(shape) ?? 0) + 1);
    const readBack = fake.requests.find((q) => q.kind === 'values.batchGet');
    const written = fake.requests.filter((q) => q.kind === 'values.batchUpdate').reduce((n, q) => n + q.bytesIn, 0);
    console.log(
      `  keyed sync ${s + 1}: ${out?.ok ? out.receipt.rows : 0} rows written (${KEYED_CHANGED} changes, ${KEYED_NEW} new), ${fake.requests.length} requests; read-back ${readBack?.ranges?.length ?? 0} ranges, ${((readBack?.bytesOut ?? 0) / 1024).toFixed(0)} KiB; values ${(written / 1024).toFixed(0)} KiB; ${ms} ms in all with the limiter's spacing, ${server.toFixed(0)} ms in the fake (delivery built in ${t0 - built} ms)`,
    );
  }
  return { perSync, kinds };
}

/** Requests of each sync of month tabs, with and without the status tab, and of a month rollover. */
async function monthTabs(fake: Awaited<ReturnType<typeof startFakeSheets>>, auth: ReturnType<typeof createSheetsAuth>, logger: Logger): Promise<void> {
  const product = { partition: 'month' as const, keepMonths: 'auto' as const, onConflict: 'rebuild' as const, protectTabs: true };
  const now = Date.now();
  for (const statusTab of [false, true]) {
    const id = `bench-months-${statusTab ? 'status' : 'plain'}`;
    fake.createSpreadsheet(id, { defaultSheet: true });
    const dir = mkdtempSync(join(tmpdir(), 'ember-bench-months-'));
    const store = createStore({ dbPath: join(dir, 'db.sqlite') });
    // A history over the last three months, synced without the limiter's waits (not measured).
    const span = 90 * 86_400_000;
    add(store, 0, MONTH_BACKLOG, now - span, span / Math.max(1, MONTH_BACKLOG));
    const fast = createSheetsTarget({ spreadsheetId: id, auth, rootUrl: fake.url, limiter: { minIntervalMs: 0, writesPerMinute: 1e9 }, statusTab, ...product });
    const first = await runSync({ store, target: fast, logger });
    if (first.status !== 'ok') throw new Error(`month backlog sync failed: ${JSON.stringify(first)}`);
    const monthTabsMade = fake.tabs(id).filter((t) => / \d{4}-\d{2}$/.test(t)).length;
    const target = createSheetsTarget({ spreadsheetId: id, auth, rootUrl: fake.url, statusTab, ...product });
    let next = MONTH_BACKLOG;
    const measure = async (label: string, received: number) => {
      add(store, next, 60, received, 1000);
      next += 60;
      fake.resetRequests();
      const r = await runSync({ store, target, logger });
      if (r.status !== 'ok') throw new Error(`${label} failed: ${JSON.stringify(r)}`);
      const kinds = fake.requests.filter((q) => q.spreadsheetId === id).map((q) => q.kind);
      return { n: kinds.length, shape: kinds.join(' + ') };
    };
    const steady: Array<{ n: number; shape: string }> = [];
    for (let m = 0; m < STEADY_MINUTES; m++) steady.push(await measure('steady sync', Date.now()));
    const name = statusTab ? 'with the status tab' : 'without the status tab';
    console.log(
      `month tabs ${name} (${MONTH_BACKLOG.toLocaleString('en')} webhooks over 3 months: ${monthTabsMade} month tabs), 60 webhooks per sync: requests per steady sync ${steady.map((x) => x.n).join(', ')} (max ${Math.max(...steady.map((x) => x.n))}; target ≤ 4 → ${Math.max(...steady.map((x) => x.n)) <= 4 ? 'met' : 'MISSED'})`,
    );
    for (const shape of new Set(steady.map((x) => x.shape))) console.log(`  ${steady.filter((x) => x.shape === shape).length} × ${shape}`);
    if (statusTab) {
      // Rows received on the first day of next month: a new tab per view split by month.
      const d = new Date(Date.now());
      const nextMonth = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1, 0, 30);
      const before = fake.tabs(id).length;
      const roll = await measure('month rollover', nextMonth);
      const after = await measure('the sync after the rollover', nextMonth + 120_000);
      console.log(`  month rollover: ${roll.n} requests (${roll.shape}), ${fake.tabs(id).length - before} new month tabs; the sync after it: ${after.n} requests (${after.shape})`);
    }
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  // Request bodies are not kept: the bench reads kinds, sizes and ranges only.
  const fake = await startFakeSheets({ keepBodies: false });
  fake.createSpreadsheet(SHEET, { defaultSheet: true });
  fake.allowToken(TOKEN);
  const dir = mkdtempSync(join(tmpdir(), 'ember-bench-sheets-'));
  const store = createStore({ dbPath: join(dir, 'db.sqlite') });
  const target = createSheetsTarget({ spreadsheetId: SHEET, auth: createSheetsAuth({ sheetsAccessToken: TOKEN, googleApplicationCredentials: undefined, googleOauthTokenUrl: undefined }), rootUrl: fake.url });
  const logger = pino({ level: 'warn' });
  console.log(`bench/sheets on ${machine()}; fake Sheets API on loopback, production limiter (1 request/s, 60 writes/min)`);

  add(store, 0, BACKLOG, Date.now() - BACKLOG * 1000, 1000);
  const t0 = Date.now();
  const backlog = await runSync({ store, target, logger });
  const wall = (Date.now() - t0) / 1000;
  if (backlog.status !== 'ok') throw new Error(`backlog sync failed: ${JSON.stringify(backlog)}`);
  const writes = fake.requests.filter((r) => r.kind === 'batchUpdate' || r.kind === 'values.batchUpdate' || r.kind === 'values.update').length;
  const bytes = fake.requests.reduce((n, r) => n + (r.kind === 'batchUpdate' || r.kind.startsWith('values.') ? r.bytesIn : 0), 0);
  const bound = 3 + Math.ceil(bytes / (2 * 1024 * 1024));
  const largest = Math.max(...fake.requests.filter((r) => r.kind === 'values.batchUpdate').map((r) => r.bytesIn));
  console.log(`backlog of ${BACKLOG.toLocaleString('en')} webhooks (${backlog.rows.toLocaleString('en')} rows, ${fake.totalCells(SHEET).toLocaleString('en')} cells): ${writes} write requests, ${fake.requests.length} requests in all, ${(bytes / 2 ** 20).toFixed(1)} MB sent, ${wall.toFixed(1)} s (limiter waits included)`);
  console.log(`  target: write requests ≤ 3 + ⌈bytes / 2 MiB⌉ = ${bound} → ${writes <= bound ? 'met' : 'MISSED'}; largest values.batchUpdate ${(largest / 2 ** 20).toFixed(2)} MiB`);

  const perSync: number[] = [];
  const kinds = new Map<string, number>();
  let next = BACKLOG;
  for (let m = 0; m < STEADY_MINUTES; m++) {
    add(store, next, 60, Date.now(), 1000);
    next += 60;
    fake.requests.length = 0;
    const r = await runSync({ store, target, logger });
    if (r.status !== 'ok') throw new Error(`steady sync failed: ${JSON.stringify(r)}`);
    perSync.push(fake.requests.length);
    const shape = fake.requests.map((q) => q.kind).join(' + ');
    kinds.set(shape, (kinds.get(shape) ?? 0) + 1);
  }
  console.log(`steady state, 60 webhooks per one-minute sync: requests per sync ${perSync.join(', ')} (max ${Math.max(...perSync)}; target ≤ 4 → ${Math.max(...perSync) <= 4 ? 'met' : 'MISSED'})`);
  for (const [shape, n] of kinds) console.log(`  ${n} × ${shape}`);

  if (KEYED_ROWS > 0 && KEYED_SYNCS > 0) {
    const auth = createSheetsAuth({ sheetsAccessToken: TOKEN, googleApplicationCredentials: undefined, googleOauthTokenUrl: undefined });
    const keyed = await keyedSteady(fake, auth);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const ratio = mean(keyed.perSync) / Math.max(1e-9, mean(perSync));
    console.log(
      `keyed steady state, ${KEYED_CHANGED} changes (${Math.round(KEYED_SCATTERED * 100)}% anywhere, the rest among the last ${KEYED_RECENT.toLocaleString('en')}) + ${KEYED_NEW} new contents per sync in a tab of ${KEYED_ROWS.toLocaleString('en')}: requests per sync ${keyed.perSync.join(', ')} (max ${Math.max(...keyed.perSync)}; target ≤ 4 → ${Math.max(...keyed.perSync) <= 4 ? 'met' : 'MISSED'})`,
    );
    for (const [shape, n] of keyed.kinds) console.log(`  ${n} × ${shape}`);
    console.log(`  ratio keyed / append-only steady-sync requests (means of this run): ${ratio.toFixed(2)} (${mean(keyed.perSync).toFixed(2)} / ${mean(perSync).toFixed(2)}) on ${machine()}`);
  }
  if (MONTH_BACKLOG > 0) await monthTabs(fake, createSheetsAuth({ sheetsAccessToken: TOKEN, googleApplicationCredentials: undefined, googleOauthTokenUrl: undefined }), logger);
  store.close();
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
