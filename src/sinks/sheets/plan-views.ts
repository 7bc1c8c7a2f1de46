import type { sheets_v4 } from '@googleapis/sheets';
import { MAX_VIEW_COLUMNS } from '../../model/columns.js';
import type { ViewDelivery, ViewOutcome } from '../../model/sync.js';
import type { ViewName } from '../../model/views.js';
import { a1, quoteSheet } from './a1.js';
import type { Anchor } from './anchors.js';
import type { SheetCell } from './cells.js';
import { sameList } from '../../lib/text.js';

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
}

/** A tab as the spreadsheet metadata describes it. */
export interface Tab {
  sheetId: number;
  rowCount: number;
  columnCount: number;
}

export interface SpreadsheetTabs {
  /** By title. */
  tabs: Map<string, Tab>;
  /** Cells of every tab (what Google's 10,000,000-cell limit counts). */
  cells: number;
}

/**
 * What one sync does with one view:
 * - append: a tab we made and track — add the rows after our cursor;
 * - create: no tab of that name — add it and write the whole view;
 * - adopt: a tab of that name we have no record of (made by hand, or by a first
 *   sync that died before its cursor commit) — write the whole view there if it
 *   is empty or holds exactly a beginning of this view.
 */
export type ViewPlan =
  | { mode: 'append'; d: ViewDelivery; state: SheetViewState; tab: Tab }
  | { mode: 'create'; d: ViewDelivery; sheetId: number; total: number }
  | { mode: 'adopt'; d: ViewDelivery; tab: Tab; total: number };

/** A range to read back before writing: rows firstRow.. of one view (the header, anchors, the rows ahead), or a whole tab. */
export interface ReadCheck {
  view: ViewName;
  kind: 'rows' | 'whole';
  /** 0-based row of the range's first row. */
  firstRow: number;
  range: string;
}


export function sheetIdOf(plan: ViewPlan): number {
  return plan.mode === 'create' ? plan.sheetId : plan.tab.sheetId;
}

/** The tabs of a spreadsheets.get answer. */
export function parseTabs(meta: sheets_v4.Schema$Spreadsheet): SpreadsheetTabs {
  const tabs = new Map<string, Tab>();
  let cells = 0;
  for (const s of meta.sheets ?? []) {
    const p = s.properties;
    const rowCount = p?.gridProperties?.rowCount ?? 0;
    const columnCount = p?.gridProperties?.columnCount ?? 0;
    cells += rowCount * columnCount;
    if (!p?.title || p.sheetId === undefined || p.sheetId === null) continue;
    tabs.set(p.title, { sheetId: p.sheetId, rowCount, columnCount });
  }
  return { tabs, cells };
}

/** Refused before anything is sent: Sheets cannot hold a tab this wide (the columns stay in SQLite and the CSV export). */
export function widthProblem(d: ViewDelivery): string | undefined {
  if (d.header.length <= MAX_VIEW_COLUMNS) return undefined;
  return `tab "${d.view}" would need ${d.header.length.toLocaleString('en')} columns, over Google Sheets' limit of ${MAX_VIEW_COLUMNS.toLocaleString('en')} columns per tab; nothing was written to it. Its rows stay in SQLite and the CSV export.`;
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
function caseClash(view: ViewName, sheet: SpreadsheetTabs, state: SheetViewState | undefined): string | undefined {
  const found = [...sheet.tabs].find(([title]) => sameTitle(title, view));
  if (!found) return undefined;
  const [title, tab] = found;
  if (state && tab.sheetId === state.sheetId) {
    return `the tab "${view}" was renamed to "${title}"; ember-sync writes only to a tab named exactly "${view}": rename "${title}" back to "${view}" (or delete it to have it rebuilt from SQLite); nothing was written to it`;
  }
  return `a tab "${title}" is in the way of tab "${view}": Google Sheets tab names ignore case, so "${view}" cannot be added next to it; rename "${title}" (or delete it) and the next sync creates "${view}"; nothing was written`;
}

/**
 * Pure: what to do per view, given the tabs as they are. Views with nothing
 * new (same header, no pending rows) are done without a request; views Sheets
 * cannot hold are refused. `randomSheetId` picks ids for new tabs (set by us,
 * so that a retried addSheet can be recognised).
 */
export function planViews(deliveries: readonly ViewDelivery[], sheet: SpreadsheetTabs, randomSheetId: () => number): { plans: ViewPlan[]; done: ViewOutcome[] } {
  const plans: ViewPlan[] = [];
  const done: ViewOutcome[] = [];
  const usedIds = new Set([...sheet.tabs.values()].map((t) => t.sheetId));
  for (const d of deliveries) {
    const problem = widthProblem(d);
    if (problem) {
      done.push({ view: d.view, ok: false, error: problem });
      continue;
    }
    const state = d.cursor.state as SheetViewState | undefined;
    const tab = sheet.tabs.get(d.view);
    const clash = tab ? undefined : caseClash(d.view, sheet, state);
    if (clash) {
      done.push({ view: d.view, ok: false, error: clash });
      continue;
    }
    if (tab && state && tab.sheetId === state.sheetId) {
      // Nothing new, and the grid still holds every row and column we wrote: no request at all. A grid
      // smaller than that was cut (rows deleted by hand): plan an append, whose read-back finds out.
      const intact = tab.rowCount >= state.nextRow && tab.columnCount >= state.header.length;
      if (d.pending === 0 && sameList(d.header, state.header) && intact) done.push({ view: d.view, ok: true, receipt: { rows: 0, totalRows: d.cursor.deliveredRows, state } });
      else plans.push({ mode: 'append', d, state, tab });
      continue;
    }
    const total = d.rows.count({ toSeq: d.toSeq });
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

/** Rows apart that are read as one range (a few extra rows read cost less than one more range in the URL). */
const MERGE_GAP = 2;

/** The rows an append reads back besides the header and the rows ahead: its anchors, or (a state written before anchors) the last row. */
export function anchorRowsToRead(state: SheetViewState): number[] {
  if (state.anchors) return state.anchors.map((a) => a.row);
  return state.last && state.nextRow > 1 ? [state.nextRow - 1] : [];
}

/**
 * Pure: the ranges to read back before writing. For an append: the header,
 * the anchors (or the last row written, for a state from before anchors),
 * and all the rows about to be written that the grid already has, rows
 * close together as one range. For an adopted tab: all of it. A new tab needs none. Never past the
 * grid (Sheets refuses it): cells beyond it are empty by definition.
 */
export function readBackChecks(plans: readonly ViewPlan[]): ReadCheck[] {
  const checks: ReadCheck[] = [];
  for (const plan of plans) {
    const { view } = plan.d;
    if (plan.mode === 'adopt') {
      checks.push({ view, kind: 'whole', firstRow: 0, range: quoteSheet(view) });
      continue;
    }
    if (plan.mode !== 'append') continue;
    const { state, tab, d } = plan;
    const width = Math.min(Math.max(state.header.length, d.header.length, 1), tab.columnCount);
    const spans: Array<[number, number]> = [[0, 0], ...anchorRowsToRead(state).map((r): [number, number] => [r, r])];
    const lastInGrid = Math.min(state.nextRow + d.pending, tab.rowCount) - 1;
    if (lastInGrid >= state.nextRow) {
      // All of it: Sheets answers a range only up to its last non-empty row, so an empty area costs nothing,
      // and any cell an analyst typed anywhere in it is seen (and never overwritten).
      spans.push([state.nextRow, lastInGrid]);
    }
    const merged: Array<[number, number]> = [];
    for (const [from, to] of spans.filter(([from]) => from < tab.rowCount).sort((a, b) => a[0] - b[0])) {
      const last = merged.at(-1);
      if (last && from <= last[1] + MERGE_GAP + 1) last[1] = Math.max(last[1], Math.min(to, tab.rowCount - 1));
      else merged.push([from, Math.min(to, tab.rowCount - 1)]);
    }
    for (const [from, to] of merged) checks.push({ view, kind: 'rows', firstRow: from, range: a1(view, from, 0, to, width - 1) });
  }
  return checks;
}
