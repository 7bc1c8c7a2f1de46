/**
 * The world of the model-based sync test (test/jobs/sync-model.test.ts): one
 * data dir with a real SQLite store, the CSV target's folder, one spreadsheet
 * on the fake Sheets API, and the checks that must hold between commands
 * (cheap: cursors never go back and agree with the views, every file and tab
 * is an earlier export of its view — no duplicate, no gap, no ragged row) and
 * after a sync that completed (exact: byte for byte / cell for cell).
 */
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'csv-parse/sync';
import { pino } from 'pino';
import type { Cell } from '../../src/model/cells.js';
import { splitByMonth, type Partition } from '../../src/model/partition.js';
import type { SyncTarget, SyncTargetName } from '../../src/model/sync.js';
import { columnKinds, timeColumns, VIEW_DEFS, VIEW_NAMES, type LogViewName, type ViewName } from '../../src/model/views.js';
import { createCsvTarget } from '../../src/sinks/csv/csv-target.js';
import { createSheetsAuth } from '../../src/sinks/sheets/auth.js';
import { DATE_TIME_PATTERN, fitCell, toSheetRow } from '../../src/sinks/sheets/cells.js';
import { createSheetsTarget } from '../../src/sinks/sheets/sheets-target.js';
import { sheetsBehaviour } from '../../src/sinks/sheets/sheets-options.js';
import { loadSettings } from '../../src/config/settings.js';
import { generateWebhook, type SimulatedKind } from '../../src/simulate/generate.js';
import { createStore, type SqliteStore } from '../../src/store/create-store.js';
import type { FakeSheets } from '../fakes/fake-sheets.js';
import { spawnCli } from './cli.js';
import { ingest } from './ingest.js';
import { exported } from './export.js';
import { assertMonthFiles, exportedMonth, monthsBetween } from './month-files.js';

export const silent = pino({ level: 'silent' });
export const TARGETS: readonly SyncTargetName[] = ['csv', 'sheets'];
export const SHEETS_TOKEN = 'sync-model-access-token';

export interface World {
  dir: string;
  dataDir: string;
  csvDir: string;
  /** CSV_PARTITION of this world (in-process targets and children alike). */
  csvPartition: Partition;
  store: SqliteStore;
  fake: FakeSheets;
  sheetId: string;
  /** Environment of `ember-sync sync` children (same DATA_DIR, the fake Sheets API). */
  env: Record<string, string>;
  seed: number;
  /** growSlackRows of the in-process Sheets targets (children use the default, 500). */
  slack: number;
  prefix: string;
  nextIndex: number;
  sent: Array<Record<string, unknown>>;
  /** Last seen cursor per `target/view`: cursors never go back. */
  last: Map<string, { seq: number; rows: number }>;
  /** What happened, for the failure message. */
  trace: string[];
}

let worlds = 0;

/** SYNC_MODEL_DEBUG=1: the trace is printed as it happens. */
class LoudTrace extends Array<string> {
  override push(...items: string[]): number {
    for (const i of items) process.stderr.write(`[sync-model] ${i}\n`);
    return super.push(...items);
  }
}

export function openWorld(fake: FakeSheets, seed: number, slack: number, csvPartition: Partition = 'none'): World {
  const dir = mkdtempSync(join(tmpdir(), 'ember-sync-model-'));
  const dataDir = join(dir, 'data');
  const n = ++worlds;
  const sheetId = `sync-model-sheet-${process.pid}-${n}`;
  fake.createSpreadsheet(sheetId);
  const store = createStore({ dbPath: join(dataDir, 'ember-sync.db') });
  return {
    dir,
    dataDir,
    csvDir: join(dataDir, 'exports'),
    csvPartition,
    store,
    fake,
    sheetId,
    env: {
      DATA_DIR: dataDir,
      SYNC_TARGETS: 'csv,sheets',
      CSV_PARTITION: csvPartition,
      SHEETS_SPREADSHEET_ID: sheetId,
      SHEETS_ACCESS_TOKEN: SHEETS_TOKEN,
      SHEETS_API_ROOT_URL: fake.url,
      // One tab per view here (month tabs have tests of their own); everything else as the product runs.
      SHEETS_PARTITION: 'none',
      LOG_LEVEL: 'warn',
    },
    seed,
    slack,
    prefix: `m${n}-`,
    nextIndex: 0,
    sent: [],
    last: new Map(),
    trace: process.env['SYNC_MODEL_DEBUG'] ? new LoudTrace() : [],
  };
}

export function closeWorld(w: World): void {
  try {
    w.store.close();
  } finally {
    rmSync(w.dir, { recursive: true, force: true });
  }
}

/** A fresh in-process target, as a new process would build it (the Sheets one without waits: no limiter spacing, retries without sleeping). */
export function makeTarget(w: World, name: SyncTargetName, o: { rootUrl?: string } = {}): SyncTarget {
  if (name === 'csv') return createCsvTarget({ dir: w.csvDir, delimiter: ',', bom: false, partition: w.csvPartition });
  const noSleep = async () => {};
  return createSheetsTarget({
    spreadsheetId: w.sheetId,
    auth: createSheetsAuth({ sheetsAccessToken: SHEETS_TOKEN, googleApplicationCredentials: undefined, googleOauthTokenUrl: undefined }),
    rootUrl: o.rootUrl ?? w.fake.url,
    limiter: { minIntervalMs: 0, sleep: noSleep },
    retry: { baseMs: 1, capMs: 2, sleep: noSleep },
    growSlackRows: w.slack,
    // The same behaviour as `ember-sync sync` (status tab, protected tabs, conflicts) from the same settings.
    ...sheetsBehaviour(loadSettings(w.env)),
  });
}

/**
 * A pass-through HTTP proxy in front of the fake Sheets API that holds the
 * first request of the given kind before forwarding it, until `release()`: a
 * sync stopped between two of its requests, exactly where a paused process
 * would stop it.
 */
export type SheetsRequestKind = 'metadata' | 'read-back' | 'structure' | 'values';

function requestKind(method: string | undefined, url: string | undefined): SheetsRequestKind | 'other' {
  const path = decodeURIComponent((url ?? '').split('?')[0]!);
  if (method === 'GET' && /\/spreadsheets\/[^/]+$/.test(path)) return 'metadata';
  if (method === 'GET' && path.endsWith('/values:batchGet')) return 'read-back';
  if (method === 'POST' && /\/spreadsheets\/[^/]+:batchUpdate$/.test(path)) return 'structure';
  if (method === 'POST' && path.endsWith('/values:batchUpdate')) return 'values';
  return 'other';
}

export async function startGateProxy(upstream: string, holdAt: SheetsRequestKind) {
  const up = new URL(upstream);
  let held = false;
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const kinds: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const kind = requestKind(req.method, req.url);
        kinds.push(kind);
        if (kind === holdAt && !held) {
          held = true;
          entered();
          await gate;
        }
        const fwd = httpRequest({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        fwd.on('error', (err) => res.destroy(err));
        fwd.end(Buffer.concat(chunks));
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    /** Resolves once the held request arrived. */
    inside,
    release,
    /** The kinds of the requests seen so far. */
    kinds,
    close: () => {
      release();
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// ------------------------------------------------------------------ webhooks

/** One webhook to ingest: a kind, and maybe a new score_details key, a new workflow output field, awkward text. */
export interface WebhookSpec {
  kind: SimulatedKind;
  /** A score_details key stem; `pair` adds `<m>_score` and `<m>_justification`, `bare` the key `<m>` alone (a metric of its own; may collide with a fixed column). */
  metric?: { name: string; shape: 'pair' | 'bare' } | undefined;
  /** A workflow output field (value + reasoning); may collide with a fixed column (`status`, `cost`). */
  field?: string | undefined;
  /** Text that CSV and Sheets must keep as it is (quotes, delimiters, line breaks, formula starts, BOM). */
  text?: string | undefined;
  /** received_at (the receiver's clock) when not now: months of the past, so that month files of the CSV target fill up out of order. */
  at?: string | undefined;
}

export function describeSpec(s: WebhookSpec): string {
  const parts: string[] = [s.kind];
  if (s.metric) parts.push(`metric ${s.metric.shape} ${JSON.stringify(s.metric.name)}`);
  if (s.field) parts.push(`field ${JSON.stringify(s.field)}`);
  if (s.text !== undefined) parts.push(`text ${JSON.stringify(s.text)}`);
  if (s.at !== undefined) parts.push(`at ${s.at}`);
  return parts.join(' ');
}

function buildPayload(w: World, spec: WebhookSpec): Record<string, unknown> {
  const i = w.nextIndex++;
  const p = structuredClone(generateWebhook(i, { seed: w.seed, idPrefix: w.prefix, kind: spec.kind, metrics: ['greeting_quality', 'empathy'] })) as unknown as Record<string, unknown>;
  const data = p['data'] as Record<string, unknown> | undefined;
  const holder = data ?? p;
  if (spec.metric) {
    const details = (holder['score_details'] ??= {}) as Record<string, unknown>;
    const m = spec.metric.name;
    if (spec.metric.shape === 'pair') {
      details[`${m}_score`] = i % 11;
      details[`${m}_justification`] = spec.text ?? `because ${i}`;
    } else {
      details[m] = spec.text ?? i;
    }
  }
  if (spec.field) {
    assert.equal(spec.kind, 'workflow', 'output fields are for workflows');
    const out = data!['output_schema'] as Record<string, unknown>;
    out[spec.field] = { value: spec.text ?? `value ${i}`, reasoning: i % 2 ? null : `found on page ${i}` };
  }
  if (spec.text !== undefined && !spec.metric && !spec.field) {
    if (spec.kind === 'red_flag') p['red_flag_reason'] = spec.text;
    else if (spec.kind === 'low_score') p['summary'] = spec.text;
    else if (spec.kind === 'completion') data!['reason_for_call'] = spec.text;
    else data!['status'] = spec.text;
  }
  return p;
}

/** Ingests the webhooks (and maybe one already sent again: deduplicated, no new row). */
export async function ingestSpecs(w: World, specs: readonly WebhookSpec[], resend: boolean): Promise<void> {
  const count = w.store.db.prepare<[], number>('SELECT count(*) FROM events').pluck();
  const before = count.get()!;
  const fresh = specs.map((s) => buildPayload(w, s));
  const again = resend && w.sent.length > 0 ? [w.sent[w.nextIndex % w.sent.length]!] : [];
  const now = new Date().toISOString();
  await ingest(w.store, [...fresh, ...again], (i) => specs[i]?.at ?? now);
  w.sent.push(...fresh);
  assert.equal(count.get()!, before + fresh.length, 'one event per new webhook_id; a webhook sent again is not stored twice');
}

// ------------------------------------------------------------------ children

export type Kill =
  /** SIGKILL a while after the spawn (maybe before it took the lock): `permille` of the target's span (killDelayMs). */
  | { at: 'spawn'; permille: number }
  /** SIGKILL a while after the child took the target's lock (while it projects, writes, commits). */
  | { at: 'locked'; permille: number }
  /** EMBER_SYNC_FAULT=after-deliver: the child kills itself between delivery and cursor commit. */
  | { at: 'fault' }
  /** Runs to the end. */
  | { at: 'never' };

/**
 * How long after the spawn / the lock a child is killed. A csv child starts in
 * ~0.3 s (tsx's cache warm) and holds its lock some tens of ms; a sheets child
 * makes one request per second (the real limiter), 3-4 of them.
 */
const SPANS: Record<SyncTargetName, Record<'spawn' | 'locked', number>> = { csv: { spawn: 400, locked: 25 }, sheets: { spawn: 3_500, locked: 3_500 } };
export function killDelayMs(k: Extract<Kill, { permille: number }>, target: SyncTargetName): number {
  return Math.round((k.permille / 1000) * SPANS[target][k.at]);
}

export function describeKill(k: Kill, target: SyncTargetName): string {
  return k.at === 'spawn' || k.at === 'locked' ? `kill ${killDelayMs(k, target)}ms after ${k.at}` : k.at === 'fault' ? 'after-deliver fault' : 'no kill';
}

export interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The child held the target's lock at some point we looked. */
  sawLock: boolean;
  /** We killed it while it held the target's lock (mid-sync). */
  killedHoldingLock: boolean;
}

/** `ember-sync sync --target <name>` as a real process, killed per `kill`; `during` runs meanwhile (the server keeps ingesting). */
export async function childSync(w: World, target: SyncTargetName, kill: Kill, during?: () => Promise<void>): Promise<ChildOutcome> {
  const env = { ...w.env, ...(kill.at === 'fault' ? { EMBER_SYNC_FAULT: 'after-deliver' } : {}) };
  const child: ChildProcess = spawnCli(['sync', '--target', target, '--wait', '30'], env);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let exited = false;
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('close', (code, signal) => {
      exited = true;
      resolve([code, signal]);
    }),
  );
  const safety = setTimeout(() => child.kill('SIGKILL'), 60_000);
  let sawLock = false;
  let killedHoldingLock = false;
  const holds = async () => {
    const held = (await w.store.sync.lockHolder(target))?.pid === child.pid;
    sawLock ||= held;
    return held;
  };
  const killNow = async () => {
    if (exited) return;
    killedHoldingLock = await holds();
    child.kill('SIGKILL');
  };
  const duringDone = during?.();
  try {
    if (kill.at === 'spawn') {
      await Promise.race([sleep(killDelayMs(kill, target)), closed]);
      await killNow();
    } else if (kill.at === 'locked') {
      while (!exited && !(await holds())) await Promise.race([sleep(3), closed]);
      await Promise.race([sleep(killDelayMs(kill, target)), closed]);
      await killNow();
    }
    await duringDone;
    const [code, signal] = await closed;
    return { code, signal, stdout, stderr, sawLock, killedHoldingLock };
  } finally {
    clearTimeout(safety);
    if (!exited) {
      child.kill('SIGKILL');
      await closed;
    }
  }
}

// ------------------------------------------------------------------ expectations


/** The view as the Sheets target writes it (header + rows, times as serial numbers), as of the projector's cursor. */
export async function sheetRows(store: SqliteStore, view: ViewName): Promise<{ header: string[]; rows: unknown[][] }> {
  await store.projection.catchUp();
  const { toSeq, registry } = await store.projection.snapshot();
  const { header, rows } = await store.views.snapshot(view, registry);
  const kinds = columnKinds(view, header);
  const out: unknown[][] = [];
  for await (const page of rows.pages({ toSeq })) for (const row of page) out.push(toSheetRow(row as Cell[], kinds));
  return { header, rows: out };
}

/** Empty cells as null, trailing empty cells dropped (what Sheets keeps of a row). */
const normRow = (r: readonly unknown[]) => {
  const c = r.map((v) => (v === undefined || v === '' ? null : v));
  while (c.length && c.at(-1) === null) c.pop();
  return c;
};

/** Strict parse: csv-parse refuses a row whose width differs from the header's. */
function parseCsv(text: string, what: string): string[][] {
  try {
    return parse(text) as string[][];
  } catch (err) {
    assert.fail(`${what} does not parse as a rectangular CSV: ${(err as Error).message}`);
  }
}

const tempFiles = (w: World) => (existsSync(w.csvDir) ? (readdirSync(w.csvDir, { recursive: true }) as string[]).filter((f) => f.includes('.tmp-')) : []);

/** Is this view split into month files in this world? */
const monthly = (w: World, view: ViewName) => w.csvPartition === 'month' && splitByMonth(view);

/** Every file of the CSV target (relative paths), for stamps. */
export function csvFiles(w: World): string[] {
  return existsSync(w.csvDir) ? (readdirSync(w.csvDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.csv')).sort() : [];
}

/** The view's files present now, each with what it must be an earlier state of: the export of its month, or of the view. */
function csvFilesOf(w: World, view: ViewName): Array<{ name: string; path: string; export: () => Promise<string> }> {
  if (!monthly(w, view)) {
    const path = join(w.csvDir, `${view}.csv`);
    return existsSync(path) ? [{ name: `${view}.csv`, path, export: () => exported(w.store, view) }] : [];
  }
  const folder = join(w.csvDir, view);
  const names = existsSync(folder) ? readdirSync(folder).filter((n) => /^.+-\d{4}-\d{2}\.csv$/.test(n)) : [];
  return names.map((name) => ({ name: `${view}/${name}`, path: join(folder, name), export: async () => exportedMonth(w.store, view, name.slice(-11, -4), await w.store.reportTimezone()) }));
}

/** The months the events fall in (REPORT_TIMEZONE), from the first to the last: where month files may be. */
async function eventMonths(w: World): Promise<string[]> {
  const r = w.store.db.prepare<[], { first: string | null; last: string | null }>('SELECT min(received_at) AS first, max(received_at) AS last FROM events').get()!;
  if (r.first === null || r.last === null) return [];
  const zone = await w.store.reportTimezone();
  const month = (iso: string) => new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit' }).format(new Date(iso)).slice(0, 7);
  return monthsBetween(month(r.first), month(r.last));
}

/** What must match between an earlier state of a view and now: the whole row of a log view, the key cells of a keyed one. */
function sameAs(view: ViewName): (row: readonly unknown[]) => unknown[] {
  const def = VIEW_DEFS[view];
  if (def.shape !== 'keyed') return (row) => [...row];
  const at = def.key.map((k) => (def.columns as readonly string[]).indexOf(k));
  return (row) => at.map((i) => row[i] ?? null);
}

/**
 * Between commands: every CSV file present is the export of its view as of an
 * earlier snapshot — a header that is a prefix of today's (columns are
 * append-only), then exactly the first rows of the view, each cut to that
 * header's width: no duplicate, no gap, no reordering, no ragged row.
 */
export async function checkCsvShape(w: World): Promise<void> {
  for (const view of VIEW_NAMES) {
    // One layout per world: a month world never has a whole file of a split view, nor the other way round.
    if (monthly(w, view)) assert.ok(!existsSync(join(w.csvDir, `${view}.csv`)), `${view}.csv in a world of month files`);
    else if (splitByMonth(view)) assert.ok(!existsSync(join(w.csvDir, view)), `${view}/ in a world of whole files`);
    for (const file of csvFilesOf(w, view)) {
      const got = parseCsv(readFileSync(file.path, 'utf8'), file.name);
      const want = parseCsv(await file.export(), `the export of ${file.name}`);
      const width = got[0]!.length;
      assert.deepEqual(got[0], want[0]!.slice(0, width), `${file.name}: its header is a prefix of the view's columns`);
      assert.ok(got.length <= want.length, `${file.name} holds ${got.length - 1} rows, the export only ${want.length - 1}: a duplicate`);
      // A keyed view's rows change in place: an earlier state holds the same keys at the same rows, with values of then.
      const same = sameAs(view);
      for (let i = 1; i < got.length; i++) {
        assert.deepEqual(same(got[i]!), same(want[i]!.slice(0, width)), `${file.name} row ${i}: not the export's row ${i} (a duplicate, a gap or a moved row)`);
      }
    }
  }
}

/** Between commands: every tab present holds an earlier state of its view (prefix header, the view's first rows in order, nothing past the header's width). */
export async function checkSheetsShape(w: World): Promise<void> {
  for (const view of VIEW_NAMES) {
    const tab = w.fake.tab(w.sheetId, view);
    if (!tab || tab.values.length === 0) continue;
    const { header, rows } = await sheetRows(w.store, view);
    const ours = header.map((h) => fitCell(h));
    const tabHeader = normRow(tab.values[0]!);
    assert.deepEqual(tabHeader, ours.slice(0, tabHeader.length), `tab ${view}: its header is a prefix of the view's columns`);
    const width = tabHeader.length;
    const data = tab.values.slice(1);
    assert.ok(data.length <= rows.length, `tab ${view} holds ${data.length} rows, the view only ${rows.length}: a duplicate`);
    data.forEach((r, i) => {
      assert.ok(normRow(r).length <= width, `tab ${view} row ${i + 2} is wider than its header`);
      assert.deepEqual(sameAs(view)(normRow(r)), sameAs(view)(normRow(rows[i]!.slice(0, width))), `tab ${view} row ${i + 2}: not the view's row ${i + 1} (a duplicate, a gap or a moved row)`);
    });
  }
}

/** Cursors never go back, their row count is the view's up to their seq, and a Sheets cursor's next row follows it. */
export async function checkCursors(w: World): Promise<void> {
  for (const target of TARGETS) {
    for (const view of VIEW_NAMES) {
      const key = `${target}/${view}`;
      const c = await w.store.sync.cursor(target, view);
      const prev = w.last.get(key) ?? { seq: 0, rows: 0 };
      assert.ok(c.deliveredSeq >= prev.seq, `${key}: the cursor went back from seq ${prev.seq} to ${c.deliveredSeq}`);
      assert.ok(c.deliveredRows >= prev.rows, `${key}: the delivered row count went back from ${prev.rows} to ${c.deliveredRows}`);
      const { keyed } = await w.store.views.snapshot(view);
      // A keyed view's rows are the current truth: the target holds rows 1..deliveredRows, never more than exist.
      if (keyed) assert.ok(c.deliveredRows <= keyed.total, `${key}: the cursor holds ${c.deliveredRows} rows, the view has ${keyed.total}`);
      else assert.equal(c.deliveredRows, w.store.sqlite.views.count(view as LogViewName, { toSeq: c.deliveredSeq }), `${key}: the cursor's row count is the view's up to its seq`);
      if (target === 'sheets' && c.state) {
        const nextRow = (c.state as { nextRow: number }).nextRow;
        assert.equal(nextRow - 1, c.deliveredRows, `${key}: the next row to write follows the delivered rows`);
      }
      w.last.set(key, { seq: c.deliveredSeq, rows: c.deliveredRows });
    }
  }
}

/**
 * What a target confirmed stays there: the file / tab exists and holds at least
 * the rows its cursor counts, at least as wide as the header recorded with it
 * (with the prefix checks above: exactly those rows). Only rows past the cursor
 * may be missing (not delivered yet) or extra (delivered by a sync that died
 * before its commit).
 */
export async function checkConfirmedRowsKept(w: World): Promise<void> {
  for (const view of VIEW_NAMES) {
    const csv = await w.store.sync.cursor('csv', view);
    const csvState = csv.state as { header: string[]; files: Record<string, { rows: number }> } | undefined;
    if (csvState) {
      const entries = Object.entries(csvState.files);
      assert.equal(
        entries.reduce((n, [, e]) => n + e.rows, 0),
        csv.deliveredRows,
        `${view}: the files confirmed with the csv cursor hold its rows`,
      );
      for (const [rel, entry] of entries) {
        const file = join(w.csvDir, rel);
        assert.ok(existsSync(file), `${rel}: confirmed by the csv cursor, but the file is gone`);
        const rows = parseCsv(readFileSync(file, 'utf8'), rel);
        assert.ok(rows[0]!.length >= csvState.header.length, `${rel}: narrower (${rows[0]!.length} columns) than the header confirmed with its cursor (${csvState.header.length})`);
        assert.ok(rows.length - 1 >= entry.rows, `${rel} holds ${rows.length - 1} rows but its cursor confirmed ${entry.rows}: confirmed rows were lost`);
      }
    }
    const sh = await w.store.sync.cursor('sheets', view);
    const shState = sh.state as { header: string[]; nextRow: number } | undefined;
    if (shState) {
      const tab = w.fake.tab(w.sheetId, view);
      assert.ok(tab, `tab ${view}: confirmed by the sheets cursor, but the tab is gone`);
      assert.ok(tab.rowCount >= shState.nextRow, `tab ${view}: its grid has ${tab.rowCount} rows but the cursor confirmed rows up to ${shState.nextRow}: confirmed rows were cut off`);
      assert.ok(tab.values.length - 1 >= sh.deliveredRows, `tab ${view} holds ${Math.max(0, tab.values.length - 1)} rows but its cursor confirmed ${sh.deliveredRows}: confirmed rows were lost`);
      assert.ok(normRow(tab.values[0] ?? []).length >= shState.header.length, `tab ${view}: its header is narrower than the one confirmed with its cursor`);
    }
  }
}

/** What must hold after every command. */
export async function checkAlways(w: World): Promise<void> {
  await checkCursors(w);
  await checkConfirmedRowsKept(w);
  await checkCsvShape(w);
  await checkSheetsShape(w);
}

/** After a sync of `target` that completed with nothing ingested meanwhile: the target equals the export of the database. */
export async function checkExact(w: World, target: SyncTargetName): Promise<void> {
  for (const view of VIEW_NAMES) {
    const c = await w.store.sync.cursor(target, view);
    assert.equal(c.lastError, null, `${target}/${view}: no error left after a sync that succeeded`);
    assert.equal(c.deliveredSeq, await w.store.projection.cursor(), `${target}/${view}: the cursor is at the projector's`);
  }
  if (target === 'csv') {
    for (const view of VIEW_NAMES) {
      if (monthly(w, view)) {
        // Each month file equals the export of its month, one file per month with rows, nothing else.
        await assertMonthFiles(w.store, w.csvDir, view, await w.store.reportTimezone(), await eventMonths(w));
        continue;
      }
      const text = readFileSync(join(w.csvDir, `${view}.csv`), 'utf8');
      const want = await exported(w.store, view);
      parseCsv(text, `${view}.csv`);
      assert.equal(text, want, `${view}.csv equals the export byte for byte`);
    }
    assert.deepEqual(tempFiles(w), [], 'no temp file left once a sync succeeded');
    return;
  }
  assert.deepEqual([...w.fake.tabs(w.sheetId)].sort(), [...VIEW_NAMES, 'ember-sync'].sort(), 'one tab per view and the status tab, no other');
  for (const view of VIEW_NAMES) {
    const tab = w.fake.tab(w.sheetId, view)!;
    const { header, rows } = await sheetRows(w.store, view);
    const expected = [header.map((h) => fitCell(h)), ...rows].map(normRow);
    const actual = tab.values.map(normRow);
    assert.deepEqual(actual, expected, `tab ${view} equals the view cell for cell`);
    assert.equal(tab.frozenRowCount, 1, `tab ${view}: header frozen`);
    timeColumns(view, header).forEach((time, col) => {
      if (!time || rows.length === 0) return;
      for (let r = 1; r <= rows.length; r++) {
        const f = tab.formats[r]?.[col];
        assert.ok(f?.type === 'DATE_TIME' && f.pattern === DATE_TIME_PATTERN, `tab ${view} cell ${header[col]} of row ${r + 1} is a date-time cell`);
      }
    });
  }
}
