/**
 * A fake Google Sheets API v4 (plus the OAuth 2.0 token endpoint of the service-account flow),
 * served on loopback for tests and benchmarks. Drive it with the REAL client library:
 *
 *   const fake = await startFakeSheets();
 *   const api = sheets({ version: 'v4', auth, rootUrl: fake.url });
 *
 * It keeps an in-memory model of spreadsheets (tabs, grid sizes, frozen rows, values, number
 * formats) and answers with Google's JSON shapes and Google's error envelope
 * `{"error":{"code","message","status"}}`, so the real client parses everything as it would
 * against Google. What it models, and where it departs from Google, is listed in the report
 * that came with it and in the doc comments below.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicKey, randomBytes, randomInt, verify as verifySignature, type KeyObject } from 'node:crypto';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/** A formula as stored in a cell (USER_ENTERED "=…", updateCells formulaValue, or setCells). */
export interface FormulaCell {
  formula: string;
}
/** A stored cell value; `null` is an empty cell. Strings written with RAW stay strings, even "=1+2" or "42". */
export type CellValue = string | number | boolean | null | FormulaCell;
/** userEnteredFormat.numberFormat as the API takes it. */
export interface NumberFormat {
  type: string;
  pattern?: string;
}
export type RequestKind =
  | 'get'
  | 'batchUpdate'
  | 'values.get'
  | 'values.batchGet'
  | 'values.update'
  | 'values.batchUpdate'
  | 'values.append'
  | 'token'
  | 'other';

export interface RecordedRequest {
  method: string;
  /** Percent-decoded path, e.g. `/v4/spreadsheets/abc/values/'My Sheet'!A:D`. */
  path: string;
  /** The path and query string exactly as received (still percent-encoded). */
  rawUrl: string;
  kind: RequestKind;
  /** Request body bytes. */
  bytesIn: number;
  /** Response body bytes. */
  bytesOut: number;
  /** HTTP status answered; 0 when an injected fault destroyed the connection. */
  status: number;
  /** Date.now() when the request arrived. */
  at: number;
  /** Milliseconds from arrival to answer (includes injected delays). */
  ms: number;
  spreadsheetId?: string;
  /** Decoded A1 ranges the request named (path range, `ranges` query, or body `data[].range`). */
  ranges?: string[];
  /** Query parameters (repeated ones as arrays). */
  query: Record<string, string | string[]>;
  /** Parsed JSON body (or the form fields for /token), unless startFakeSheets({ keepBodies: false }). */
  body?: unknown;
  /** True when the answer came from injectFault / setQuota instead of the handler. */
  faulted?: boolean;
}

export interface FaultMatchInfo {
  method: string;
  path: string;
  kind: RequestKind;
  /** Decoded A1 ranges the request names (as in RecordedRequest.ranges), to fault the requests that touch one tab. */
  ranges: string[];
  /** Parsed JSON body ({} when none), e.g. to fault a batchUpdate that adds a given tab. */
  body: Record<string, unknown>;
}
export interface FaultSpec {
  /**
   * HTTP status to answer with (429, 500, 502 as Google's HTML page, 503, 403, …). Ignored with
   * destroy. A 2xx status without `body` answers normally, after `delayMs` (a slow server).
   */
  status: number;
  /** How many matching requests get this fault (default 1). 0 cancels the queued faults with this status. */
  count?: number;
  /** Seconds, sent as the `Retry-After` header. */
  retryAfter?: number;
  /** Which requests it applies to; default: every request except the token endpoint. */
  match?: (req: FaultMatchInfo) => boolean;
  /** Replace Google's error body (a string is sent as-is as text/html, an object as JSON). */
  body?: unknown;
  /** Override the message of Google's error body. */
  message?: string;
  /** Wait this long before answering (e.g. to trip a client timeout). */
  delayMs?: number;
  /** Close the connection without any answer (a network error for the client). */
  destroy?: boolean;
  /**
   * Run the request for real (the write IS applied) and then answer with the fault: the
   * "response lost" case, where a blind retry repeats the write.
   */
  afterApply?: boolean;
}

export interface TabSnapshot {
  sheetId: number;
  index: number;
  rowCount: number;
  columnCount: number;
  frozenRowCount: number;
  frozenColumnCount: number;
  /** Rows 0..last row holding a value; each row trimmed after its last value; empty cells are null. */
  values: CellValue[][];
  /** Effective number format of every cell of the bounding box of `values` (rectangular). */
  formats: (NumberFormat | undefined)[][];
  /** 0-based rows hidden by hand (updateDimensionProperties hiddenByUser), ascending. */
  hiddenRows: number[];
  /** The basic filter, if any: its grid range and the rows its criteria hide (as of when it was set). */
  basicFilter?: { r0: number; r1: number; c0: number; c1: number; filteredRows: number[] };
  /** Developer metadata located on the tab (createDeveloperMetadata with location.sheetId). */
  developerMetadata: DeveloperMetadata[];
  /** Protected ranges on the tab (addProtectedRange): they change nothing for the API's writes (the caller is an editor). */
  protectedRanges: ProtectedRange[];
  /** Filter views (addFilterView): an analyst's own view of the rows; they never move or change cells. */
  filterViews: FilterView[];
}

/** A protected range as the API shows it (the fake keeps ranges on one sheet; editors are not modelled beyond their conflict with warningOnly). */
export interface ProtectedRange {
  protectedRangeId: number;
  range: { sheetId: number; startRowIndex?: number; endRowIndex?: number; startColumnIndex?: number; endColumnIndex?: number };
  description?: string;
  warningOnly: boolean;
}

/** A filter view: its criteria and sort apply only to whoever looks through it, never to the sheet's cells. */
export interface FilterView {
  filterViewId: number;
  title?: string;
  range: { sheetId: number; startRowIndex?: number; endRowIndex?: number; startColumnIndex?: number; endColumnIndex?: number };
  sortSpecs?: unknown[];
  filterSpecs?: unknown[];
}

/** Developer metadata as the API shows it (only metadata located on a sheet is modelled). */
export interface DeveloperMetadata {
  metadataId: number;
  metadataKey: string;
  metadataValue?: string;
  visibility: 'DOCUMENT' | 'PROJECT';
}

/** A rectangle of cells a request wrote values to (values.update, values.batchUpdate, values.append, clears). */
export interface WrittenRange {
  spreadsheetId: string;
  /** The tab's title when it was written. */
  title: string;
  /** 0-based, inclusive rows and columns of the cells the request set (or cleared); null cells (left as they are) included. */
  r0: number;
  r1: number;
  c0: number;
  c1: number;
  kind: RequestKind;
}

export interface QuotaSpec {
  /** Read requests (get, values.get, values.batchGet) allowed per sliding minute. */
  readsPerMinute?: number;
  /** Write requests (everything else on /v4) allowed per sliding minute. */
  writesPerMinute?: number;
  /** Seconds to send as Retry-After on a quota 429 (Google sends none; default none). */
  retryAfter?: number;
}

/** Google's limits, lowered in tests to reach them without building huge grids. */
export interface FakeLimits {
  /** Columns per tab (Google: 18,278). */
  maxColumns: number;
  /** Cells per spreadsheet, empty grid cells included (Google: 10,000,000). */
  maxCells: number;
}

export interface FakeSheetsOptions {
  /** Keep parsed request bodies in `requests` (default true; turn off for big benchmarks). */
  keepBodies?: boolean;
  /** Lifetime of tokens issued by /token (default 3600 s). */
  tokenTtlSeconds?: number;
  /** Google's limits by default. */
  limits?: Partial<FakeLimits>;
}

export interface FakeSheets {
  /** 'http://127.0.0.1:PORT/' — pass as rootUrl. */
  url: string;
  /** 'http://127.0.0.1:PORT/token' — the OAuth token endpoint for the service-account flow. */
  tokenUrl: string;
  /** Create a spreadsheet: no tabs, or Google's default 'Sheet1' (sheetId 0, 1000x26) with defaultSheet; time zone Etc/GMT unless given. */
  createSpreadsheet(id: string, opts?: { title?: string; defaultSheet?: boolean; timeZone?: string }): void;
  /** Accept this bearer token on API calls (no scope restriction, never expires). */
  allowToken(token: string): void;
  /** Stop accepting a token (allowed or issued): the next call with it gets 401. */
  revokeToken(token: string): void;
  /** Register a service account whose RS256 JWT assertions /token verifies with this PEM public key. */
  addServiceAccount(email: string, publicKeyPem: string): void;
  /** API calls for this spreadsheet answer 403 PERMISSION_DENIED (not shared with the caller). */
  setForbidden(spreadsheetId: string, forbidden: boolean): void;
  /** Queue a fault for the next `count` matching requests. */
  injectFault(f: FaultSpec): void;
  /** Drop every queued fault. */
  clearFaults(): void;
  /** Per-minute request quotas answered with Google's 429 RESOURCE_EXHAUSTED; undefined removes them. */
  setQuota(q: QuotaSpec | undefined): void;
  /** Added latency per request (ms, or a function of the request). */
  setLatency(ms: number | ((req: FaultMatchInfo) => number)): void;
  /** Change the limits for the next requests (omitted ones keep their value); returns the limits now in force. */
  setLimits(l: Partial<FakeLimits>): FakeLimits;
  /** Every request received, in order of answer (also 401/403/faulted ones). */
  requests: RecordedRequest[];
  /**
   * Every rectangle of cells a request wrote values to, in order (values.update, values.batchUpdate,
   * values.append, values.clear/batchClear; not analyst helpers, not batchUpdate structure): which
   * cells a sync wrote, and which it left alone.
   */
  writes: WrittenRange[];
  /** Empty `requests` and `writes` (keeps the same arrays). */
  resetRequests(): void;
  /** 0-based rows of a tab that requests wrote any cell of (see `writes`), ascending. */
  writtenRows(spreadsheetId: string, title: string): number[];
  /** Change the spreadsheet's time zone (File → Settings → Time zone), as spreadsheets.get reports it. */
  setTimeZone(spreadsheetId: string, timeZone: string): void;
  tab(spreadsheetId: string, title: string): TabSnapshot | undefined;
  /** Tab titles in index order. */
  tabs(spreadsheetId: string): string[];
  /** Effective number format of one cell ('B2'). */
  cellFormat(spreadsheetId: string, title: string, a1Cell: string): NumberFormat | undefined;
  /**
   * Set cells as an analyst typing in the UI: the value is stored as given (a string stays a
   * string, `{formula}` is a formula); null and "" clear the cell. `a1Range` is 'B2' (an anchor)
   * or 'B2:C3' (a bound), optionally sheet-qualified ("'Tab'!B2"). Past the grid, the grid grows
   * to fit (as if the analyst added rows/columns first).
   */
  setCells(spreadsheetId: string, title: string, a1Range: string, values: CellValue[][]): void;
  /** Insert `count` empty rows above 0-based row `atRowIndex` (Sheets' "insert rows above"); the grid grows. */
  insertRows(spreadsheetId: string, title: string, atRowIndex: number, count: number): void;
  /** Delete `count` rows starting at 0-based row `atRowIndex`; the grid shrinks. */
  deleteRows(spreadsheetId: string, title: string, atRowIndex: number, count: number): void;
  /**
   * Sort rows [startRow, endRow) (0-based, endRow defaults to after the last row with a value) by
   * a 0-based column, like "Sort range" in the UI: numbers, then text, then booleans, empties last.
   */
  sortRows(spreadsheetId: string, title: string, opts: { startRow: number; endRow?: number; column: number; descending?: boolean }): void;
  renameTab(spreadsheetId: string, title: string, newTitle: string): void;
  deleteTab(spreadsheetId: string, title: string): void;
  /** Sum of rowCount*columnCount over the tabs (what Google's 10,000,000-cell limit counts). */
  totalCells(spreadsheetId: string): number;
  close(): Promise<void>;
}

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const MAX_CELLS = 10_000_000;
export const MAX_CELL_CHARS = 50_000;
export const MAX_COLUMNS = 18_278;

const SCOPE_RW = ['https://www.googleapis.com/auth/spreadsheets', 'https://www.googleapis.com/auth/drive', 'https://www.googleapis.com/auth/drive.file'];
const SCOPE_RO = ['https://www.googleapis.com/auth/spreadsheets.readonly', 'https://www.googleapis.com/auth/drive.readonly'];

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly status: string,
    message: string,
    readonly details?: unknown[],
  ) {
    super(message);
  }
}
const invalid = (message: string): ApiError => new ApiError(400, 'INVALID_ARGUMENT', message);

const STATUS_NAMES: Record<number, [string, string]> = {
  400: ['INVALID_ARGUMENT', 'Request contains an invalid argument.'],
  401: [
    'UNAUTHENTICATED',
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
  ],
  403: ['PERMISSION_DENIED', 'The caller does not have permission'],
  404: ['NOT_FOUND', 'Requested entity was not found.'],
  409: ['ABORTED', 'The operation was aborted.'],
  429: ['RESOURCE_EXHAUSTED', ''],
  500: ['INTERNAL', 'Internal error encountered.'],
  503: ['UNAVAILABLE', 'The service is currently unavailable.'],
  504: ['DEADLINE_EXCEEDED', 'The request timed out. Please try again.'],
};

function quotaError(write: boolean): ApiError {
  const metric = write ? 'Write requests' : 'Read requests';
  const metricId = write ? 'sheets.googleapis.com/write_requests' : 'sheets.googleapis.com/read_requests';
  const limit = write ? 'WriteRequestsPerMinutePerUser' : 'ReadRequestsPerMinutePerUser';
  return new ApiError(
    429,
    'RESOURCE_EXHAUSTED',
    `Quota exceeded for quota metric '${metric}' and limit '${metric} per minute per user' of service 'sheets.googleapis.com' for consumer 'project_number:123456789012'.`,
    [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'RATE_LIMIT_EXCEEDED',
        domain: 'googleapis.com',
        metadata: { quota_metric: metricId, quota_limit: limit, service: 'sheets.googleapis.com', consumer: 'projects/123456789012' },
      },
    ],
  );
}

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

type Scalar = string | number | boolean;
interface Cell {
  readonly v?: Scalar | FormulaCell;
  readonly f?: NumberFormat;
}
/** A repeatCell number format over [r0,r1) x [c0,c1); ends may be Infinity (whole column/row). */
interface FormatRule {
  readonly r0: number;
  readonly r1: number;
  readonly c0: number;
  readonly c1: number;
  readonly fmt: NumberFormat | undefined;
}
interface Tab {
  sheetId: number;
  title: string;
  rowCount: number;
  columnCount: number;
  frozenRowCount: number;
  frozenColumnCount: number;
  hidden: boolean;
  rows: Array<Array<Cell | undefined> | undefined>;
  rules: FormatRule[];
  /** Rows hidden by hand, ascending. Hidden and filtered rows keep their place and their values (values reads return them). */
  hiddenRows: number[];
  basicFilter?: { r0: number; r1: number; c0: number; c1: number; filteredRows: number[] };
  /** Developer metadata located on this tab (goes with it when it is deleted). */
  metadata: DeveloperMetadata[];
  /** Protected ranges and filter views on this tab (they go with it when it is deleted). */
  protectedRanges: ProtectedRange[];
  filterViews: FilterView[];
}
interface Book {
  id: string;
  title: string;
  timeZone: string;
  locale: string;
  tabs: Tab[];
  forbidden: boolean;
  /** Developer metadata located on the spreadsheet itself (location.spreadsheet: true). */
  metadata: DeveloperMetadata[];
}

const isFormula = (v: unknown): v is FormulaCell => typeof v === 'object' && v !== null && typeof (v as FormulaCell).formula === 'string';

function newTab(sheetId: number, title: string, rowCount = 1000, columnCount = 26): Tab {
  return { sheetId, title, rowCount, columnCount, frozenRowCount: 0, frozenColumnCount: 0, hidden: false, rows: [], rules: [], hiddenRows: [], metadata: [], protectedRanges: [], filterViews: [] };
}

function cellAt(tab: Tab, r: number, c: number): Cell | undefined {
  return tab.rows[r]?.[c];
}

function putCell(tab: Tab, r: number, c: number, cell: Cell | undefined): void {
  let row = tab.rows[r];
  if (!row) {
    if (!cell) return;
    row = [];
    tab.rows[r] = row;
  }
  row[c] = cell;
}

function ruleFormat(tab: Tab, r: number, c: number): NumberFormat | undefined {
  for (let i = tab.rules.length - 1; i >= 0; i--) {
    const rule = tab.rules[i]!;
    if (r >= rule.r0 && r < rule.r1 && c >= rule.c0 && c < rule.c1) return rule.fmt;
  }
  return undefined;
}

function effectiveFormat(tab: Tab, r: number, c: number): NumberFormat | undefined {
  const cell = cellAt(tab, r, c);
  if (cell && 'f' in cell) return cell.f;
  return ruleFormat(tab, r, c);
}

function hasValue(cell: Cell | undefined): boolean {
  return cell !== undefined && cell.v !== undefined;
}

function lastValueRow(tab: Tab): number {
  for (let r = tab.rows.length - 1; r >= 0; r--) {
    const row = tab.rows[r];
    if (row && row.some(hasValue)) return r;
  }
  return -1;
}

function bookCells(book: Book): number {
  let n = 0;
  for (const t of book.tabs) n += t.rowCount * t.columnCount;
  return n;
}

function addRule(tab: Tab, rule: FormatRule): void {
  // Rules fully covered by the new one can never win again.
  tab.rules = tab.rules.filter((o) => !(o.r0 >= rule.r0 && o.r1 <= rule.r1 && o.c0 >= rule.c0 && o.c1 <= rule.c1));
  tab.rules.push(rule);
  // Cell-level formats inside the range are older than this rule: drop them.
  const rEnd = Math.min(rule.r1, tab.rows.length);
  for (let r = rule.r0; r < rEnd; r++) {
    const row = tab.rows[r];
    if (!row) continue;
    const cEnd = Math.min(rule.c1, row.length);
    for (let c = rule.c0; c < cEnd; c++) {
      const cell = row[c];
      if (cell && 'f' in cell) row[c] = cell.v === undefined ? undefined : { v: cell.v };
    }
  }
}

/** Map an index through the insertion of n slots at `at` (a rule spanning `at` grows). */
const mapIns = (x: number, at: number, n: number): number => (x >= at ? x + n : x);
/** Map an index through the deletion of [s,e). */
const mapDel = (x: number, s: number, e: number): number => (x <= s ? x : x >= e ? x - (e - s) : s);

function insertDim(tab: Tab, dim: 'ROWS' | 'COLUMNS', at: number, n: number): void {
  if (dim === 'ROWS') {
    if (at < tab.rows.length) tab.rows = [...tab.rows.slice(0, at), ...new Array<undefined>(n), ...tab.rows.slice(at)];
    tab.rowCount += n;
    tab.rules = tab.rules.map((r) => ({ ...r, r0: mapIns(r.r0, at, n), r1: r.r0 < at && r.r1 > at ? r.r1 + n : mapIns(r.r1, at, n) }));
    tab.hiddenRows = tab.hiddenRows.map((r) => mapIns(r, at, n));
    if (tab.basicFilter) {
      const f = tab.basicFilter;
      tab.basicFilter = { ...f, r0: mapIns(f.r0, at, n), r1: f.r0 < at && f.r1 > at ? f.r1 + n : mapIns(f.r1, at, n), filteredRows: f.filteredRows.map((r) => mapIns(r, at, n)) };
    }
  } else {
    tab.rows = tab.rows.map((row) => (row && at < row.length ? [...row.slice(0, at), ...new Array<undefined>(n), ...row.slice(at)] : row));
    tab.columnCount += n;
    tab.rules = tab.rules.map((r) => ({ ...r, c0: mapIns(r.c0, at, n), c1: r.c0 < at && r.c1 > at ? r.c1 + n : mapIns(r.c1, at, n) }));
  }
}

function deleteDim(tab: Tab, dim: 'ROWS' | 'COLUMNS', s: number, e: number): void {
  if (dim === 'ROWS') {
    if (s < tab.rows.length) tab.rows = [...tab.rows.slice(0, s), ...tab.rows.slice(e)];
    tab.rowCount -= e - s;
    tab.frozenRowCount = Math.min(tab.frozenRowCount, Math.max(0, tab.rowCount - 1));
    tab.rules = tab.rules.map((r) => ({ ...r, r0: mapDel(r.r0, s, e), r1: mapDel(r.r1, s, e) })).filter((r) => r.r1 > r.r0);
    tab.hiddenRows = tab.hiddenRows.filter((r) => r < s || r >= e).map((r) => mapDel(r, s, e));
    if (tab.basicFilter) {
      const f = tab.basicFilter;
      tab.basicFilter = { ...f, r0: mapDel(f.r0, s, e), r1: mapDel(f.r1, s, e), filteredRows: f.filteredRows.filter((r) => r < s || r >= e).map((r) => mapDel(r, s, e)) };
      if (tab.basicFilter.r1 <= tab.basicFilter.r0) delete tab.basicFilter;
    }
  } else {
    tab.rows = tab.rows.map((row) => (row && s < row.length ? [...row.slice(0, s), ...row.slice(e)] : row));
    tab.columnCount -= e - s;
    tab.frozenColumnCount = Math.min(tab.frozenColumnCount, Math.max(0, tab.columnCount - 1));
    tab.rules = tab.rules.map((r) => ({ ...r, c0: mapDel(r.c0, s, e), c1: mapDel(r.c1, s, e) })).filter((r) => r.c1 > r.c0);
  }
}

/** Drop data and rules past the grid after it shrank. */
function truncateToGrid(tab: Tab): void {
  if (tab.rows.length > tab.rowCount) tab.rows.length = tab.rowCount;
  tab.hiddenRows = tab.hiddenRows.filter((r) => r < tab.rowCount);
  tab.rows = tab.rows.map((row) => (row && row.length > tab.columnCount ? row.slice(0, tab.columnCount) : row));
}

/** Sheets' sort order: numbers (and dates), text (case-insensitive), booleans; empty cells always last. */
function sortKey(v: Scalar | undefined): [number, number | string] | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v === 'number') return [0, v];
  if (typeof v === 'string') return [1, v.toLowerCase()];
  return [2, v ? 1 : 0];
}

function sortRowsOf(tab: Tab, book: Book, r0: number, r1: number, specs: Array<{ column: number; descending: boolean }>): void {
  const end = Math.min(r1, tab.rows.length);
  if (end - r0 < 2) return;
  const block = tab.rows.slice(r0, end);
  while (block.length < end - r0) block.push(undefined);
  const keyed = block.map((row, i) => ({
    row,
    i,
    keys: specs.map((s) => {
      const cell = row?.[s.column];
      const v = cell?.v;
      return sortKey(isFormula(v) ? toScalar(evalFormula(book, tab, v.formula, new Set())) : v);
    }),
  }));
  keyed.sort((a, b) => {
    for (let k = 0; k < specs.length; k++) {
      const x = a.keys[k];
      const y = b.keys[k];
      if (!x && !y) continue;
      if (!x) return 1;
      if (!y) return -1;
      let d = x[0] - y[0];
      if (d === 0) d = x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0;
      if (d !== 0) return specs[k]!.descending ? -d : d;
    }
    return a.i - b.i;
  });
  // A sort moves whole cells, their formats included (Google moves a cell's format with its value): formats
  // that came from ranges (repeatCell) are pinned on each cell of the block before the rows move.
  const moved = keyed.map((k, j) =>
    Array.from({ length: Math.max(tab.columnCount, k.row?.length ?? 0) }, (_, c): Cell | undefined => {
      const cell = k.row?.[c];
      const f = effectiveFormat(tab, r0 + k.i, c);
      if (f === undefined && (cell === undefined || !('f' in cell)) && ruleFormat(tab, r0 + j, c) === undefined) return cell;
      return { ...(cell?.v !== undefined ? { v: cell.v } : {}), f };
    }),
  );
  moved.forEach((row, j) => {
    tab.rows[r0 + j] = row;
  });
}

// ---------------------------------------------------------------------------------------------
// A1 notation
// ---------------------------------------------------------------------------------------------

export function columnLetters(index: number): string {
  let s = '';
  let n = index + 1;
  while (n > 0) {
    const m = (n - 1) % 26;
    s = String.fromCharCode(65 + m) + s;
    n = Math.floor((n - 1) / 26);
  }
  return s;
}

function columnIndex(letters: string): number {
  let n = 0;
  for (const ch of letters.toUpperCase()) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n - 1;
}

/** Title as Google writes it in ranges it returns: quoted only when needed. */
function quoteTitle(title: string, always = false): string {
  if (!always && /^[A-Za-z_][A-Za-z0-9_]*$/.test(title) && !/^[A-Za-z]{1,3}\d+$/.test(title) && !/^R\d*C\d*$/i.test(title)) return title;
  return `'${title.replace(/'/g, "''")}'`;
}

/** Cell part of an A1 range; r1/c1 exclusive, undefined = open to the grid's end. */
function a1Cells(r0: number, r1: number | undefined, c0: number, c1: number | undefined): string {
  if (r1 === r0 + 1 && c1 === c0 + 1) return `${columnLetters(c0)}${r0 + 1}`;
  const start = `${columnLetters(c0)}${r0 + 1}`;
  if (r1 !== undefined && c1 !== undefined) return `${start}:${columnLetters(c1 - 1)}${r1}`;
  if (c1 !== undefined) return `${start}:${columnLetters(c1 - 1)}`;
  if (r1 !== undefined) return `${start}:${r1}`;
  return start;
}

interface Rng {
  tab: Tab;
  r0: number;
  r1?: number;
  c0: number;
  c1?: number;
  /** A single cell ('A1'): an anchor for writes, not a bound. */
  single: boolean;
}

interface CellsPart {
  r0: number;
  r1?: number;
  c0: number;
  c1?: number;
  single: boolean;
}

function parseRef(s: string): { c?: number; r?: number } | undefined {
  const m = /^\$?([A-Za-z]{0,3})\$?(\d*)$/.exec(s.trim());
  if (!m || (!m[1] && !m[2])) return undefined;
  const out: { c?: number; r?: number } = {};
  if (m[1]) out.c = columnIndex(m[1]);
  if (m[2]) {
    const r = Number.parseInt(m[2], 10) - 1;
    if (r < 0) return undefined;
    out.r = r;
  }
  return out;
}

function parseCellsPart(s: string): CellsPart | undefined {
  const parts = s.split(':');
  if (parts.length > 2) return undefined;
  const a = parseRef(parts[0]!);
  if (!a) return undefined;
  if (parts.length === 1) {
    if (a.c === undefined || a.r === undefined) return undefined;
    return { r0: a.r, r1: a.r + 1, c0: a.c, c1: a.c + 1, single: true };
  }
  const b = parseRef(parts[1]!);
  if (!b) return undefined;
  let rs = a.r;
  let re = b.r;
  if (rs !== undefined && re !== undefined && rs > re) [rs, re] = [re, rs];
  let cs = a.c;
  let ce = b.c;
  if (cs !== undefined && ce !== undefined && cs > ce) [cs, ce] = [ce, cs];
  // 'A:D' has no rows, '2:5' no columns, 'A2:F' an open end.
  const out: CellsPart = { r0: rs ?? 0, c0: cs ?? 0, single: false };
  if (re !== undefined) out.r1 = re + 1;
  if (ce !== undefined) out.c1 = ce + 1;
  return out;
}

function findTab(book: Book, title: string): Tab | undefined {
  return book.tabs.find((t) => t.title === title) ?? book.tabs.find((t) => t.title.toLowerCase() === title.toLowerCase());
}

function parseRange(book: Book, range: string): Rng {
  const fail = (): ApiError => invalid(`Unable to parse range: ${range}`);
  let sheet: string | undefined;
  let cells: string | undefined;
  if (range.startsWith("'")) {
    let i = 1;
    let name = '';
    let closed = false;
    while (i < range.length) {
      const ch = range[i]!;
      if (ch === "'") {
        if (range[i + 1] === "'") {
          name += "'";
          i += 2;
          continue;
        }
        closed = true;
        i++;
        break;
      }
      name += ch;
      i++;
    }
    if (!closed) throw fail();
    sheet = name;
    const rest = range.slice(i);
    if (rest !== '') {
      if (!rest.startsWith('!')) throw fail();
      cells = rest.slice(1);
    }
  } else {
    const bang = range.indexOf('!');
    if (bang >= 0) {
      sheet = range.slice(0, bang);
      cells = range.slice(bang + 1);
    } else {
      const byName = findTab(book, range);
      if (byName) return { tab: byName, r0: 0, c0: 0, single: false };
      cells = range;
    }
  }
  const tab = sheet === undefined ? book.tabs[0] : findTab(book, sheet);
  if (!tab) throw fail();
  if (cells === undefined || cells === '') return { tab, r0: 0, c0: 0, single: false };
  const part = parseCellsPart(cells);
  if (!part) throw fail();
  return { tab, ...part };
}

/** Google refuses a range that starts past the grid or whose bounded end passes it. */
function checkGrid(rng: Rng, prefix = ''): void {
  const { tab } = rng;
  const out =
    rng.r0 >= tab.rowCount ||
    rng.c0 >= tab.columnCount ||
    (rng.r1 !== undefined && rng.r1 > tab.rowCount) ||
    (rng.c1 !== undefined && rng.c1 > tab.columnCount);
  if (out) throw gridError(tab, a1Cells(rng.r0, rng.r1, rng.c0, rng.c1), prefix);
}

function gridError(tab: Tab, cells: string, prefix = ''): ApiError {
  return invalid(`${prefix}Range (${quoteTitle(tab.title)}!${cells}) exceeds grid limits. Max rows: ${tab.rowCount}, max columns: ${tab.columnCount}`);
}

/** The range clipped to the grid, as Google echoes it ('Sheet1!A1:Z1000'). */
function echoRange(rng: Rng): string {
  const r1 = Math.min(rng.r1 ?? rng.tab.rowCount, rng.tab.rowCount);
  const c1 = Math.min(rng.c1 ?? rng.tab.columnCount, rng.tab.columnCount);
  return `${quoteTitle(rng.tab.title)}!${a1Cells(rng.r0, r1, rng.c0, c1)}`;
}

// ---------------------------------------------------------------------------------------------
// Input (RAW / USER_ENTERED)
// ---------------------------------------------------------------------------------------------

/** undefined = leave the cell unchanged (null in the request), null = clear it ("" in the request). */
type Planned = { v: Scalar | FormulaCell; hint?: NumberFormat } | null | undefined;

const DAY_MS = 86_400_000;
const EPOCH_1899 = Date.UTC(1899, 11, 30);
const toSerial = (ms: number): number => (ms - EPOCH_1899) / DAY_MS;

function parseUserEntered(raw: string): Planned {
  if (raw === '') return null;
  if (raw.startsWith("'")) return { v: raw.slice(1) };
  if (raw.startsWith('=') && raw.length > 1) return { v: { formula: raw } };
  const s = raw.trim();
  if (/^true$/i.test(s)) return { v: true };
  if (/^false$/i.test(s)) return { v: false };
  const num = /^([+-])?(\$)?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)([eE][+-]?\d+)?(%)?$/.exec(s);
  if (num) {
    const [, sign, dollar, body, exp, pct] = num;
    let n = Number(body!.replace(/,/g, '') + (exp ?? ''));
    if (sign === '-') n = -n;
    if (pct) return { v: n / 100, hint: { type: 'PERCENT', pattern: body!.includes('.') ? '0.00%' : '0%' } };
    if (dollar) return { v: n, hint: { type: 'CURRENCY', pattern: '"$"#,##0.00' } };
    if (exp) return { v: n, hint: { type: 'SCIENTIFIC', pattern: '0.00E+00' } };
    if (body!.includes(',')) return { v: n, hint: { type: 'NUMBER', pattern: body!.includes('.') ? '#,##0.00' : '#,##0' } };
    return { v: n };
  }
  let m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(s);
  if (m) return dateInput(raw, +m[1]!, +m[2]!, +m[3]!, m[4], m[5], m[6], 'yyyy-mm-dd');
  m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(s);
  if (m) return dateInput(raw, +m[3]!, +m[1]!, +m[2]!, m[4], m[5], m[6], 'M/d/yyyy');
  m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp][Mm]))?$/.exec(s);
  if (m) {
    let h = +m[1]!;
    const ampm = m[4]?.toLowerCase();
    if (ampm === 'pm' && h < 12) h += 12;
    if (ampm === 'am' && h === 12) h = 0;
    if (h < 24 && +m[2]! < 60 && +(m[3] ?? 0) < 60) {
      return { v: (h * 3600 + +m[2]! * 60 + +(m[3] ?? 0)) / 86400, hint: { type: 'TIME', pattern: ampm ? 'h:mm:ss am/pm' : 'H:mm:ss' } };
    }
  }
  return { v: raw };
}

function dateInput(raw: string, y: number, mo: number, d: number, h: string | undefined, mi: string | undefined, sec: string | undefined, datePattern: string): Planned {
  const ms = Date.UTC(y, mo - 1, d, +(h ?? 0), +(mi ?? 0), +(sec ?? 0));
  // An impossible date (2024-02-30, 25:00) stays text, as typed.
  if (mo < 1 || mo > 12 || new Date(ms).getUTCDate() !== d || +(h ?? 0) > 23 || +(mi ?? 0) > 59 || +(sec ?? 0) > 59) return { v: raw };
  return h === undefined
    ? { v: toSerial(ms), hint: { type: 'DATE', pattern: datePattern } }
    : { v: toSerial(ms), hint: { type: 'DATE_TIME', pattern: `${datePattern} H:mm:ss` } };
}

function planValue(value: unknown, option: 'RAW' | 'USER_ENTERED', where: string): Planned {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') {
    if (value.length > MAX_CELL_CHARS) throw invalid(`Your input contains more than the maximum of ${MAX_CELL_CHARS} characters in a single cell.`);
    if (value === '') return null;
    return option === 'RAW' ? { v: value } : parseUserEntered(value);
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(`Invalid value at '${where}' (TYPE_NUMBER), ${String(value)}`);
    return { v: value };
  }
  if (typeof value === 'boolean') return { v: value };
  throw invalid(`Invalid value at '${where}' (type.googleapis.com/google.protobuf.ListValue), ${JSON.stringify(value)}`);
}

// ---------------------------------------------------------------------------------------------
// Formulas (a small evaluator: enough for arithmetic, &, comparisons, refs, a few functions)
// ---------------------------------------------------------------------------------------------

interface FErr {
  err: string;
}
type FVal = number | string | boolean | null | FErr | FVal[];
const isErr = (v: unknown): v is FErr => typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as FErr).err === 'string';

function toScalar(v: FVal): Scalar | undefined {
  if (Array.isArray(v)) return toScalar(v[0] ?? null);
  if (v === null) return undefined;
  if (isErr(v)) return v.err;
  return v;
}

function evalFormula(book: Book, tab: Tab, formula: string, visiting: Set<string>): FVal {
  const src = formula.replace(/^=/, '');
  let i = 0;
  const ws = (): void => {
    while (i < src.length && /\s/.test(src[i]!)) i++;
  };
  const peek = (s: string): boolean => {
    ws();
    return src.startsWith(s, i);
  };
  const eat = (s: string): boolean => {
    if (peek(s)) {
      i += s.length;
      return true;
    }
    return false;
  };
  const num = (v: FVal): number | FErr => {
    if (Array.isArray(v)) return num(v[0] ?? null);
    if (isErr(v)) return v;
    if (v === null || v === '') return 0;
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (typeof v === 'number') return v;
    const n = Number(v.trim());
    return v.trim() !== '' && Number.isFinite(n) ? n : { err: '#VALUE!' };
  };
  const str = (v: FVal): string | FErr => {
    if (Array.isArray(v)) return str(v[0] ?? null);
    if (isErr(v)) return v;
    if (v === null) return '';
    if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
    return String(v);
  };
  const cellValue = (t: Tab, r: number, c: number): FVal => {
    const v = cellAt(t, r, c)?.v;
    if (v === undefined) return null;
    if (!isFormula(v)) return v;
    const key = `${t.sheetId}:${r}:${c}`;
    if (visiting.has(key)) return { err: '#REF!' };
    visiting.add(key);
    const out = evalFormula(book, t, v.formula, visiting);
    visiting.delete(key);
    return out;
  };
  const flat = (vals: FVal[]): FVal[] => vals.flatMap((v) => (Array.isArray(v) ? flat(v) : [v]));

  const ref = (): FVal | undefined => {
    ws();
    const m = /^(?:('(?:[^']|'')+'|[A-Za-z_][A-Za-z0-9_]*)!)?(\$?[A-Za-z]{1,3}\$?\d+(?::\$?[A-Za-z]{1,3}\$?\d+)?)/.exec(src.slice(i));
    if (!m || /^[A-Za-z_]+\(/.test(src.slice(i))) return undefined;
    if (!m[1] && /^(TRUE|FALSE)\b/i.test(src.slice(i))) return undefined;
    i += m[0].length;
    const t = m[1] ? findTab(book, m[1].startsWith("'") ? m[1].slice(1, -1).replace(/''/g, "'") : m[1]) : tab;
    if (!t) return { err: '#REF!' };
    const part = parseCellsPart(m[2]!.replace(/\$/g, ''))!;
    if (part.single) return cellValue(t, part.r0, part.c0);
    const out: FVal[] = [];
    for (let r = part.r0; r < (part.r1 ?? t.rowCount); r++) for (let c = part.c0; c < (part.c1 ?? t.columnCount); c++) out.push(cellValue(t, r, c));
    return out;
  };

  const call = (name: string, args: FVal[]): FVal => {
    const nums = (): number[] | FErr => {
      const out: number[] = [];
      for (const a of args) {
        if (Array.isArray(a)) {
          for (const v of flat(a)) {
            if (isErr(v)) return v;
            if (typeof v === 'number') out.push(v);
          }
        } else {
          const n = num(a);
          if (isErr(n)) return n;
          out.push(n);
        }
      }
      return out;
    };
    switch (name) {
      case 'SUM':
      case 'MIN':
      case 'MAX':
      case 'AVERAGE':
      case 'COUNT': {
        const ns = nums();
        if (isErr(ns)) return ns;
        if (name === 'SUM') return ns.reduce((a, b) => a + b, 0);
        if (name === 'COUNT') return ns.length;
        if (name === 'AVERAGE') return ns.length ? ns.reduce((a, b) => a + b, 0) / ns.length : { err: '#DIV/0!' };
        if (!ns.length) return 0;
        return name === 'MIN' ? Math.min(...ns) : Math.max(...ns);
      }
      case 'COUNTA':
        return flat(args).filter((v) => v !== null && v !== '').length;
      case 'IF': {
        const c = args[0] ?? false;
        if (isErr(c)) return c;
        return (typeof c === 'string' ? c !== '' : Boolean(num(c))) ? (args[1] ?? true) : (args[2] ?? false);
      }
      case 'IFERROR':
        return isErr(args[0]) ? (args[1] ?? '') : (args[0] ?? null);
      case 'HYPERLINK':
        return args.length > 1 ? (args[1] ?? null) : (args[0] ?? null);
      case 'CONCATENATE':
      case 'CONCAT': {
        let s = '';
        for (const a of flat(args)) {
          const x = str(a);
          if (isErr(x)) return x;
          s += x;
        }
        return s;
      }
      case 'LEN':
      case 'UPPER':
      case 'LOWER':
      case 'TRIM': {
        const x = str(args[0] ?? null);
        if (isErr(x)) return x;
        return name === 'LEN' ? x.length : name === 'UPPER' ? x.toUpperCase() : name === 'LOWER' ? x.toLowerCase() : x.trim().replace(/\s+/g, ' ');
      }
      case 'ROUND':
      case 'ABS': {
        const x = num(args[0] ?? null);
        if (isErr(x)) return x;
        if (name === 'ABS') return Math.abs(x);
        const d = num(args[1] ?? 0);
        if (isErr(d)) return d;
        const p = 10 ** d;
        return Math.round(x * p) / p;
      }
      case 'NOW':
        return toSerial(Date.now());
      case 'TODAY':
        return Math.floor(toSerial(Date.now()));
      default:
        return { err: '#NAME?' };
    }
  };

  const primary = (): FVal => {
    ws();
    if (eat('(')) {
      const v = comparison();
      if (!eat(')')) throw new Error('paren');
      return v;
    }
    if (peek('"')) {
      i++;
      let s = '';
      while (i < src.length) {
        if (src[i] === '"') {
          if (src[i + 1] === '"') {
            s += '"';
            i += 2;
            continue;
          }
          break;
        }
        s += src[i++];
      }
      if (src[i] !== '"') throw new Error('string');
      i++;
      return s;
    }
    const n = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(src.slice(i));
    if (n) {
      i += n[0].length;
      return Number(n[0]);
    }
    const r = ref();
    if (r !== undefined) return r;
    const id = /^([A-Za-z_][A-Za-z0-9_.]*)/.exec(src.slice(i));
    if (id) {
      i += id[0].length;
      const name = id[1]!.toUpperCase();
      if (eat('(')) {
        const args: FVal[] = [];
        if (!eat(')')) {
          do args.push(comparison());
          while (eat(','));
          if (!eat(')')) throw new Error('call');
        }
        return call(name, args);
      }
      if (name === 'TRUE') return true;
      if (name === 'FALSE') return false;
      return { err: '#NAME?' };
    }
    throw new Error('token');
  };
  const postfix = (): FVal => {
    let v = primary();
    while (eat('%')) {
      const x = num(v);
      v = isErr(x) ? x : x / 100;
    }
    return v;
  };
  const unary = (): FVal => {
    if (eat('-')) {
      const x = num(unary());
      return isErr(x) ? x : -x;
    }
    if (eat('+')) return unary();
    return postfix();
  };
  const power = (): FVal => {
    let v = unary();
    while (eat('^')) {
      const a = num(v);
      const b = num(unary());
      v = isErr(a) ? a : isErr(b) ? b : a ** b;
    }
    return v;
  };
  const term = (): FVal => {
    let v = power();
    for (;;) {
      const op = eat('*') ? '*' : eat('/') ? '/' : undefined;
      if (!op) return v;
      const a = num(v);
      const b = num(power());
      v = isErr(a) ? a : isErr(b) ? b : op === '*' ? a * b : b === 0 ? { err: '#DIV/0!' } : a / b;
    }
  };
  const additive = (): FVal => {
    let v = term();
    for (;;) {
      const op = eat('+') ? '+' : eat('-') ? '-' : undefined;
      if (!op) return v;
      const a = num(v);
      const b = num(term());
      v = isErr(a) ? a : isErr(b) ? b : op === '+' ? a + b : a - b;
    }
  };
  const concat = (): FVal => {
    let v = additive();
    while (eat('&')) {
      const a = str(v);
      const b = str(additive());
      v = isErr(a) ? a : isErr(b) ? b : a + b;
    }
    return v;
  };
  function comparison(): FVal {
    let v = concat();
    for (;;) {
      const op = ['<>', '<=', '>=', '=', '<', '>'].find((o) => eat(o));
      if (!op) return v;
      const w = concat();
      if (isErr(v)) return v;
      if (isErr(w)) return w;
      const a = Array.isArray(v) ? (v[0] ?? null) : v;
      const b = Array.isArray(w) ? (w[0] ?? null) : w;
      const x = typeof a === 'string' ? a.toLowerCase() : a;
      const y = typeof b === 'string' ? b.toLowerCase() : b;
      const cmp = x === y ? 0 : (x ?? 0) < (y ?? 0) ? -1 : 1;
      v = op === '=' ? cmp === 0 : op === '<>' ? cmp !== 0 : op === '<' ? cmp < 0 : op === '>' ? cmp > 0 : op === '<=' ? cmp <= 0 : cmp >= 0;
    }
  }
  try {
    const v = comparison();
    ws();
    if (i < src.length) return { err: '#ERROR!' };
    return Array.isArray(v) ? (v.length === 1 ? (v[0] ?? null) : { err: '#VALUE!' }) : v;
  } catch {
    return { err: '#ERROR!' };
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering (FORMATTED_VALUE)
// ---------------------------------------------------------------------------------------------

const DEFAULT_PATTERNS: Record<string, string> = {
  NUMBER: '#,##0.00',
  PERCENT: '0.00%',
  CURRENCY: '"$"#,##0.00',
  DATE: 'M/d/yyyy',
  TIME: 'h:mm:ss am/pm',
  DATE_TIME: 'M/d/yyyy H:mm:ss',
  SCIENTIFIC: '0.00E+00',
};
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Sheets' "Automatic"/General rendering of a number. */
function general(n: number): string {
  if (n === 0) return '0';
  const a = Math.abs(n);
  if (a >= 1e15 || a < 1e-9) {
    const [m, e] = n.toExponential(5).split('e');
    return `${String(Number(m))}E${e!.startsWith('-') ? '-' : '+'}${e!.replace(/^[+-]/, '').padStart(2, '0')}`;
  }
  return String(Number(n.toPrecision(15)));
}

function isDateTimeFormat(fmt: NumberFormat | undefined): boolean {
  return fmt !== undefined && (fmt.type === 'DATE' || fmt.type === 'TIME' || fmt.type === 'DATE_TIME');
}

function formatNumber(n: number, fmt: NumberFormat | undefined): string {
  if (!fmt || fmt.type === 'TEXT' || fmt.type === 'NUMBER_FORMAT_TYPE_UNSPECIFIED') return general(n);
  const pattern = (fmt.pattern || DEFAULT_PATTERNS[fmt.type]) ?? '';
  if (!pattern || /^general$/i.test(pattern)) return general(n);
  const sections = splitSections(pattern);
  const useNeg = n < 0 && sections.length > 1;
  const section = (n === 0 && sections.length > 2 ? sections[2] : useNeg ? sections[1] : sections[0]) ?? pattern;
  const value = useNeg ? -n : n;
  const bare = section.replace(/"[^"]*"|\\./g, '');
  if (/[yYdDhHsS]/.test(bare) || (/[mM]/.test(bare) && !/[0#?]/.test(bare))) return formatDate(value, section);
  return formatNumeric(value, section);
}

function splitSections(pattern: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '"') quoted = !quoted;
    if (ch === '\\' && !quoted) {
      cur += ch + (pattern[++i] ?? '');
      continue;
    }
    if (ch === ';' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

type Tok = { lit: string } | { code: string };
function tokenize(pattern: string): Tok[] {
  const toks: Tok[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '"') {
      const j = pattern.indexOf('"', i + 1);
      toks.push({ lit: pattern.slice(i + 1, j < 0 ? undefined : j) });
      i = j < 0 ? pattern.length : j;
    } else if (ch === '\\') {
      toks.push({ lit: pattern[++i] ?? '' });
    } else if (ch === '[') {
      const j = pattern.indexOf(']', i);
      i = j < 0 ? pattern.length : j; // colours/conditions: ignored
    } else if (ch === '_' || ch === '*') {
      i++; // padding directives: ignored
    } else toks.push({ code: ch });
  }
  return toks;
}

function formatNumeric(n: number, section: string): string {
  const toks = tokenize(section);
  const pct = toks.filter((t) => 'code' in t && t.code === '%').length;
  let v = n * 100 ** pct;
  // The number placeholder: the first run of 0 # ? , . codes (plus E+00).
  const start = toks.findIndex((t) => 'code' in t && /[0#?.]/.test(t.code));
  if (start < 0) return toks.map((t) => ('lit' in t ? t.lit : t.code)).join('');
  let end = start;
  let spec = '';
  while (end < toks.length) {
    const t = toks[end]!;
    if (!('code' in t) || !/[0#?,.]/.test(t.code)) break;
    spec += t.code;
    end++;
  }
  let expDigits = -1;
  const e = toks[end];
  if (e && 'code' in e && /[eE]/.test(e.code)) {
    let k = end + 1;
    const sign = toks[k];
    if (sign && 'code' in sign && /[+-]/.test(sign.code)) k++;
    let d = 0;
    while (k < toks.length && 'code' in toks[k]! && (toks[k] as { code: string }).code === '0') {
      d++;
      k++;
    }
    expDigits = d;
    end = k;
  }
  const [intSpec = '', decSpec = ''] = spec.split('.');
  const grouping = intSpec.includes(',');
  const minInt = (intSpec.match(/0/g) ?? []).length;
  const maxDec = (decSpec.match(/[0#?]/g) ?? []).length;
  const minDec = (decSpec.match(/0/g) ?? []).length;
  const neg = v < 0;
  v = Math.abs(v);
  let exp = 0;
  if (expDigits >= 0 && v !== 0) {
    exp = Math.floor(Math.log10(v));
    v = v / 10 ** exp;
    if (Number(v.toFixed(maxDec)) >= 10) {
      v /= 10;
      exp++;
    }
  }
  let [ip = '0', dp = ''] = v.toFixed(maxDec).split('.');
  while (dp.length > minDec && dp.endsWith('0')) dp = dp.slice(0, -1);
  if (ip === '0' && minInt === 0) ip = '';
  ip = ip.padStart(minInt, '0');
  if (grouping) ip = ip.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  let body = ip + (dp || spec.includes('.') ? `.${dp}` : '');
  if (body.endsWith('.') && maxDec > 0 && minDec === 0) body = body.slice(0, -1);
  if (expDigits >= 0) body += `E${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(expDigits, '0')}`;
  if (neg && Number(body.replace(/[^0-9]/g, '')) !== 0) body = `-${body}`;
  const before = toks.slice(0, start).map((t) => ('lit' in t ? t.lit : t.code)).join('');
  const after = toks.slice(end).map((t) => ('lit' in t ? t.lit : t.code)).join('');
  return `${before}${body}${after}`;
}

function formatDate(serial: number, section: string): string {
  const ms = Math.round(serial * DAY_MS) + EPOCH_1899;
  const d = new Date(ms);
  const toks = tokenize(section);
  // Group runs of the same code letter (case-insensitive), keep am/pm as one token.
  const parts: Array<{ lit: string } | { code: string }> = [];
  const src = toks;
  for (let i = 0; i < src.length; i++) {
    const t = src[i]!;
    if ('lit' in t) {
      parts.push(t);
      continue;
    }
    const rest = src
      .slice(i, i + 5)
      .map((x) => ('code' in x ? x.code : '\u0000'))
      .join('');
    const ampm = /^(am\/pm|a\/p)/i.exec(rest);
    if (ampm) {
      parts.push({ code: ampm[0].toLowerCase() });
      i += ampm[0].length - 1;
      continue;
    }
    const lower = t.code.toLowerCase();
    if ('ymdhs'.includes(lower)) {
      let run = t.code;
      while (i + 1 < src.length && 'code' in src[i + 1]! && (src[i + 1] as { code: string }).code.toLowerCase() === lower) run += (src[++i] as { code: string }).code;
      parts.push({ code: run });
      continue;
    }
    if (t.code === '.' && i + 1 < src.length && 'code' in src[i + 1]! && (src[i + 1] as { code: string }).code === '0') {
      let run = '.';
      while (i + 1 < src.length && 'code' in src[i + 1]! && (src[i + 1] as { code: string }).code === '0') run += (src[++i] as { code: string }).code;
      parts.push({ code: run });
      continue;
    }
    parts.push({ lit: t.code });
  }
  const has12 = parts.some((p) => 'code' in p && (p.code === 'am/pm' || p.code === 'a/p'));
  const codeAt = (k: number, dir: 1 | -1): string | undefined => {
    for (let j = k + dir; j >= 0 && j < parts.length; j += dir) {
      const p = parts[j]!;
      if ('code' in p) return p.code.toLowerCase();
    }
    return undefined;
  };
  const pad = (x: number, w: number): string => String(x).padStart(w, '0');
  const h24 = d.getUTCHours();
  return parts
    .map((p, k) => {
      if ('lit' in p) return p.lit;
      const c = p.code;
      const lc = c.toLowerCase();
      if (lc[0] === 'y') return lc.length <= 2 ? pad(d.getUTCFullYear() % 100, 2) : String(d.getUTCFullYear());
      if (lc[0] === 'm' && !lc.startsWith('am')) {
        const prev = codeAt(k, -1);
        const next = codeAt(k, 1);
        const minute = lc.length <= 2 && ((prev !== undefined && prev[0] === 'h') || (next !== undefined && next[0] === 's'));
        if (minute) return lc.length === 2 ? pad(d.getUTCMinutes(), 2) : String(d.getUTCMinutes());
        const mo = d.getUTCMonth();
        if (lc.length === 1) return String(mo + 1);
        if (lc.length === 2) return pad(mo + 1, 2);
        if (lc.length === 3) return MONTHS[mo]!.slice(0, 3);
        if (lc.length === 5) return MONTHS[mo]![0]!;
        return MONTHS[mo]!;
      }
      if (lc[0] === 'd') {
        if (lc.length === 1) return String(d.getUTCDate());
        if (lc.length === 2) return pad(d.getUTCDate(), 2);
        if (lc.length === 3) return DAYS[d.getUTCDay()]!.slice(0, 3);
        return DAYS[d.getUTCDay()]!;
      }
      if (lc[0] === 'h') {
        const h = has12 ? ((h24 + 11) % 12) + 1 : h24;
        return lc.length >= 2 ? pad(h, 2) : String(h);
      }
      if (lc[0] === 's') return lc.length >= 2 ? pad(d.getUTCSeconds(), 2) : String(d.getUTCSeconds());
      if (lc.startsWith('.')) return `.${pad(d.getUTCMilliseconds(), 3).slice(0, lc.length - 1)}`;
      if (lc === 'am/pm') return h24 < 12 ? 'AM' : 'PM';
      if (lc === 'a/p') return h24 < 12 ? 'a' : 'p';
      return c;
    })
    .join('');
}

type RenderOption = 'FORMATTED_VALUE' | 'UNFORMATTED_VALUE' | 'FORMULA';
interface ReadOpts {
  render: RenderOption;
  dates: 'SERIAL_NUMBER' | 'FORMATTED_STRING';
  major: 'ROWS' | 'COLUMNS';
}

function renderCell(book: Book, tab: Tab, r: number, c: number, opts: ReadOpts): Scalar | undefined {
  const cell = cellAt(tab, r, c);
  const raw = cell?.v;
  if (raw === undefined) return undefined;
  if (isFormula(raw) && opts.render === 'FORMULA') return raw.formula;
  const v = isFormula(raw) ? toScalar(evalFormula(book, tab, raw.formula, new Set([`${tab.sheetId}:${r}:${c}`]))) : raw;
  if (v === undefined) return undefined;
  if (typeof v === 'number') {
    const fmt = effectiveFormat(tab, r, c);
    if (opts.render === 'FORMATTED_VALUE') return formatNumber(v, fmt);
    if (opts.dates === 'FORMATTED_STRING' && isDateTimeFormat(fmt)) return formatNumber(v, fmt);
    return v;
  }
  if (typeof v === 'boolean') return opts.render === 'FORMATTED_VALUE' ? (v ? 'TRUE' : 'FALSE') : v;
  return v;
}

function readRange(book: Book, rng: Rng, opts: ReadOpts): { range: string; majorDimension: string; values?: Scalar[][] } {
  const { tab } = rng;
  const rEnd = Math.min(rng.r1 ?? tab.rowCount, tab.rowCount, tab.rows.length);
  const cLim = Math.min(rng.c1 ?? tab.columnCount, tab.columnCount);
  const rows: Scalar[][] = [];
  let lastRow = -1;
  for (let r = rng.r0; r < rEnd; r++) {
    const row = tab.rows[r];
    const out: Scalar[] = [];
    if (row) {
      const cEnd = Math.min(cLim, row.length);
      let last = -1;
      for (let c = rng.c0; c < cEnd; c++) {
        const v = renderCell(book, tab, r, c, opts);
        out.push(v ?? '');
        if (v !== undefined && v !== '') last = c - rng.c0;
      }
      out.length = last + 1;
    }
    rows.push(out);
    if (out.length) lastRow = rows.length - 1;
  }
  rows.length = lastRow + 1;
  let values: Scalar[][] = rows;
  if (opts.major === 'COLUMNS' && rows.length) {
    const width = Math.max(...rows.map((r) => r.length));
    values = [];
    for (let c = 0; c < width; c++) {
      const col = rows.map((r) => r[c] ?? '');
      while (col.length && col[col.length - 1] === '') col.pop();
      values.push(col);
    }
  }
  const out: { range: string; majorDimension: string; values?: Scalar[][] } = { range: echoRange(rng), majorDimension: opts.major };
  if (values.length) out.values = values;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------------------------

interface WritePlan {
  rng: Rng;
  r0: number;
  c0: number;
  grid: Planned[][];
  nRows: number;
  nCols: number;
}

function planWrite(book: Book, range: string, body: { values?: unknown; majorDimension?: unknown }, option: 'RAW' | 'USER_ENTERED', prefix: string, where: string): WritePlan {
  let rng: Rng;
  try {
    rng = parseRange(book, range);
  } catch (e) {
    if (e instanceof ApiError) throw invalid(prefix + e.message);
    throw e;
  }
  checkGrid(rng, prefix);
  const input = body.values;
  if (input !== undefined && !Array.isArray(input)) throw invalid(`Invalid value at '${where}values' (type.googleapis.com/google.protobuf.ListValue), ${JSON.stringify(input)}`);
  let rowsIn: unknown[][] = ((input ?? []) as unknown[]).map((r, i) => {
    if (!Array.isArray(r)) throw invalid(`Invalid value at '${where}values[${i}]' (type.googleapis.com/google.protobuf.ListValue), ${JSON.stringify(r)}`);
    return r as unknown[];
  });
  if (body.majorDimension === 'COLUMNS') {
    const height = Math.max(0, ...rowsIn.map((c) => c.length));
    const t: unknown[][] = [];
    for (let r = 0; r < height; r++) t.push(rowsIn.map((col) => col[r]));
    rowsIn = t;
  }
  const grid = rowsIn.map((row, r) => row.map((v, c) => planValue(v, option, `${where}values[${r}][${c}]`)));
  const nRows = grid.length;
  const nCols = Math.max(0, ...grid.map((r) => r.length));
  const { tab } = rng;
  if (!rng.single) {
    const quoted = `${quoteTitle(tab.title, true)}!${a1Cells(rng.r0, rng.r1, rng.c0, rng.c1)}`;
    const rLim = rng.r1 ?? tab.rowCount;
    const cLim = rng.c1 ?? tab.columnCount;
    if (rng.r0 + nRows > rLim && rng.r1 !== undefined) throw invalid(`${prefix}Requested writing within range [${quoted}], but tried writing to row [${rng.r0 + nRows}]`);
    if (rng.c0 + nCols > cLim && rng.c1 !== undefined) throw invalid(`${prefix}Requested writing within range [${quoted}], but tried writing to column [${columnLetters(rng.c0 + nCols - 1)}]`);
  }
  if (rng.r0 + nRows > tab.rowCount || rng.c0 + nCols > tab.columnCount) throw gridError(tab, a1Cells(rng.r0, rng.r1, rng.c0, rng.c1), prefix);
  return { rng, r0: rng.r0, c0: rng.c0, grid, nRows, nCols };
}

function applyPlanned(tab: Tab, r: number, c: number, p: Planned): void {
  if (p === undefined) return;
  const old = cellAt(tab, r, c);
  if (p === null) {
    putCell(tab, r, c, old && 'f' in old ? { f: old.f! } : undefined);
    return;
  }
  if (old && 'f' in old) putCell(tab, r, c, { v: p.v, f: old.f! });
  else if (p.hint && !ruleFormat(tab, r, c)) putCell(tab, r, c, { v: p.v, f: p.hint });
  else putCell(tab, r, c, { v: p.v });
}

interface UpdateStats {
  spreadsheetId: string;
  updatedRange: string;
  updatedRows?: number;
  updatedColumns?: number;
  updatedCells?: number;
  updatedData?: unknown;
}

function applyWrite(book: Book, plan: WritePlan, includeValues: ReadOpts | undefined): UpdateStats {
  const { tab } = plan.rng;
  const rowsTouched = new Set<number>();
  const colsTouched = new Set<number>();
  let cells = 0;
  plan.grid.forEach((row, i) =>
    row.forEach((p, j) => {
      if (p === undefined) return;
      applyPlanned(tab, plan.r0 + i, plan.c0 + j, p);
      rowsTouched.add(i);
      colsTouched.add(j);
      cells++;
    }),
  );
  const extent: Rng =
    plan.nRows && plan.nCols
      ? { tab, r0: plan.r0, r1: plan.r0 + plan.nRows, c0: plan.c0, c1: plan.c0 + plan.nCols, single: false }
      : plan.rng;
  const out: UpdateStats = { spreadsheetId: book.id, updatedRange: echoRange(extent) };
  if (rowsTouched.size) out.updatedRows = rowsTouched.size;
  if (colsTouched.size) out.updatedColumns = colsTouched.size;
  if (cells) out.updatedCells = cells;
  if (includeValues) out.updatedData = readRange(book, extent, includeValues);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Field masks
// ---------------------------------------------------------------------------------------------

function parseMask(mask: string): string[] {
  const out: string[] = [];
  let i = 0;
  const list = (prefix: string): void => {
    while (i < mask.length) {
      let name = '';
      while (i < mask.length && !',()'.includes(mask[i]!)) name += mask[i++];
      name = name.trim();
      const full = prefix ? (name ? `${prefix}.${name}` : prefix) : name;
      if (mask[i] === '(') {
        i++;
        list(full);
        if (mask[i] === ')') i++;
      } else if (full) out.push(full);
      if (mask[i] === ',') {
        i++;
        continue;
      }
      if (mask[i] === ')') return;
    }
  };
  list('');
  return out;
}

/** Does the mask touch `path` (wholly, or a part of it)? */
function maskTouches(mask: string[], path: string): boolean {
  return mask.some((m) => m === '*' || m === path || path.startsWith(`${m}.`) || m.startsWith(`${path}.`));
}

// ---------------------------------------------------------------------------------------------
// Spreadsheet JSON
// ---------------------------------------------------------------------------------------------

function sheetProperties(tab: Tab, index: number): Record<string, unknown> {
  const gp: Record<string, number> = { rowCount: tab.rowCount, columnCount: tab.columnCount };
  if (tab.frozenRowCount) gp.frozenRowCount = tab.frozenRowCount;
  if (tab.frozenColumnCount) gp.frozenColumnCount = tab.frozenColumnCount;
  const p: Record<string, unknown> = { sheetId: tab.sheetId, title: tab.title, index, sheetType: 'GRID', gridProperties: gp };
  if (tab.hidden) p.hidden = true;
  return p;
}

function metadataJson(m: DeveloperMetadata, tab: Tab | undefined): Record<string, unknown> {
  const location = tab ? { locationType: 'SHEET', sheetId: tab.sheetId } : { locationType: 'SPREADSHEET', spreadsheet: true };
  return { metadataId: m.metadataId, metadataKey: m.metadataKey, ...(m.metadataValue === undefined ? {} : { metadataValue: m.metadataValue }), location, visibility: m.visibility };
}

function spreadsheetJson(book: Book): Record<string, unknown> {
  return {
    spreadsheetId: book.id,
    properties: {
      title: book.title,
      locale: book.locale,
      autoRecalc: 'ON_CHANGE',
      timeZone: book.timeZone,
      defaultFormat: { backgroundColor: { red: 1, green: 1, blue: 1 }, verticalAlignment: 'BOTTOM', wrapStrategy: 'OVERFLOW_CELL', textFormat: { fontFamily: 'arial,sans,sans-serif', fontSize: 10 } },
    },
    sheets: book.tabs.map((t, i) => ({
      properties: sheetProperties(t, i),
      ...(t.metadata.length > 0 ? { developerMetadata: t.metadata.map((m) => metadataJson(m, t)) } : {}),
      ...(t.protectedRanges.length > 0 ? { protectedRanges: t.protectedRanges.map((r) => ({ ...r, requestingUserCanEdit: true })) } : {}),
      ...(t.filterViews.length > 0 ? { filterViews: t.filterViews.map((f) => ({ ...f })) } : {}),
    })),
    ...(book.metadata.length > 0 ? { developerMetadata: book.metadata.map((m) => metadataJson(m, undefined)) } : {}),
    spreadsheetUrl: `https://docs.google.com/spreadsheets/d/${book.id}/edit`,
  };
}

// ---------------------------------------------------------------------------------------------
// batchUpdate (atomic: applied to a draft, committed only when every request succeeds)
// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const int = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : undefined);

function newSheetId(book: Book): number {
  for (;;) {
    const id = randomInt(1, 2 ** 31 - 1);
    if (!book.tabs.some((t) => t.sheetId === id)) return id;
  }
}

function runBatchUpdate(book: Book, requests: unknown[], limits: FakeLimits): { draft: Book; replies: Json[] } {
  const MAX_COLUMNS = limits.maxColumns;
  const MAX_CELLS = limits.maxCells;
  const owned = new WeakSet<Tab>();
  const draft: Book = { ...book, tabs: book.tabs.map((t) => ({ ...t })), metadata: book.metadata.slice() };
  const own = (t: Tab): Tab => {
    if (!owned.has(t)) {
      t.rows = t.rows.map((row) => row?.slice());
      t.rules = t.rules.slice();
      t.hiddenRows = t.hiddenRows.slice();
      t.metadata = t.metadata.slice();
      t.protectedRanges = t.protectedRanges.slice();
      t.filterViews = t.filterViews.slice();
      owned.add(t);
    }
    return t;
  };
  const replies: Json[] = [];
  requests.forEach((reqUnknown, i) => {
    const req = obj(reqUnknown);
    const keys = Object.keys(req);
    if (keys.length !== 1) throw invalid(`Invalid requests[${i}]: No request set.`);
    const kind = keys[0]!;
    const body = obj(req[kind]);
    const where = `Invalid requests[${i}].${kind}: `;
    const fail = (m: string): ApiError => invalid(where + m);
    const tabById = (id: unknown): Tab => {
      const n = int(id) ?? 0;
      const t = draft.tabs.find((x) => x.sheetId === n);
      if (!t) throw fail(`No grid with id: ${n}`);
      return t;
    };
    const before = bookCells(draft);
    const gridRange = (gr: Json): { tab: Tab; r0: number; r1: number; c0: number; c1: number } => {
      const tab = tabById(gr.sheetId);
      const r0 = int(gr.startRowIndex) ?? 0;
      const c0 = int(gr.startColumnIndex) ?? 0;
      const r1 = int(gr.endRowIndex);
      const c1 = int(gr.endColumnIndex);
      if (r0 < 0 || c0 < 0 || (r1 !== undefined && r1 < r0) || (c1 !== undefined && c1 < c0)) throw fail('Invalid range.');
      const empty = (r1 !== undefined && r1 === r0) || (c1 !== undefined && c1 === c0);
      if (!empty && (r0 >= tab.rowCount || c0 >= tab.columnCount)) throw gridError(tab, a1Cells(r0, r1, c0, c1), where);
      return { tab, r0, r1: r1 ?? Infinity, c0, c1: c1 ?? Infinity };
    };
    let reply: Json = {};
    switch (kind) {
      case 'addSheet': {
        const p = obj(body.properties);
        const gp = obj(p.gridProperties);
        let title = typeof p.title === 'string' ? p.title : undefined;
        if (title === undefined) {
          let n = draft.tabs.length + 1;
          while (findTab(draft, `Sheet${n}`)) n++;
          title = `Sheet${n}`;
        }
        if (title.trim() === '') throw fail('The sheet name cannot be empty.');
        if (draft.tabs.some((t) => t.title.toLowerCase() === title!.toLowerCase())) throw fail(`A sheet with the name "${title}" already exists. Please enter another name.`);
        const requestedId = int(p.sheetId);
        if (requestedId !== undefined && draft.tabs.some((t) => t.sheetId === requestedId)) throw fail(`Sheet with id ${requestedId} already exists.`);
        const rows = int(gp.rowCount) ?? 1000;
        const cols = int(gp.columnCount) ?? 26;
        if (rows < 1 || cols < 1) throw fail('The grid must have at least one row and one column.');
        if (cols > MAX_COLUMNS) throw fail(`This action would increase the number of columns in the sheet above the limit of ${MAX_COLUMNS}.`);
        const tab = newTab(requestedId ?? newSheetId(draft), title, rows, cols);
        tab.frozenRowCount = int(gp.frozenRowCount) ?? 0;
        tab.frozenColumnCount = int(gp.frozenColumnCount) ?? 0;
        tab.hidden = p.hidden === true;
        if (tab.frozenRowCount >= rows && tab.frozenRowCount > 0) throw fail("You can't freeze all visible rows on the sheet.");
        owned.add(tab);
        const index = Math.min(int(p.index) ?? draft.tabs.length, draft.tabs.length);
        draft.tabs.splice(index, 0, tab);
        reply = { addSheet: { properties: sheetProperties(tab, index) } };
        break;
      }
      case 'deleteSheet': {
        const tab = tabById(body.sheetId);
        if (draft.tabs.length === 1) throw fail("You can't remove all the sheets in a document.");
        draft.tabs = draft.tabs.filter((t) => t !== tab);
        break;
      }
      case 'appendDimension': {
        const tab = own(tabById(body.sheetId));
        const len = int(body.length) ?? 0;
        if (len < 1) throw fail('length must be greater than 0');
        if (body.dimension === 'ROWS') tab.rowCount += len;
        else if (body.dimension === 'COLUMNS') {
          if (tab.columnCount + len > MAX_COLUMNS) throw fail(`This action would increase the number of columns in the sheet above the limit of ${MAX_COLUMNS}.`);
          tab.columnCount += len;
        } else throw fail('dimension must be ROWS or COLUMNS');
        break;
      }
      case 'insertDimension':
      case 'deleteDimension': {
        const range = obj(body.range);
        const tab = own(tabById(range.sheetId));
        const dim = range.dimension;
        if (dim !== 'ROWS' && dim !== 'COLUMNS') throw fail('dimension must be ROWS or COLUMNS');
        const s = int(range.startIndex) ?? 0;
        const size = dim === 'ROWS' ? tab.rowCount : tab.columnCount;
        const e = int(range.endIndex) ?? size;
        if (s < 0 || e <= s) throw fail('Invalid dimension range.');
        if (kind === 'insertDimension') {
          if (s > size) throw fail(`Invalid dimension range: startIndex ${s} is past the end (${size}).`);
          if (dim === 'COLUMNS' && tab.columnCount + (e - s) > MAX_COLUMNS) throw fail(`This action would increase the number of columns in the sheet above the limit of ${MAX_COLUMNS}.`);
          insertDim(tab, dim, s, e - s);
        } else {
          if (e > size) throw gridError(tab, dim === 'ROWS' ? `A${s + 1}:${e}` : `${columnLetters(s)}1:${columnLetters(e - 1)}`, where);
          if (s === 0 && e === size) throw fail(`You can't delete all the ${dim === 'ROWS' ? 'rows' : 'columns'} on the sheet.`);
          deleteDim(tab, dim, s, e);
        }
        break;
      }
      case 'updateSheetProperties': {
        const p = obj(body.properties);
        const tab = own(tabById(p.sheetId));
        if (typeof body.fields !== 'string' || body.fields.trim() === '') throw fail("At least one field must be specified in 'fields'.");
        const mask = parseMask(body.fields);
        const gp = obj(p.gridProperties);
        const all = mask.includes('*');
        const has = (path: string): boolean => all || mask.some((m) => m === path || path.startsWith(`${m}.`));
        if (has('title')) {
          const title = typeof p.title === 'string' ? p.title : '';
          if (title.trim() === '') throw fail('The sheet name cannot be empty.');
          if (draft.tabs.some((t) => t !== tab && t.title.toLowerCase() === title.toLowerCase())) throw fail(`A sheet with the name "${title}" already exists. Please enter another name.`);
          tab.title = title;
        }
        if (has('hidden')) tab.hidden = p.hidden === true;
        if (has('index')) {
          const idx = Math.min(int(p.index) ?? 0, draft.tabs.length - 1);
          draft.tabs = draft.tabs.filter((t) => t !== tab);
          draft.tabs.splice(idx, 0, tab);
        }
        if (has('gridProperties.rowCount')) {
          const n = int(gp.rowCount) ?? 0;
          if (n < 1) throw fail('rowCount must be at least 1.');
          tab.rowCount = n;
        }
        if (has('gridProperties.columnCount')) {
          const n = int(gp.columnCount) ?? 0;
          if (n < 1) throw fail('columnCount must be at least 1.');
          if (n > MAX_COLUMNS) throw fail(`This action would increase the number of columns in the sheet above the limit of ${MAX_COLUMNS}.`);
          tab.columnCount = n;
        }
        truncateToGrid(tab);
        if (has('gridProperties.frozenRowCount')) tab.frozenRowCount = int(gp.frozenRowCount) ?? 0;
        if (has('gridProperties.frozenColumnCount')) tab.frozenColumnCount = int(gp.frozenColumnCount) ?? 0;
        if (tab.frozenRowCount > 0 && tab.frozenRowCount >= tab.rowCount) throw fail("You can't freeze all visible rows on the sheet.");
        if (tab.frozenColumnCount > 0 && tab.frozenColumnCount >= tab.columnCount) throw fail("You can't freeze all visible columns on the sheet.");
        break;
      }
      case 'updateSpreadsheetProperties': {
        const p = obj(body.properties);
        if (typeof body.fields !== 'string' || body.fields.trim() === '') throw fail("At least one field must be specified in 'fields'.");
        const mask = parseMask(body.fields);
        if (maskTouches(mask, 'title') && typeof p.title === 'string') draft.title = p.title;
        if (maskTouches(mask, 'timeZone') && typeof p.timeZone === 'string') draft.timeZone = p.timeZone;
        if (maskTouches(mask, 'locale') && typeof p.locale === 'string') draft.locale = p.locale;
        break;
      }
      case 'repeatCell': {
        const gr = gridRange(obj(body.range));
        const tab = own(gr.tab);
        if (typeof body.fields !== 'string' || body.fields.trim() === '') throw fail("At least one field must be specified in 'fields'.");
        const mask = parseMask(body.fields);
        const cell = obj(body.cell);
        const r1 = Math.min(gr.r1, tab.rowCount);
        const c1 = Math.min(gr.c1, tab.columnCount);
        if (maskTouches(mask, 'userEnteredValue')) {
          const p = cellDataValue(cell, `${where}`);
          for (let r = gr.r0; r < r1; r++) for (let c = gr.c0; c < c1; c++) applyPlanned(tab, r, c, p ?? null);
        }
        if (maskTouches(mask, 'userEnteredFormat.numberFormat')) {
          const nf = numberFormatOf(cell);
          // Ranges without an end follow the grid as it grows (whole columns/rows).
          addRule(tab, { r0: gr.r0, r1: gr.r1, c0: gr.c0, c1: gr.c1, fmt: nf });
        }
        break;
      }
      case 'updateCells': {
        if (typeof body.fields !== 'string' || body.fields.trim() === '') throw fail("At least one field must be specified in 'fields'.");
        const mask = parseMask(body.fields);
        let tab: Tab;
        let r0: number;
        let c0: number;
        let rLim = Infinity;
        let cLim = Infinity;
        if (body.start !== undefined) {
          const st = obj(body.start);
          tab = own(tabById(st.sheetId));
          r0 = int(st.rowIndex) ?? 0;
          c0 = int(st.columnIndex) ?? 0;
        } else {
          const gr = gridRange(obj(body.range));
          tab = own(gr.tab);
          r0 = gr.r0;
          c0 = gr.c0;
          rLim = gr.r1;
          cLim = gr.c1;
        }
        const rows = Array.isArray(body.rows) ? body.rows : [];
        rows.forEach((rowUnknown, ri) => {
          const values = Array.isArray(obj(rowUnknown).values) ? (obj(rowUnknown).values as unknown[]) : [];
          values.forEach((cdUnknown, ci) => {
            const r = r0 + ri;
            const c = c0 + ci;
            if (r >= rLim || c >= cLim) return;
            if (r >= tab.rowCount || c >= tab.columnCount) throw gridError(tab, a1Cells(r, r + 1, c, c + 1), where);
            const cd = obj(cdUnknown);
            if (maskTouches(mask, 'userEnteredValue')) applyPlanned(tab, r, c, cellDataValue(cd, where) ?? null);
            if (maskTouches(mask, 'userEnteredFormat.numberFormat')) {
              const nf = numberFormatOf(cd);
              const old = cellAt(tab, r, c);
              putCell(tab, r, c, nf ? { ...(old?.v !== undefined ? { v: old.v } : {}), f: nf } : old?.v !== undefined ? { v: old.v } : undefined);
            }
          });
        });
        break;
      }
      case 'updateDimensionProperties': {
        const range = obj(body.range);
        const tab = own(tabById(range.sheetId));
        if (typeof body.fields !== 'string' || body.fields.trim() === '') throw fail("At least one field must be specified in 'fields'.");
        const dim = range.dimension;
        if (dim !== 'ROWS' && dim !== 'COLUMNS') throw fail('dimension must be ROWS or COLUMNS');
        const size = dim === 'ROWS' ? tab.rowCount : tab.columnCount;
        const s = int(range.startIndex) ?? 0;
        const e = int(range.endIndex) ?? size;
        if (s < 0 || e <= s) throw fail('Invalid dimension range.');
        if (e > size) throw gridError(tab, dim === 'ROWS' ? `A${s + 1}:${e}` : `${columnLetters(s)}1:${columnLetters(e - 1)}`, where);
        // Only hidden rows are modelled (pixel sizes and hidden columns are accepted and ignored).
        if (dim === 'ROWS' && maskTouches(parseMask(body.fields), 'hiddenByUser')) {
          const hide = obj(body.properties).hiddenByUser === true;
          const set = new Set(tab.hiddenRows.filter((r) => r < s || r >= e));
          if (hide) for (let r = s; r < e; r++) set.add(r);
          tab.hiddenRows = [...set].sort((a, b) => a - b);
        }
        break;
      }
      case 'setBasicFilter': {
        const filter = obj(body.filter);
        const gr = gridRange(obj(filter.range));
        const tab = own(gr.tab);
        const r1 = Math.min(gr.r1, tab.rowCount);
        const c1 = Math.min(gr.c1, tab.columnCount);
        // A sort in the filter sorts the rows under its header row, as "Sort A→Z" in a filter does.
        const specs = (Array.isArray(filter.sortSpecs) ? filter.sortSpecs : []).map((sp) => ({ column: int(obj(sp).dimensionIndex) ?? 0, descending: obj(sp).sortOrder === 'DESCENDING' }));
        if (specs.length > 0) sortRowsOf(tab, draft, gr.r0 + 1, r1, specs);
        // Criteria (filterSpecs[].filterCriteria.hiddenValues) hide rows; they stay where they are.
        const hiddenValues = new Map<number, Set<string>>();
        for (const fs of Array.isArray(filter.filterSpecs) ? filter.filterSpecs : []) {
          const values = obj(obj(fs).filterCriteria).hiddenValues;
          if (Array.isArray(values)) hiddenValues.set(int(obj(fs).columnIndex) ?? 0, new Set(values.map(String)));
        }
        const filteredRows: number[] = [];
        for (let r = gr.r0 + 1; r < Math.min(r1, tab.rows.length); r++) {
          const hit = [...hiddenValues].some(([c, hidden]) => {
            const v = cellAt(tab, r, c)?.v;
            return hidden.has(v === undefined || v === null || isFormula(v) ? '' : String(v));
          });
          if (hit) filteredRows.push(r);
        }
        tab.basicFilter = { r0: gr.r0, r1, c0: gr.c0, c1, filteredRows };
        break;
      }
      case 'clearBasicFilter': {
        const tab = own(tabById(body.sheetId));
        delete tab.basicFilter;
        break;
      }
      case 'createDeveloperMetadata': {
        const m = obj(body.developerMetadata);
        const location = obj(m.location);
        const onSpreadsheet = location.spreadsheet === true;
        if (location.sheetId === undefined && !onSpreadsheet) throw fail('The fake models developer metadata located on a sheet (location.sheetId) or on the spreadsheet (location.spreadsheet) only.');
        const tab = onSpreadsheet ? undefined : own(tabById(location.sheetId));
        if (typeof m.metadataKey !== 'string' || m.metadataKey === '') throw fail('metadataKey is required.');
        if (m.visibility !== 'DOCUMENT' && m.visibility !== 'PROJECT') throw fail('visibility must be DOCUMENT or PROJECT.');
        const all = [...draft.metadata, ...draft.tabs.flatMap((t) => t.metadata)];
        let id = int(m.metadataId);
        if (id !== undefined && (id < 1 || all.some((x) => x.metadataId === id))) throw fail(`Developer metadata with id ${id} already exists or is invalid.`);
        while (id === undefined || all.some((x) => x.metadataId === id)) id = randomInt(1, 2 ** 31 - 1);
        const created: DeveloperMetadata = { metadataId: id, metadataKey: m.metadataKey, ...(typeof m.metadataValue === 'string' ? { metadataValue: m.metadataValue } : {}), visibility: m.visibility };
        if (tab) tab.metadata.push(created);
        else draft.metadata.push(created);
        reply = { createDeveloperMetadata: { developerMetadata: metadataJson(created, tab) } };
        break;
      }
      case 'updateDeveloperMetadata':
      case 'deleteDeveloperMetadata': {
        const filters = kind === 'updateDeveloperMetadata' ? (Array.isArray(body.dataFilters) ? body.dataFilters.map(obj) : []) : [obj(body.dataFilter)];
        const matches = (m: DeveloperMetadata, t: Tab | undefined) =>
          filters.some((f) => {
            const lookup = obj(f.developerMetadataLookup);
            if (Object.keys(lookup).length === 0) return false;
            const where = obj(lookup.metadataLocation);
            return (
              (lookup.metadataId === undefined || int(lookup.metadataId) === m.metadataId) &&
              (lookup.metadataKey === undefined || lookup.metadataKey === m.metadataKey) &&
              (lookup.metadataValue === undefined || lookup.metadataValue === m.metadataValue) &&
              (where.sheetId === undefined || int(where.sheetId) === t?.sheetId) &&
              (where.spreadsheet === undefined || (where.spreadsheet === true) === (t === undefined))
            );
          });
        const hits: Array<{ m: DeveloperMetadata; t: Tab | undefined }> = [
          ...draft.metadata.filter((m) => matches(m, undefined)).map((m) => ({ m, t: undefined })),
          ...draft.tabs.flatMap((t) => t.metadata.filter((m) => matches(m, t)).map((m) => ({ m, t }))),
        ];
        if (kind === 'deleteDeveloperMetadata') {
          for (const { m, t } of hits) {
            if (t) own(t).metadata = t.metadata.filter((x) => x.metadataId !== m.metadataId);
            else draft.metadata = draft.metadata.filter((x) => x.metadataId !== m.metadataId);
          }
          reply = { deleteDeveloperMetadata: { deletedDeveloperMetadata: hits.map(({ m, t }) => metadataJson(m, t)) } };
          break;
        }
        if (typeof body.fields !== 'string' || body.fields.trim() === '') throw fail("At least one field must be specified in 'fields'.");
        if (hits.length === 0) throw fail('No developer metadata matches the given data filters.');
        const mask = parseMask(body.fields);
        const next = obj(body.developerMetadata);
        const updated = hits.map(({ m, t }) => {
          const u: DeveloperMetadata = { ...m };
          if (maskTouches(mask, 'metadataKey') && typeof next.metadataKey === 'string') u.metadataKey = next.metadataKey;
          if (maskTouches(mask, 'metadataValue')) {
            if (typeof next.metadataValue === 'string') u.metadataValue = next.metadataValue;
            else delete u.metadataValue;
          }
          if (maskTouches(mask, 'visibility') && (next.visibility === 'DOCUMENT' || next.visibility === 'PROJECT')) u.visibility = next.visibility;
          if (t) {
            const owner = own(t);
            owner.metadata = owner.metadata.map((x) => (x.metadataId === m.metadataId ? u : x));
          } else draft.metadata = draft.metadata.map((x) => (x.metadataId === m.metadataId ? u : x));
          return metadataJson(u, t);
        });
        reply = { updateDeveloperMetadata: { developerMetadata: updated } };
        break;
      }
      case 'addProtectedRange': {
        const pr = obj(body.protectedRange);
        if (pr.namedRangeId !== undefined) throw fail('The fake models protected ranges over a grid range only.');
        const range = obj(pr.range);
        const tab = own(tabById(range.sheetId));
        const warningOnly = pr.warningOnly === true;
        // Google: "Editors are not supported with warning_only protection."
        if (warningOnly && pr.editors !== undefined) throw fail('Editors are not supported with warning_only protection.');
        const all = draft.tabs.flatMap((t) => t.protectedRanges);
        let id = int(pr.protectedRangeId);
        if (id !== undefined && all.some((x) => x.protectedRangeId === id)) throw fail(`A protected range with id ${id} already exists.`);
        while (id === undefined || all.some((x) => x.protectedRangeId === id)) id = randomInt(1, 2 ** 31 - 1);
        const bounds = Object.fromEntries(['startRowIndex', 'endRowIndex', 'startColumnIndex', 'endColumnIndex'].flatMap((k) => (int(range[k]) !== undefined ? [[k, int(range[k])]] : [])));
        const created: ProtectedRange = { protectedRangeId: id, range: { sheetId: tab.sheetId, ...bounds }, ...(typeof pr.description === 'string' ? { description: pr.description } : {}), warningOnly };
        tab.protectedRanges.push(created);
        reply = { addProtectedRange: { protectedRange: { ...created, requestingUserCanEdit: true } } };
        break;
      }
      case 'deleteProtectedRange': {
        const id = int(body.protectedRangeId);
        const tab = draft.tabs.find((t) => t.protectedRanges.some((r) => r.protectedRangeId === id));
        if (!tab) throw fail(`No protected range with id: ${String(id)}`);
        own(tab).protectedRanges = tab.protectedRanges.filter((r) => r.protectedRangeId !== id);
        break;
      }
      case 'addFilterView': {
        const f = obj(body.filter);
        const range = obj(f.range);
        const tab = own(tabById(range.sheetId));
        const all = draft.tabs.flatMap((t) => t.filterViews);
        let id = int(f.filterViewId);
        if (id !== undefined && all.some((x) => x.filterViewId === id)) throw fail(`A filter view with id ${id} already exists.`);
        while (id === undefined || all.some((x) => x.filterViewId === id)) id = randomInt(1, 2 ** 31 - 1);
        const bounds = Object.fromEntries(['startRowIndex', 'endRowIndex', 'startColumnIndex', 'endColumnIndex'].flatMap((k) => (int(range[k]) !== undefined ? [[k, int(range[k])]] : [])));
        // A filter view's sort and criteria are the viewer's: the sheet's rows stay where they are.
        const created: FilterView = {
          filterViewId: id,
          range: { sheetId: tab.sheetId, ...bounds },
          ...(typeof f.title === 'string' ? { title: f.title } : {}),
          ...(Array.isArray(f.sortSpecs) ? { sortSpecs: f.sortSpecs } : {}),
          ...(Array.isArray(f.filterSpecs) ? { filterSpecs: f.filterSpecs } : {}),
        };
        tab.filterViews.push(created);
        reply = { addFilterView: { filter: created } };
        break;
      }
      case 'deleteFilterView': {
        const id = int(body.filterId);
        const tab = draft.tabs.find((t) => t.filterViews.some((f) => f.filterViewId === id));
        if (!tab) throw fail(`No filter view with id: ${String(id)}`);
        own(tab).filterViews = tab.filterViews.filter((f) => f.filterViewId !== id);
        break;
      }
      case 'sortRange': {
        const gr = gridRange(obj(body.range));
        const tab = own(gr.tab);
        const specs = (Array.isArray(body.sortSpecs) ? body.sortSpecs : []).map((s) => ({
          column: int(obj(s).dimensionIndex) ?? 0,
          descending: obj(s).sortOrder === 'DESCENDING',
        }));
        sortRowsOf(tab, draft, gr.r0, Math.min(gr.r1, tab.rowCount), specs);
        break;
      }
      default:
        throw invalid(`Invalid JSON payload received. Unknown name "${kind}" at 'requests[${i}]': Cannot find field.`);
    }
    if (bookCells(draft) > MAX_CELLS && bookCells(draft) > before) {
      throw fail(`This action would increase the number of cells in the workbook above the limit of ${MAX_CELLS} cells.`);
    }
    replies.push(reply);
  });
  return { draft, replies };
}

function numberFormatOf(cell: Json): NumberFormat | undefined {
  const nf = obj(obj(cell.userEnteredFormat).numberFormat);
  if (typeof nf.type !== 'string') return undefined;
  return typeof nf.pattern === 'string' && nf.pattern !== '' ? { type: nf.type, pattern: nf.pattern } : { type: nf.type };
}

function cellDataValue(cell: Json, where: string): Planned {
  const uev = obj(cell.userEnteredValue);
  if (typeof uev.stringValue === 'string') {
    if (uev.stringValue.length > MAX_CELL_CHARS) throw invalid(`${where}Your input contains more than the maximum of ${MAX_CELL_CHARS} characters in a single cell.`);
    return uev.stringValue === '' ? null : { v: uev.stringValue };
  }
  if (typeof uev.numberValue === 'number') return { v: uev.numberValue };
  if (typeof uev.boolValue === 'boolean') return { v: uev.boolValue };
  if (typeof uev.formulaValue === 'string') return { v: { formula: uev.formulaValue } };
  return null;
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

interface Route {
  kind: RequestKind;
  op: string;
  id?: string;
  range?: string;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function route(method: string, pathname: string): Route | undefined {
  if (pathname === '/token') return method === 'POST' ? { kind: 'token', op: 'token' } : undefined;
  let m = /^\/v4\/spreadsheets\/([^/:]+)\/values:([A-Za-z]+)$/.exec(pathname);
  if (m) {
    const id = decode(m[1]!);
    const op = m[2]!;
    if (op === 'batchGet' && method === 'GET') return { kind: 'values.batchGet', op, id };
    if (op === 'batchUpdate' && method === 'POST') return { kind: 'values.batchUpdate', op: 'valuesBatchUpdate', id };
    if (op === 'batchClear' && method === 'POST') return { kind: 'other', op, id };
    return undefined;
  }
  m = /^\/v4\/spreadsheets\/([^/:]+)\/values\/(.+?)(:append|:clear)?$/.exec(pathname);
  if (m) {
    const id = decode(m[1]!);
    const range = decode(m[2]!);
    if (m[3] === ':append') return method === 'POST' ? { kind: 'values.append', op: 'append', id, range } : undefined;
    if (m[3] === ':clear') return method === 'POST' ? { kind: 'other', op: 'clear', id, range } : undefined;
    if (method === 'GET') return { kind: 'values.get', op: 'valuesGet', id, range };
    if (method === 'PUT') return { kind: 'values.update', op: 'valuesUpdate', id, range };
    return undefined;
  }
  m = /^\/v4\/spreadsheets\/([^/:]+)(:batchUpdate)?$/.exec(pathname);
  if (m) {
    const id = decode(m[1]!);
    if (m[2] && method === 'POST') return { kind: 'batchUpdate', op: 'batchUpdate', id };
    if (!m[2] && method === 'GET') return { kind: 'get', op: 'get', id };
    return undefined;
  }
  if (/^\/v4\/spreadsheets\/?$/.test(pathname) && method === 'POST') return { kind: 'other', op: 'create' };
  return undefined;
}

const READ_KINDS = new Set<RequestKind>(['get', 'values.get', 'values.batchGet']);

interface Answer {
  status: number;
  body: string;
  contentType: string;
  headers: Record<string, string>;
}

/** Google pretty-prints JSON unless the request says prettyPrint=false (see the 'pretty' flag in handle). */
let pretty = true;
function json(status: number, value: unknown, headers: Record<string, string> = {}): Answer {
  return { status, body: pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value), contentType: 'application/json; charset=UTF-8', headers };
}

function errorAnswer(e: ApiError, headers: Record<string, string> = {}): Answer {
  const error: Json = { code: e.code, message: e.message, status: e.status };
  if (e.details) error.details = e.details;
  return json(e.code, { error }, headers);
}

function faultAnswer(f: FaultSpec, kind: RequestKind): Answer {
  const headers: Record<string, string> = {};
  if (f.retryAfter !== undefined) headers['Retry-After'] = String(f.retryAfter);
  if (typeof f.body === 'string') return { status: f.status, body: f.body, contentType: 'text/html; charset=UTF-8', headers };
  if (f.body !== undefined) return json(f.status, f.body, headers);
  if (f.status === 502) {
    const html = '<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 502 (Server Error)!!1</title>\n  <p><b>502.</b> <ins>That’s an error.</ins>\n  <p>The server encountered a temporary error and could not complete your request.<p>Please try again in 30 seconds.  <ins>That’s all we know.</ins>\n';
    return { status: 502, body: html, contentType: 'text/html; charset=UTF-8', headers };
  }
  if (f.status === 429) {
    const q = quotaError(!READ_KINDS.has(kind));
    return errorAnswer(f.message ? new ApiError(429, q.status, f.message, q.details) : q, headers);
  }
  const [status, message] = STATUS_NAMES[f.status] ?? ['UNKNOWN', 'Unknown error.'];
  return errorAnswer(new ApiError(f.status, status, f.message ?? message), headers);
}

function tokenError(error: string, description: string): Answer {
  return json(400, { error, error_description: description });
}

interface TokenInfo {
  expiresAt: number;
  scopes?: string[];
}

export async function startFakeSheets(options: FakeSheetsOptions = {}): Promise<FakeSheets> {
  const keepBodies = options.keepBodies ?? true;
  const ttl = options.tokenTtlSeconds ?? 3600;
  const books = new Map<string, Book>();
  const tokens = new Map<string, TokenInfo>();
  const accounts = new Map<string, KeyObject>();
  const faults: Array<{ spec: FaultSpec; left: number }> = [];
  const requests: RecordedRequest[] = [];
  const writes: WrittenRange[] = [];
  let quota: QuotaSpec | undefined;
  const quotaHits = { read: [] as number[], write: [] as number[] };
  let latency: number | ((req: FaultMatchInfo) => number) = 0;
  let tokenUrl = '';
  const limits: FakeLimits = { maxColumns: MAX_COLUMNS, maxCells: MAX_CELLS, ...options.limits };

  const book = (id: string): Book => {
    const b = books.get(id);
    if (!b) throw new Error(`fake-sheets: no spreadsheet ${id}`);
    return b;
  };
  const tabOf = (id: string, title: string): Tab => {
    const t = book(id).tabs.find((x) => x.title === title);
    if (!t) throw new Error(`fake-sheets: no tab ${title} in ${id}`);
    return t;
  };

  function readOpts(q: URLSearchParams): ReadOpts {
    const render = (q.get('valueRenderOption') ?? 'FORMATTED_VALUE') as RenderOption;
    if (!['FORMATTED_VALUE', 'UNFORMATTED_VALUE', 'FORMULA'].includes(render)) throw invalid(`Invalid value at 'value_render_option' (type.googleapis.com/google.apps.sheets.v4.ValueRenderOption), "${render}"`);
    const dates = q.get('dateTimeRenderOption') === 'FORMATTED_STRING' ? 'FORMATTED_STRING' : 'SERIAL_NUMBER';
    const major = q.get('majorDimension') === 'COLUMNS' ? 'COLUMNS' : 'ROWS';
    return { render, dates, major };
  }
  function inputOption(v: unknown): 'RAW' | 'USER_ENTERED' {
    if (v === undefined || v === null || v === '' || v === 'INPUT_VALUE_OPTION_UNSPECIFIED') throw invalid("'valueInputOption' is required but not specified");
    if (v !== 'RAW' && v !== 'USER_ENTERED') throw invalid(`Invalid value at 'value_input_option' (type.googleapis.com/google.apps.sheets.v4.ValueInputOption), "${String(v)}"`);
    return v;
  }

  function handleToken(form: URLSearchParams): Answer {
    const grant = form.get('grant_type');
    if (grant !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return json(400, { error: 'unsupported_grant_type', error_description: `Invalid grant_type: ${grant ?? ''}` });
    const assertion = form.get('assertion') ?? '';
    const parts = assertion.split('.');
    if (parts.length !== 3) return tokenError('invalid_grant', 'Invalid JWT: malformed assertion.');
    const [h, p, s] = parts as [string, string, string];
    let header: Json;
    let claims: Json;
    try {
      header = obj(JSON.parse(Buffer.from(h, 'base64url').toString('utf8')));
      claims = obj(JSON.parse(Buffer.from(p, 'base64url').toString('utf8')));
    } catch {
      return tokenError('invalid_grant', 'Invalid JWT: malformed assertion.');
    }
    if (header.alg !== 'RS256') return tokenError('invalid_grant', 'Invalid JWT Signature.');
    const key = typeof claims.iss === 'string' ? accounts.get(claims.iss) : undefined;
    if (!key) return tokenError('invalid_grant', 'Invalid grant: account not found');
    if (!verifySignature('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))) return tokenError('invalid_grant', 'Invalid JWT Signature.');
    if (claims.aud !== GOOGLE_TOKEN_URL && claims.aud !== tokenUrl) return tokenError('invalid_grant', `Invalid JWT: Failed audience check. The right audience is ${GOOGLE_TOKEN_URL}`);
    const now = Date.now() / 1000;
    const exp = typeof claims.exp === 'number' ? claims.exp : 0;
    const iat = typeof claims.iat === 'number' ? claims.iat : now;
    if (exp <= now || iat > now + 300 || exp - iat > 3600) {
      return tokenError('invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
    }
    const scope = typeof claims.scope === 'string' ? claims.scope.trim() : '';
    if (!scope) return tokenError('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    const token = `ya29.fake-${randomBytes(24).toString('base64url')}`;
    tokens.set(token, { expiresAt: Date.now() + ttl * 1000, scopes: scope.split(/\s+/) });
    return json(200, { access_token: token, expires_in: ttl, token_type: 'Bearer' });
  }

  function checkAuth(req: IncomingMessage, write: boolean): { error?: ApiError; token?: string } {
    const h = req.headers.authorization;
    if (!h) return { error: new ApiError(403, 'PERMISSION_DENIED', 'The request is missing a valid API key.') };
    const m = /^Bearer\s+(.+)$/i.exec(h);
    const token = m?.[1]?.trim();
    const info = token ? tokens.get(token) : undefined;
    const unauth = new ApiError(401, 'UNAUTHENTICATED', STATUS_NAMES[401]![1], [
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'ACCESS_TOKEN_TYPE_UNSUPPORTED', domain: 'googleapis.com', metadata: { service: 'sheets.googleapis.com', method: 'google.apps.sheets.v4.SpreadsheetsService' } },
    ]);
    if (!token || !info || info.expiresAt <= Date.now()) return { error: unauth, ...(token ? { token } : {}) };
    if (info.scopes && !info.scopes.some((s) => SCOPE_RW.includes(s) || (!write && SCOPE_RO.includes(s)))) {
      return {
        token,
        error: new ApiError(403, 'PERMISSION_DENIED', 'Request had insufficient authentication scopes.', [
          { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT', domain: 'googleapis.com', metadata: { service: 'sheets.googleapis.com' } },
        ]),
      };
    }
    return { token };
  }

  function quotaCheck(kind: RequestKind): Answer | undefined {
    if (!quota) return undefined;
    const write = !READ_KINDS.has(kind);
    const limit = write ? quota.writesPerMinute : quota.readsPerMinute;
    if (limit === undefined) return undefined;
    const hits = write ? quotaHits.write : quotaHits.read;
    const now = Date.now();
    while (hits.length && hits[0]! <= now - 60_000) hits.shift();
    if (hits.length >= limit) return errorAnswer(quotaError(write), quota.retryAfter !== undefined ? { 'Retry-After': String(quota.retryAfter) } : {});
    hits.push(now);
    return undefined;
  }

  function api(rt: Route, q: URLSearchParams, body: Json): Answer {
    if (rt.op === 'create') {
      let id = randomBytes(22).toString('base64url');
      while (books.has(id)) id = randomBytes(22).toString('base64url');
      const p = obj(body.properties);
      const b: Book = { id, title: typeof p.title === 'string' ? p.title : 'Untitled spreadsheet', timeZone: typeof p.timeZone === 'string' ? p.timeZone : 'Etc/GMT', locale: 'en_US', tabs: [], forbidden: false, metadata: [] };
      const sheetsIn = Array.isArray(body.sheets) ? body.sheets : [];
      if (sheetsIn.length === 0) b.tabs.push(newTab(0, 'Sheet1'));
      else {
        const { draft } = runBatchUpdate(b, sheetsIn.map((s) => ({ addSheet: { properties: obj(obj(s).properties) } })), limits);
        b.tabs = draft.tabs;
      }
      books.set(id, b);
      return json(200, spreadsheetJson(b));
    }
    const b = books.get(rt.id!);
    if (!b) throw new ApiError(404, 'NOT_FOUND', 'Requested entity was not found.');
    if (b.forbidden) throw new ApiError(403, 'PERMISSION_DENIED', 'The caller does not have permission');
    switch (rt.op) {
      case 'get':
        return json(200, spreadsheetJson(b));
      case 'batchUpdate': {
        const reqs = body.requests;
        if (!Array.isArray(reqs) || reqs.length === 0) throw invalid('Must specify at least one request.');
        const { draft, replies } = runBatchUpdate(b, reqs, limits);
        b.tabs = draft.tabs;
        b.title = draft.title;
        b.timeZone = draft.timeZone;
        b.locale = draft.locale;
        b.metadata = draft.metadata;
        const out: Json = { spreadsheetId: b.id, replies };
        if (body.includeSpreadsheetInResponse === true) out.updatedSpreadsheet = spreadsheetJson(b);
        return json(200, out);
      }
      case 'valuesGet': {
        const opts = readOpts(q);
        const rng = parseRange(b, rt.range!);
        checkGrid(rng);
        return json(200, readRange(b, rng, opts));
      }
      case 'batchGet': {
        const opts = readOpts(q);
        const ranges = q.getAll('ranges');
        const rngs = ranges.map((r) => parseRange(b, r));
        rngs.forEach((r) => checkGrid(r));
        return json(200, { spreadsheetId: b.id, valueRanges: rngs.map((r) => readRange(b, r, opts)) });
      }
      case 'valuesUpdate': {
        const option = inputOption(q.get('valueInputOption') ?? undefined);
        const plan = planWrite(b, rt.range!, body, option, '', '');
        const include = q.get('includeValuesInResponse') === 'true' ? { ...readOpts(new URLSearchParams({ valueRenderOption: q.get('responseValueRenderOption') ?? 'FORMATTED_VALUE', dateTimeRenderOption: q.get('responseDateTimeRenderOption') ?? 'SERIAL_NUMBER' })) } : undefined;
        logWrite(b, plan, 'values.update');
        return json(200, applyWrite(b, plan, include));
      }
      case 'valuesBatchUpdate': {
        const option = inputOption(body.valueInputOption);
        const data = Array.isArray(body.data) ? body.data : [];
        const plans = data.map((d, i) => {
          const vr = obj(d);
          if (typeof vr.range !== 'string') throw invalid(`Invalid data[${i}]: Unable to parse range: `);
          return planWrite(b, vr.range, vr, option, `Invalid data[${i}]: `, `data[${i}].`);
        });
        const include =
          body.includeValuesInResponse === true
            ? readOpts(new URLSearchParams({ valueRenderOption: typeof body.responseValueRenderOption === 'string' ? body.responseValueRenderOption : 'FORMATTED_VALUE', dateTimeRenderOption: typeof body.responseDateTimeRenderOption === 'string' ? body.responseDateTimeRenderOption : 'SERIAL_NUMBER' }))
            : undefined;
        const responses = plans.map((p) => {
          logWrite(b, p, 'values.batchUpdate');
          return applyWrite(b, p, include);
        });
        const out: Json = { spreadsheetId: b.id };
        const sum = (k: 'updatedRows' | 'updatedColumns' | 'updatedCells'): number => responses.reduce((a, r) => a + (r[k] ?? 0), 0);
        if (sum('updatedRows')) out.totalUpdatedRows = sum('updatedRows');
        if (sum('updatedColumns')) out.totalUpdatedColumns = sum('updatedColumns');
        if (sum('updatedCells')) out.totalUpdatedCells = sum('updatedCells');
        const sheetsTouched = new Set(plans.filter((_, i) => responses[i]!.updatedCells).map((p) => p.rng.tab.sheetId));
        if (sheetsTouched.size) out.totalUpdatedSheets = sheetsTouched.size;
        if (responses.length) out.responses = responses;
        return json(200, out);
      }
      case 'append':
        return json(200, append(b, rt.range!, q, body));
      case 'clear': {
        const rng = parseRange(b, rt.range!);
        checkGrid(rng);
        clearRange(rng, b);
        return json(200, { spreadsheetId: b.id, clearedRange: echoRange(rng) });
      }
      case 'batchClear': {
        const ranges = Array.isArray(body.ranges) ? body.ranges.map(String) : [];
        const rngs = ranges.map((r, i) => {
          try {
            const rng = parseRange(b, r);
            checkGrid(rng);
            return rng;
          } catch (e) {
            if (e instanceof ApiError) throw invalid(`Invalid range[${i}]: ${e.message}`);
            throw e;
          }
        });
        rngs.forEach((r) => clearRange(r, b));
        return json(200, { spreadsheetId: b.id, clearedRanges: rngs.map(echoRange) });
      }
      default:
        throw new ApiError(404, 'NOT_FOUND', 'Method not found.');
    }
  }

  /** A write plan's rectangle, in the write log. */
  function logWrite(b: Book, plan: WritePlan, kind: RequestKind): void {
    if (plan.nRows === 0 || plan.nCols === 0) return;
    writes.push({ spreadsheetId: b.id, title: plan.rng.tab.title, r0: plan.r0, r1: plan.r0 + plan.nRows - 1, c0: plan.c0, c1: plan.c0 + plan.nCols - 1, kind });
  }

  function clearRange(rng: Rng, b?: Book): void {
    const { tab } = rng;
    if (b) writes.push({ spreadsheetId: b.id, title: tab.title, r0: rng.r0, r1: Math.min(rng.r1 ?? tab.rowCount, tab.rowCount) - 1, c0: rng.c0, c1: Math.min(rng.c1 ?? tab.columnCount, tab.columnCount) - 1, kind: 'other' });
    const rEnd = Math.min(rng.r1 ?? tab.rowCount, tab.rows.length);
    for (let r = rng.r0; r < rEnd; r++) {
      const row = tab.rows[r];
      if (!row) continue;
      const cEnd = Math.min(rng.c1 ?? tab.columnCount, row.length);
      for (let c = rng.c0; c < cEnd; c++) applyPlanned(tab, r, c, null);
    }
  }

  /** values.append: find the "table" (first non-empty row at/below the range top, through the last row before a gap) and write after it. */
  function append(b: Book, range: string, q: URLSearchParams, body: Json): Json {
    const option = inputOption(q.get('valueInputOption') ?? undefined);
    const insert = q.get('insertDataOption') === 'INSERT_ROWS';
    const rng = parseRange(b, range);
    checkGrid(rng);
    const { tab } = rng;
    // A single cell ('Sheet1!A1') only says where the search starts.
    const cLim = rng.single ? tab.columnCount : Math.min(rng.c1 ?? tab.columnCount, tab.columnCount);
    const rLim = rng.single ? tab.rowCount : Math.min(rng.r1 ?? tab.rowCount, tab.rowCount);
    const rowHas = (r: number): boolean => {
      const row = tab.rows[r];
      if (!row) return false;
      for (let c = rng.c0; c < Math.min(cLim, row.length); c++) if (hasValue(row[c])) return true;
      return false;
    };
    let first = -1;
    for (let r = rng.r0; r < Math.min(rLim, tab.rows.length); r++) {
      if (rowHas(r)) {
        first = r;
        break;
      }
    }
    let last = first;
    while (last >= 0 && last + 1 < tab.rows.length && rowHas(last + 1)) last++;
    let tableC0 = rng.c0;
    let tableC1 = rng.c0;
    if (first >= 0) {
      tableC0 = Infinity;
      for (let r = first; r <= last; r++) {
        const row = tab.rows[r]!;
        for (let c = rng.c0; c < Math.min(cLim, row.length); c++) {
          if (hasValue(row[c])) {
            tableC0 = Math.min(tableC0, c);
            tableC1 = Math.max(tableC1, c + 1);
          }
        }
      }
    }
    const targetRow = first >= 0 ? last + 1 : rng.r0;
    const targetCol = first >= 0 ? tableC0 : rng.c0;
    // Plan against a copy grown as needed; append grows the grid rather than refusing.
    const values = Array.isArray(body.values) ? (body.values as unknown[]) : [];
    const nRows = values.length;
    const nCols = Math.max(0, ...values.map((r) => (Array.isArray(r) ? r.length : 0)));
    const grid = values.map((row, r) => (Array.isArray(row) ? row : []).map((v, c) => planValue(v, option, `values[${r}][${c}]`)));
    const growRows = insert ? nRows : Math.max(0, targetRow + nRows - tab.rowCount);
    const growCols = Math.max(0, targetCol + nCols - tab.columnCount);
    const after = bookCells(b) - tab.rowCount * tab.columnCount + (tab.rowCount + growRows) * (tab.columnCount + growCols);
    if (after > limits.maxCells) throw invalid(`This action would increase the number of cells in the workbook above the limit of ${limits.maxCells} cells.`);
    if (tab.columnCount + growCols > limits.maxColumns) throw invalid(`This action would increase the number of columns in the sheet above the limit of ${limits.maxColumns}.`);
    if (insert && nRows) insertDim(tab, 'ROWS', targetRow, nRows);
    else tab.rowCount += growRows;
    tab.columnCount += growCols;
    const plan: WritePlan = { rng: { tab, r0: targetRow, c0: targetCol, single: true }, r0: targetRow, c0: targetCol, grid, nRows, nCols };
    const include = q.get('includeValuesInResponse') === 'true' ? readOpts(new URLSearchParams({ valueRenderOption: q.get('responseValueRenderOption') ?? 'FORMATTED_VALUE' })) : undefined;
    logWrite(b, plan, 'values.append');
    const updates = applyWrite(b, plan, include);
    const out: Json = { spreadsheetId: b.id };
    if (first >= 0) out.tableRange = `${quoteTitle(tab.title)}!${a1Cells(first, last + 1, tableC0, Math.max(tableC1, tableC0 + 1))}`;
    out.updates = updates;
    return out;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const t0 = performance.now();
    const chunks: Buffer[] = [];
    for await (const ch of req) chunks.push(ch as Buffer);
    const raw = Buffer.concat(chunks);
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const rt = route(method, url.pathname);
    const kind: RequestKind = rt?.kind ?? 'other';
    const info: FaultMatchInfo = { method, path: decode(url.pathname), kind, ranges: [], body: {} };
    const query: Record<string, string | string[]> = {};
    for (const k of new Set(url.searchParams.keys())) {
      const all = url.searchParams.getAll(k);
      query[k] = all.length > 1 ? all : all[0]!;
    }
    const rec: RecordedRequest = { method, path: info.path, rawUrl: req.url ?? '/', kind, bytesIn: raw.length, bytesOut: 0, status: 0, at, ms: 0, query };
    if (rt?.id !== undefined) rec.spreadsheetId = rt.id;

    let bodyJson: Json = {};
    let form: URLSearchParams | undefined;
    let parseError: ApiError | undefined;
    if (kind === 'token') {
      form = new URLSearchParams(raw.toString('utf8'));
      if (keepBodies) rec.body = Object.fromEntries(form);
    } else if (raw.length) {
      try {
        bodyJson = obj(JSON.parse(raw.toString('utf8')));
        if (keepBodies) rec.body = bodyJson;
      } catch {
        parseError = invalid('Invalid JSON payload received. Unexpected token.');
      }
    }
    const ranges: string[] = [];
    if (rt?.range !== undefined) ranges.push(rt.range);
    ranges.push(...url.searchParams.getAll('ranges'));
    if (Array.isArray(bodyJson.data)) for (const d of bodyJson.data) if (typeof obj(d).range === 'string') ranges.push(obj(d).range as string);
    if (Array.isArray(bodyJson.ranges)) for (const r of bodyJson.ranges) if (typeof r === 'string') ranges.push(r);
    if (ranges.length) rec.ranges = ranges;
    info.ranges = ranges;
    info.body = bodyJson;

    pretty = url.searchParams.get('prettyPrint') !== 'false';
    let answer: Answer | undefined;
    let destroy = false;
    let delay = typeof latency === 'function' ? latency(info) : latency;
    try {
      if (!rt) {
        answer = errorAnswer(new ApiError(404, 'NOT_FOUND', `Method not found: ${method} ${url.pathname}`));
      } else {
        if (kind !== 'token') {
          const auth = checkAuth(req, !READ_KINDS.has(kind));
          if (auth.error) answer = errorAnswer(auth.error, auth.error.code === 401 ? { 'WWW-Authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' } : {});
        }
        let fault: FaultSpec | undefined;
        if (!answer) {
          const idx = faults.findIndex((f) => f.left > 0 && (f.spec.match ? f.spec.match(info) : kind !== 'token'));
          if (idx >= 0) {
            const f = faults[idx]!;
            f.left--;
            if (f.left <= 0) faults.splice(idx, 1);
            fault = f.spec;
            rec.faulted = true;
            delay += fault.delayMs ?? 0;
          }
        }
        // A 2xx "fault" without a body only delays the real answer (slow server).
        const passThrough = fault !== undefined && fault.status < 300 && !fault.destroy && fault.body === undefined;
        if (!answer && fault && !fault.afterApply && !passThrough) {
          if (fault.destroy) destroy = true;
          else answer = faultAnswer(fault, kind);
        }
        if (!answer && !destroy && kind !== 'token') {
          const qa = quotaCheck(kind);
          if (qa) {
            answer = qa;
            rec.faulted = true;
          }
        }
        if (!answer && !destroy) {
          if (parseError) throw parseError;
          if (kind === 'token') answer = handleToken(form!);
          else answer = api(rt, url.searchParams, bodyJson);
          if (fault?.afterApply && !passThrough) {
            if (fault.destroy) destroy = true;
            else answer = faultAnswer(fault, kind);
          }
        }
      }
    } catch (e) {
      answer = e instanceof ApiError ? errorAnswer(e) : errorAnswer(new ApiError(500, 'INTERNAL', `Internal error encountered. (fake: ${(e as Error).stack ?? String(e)})`));
    }
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    rec.ms = performance.now() - t0;
    if (destroy || !answer) {
      requests.push(rec);
      req.socket.destroy();
      return;
    }
    const buf = Buffer.from(answer.body, 'utf8');
    rec.status = answer.status;
    rec.bytesOut = buf.length;
    requests.push(rec);
    res.writeHead(answer.status, { 'Content-Type': answer.contentType, 'Content-Length': String(buf.length), ...answer.headers });
    res.end(buf);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(String(e));
      }
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}/`;
  tokenUrl = `${base}token`;

  const fake: FakeSheets = {
    url: base,
    tokenUrl,
    requests,
    writes,
    createSpreadsheet(id, opts = {}) {
      if (books.has(id)) throw new Error(`fake-sheets: spreadsheet ${id} exists`);
      const b: Book = { id, title: opts.title ?? 'Untitled spreadsheet', timeZone: opts.timeZone ?? 'Etc/GMT', locale: 'en_US', tabs: [], forbidden: false, metadata: [] };
      if (opts.defaultSheet) b.tabs.push(newTab(0, 'Sheet1'));
      books.set(id, b);
    },
    allowToken(token) {
      tokens.set(token, { expiresAt: Infinity });
    },
    revokeToken(token) {
      tokens.delete(token);
    },
    addServiceAccount(email, publicKeyPem) {
      accounts.set(email, createPublicKey(publicKeyPem));
    },
    setForbidden(id, forbidden) {
      book(id).forbidden = forbidden;
    },
    injectFault(f) {
      if (f.count === 0) {
        // count 0 cancels what is still queued with that status.
        for (let i = faults.length - 1; i >= 0; i--) if (faults[i]!.spec.status === f.status) faults.splice(i, 1);
        return;
      }
      faults.push({ spec: f, left: f.count ?? 1 });
    },
    clearFaults() {
      faults.length = 0;
    },
    setQuota(q) {
      quota = q;
      quotaHits.read.length = 0;
      quotaHits.write.length = 0;
    },
    setLatency(ms) {
      latency = ms;
    },
    setLimits(l) {
      Object.assign(limits, l);
      return { ...limits };
    },
    resetRequests() {
      requests.length = 0;
      writes.length = 0;
    },
    writtenRows(id, title) {
      const rows = new Set<number>();
      for (const w of writes) if (w.spreadsheetId === id && w.title === title) for (let r = w.r0; r <= w.r1; r++) rows.add(r);
      return [...rows].sort((a, b) => a - b);
    },
    setTimeZone(id, timeZone) {
      book(id).timeZone = timeZone;
    },
    tab(id, title) {
      const b = books.get(id);
      const index = b?.tabs.findIndex((x) => x.title === title) ?? -1;
      const t = b?.tabs[index];
      if (!b || !t) return undefined;
      const last = lastValueRow(t);
      const values: CellValue[][] = [];
      let width = 0;
      for (let r = 0; r <= last; r++) {
        const row = t.rows[r] ?? [];
        let end = row.length;
        while (end > 0 && !hasValue(row[end - 1])) end--;
        const out: CellValue[] = [];
        for (let c = 0; c < end; c++) {
          const v = row[c]?.v;
          out.push(v === undefined ? null : isFormula(v) ? { formula: v.formula } : v);
        }
        width = Math.max(width, end);
        values.push(out);
      }
      const formats: (NumberFormat | undefined)[][] = [];
      for (let r = 0; r <= last; r++) {
        const out: (NumberFormat | undefined)[] = [];
        for (let c = 0; c < width; c++) out.push(effectiveFormat(t, r, c));
        formats.push(out);
      }
      const filter = t.basicFilter ? { basicFilter: { ...t.basicFilter, filteredRows: [...t.basicFilter.filteredRows] } } : {};
      return { sheetId: t.sheetId, index, rowCount: t.rowCount, columnCount: t.columnCount, frozenRowCount: t.frozenRowCount, frozenColumnCount: t.frozenColumnCount, values, formats, hiddenRows: [...t.hiddenRows], developerMetadata: t.metadata.map((m) => ({ ...m })), protectedRanges: t.protectedRanges.map((r) => ({ ...r, range: { ...r.range } })), filterViews: t.filterViews.map((f) => ({ ...f, range: { ...f.range } })), ...filter };
    },
    tabs(id) {
      return book(id).tabs.map((t) => t.title);
    },
    cellFormat(id, title, a1) {
      const part = parseCellsPart(a1);
      if (!part) throw new Error(`fake-sheets: bad cell ${a1}`);
      return effectiveFormat(tabOf(id, title), part.r0, part.c0);
    },
    setCells(id, title, a1, values) {
      const t = tabOf(id, title);
      const bang = a1.lastIndexOf('!');
      if (bang >= 0) {
        // A sheet-qualified range ('Tab name'!B2) must name the same tab.
        const named = parseRange(book(id), `${a1.slice(0, bang)}!A1`).tab;
        if (named !== t) throw new Error(`fake-sheets: ${a1} does not name the tab ${title}`);
        a1 = a1.slice(bang + 1);
      }
      const part = parseCellsPart(a1);
      if (!part) throw new Error(`fake-sheets: bad range ${a1}`);
      const nRows = values.length;
      const nCols = Math.max(0, ...values.map((r) => r.length));
      const rEnd = part.single ? part.r0 + nRows : (part.r1 ?? t.rowCount);
      const cEnd = part.single ? part.c0 + nCols : (part.c1 ?? t.columnCount);
      if (part.r0 + nRows > rEnd || part.c0 + nCols > cEnd) throw new Error(`fake-sheets: values do not fit ${a1}`);
      if (rEnd > t.rowCount || cEnd > t.columnCount) {
        // The analyst adds the rows/columns first ("Add more rows at bottom"), then types.
        const rows = Math.max(t.rowCount, rEnd);
        const cols = Math.max(t.columnCount, cEnd);
        if (bookCells(book(id)) - t.rowCount * t.columnCount + rows * cols > limits.maxCells) throw new Error(`fake-sheets: ${a1} would pass the 10,000,000-cell limit`);
        t.rowCount = rows;
        t.columnCount = cols;
      }
      values.forEach((row, i) =>
        row.forEach((v, j) => {
          const p: Planned = v === null || v === '' ? null : { v: isFormula(v) ? { formula: v.formula } : v };
          applyPlanned(t, part.r0 + i, part.c0 + j, p);
        }),
      );
    },
    insertRows(id, title, at, count) {
      const b = book(id);
      const t = tabOf(id, title);
      if (at < 0 || at > t.rowCount || count < 1) throw new Error('fake-sheets: bad insertRows');
      if (bookCells(b) + count * t.columnCount > limits.maxCells) throw new Error('fake-sheets: would pass the 10,000,000-cell limit');
      insertDim(t, 'ROWS', at, count);
    },
    deleteRows(id, title, at, count) {
      const t = tabOf(id, title);
      if (at < 0 || count < 1 || at + count > t.rowCount || count >= t.rowCount) throw new Error('fake-sheets: bad deleteRows');
      deleteDim(t, 'ROWS', at, at + count);
    },
    sortRows(id, title, opts) {
      const b = book(id);
      const t = tabOf(id, title);
      sortRowsOf(t, b, opts.startRow, opts.endRow ?? lastValueRow(t) + 1, [{ column: opts.column, descending: opts.descending ?? false }]);
    },
    renameTab(id, title, newTitle) {
      const b = book(id);
      const t = tabOf(id, title);
      if (b.tabs.some((x) => x !== t && x.title.toLowerCase() === newTitle.toLowerCase())) throw new Error(`fake-sheets: a tab ${newTitle} exists`);
      t.title = newTitle;
    },
    deleteTab(id, title) {
      const b = book(id);
      const t = tabOf(id, title);
      b.tabs = b.tabs.filter((x) => x !== t);
    },
    totalCells(id) {
      return bookCells(book(id));
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
