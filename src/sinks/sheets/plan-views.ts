import type { sheets_v4 } from '@googleapis/sheets';
import type { Cell } from '../../model/cells.js';
import { MAX_VIEW_COLUMNS } from '../../model/columns.js';
import type { DeliveryReceipt, KeyedDelivery, LogDelivery, ViewDelivery } from '../../model/sync.js';
import { VIEW_DEFS, type KeyedViewName } from '../../model/views.js';
import { a1, quoteSheet } from './a1.js';
import type { Anchor } from './anchors.js';
import type { SheetCell } from './cells.js';
import { sameList } from '../../lib/text.js';
import { sameZone } from './zones.js';

/** What the target remembers per view, committed with the cursor. */
export interface SheetViewState {
  sheetId: number;
  /** 0-based index of the next row to write (row 0 is the header). */
  nextRow: number;
  header: string[];
  /**
   * Rows we wrote, by position and hash (see anchors.ts): the first data row,
   * the last row of the latest syncs, and older ones thinned to stay spread
   * over the tab (at most MAX_ANCHORS). Each is read back before the next
   * write and must still be there: a sort, or rows inserted or deleted above,
   * moves them. Absent in states written before anchors existed.
   */
  anchors?: Anchor[];
  /**
   * States written before anchors existed: the last data row as written, to
   * check that nobody moved it. Not written any more (the last row is an anchor).
   */
  last?: SheetCell[] | null;
  /**
   * Rows of the grid that carry our date-time formats. Rows past it (added by
   * someone else: an analyst, or a sync that lost its lock and whose growth
   * landed late) get them before rows are written there. Absent in states
   * written before it existed: the whole grid counts as formatted.
   */
  formattedRows?: number;
  /**
   * Keyed views: the epoch their row positions belong to (KeyedDelivery.epoch).
   * Another epoch (or none: a state from before keyed views) means the tab
   * is rewritten whole.
   */
  epoch?: string;
  /**
   * The rewrite the tab's rows come from: the `rewrite` of the marker (see
   * TabMarker) that the sync which last wrote every row of the tab set before
   * writing. Absent: none since (or a state from before markers).
   */
  rewrite?: string;
  /**
   * The zone the tab's date-time cells hold the wall clock of
   * (REPORT_TIMEZONE when they were written). Absent: UTC (states from before
   * the setting). When REPORT_TIMEZONE changes, the tab's rows are written
   * again in the new zone, so that a tab never mixes two wall clocks.
   */
  timeZone?: string;
}

/** The developer metadata key of the marker ember-sync keeps on each of its tabs. */
export const MARKER_KEY = 'ember-sync';

/**
 * What a sync that writes every row of a tab (a new tab, an adopted one, a
 * rewrite for a new epoch or a new REPORT_TIMEZONE) announces on the tab
 * before it writes them, as developer metadata (invisible to analysts, read
 * with the spreadsheet's metadata at no cost). When its cursor commit follows,
 * the state records the same `rewrite`. A marker that differs from the state
 * tells the next sync that a sync died in the middle of such a rewrite — its
 * rows may be in another zone or epoch than the state says, down to row
 * `rows` — so it rewrites the tab again instead of trusting the state.
 */
export interface TabMarker {
  /** The developer metadata's id. */
  id: number;
  /** A new random id per rewrite. */
  rewrite: string;
  /** REPORT_TIMEZONE of that rewrite. */
  zone: string;
  /** The last row (0-based) it writes. */
  rows: number;
}

/** A tab as the spreadsheet metadata describes it. */
export interface Tab {
  sheetId: number;
  rowCount: number;
  columnCount: number;
  /** Its place among the tabs (0: first). */
  index?: number;
  marker?: TabMarker;
  /** It carries a warning-only protected range (set by ember-sync on the tabs it syncs). */
  protectedWarning?: boolean;
}

/**
 * A tab's title. The pipeline works tab by tab: with SHEETS_PARTITION=none a
 * tab is named as its view; with `month`, a view has a tab per month
 * (`<view> <yyyy-mm>`), each planned, checked and written on its own.
 */
export type TabTitle = string;

/** A delivery aimed at one tab: a view's rows (or one month of them) and the tab's title (the view's name when absent). */
export type TabOf<D extends ViewDelivery> = D & { tab?: TabTitle };
export type TabDelivery = TabOf<LogDelivery> | TabOf<KeyedDelivery>;

/** The title of the tab a delivery goes to. */
export const titleOf = (d: TabOf<ViewDelivery>): TabTitle => d.tab ?? d.view;

/** What a sync did with one tab (`view`: its title). */
export type TabOutcome = { view: TabTitle; ok: true; receipt: DeliveryReceipt } | { view: TabTitle; ok: false; error: string };

/** The marker of a tab, from its developer metadata (undefined when absent or unreadable). */
function markerOf(meta: readonly sheets_v4.Schema$DeveloperMetadata[] | undefined): TabMarker | undefined {
  const m = meta?.find((x) => x.metadataKey === MARKER_KEY);
  if (!m || typeof m.metadataId !== 'number' || typeof m.metadataValue !== 'string') return undefined;
  try {
    const v = JSON.parse(m.metadataValue) as Partial<TabMarker>;
    if (typeof v.rewrite !== 'string' || typeof v.zone !== 'string' || typeof v.rows !== 'number') return undefined;
    return { id: m.metadataId, rewrite: v.rewrite, zone: v.zone, rows: v.rows };
  } catch {
    return undefined;
  }
}

/** The value of a marker. */
export const markerValue = (m: Omit<TabMarker, 'id'>): string => JSON.stringify({ rewrite: m.rewrite, zone: m.zone, rows: m.rows });

export interface SpreadsheetTabs {
  /** By title. */
  tabs: Map<string, Tab>;
  /** Cells of every tab (what Google's 10,000,000-cell limit counts). */
  cells: number;
  /** The spreadsheet's own time zone (File → Settings), when the metadata says. */
  timeZone?: string;
  /** Month tabs up to this month (`yyyy-mm`) were dropped per SHEETS_KEEP_MONTHS (see keep-months.ts). */
  droppedThrough?: { month: string; id: number };
}

/** The description of the warning-only protected range on each synced tab (how ember-sync recognises its own). */
export const PROTECTION_DESCRIPTION = 'ember-sync writes this tab: edits, sorts and new rows here are overwritten by the next sync (SHEETS_ON_CONFLICT). Use a filter view, or copy the data to a tab of your own.';

/** The spreadsheet-level developer metadata that records the month tabs dropped (survives a sync that dies before its cursor commit). */
export const DROPPED_KEY = 'ember-sync-dropped-through';

function droppedThroughOf(meta: readonly sheets_v4.Schema$DeveloperMetadata[] | undefined): { month: string; id: number } | undefined {
  const m = meta?.find((x) => x.metadataKey === DROPPED_KEY);
  if (!m || typeof m.metadataId !== 'number' || typeof m.metadataValue !== 'string' || !/^\d{4}-\d{2}$/.test(m.metadataValue)) return undefined;
  return { month: m.metadataValue, id: m.metadataId };
}

/**
 * What one sync does with one view:
 * - append: an append-only view in a tab we made and track — add the rows
 *   after our cursor (`retime`: REPORT_TIMEZONE changed since the tab's rows
 *   were written, or a sync died rewriting them, so every row is written
 *   again, from row 1);
 * - update: a keyed view in a tab we track, same epoch — write the rows that
 *   changed (`updates`: their positions, at most `known`) where they are, and
 *   the new keys after `known`;
 * - rewrite: a keyed view in a tab we track whose positions mean nothing any
 *   more (a new epoch, another REPORT_TIMEZONE, a sync that died rewriting
 *   it, a state from before keyed views) — write the whole view from row 1 and
 *   clear the rows below it that were ours (down to `oursThrough`);
 * - rebuild: a tab we track that the read-back found sorted or edited by hand
 *   (or that a sync left half rebuilt), with SHEETS_ON_CONFLICT=rebuild —
 *   write every row again from row 1, over whatever is there, and clear the
 *   rows below down to `clearThrough` (`why`: what was found, for the status);
 * - create: no tab of that name — add it and write the whole view;
 * - adopt: a tab of that name we have no record of (made by hand, or by a first
 *   sync that died before its cursor commit) — write the whole view there if it
 *   is empty or holds exactly a beginning of this view (a keyed view: if it is
 *   empty or under our header).
 */
export type ViewPlan =
  | { mode: 'append'; d: TabOf<LogDelivery>; state: SheetViewState; tab: Tab; retime: boolean }
  | { mode: 'update'; d: TabOf<KeyedDelivery>; state: SheetViewState; tab: Tab; known: number; updates: number[] }
  | { mode: 'rewrite'; d: TabOf<KeyedDelivery>; state: SheetViewState; tab: Tab; total: number; oursThrough: number }
  | { mode: 'rebuild'; d: TabDelivery; state: SheetViewState; tab: Tab; total: number; clearThrough: number; why: string }
  | { mode: 'create'; d: TabDelivery; sheetId: number; total: number }
  | { mode: 'adopt'; d: TabDelivery; tab: Tab; total: number };

/** A range to read back before writing: rows firstRow.. of one view (the header, anchors, keys, the rows ahead), or a whole tab. */
export interface ReadCheck {
  view: TabTitle;
  kind: 'rows' | 'whole';
  /** 0-based row of the range's first row. */
  firstRow: number;
  range: string;
  /** Columns read from A (a whole tab: all of them). */
  width: number;
}

/** The 0-based columns of a keyed view's key in its header (its fixed columns: they never move). */
export function keyColumns(view: KeyedViewName): number[] {
  const columns = VIEW_DEFS[view].columns as readonly string[];
  return (VIEW_DEFS[view].key as readonly string[]).map((k) => columns.indexOf(k));
}

/** The rows a view holds after this sync's writes (0-based: the row after its last). */
export function endRow(plan: ViewPlan): number {
  switch (plan.mode) {
    case 'append':
      return plan.state.nextRow + plan.d.pending;
    case 'update':
    case 'rewrite':
      return plan.d.rows.total + 1;
    default:
      return plan.total + 1;
  }
}

export function sheetIdOf(plan: ViewPlan): number {
  return plan.mode === 'create' ? plan.sheetId : plan.tab.sheetId;
}

/** The tabs of a spreadsheets.get answer. */
export function parseTabs(meta: sheets_v4.Schema$Spreadsheet): SpreadsheetTabs {
  const timeZone = meta.properties?.timeZone ?? undefined;
  const tabs = new Map<string, Tab>();
  let cells = 0;
  for (const s of meta.sheets ?? []) {
    const p = s.properties;
    const rowCount = p?.gridProperties?.rowCount ?? 0;
    const columnCount = p?.gridProperties?.columnCount ?? 0;
    cells += rowCount * columnCount;
    if (!p?.title || p.sheetId === undefined || p.sheetId === null) continue;
    const marker = markerOf(s.developerMetadata);
    const tab: Tab = { sheetId: p.sheetId, rowCount, columnCount, index: p.index ?? tabs.size };
    if (marker) tab.marker = marker;
    if ((s.protectedRanges ?? []).some((r) => r.warningOnly === true && r.description === PROTECTION_DESCRIPTION)) tab.protectedWarning = true;
    tabs.set(p.title, tab);
  }
  const through = droppedThroughOf(meta.developerMetadata);
  return { tabs, cells, ...(timeZone ? { timeZone } : {}), ...(through ? { droppedThrough: through } : {}) };
}

/** Refused before anything is sent: Sheets cannot hold a tab this wide (the columns stay in SQLite and the CSV export). */
export function widthProblem(d: TabOf<ViewDelivery>): string | undefined {
  if (d.header.length <= MAX_VIEW_COLUMNS) return undefined;
  return `tab "${titleOf(d)}" would need ${d.header.length.toLocaleString('en')} columns, over Google Sheets' limit of ${MAX_VIEW_COLUMNS.toLocaleString('en')} columns per tab; nothing was written to it. Its rows stay in SQLite and the CSV export.`;
}

/**
 * Tab titles as Google compares them: without regard to case ("Scores" and
 * "scores" cannot both exist; adding one while the other is there is refused).
 */
export function sameTitle(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase() || a.toUpperCase() === b.toUpperCase();
}

/**
 * No tab is named exactly as the view, but one is in another case: either our
 * own tab, renamed (its sheetId is the one we track), or someone else's tab
 * in the way. Writing to it would go to a tab not named as the view; adding
 * the view's tab next to it would be refused by Google. Either way the view
 * stops, saying what to do.
 */
function caseClash(view: TabTitle, sheet: SpreadsheetTabs, state: SheetViewState | undefined): string | undefined {
  const found = [...sheet.tabs].find(([title]) => sameTitle(title, view));
  if (!found) return undefined;
  const [title, tab] = found;
  if (state && tab.sheetId === state.sheetId) {
    return `the tab "${view}" was renamed to "${title}"; ember-sync writes only to a tab named exactly "${view}": rename "${title}" back to "${view}" (or delete it to have it rebuilt from SQLite); nothing was written to it`;
  }
  return `a tab "${title}" is in the way of tab "${view}": Google Sheets tab names ignore case, so "${view}" cannot be added next to it; rename "${title}" (or delete it) and the next sync creates "${view}"; nothing was written`;
}

/** The zone a tracked tab's date-time cells are in. */
const zoneOf = (state: SheetViewState) => state.timeZone ?? 'UTC';

/**
 * The positions of the rows a keyed view updates in place (at most `known`):
 * the first part of `changed`, read until a row past `known` shows up — as
 * many rows as changed, never the whole view.
 */
async function updatedPositions(d: KeyedDelivery, known: number): Promise<number[]> {
  const positions: number[] = [];
  for await (const page of d.rows.changed(d.cursor.deliveredSeq, known)) {
    for (const row of page) {
      if (row.position > known) return positions;
      positions.push(row.position);
    }
  }
  return positions;
}

/**
 * Pure but for reading rows: what to do per view, given the tabs as they are. Views with nothing
 * new (same header, no pending rows) are done without a request; views Sheets
 * cannot hold are refused. `randomSheetId` picks ids for new tabs (set by us,
 * so that a retried addSheet can be recognised). `zone` is REPORT_TIMEZONE.
 */
export async function planViews(deliveries: readonly TabDelivery[], sheet: SpreadsheetTabs, randomSheetId: () => number, zone = 'UTC'): Promise<{ plans: ViewPlan[]; done: TabOutcome[] }> {
  const plans: ViewPlan[] = [];
  const done: TabOutcome[] = [];
  const usedIds = new Set([...sheet.tabs.values()].map((t) => t.sheetId));
  for (const d of deliveries) {
    const problem = widthProblem(d);
    const title = titleOf(d);
    if (problem) {
      done.push({ view: title, ok: false, error: problem });
      continue;
    }
    const state = d.cursor.state as SheetViewState | undefined;
    const tab = sheet.tabs.get(title);
    const clash = tab ? undefined : caseClash(title, sheet, state);
    if (clash) {
      done.push({ view: title, ok: false, error: clash });
      continue;
    }
    if (tab && state && tab.sheetId === state.sheetId) {
      // A marker the state does not know: a sync died while writing every row of the tab again.
      const died = tab.marker !== undefined && tab.marker.rewrite !== state.rewrite ? tab.marker : undefined;
      const retime = died !== undefined || !sameZone(zoneOf(state), zone);
      // Nothing new, and the grid still holds every row and column we wrote: no request at all. A grid
      // smaller than that was cut (rows deleted by hand): plan the write, whose read-back finds out.
      const intact = tab.rowCount >= state.nextRow && tab.columnCount >= state.header.length;
      const idle = d.pending === 0 && sameList(d.header, state.header) && intact && !retime;
      if (d.kind === 'keyed') {
        const known = d.cursor.deliveredRows;
        // Positions hold within one epoch only; a cursor that disagrees with the rows we track is not built on either.
        if (retime || state.epoch !== d.epoch || known !== state.nextRow - 1 || known > d.rows.total) {
          plans.push({ mode: 'rewrite', d, state, tab, total: d.rows.total, oursThrough: Math.max(state.nextRow - 1, died?.rows ?? 0) });
        } else if (idle) done.push({ view: title, ok: true, receipt: { rows: 0, totalRows: known, state } });
        else plans.push({ mode: 'update', d, state, tab, known, updates: await updatedPositions(d, known) });
        continue;
      }
      if (idle) done.push({ view: title, ok: true, receipt: { rows: 0, totalRows: d.cursor.deliveredRows, state } });
      else plans.push({ mode: 'append', d, state, tab, retime });
      continue;
    }
    const total = d.kind === 'keyed' ? d.rows.total : await d.rows.count({ toSeq: d.toSeq });
    if (tab) {
      plans.push({ mode: 'adopt', d, tab, total });
      continue;
    }
    let sheetId: number;
    do sheetId = randomSheetId();
    while (usedIds.has(sheetId));
    usedIds.add(sheetId);
    plans.push({ mode: 'create', d, sheetId, total });
  }
  return { plans, done };
}

/**
 * The rows an update writes, in position order: those changed among the
 * positions it planned (and read back), then every row past `known` — from
 * `from` on. The rows are the current truth, read at each pass: a row that
 * changed only after the planning waits for the next sync (its change is
 * past this delivery's toSeq), never written unchecked.
 */
export async function* plannedRows(plan: Extract<ViewPlan, { mode: 'update' }>, from = 1): AsyncGenerator<{ position: number; cells: Cell[] }> {
  const { updates, known, d } = plan;
  let i = 0;
  for await (const page of d.rows.changed(d.cursor.deliveredSeq, known)) {
    for (const r of page) {
      if (r.position < from) continue;
      if (r.position > known) {
        yield r;
        continue;
      }
      while (i < updates.length && updates[i]! < r.position) i++;
      if (updates[i] === r.position) yield r;
    }
  }
}

/** Rows apart that are read as one range (a few extra rows read cost less than one more range in the URL). */
const MERGE_GAP = 2;
/**
 * Ranges one read-back names at most (they go in the URL of a GET), all views
 * together. Past it, the ranges closest together (fewest cells between them)
 * are read as one until it fits.
 */
export const MAX_READ_RANGES = 100;

/** The rows an append reads back besides the header and the rows ahead: its anchors, or (a state written before anchors) the last row. */
export function anchorRowsToRead(state: SheetViewState): number[] {
  if (state.anchors) return state.anchors.map((a) => a.row);
  return state.last && state.nextRow > 1 ? [state.nextRow - 1] : [];
}

/** Rows from..to (0-based, inclusive), columns A..width. */
interface Span {
  from: number;
  to: number;
  width: number;
}

/**
 * Spans sorted and merged when they overlap or are at most MERGE_GAP rows
 * apart, clipped to the grid. Only spans of the same width merge: the key
 * cells of updated rows next to an anchor row stay narrow (a row read twice
 * keeps its widest reading).
 */
function mergeSpans(spans: readonly Span[], rowCount: number): Span[] {
  const merged: Span[] = [];
  const last = new Map<number, Span>();
  for (const s of spans.filter((x) => x.from < rowCount && x.to >= x.from).sort((a, b) => a.from - b.from || a.to - b.to)) {
    const to = Math.min(s.to, rowCount - 1);
    const prev = last.get(s.width);
    if (prev && s.from <= prev.to + MERGE_GAP + 1) prev.to = Math.max(prev.to, to);
    else {
      const span = { from: s.from, to, width: s.width };
      merged.push(span);
      last.set(s.width, span);
    }
  }
  return merged;
}

/** What one plan reads back, before the budget: its spans (or its whole tab). */
function planSpans(plan: ViewPlan): { whole: true } | { whole: false; spans: Span[] } | undefined {
  if (plan.mode === 'adopt') return { whole: true };
  // A rebuild is planned after the read-back found the tab changed by hand: every row is written again.
  if (plan.mode === 'create' || plan.mode === 'rebuild') return undefined;
  const { state, tab, d } = plan;
  const full = Math.min(Math.max(state.header.length, d.header.length, 1), tab.columnCount);
  const spans: Span[] = [{ from: 0, to: 0, width: full }];
  if (plan.mode === 'append') {
    spans.push(...anchorRowsToRead(state).map((r) => ({ from: r, to: r, width: full })));
    // All of the rows ahead: Sheets answers a range only up to its last non-empty row, so an empty area costs
    // nothing, and any cell an analyst typed anywhere in it is seen (and never overwritten).
    spans.push({ from: state.nextRow, to: Math.min(state.nextRow + d.pending, tab.rowCount) - 1, width: full });
    return { whole: false, spans: mergeSpans(spans, tab.rowCount) };
  }
  const total = plan.d.rows.total;
  if (plan.mode === 'update') {
    spans.push(...anchorRowsToRead(state).map((r) => ({ from: r, to: r, width: full })));
    // The key cells of every row updated in place: each must still hold its key.
    const keyWidth = Math.min(Math.max(...keyColumns(plan.d.view)) + 1, full);
    spans.push(...plan.updates.map((p) => ({ from: p, to: p, width: keyWidth })));
  }
  // Where rows go past the ones we hold: all of it (empty, or a crashed sync's rows with the same keys). A
  // rewrite reads on to the end of the grid: a sync of another epoch that died before its commit may have
  // written past what this one writes (free when empty: Sheets answers up to the last non-empty row).
  if (plan.mode === 'rewrite') spans.push({ from: plan.oursThrough + 1, to: tab.rowCount - 1, width: full });
  else spans.push({ from: state.nextRow, to: Math.min(total + 1, tab.rowCount) - 1, width: full });
  return { whole: false, spans: mergeSpans(spans, tab.rowCount) };
}

/**
 * Pure: merges the closest spans of the same view and width (fewest cells
 * read in between) until at most `budget` ranges are left over all views
 * (`fixed` ranges are not spans: whole tabs). Gaps are independent, so the
 * cheapest ones are simply the first of them sorted.
 */
function fitReadBudget(lists: Span[][], fixed: number, budget: number): Span[][] {
  const count = lists.reduce((n, l) => n + l.length, fixed);
  if (count <= budget) return lists;
  const gaps: Array<{ list: number; width: number; at: number; cost: number }> = [];
  lists.forEach((spans, list) => {
    const last = new Map<number, number>();
    spans.forEach((b, at) => {
      const prev = last.get(b.width);
      if (prev !== undefined) gaps.push({ list, width: b.width, at, cost: (b.from - spans[prev]!.to - 1) * b.width });
      last.set(b.width, at);
    });
  });
  gaps.sort((x, y) => x.cost - y.cost);
  const close = new Set(gaps.slice(0, Math.min(gaps.length, count - budget)).map((g) => `${g.list}:${g.at}`));
  return lists.map((spans, list) => {
    const out: Span[] = [];
    const last = new Map<number, Span>();
    spans.forEach((s, at) => {
      const prev = last.get(s.width);
      if (prev && close.has(`${list}:${at}`)) prev.to = s.to;
      else {
        const span = { ...s };
        out.push(span);
        last.set(s.width, span);
      }
    });
    return out;
  });
}

/**
 * Pure: the ranges to read back before writing, every view in one request.
 * For an append: the header, the anchors (or the last row written, for a
 * state from before anchors), and all the rows about to be written that the
 * grid already has. For a keyed update: the header, the anchors, the key cells
 * of every row about to be updated and all the rows where new keys go; for a
 * rewrite, the header and the rows past ours it is about to write. Rows close
 * together are one range, and at most MAX_READ_RANGES ranges are named
 * (`budget`). For an adopted tab: all of it. A new tab needs none. Never past
 * the grid (Sheets refuses it): cells beyond it are empty by definition.
 */
export function readBackChecks(plans: readonly ViewPlan[], budget = MAX_READ_RANGES): ReadCheck[] {
  const wanted = plans.map((plan) => ({ plan, read: planSpans(plan) }));
  const lists = wanted.map((w) => (w.read && !w.read.whole ? w.read.spans : []));
  const fixed = wanted.filter((w) => w.read?.whole).length;
  const fitted = fitReadBudget(lists, fixed, budget);
  const checks: ReadCheck[] = [];
  wanted.forEach(({ plan, read }, i) => {
    const view = titleOf(plan.d);
    if (!read) return;
    if (read.whole) {
      checks.push({ view, kind: 'whole', firstRow: 0, range: quoteSheet(view), width: Infinity });
      return;
    }
    for (const s of fitted[i]!) checks.push({ view, kind: 'rows', firstRow: s.from, range: a1(view, s.from, 0, s.to, s.width - 1), width: s.width });
  });
  return checks;
}
