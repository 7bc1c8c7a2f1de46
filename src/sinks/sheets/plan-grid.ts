import type { sheets_v4 } from '@googleapis/sheets';
import { columnKinds, type ViewName } from '../../model/views.js';
import { DATE_PATTERN, DATE_TIME_PATTERN, MAX_SPREADSHEET_CELLS } from './cells.js';
import { endRow, MARKER_KEY, markerValue, PROTECTION_DESCRIPTION, sheetIdOf, titleOf, type Tab, type TabTitle, type ViewPlan } from './plan-views.js';

/** Rows [fromRow, toRow) of one column get the date-time format (or, `date`, the date format of a day column). */
export interface FormatSpan {
  column: number;
  fromRow: number;
  toRow: number;
  date?: true;
}

/**
 * The grid one view needs. Grids only ever grow, by what is still missing
 * compared with the tab as last read: a request whose answer was lost is
 * checked against a fresh read and completed, never repeated; and a request
 * from a sync that lost its lock can at worst add empty rows, never cut the
 * rows or columns another sync wrote meanwhile (an absolute size computed
 * from an older read would).
 */
export interface GridGoal {
  /** The tab's title. */
  view: TabTitle;
  sheetId: number;
  /** The tab as read before the change; undefined: the tab is added. */
  before: Tab | undefined;
  rowCount: number;
  columnCount: number;
  /** A tab we adopt: its header row gets frozen. */
  adopt: boolean;
  formats: FormatSpan[];
  /** Cells this adds to the spreadsheet. */
  growth: number;
  /** The value of the tab's marker to set before its rows are all written (see TabMarker). */
  marker?: string;
  /** Where a new tab goes among the tabs (absent: at the end). */
  index?: number;
  /** The tab gets ember-sync's warning-only protected range (a synced tab that has none yet). */
  protect?: boolean;
  /**
   * A rebuild clears every cell from this column on (0-based), all rows: a column an analyst inserted pushed
   * ours to the right, and what it pushed out of the view's columns must not stay behind.
   */
  clearFromColumn?: number;
}

function spans(view: ViewName, header: readonly string[], fromRow: number, toRow: number, fromColumn = 0): FormatSpan[] {
  if (toRow <= fromRow) return [];
  return columnKinds(view, header).flatMap((kind, column): FormatSpan[] => {
    if (column < fromColumn || kind === 'plain') return [];
    return kind === 'day' ? [{ column, fromRow, toRow, date: true }] : [{ column, fromRow, toRow }];
  });
}

/**
 * Pure: the grid a plan needs, or undefined when its tab already fits. A new
 * tab gets exactly its rows (no empty default grid eating the budget); an
 * adopted tab keeps at least the grid it has (whoever made it may be writing
 * to it); a tab that must grow gets `slack` spare rows so that most syncs need
 * no structural request.
 */
export function gridGoal(plan: ViewPlan, slack: number, marker?: string, extras: TabExtras = {}): GridGoal | undefined {
  const goal = shapeGoal(plan, slack);
  // A tab we sync that has no protected range yet (made before they existed) gets one, once.
  const protect = extras.protect === true && !('tab' in plan && plan.tab.protectedWarning === true);
  const index = plan.mode === 'create' && extras.index !== undefined ? { index: extras.index } : {};
  if (marker === undefined && !protect) return goal ? { ...goal, ...index } : undefined;
  const base = goal ?? { view: titleOf(plan.d), sheetId: sheetIdOf(plan), before: 'tab' in plan ? plan.tab : undefined, rowCount: 0, columnCount: 0, adopt: false, formats: [], growth: 0 };
  if (!goal && 'tab' in plan) Object.assign(base, { rowCount: plan.tab.rowCount, columnCount: plan.tab.columnCount });
  return { ...base, ...index, ...(marker !== undefined ? { marker } : {}), ...(protect ? { protect } : {}) };
}

/** What a tab's goal carries besides its grid. */
export interface TabExtras {
  /** Give the tab ember-sync's warning-only protected range if it has none. */
  protect?: boolean;
  /** A new tab's place among the tabs. */
  index?: number;
}

function shapeGoal(plan: ViewPlan, slack: number): GridGoal | undefined {
  const { d } = plan;
  const columns = Math.max(d.header.length, 1);
  if (plan.mode === 'create') {
    const rows = Math.max(2, plan.total + 1);
    return { view: titleOf(d), sheetId: sheetIdOf(plan), before: undefined, rowCount: rows, columnCount: columns, adopt: false, formats: spans(d.view, d.header, 1, rows), growth: rows * columns };
  }
  if (plan.mode === 'adopt') {
    const { tab } = plan;
    const rows = Math.max(2, plan.total + 1, tab.rowCount);
    const cols = Math.max(columns, tab.columnCount);
    return { view: titleOf(d), sheetId: tab.sheetId, before: tab, rowCount: rows, columnCount: cols, adopt: true, formats: spans(d.view, d.header, 1, rows), growth: rows * cols - tab.rowCount * tab.columnCount };
  }
  const { tab, state } = plan;
  const need = endRow(plan);
  const rows = need > tab.rowCount ? need + slack : tab.rowCount;
  const cols = Math.max(tab.columnCount, columns);
  // Rows we have not formatted yet get the time format (new rows, and rows someone else added); so do new
  // time columns, over every row.
  // A rebuild formats every row again (an analyst's inserted rows came without our formats).
  const formattedTo = plan.mode === 'rebuild' ? 1 : Math.min(state.formattedRows ?? tab.rowCount, tab.rowCount);
  const formats = [...spans(d.view, d.header.slice(0, state.header.length), formattedTo, rows), ...spans(d.view, d.header, 1, rows, state.header.length)];
  const clear = plan.mode === 'rebuild' && tab.columnCount > columns ? { clearFromColumn: columns } : {};
  if (rows === tab.rowCount && cols === tab.columnCount && formats.length === 0 && !('clearFromColumn' in clear)) return undefined;
  return { view: titleOf(d), sheetId: tab.sheetId, before: tab, rowCount: rows, columnCount: cols, adopt: false, formats, growth: rows * cols - tab.rowCount * tab.columnCount, ...clear };
}

function formatRequest(sheetId: number, s: FormatSpan): sheets_v4.Schema$Request {
  return {
    repeatCell: {
      range: { sheetId, startRowIndex: s.fromRow, endRowIndex: s.toRow, startColumnIndex: s.column, endColumnIndex: s.column + 1 },
      cell: { userEnteredFormat: { numberFormat: s.date ? { type: 'DATE', pattern: DATE_PATTERN } : { type: 'DATE_TIME', pattern: DATE_TIME_PATTERN } } },
      fields: 'userEnteredFormat.numberFormat',
    },
  };
}

/**
 * Pure: the requests that bring the tab from `now` (as the metadata shows it)
 * to the goal: rows and columns appended by what is still missing, never
 * removed. On the first try `now` is `goal.before`; after a failure whose
 * answer may have been lost it is the tab as re-read, so growth already
 * applied is not sent again (a batch is applied whole or not at all).
 * Formats and freezing are idempotent and resent.
 */
export function goalRequests(goal: GridGoal, now: Tab | undefined): sheets_v4.Schema$Request[] {
  const formats = goal.formats.map((s) => formatRequest(goal.sheetId, s));
  if (!goal.before) {
    if (now?.sheetId === goal.sheetId) return [];
    const properties = { sheetId: goal.sheetId, title: goal.view, ...(goal.index !== undefined ? { index: goal.index } : {}), gridProperties: { rowCount: goal.rowCount, columnCount: goal.columnCount, frozenRowCount: 1 } };
    return [{ addSheet: { properties } }, ...formats, ...markerRequests(goal, undefined), ...protectRequests(goal, undefined)];
  }
  const current = now?.sheetId === goal.sheetId ? now : goal.before;
  const requests: sheets_v4.Schema$Request[] = [];
  const grow = (dimension: 'ROWS' | 'COLUMNS', length: number) => {
    if (length > 0) requests.push({ appendDimension: { sheetId: goal.sheetId, dimension, length } });
  };
  grow('ROWS', goal.rowCount - current.rowCount);
  grow('COLUMNS', goal.columnCount - current.columnCount);
  if (goal.adopt) requests.push({ updateSheetProperties: { properties: { sheetId: goal.sheetId, gridProperties: { frozenRowCount: 1 } }, fields: 'gridProperties.frozenRowCount' } });
  // The values right of the view's columns, every row (idempotent: a retry clears them again).
  if (goal.clearFromColumn !== undefined && goal.clearFromColumn < Math.max(current.columnCount, goal.columnCount)) {
    requests.push({ repeatCell: { range: { sheetId: goal.sheetId, startColumnIndex: goal.clearFromColumn }, cell: {}, fields: 'userEnteredValue' } });
  }
  return [...requests, ...formats, ...markerRequests(goal, current), ...protectRequests(goal, current)];
}

/**
 * A warning-only protected range over the whole tab: Sheets asks whoever edits
 * or sorts it to confirm (the service account, an editor, is not asked). Once
 * per tab: a retry finds it there.
 */
export function protectRequests(goal: Pick<GridGoal, 'sheetId' | 'protect'>, now: Tab | undefined): sheets_v4.Schema$Request[] {
  if (!goal.protect || now?.protectedWarning) return [];
  return [{ addProtectedRange: { protectedRange: { range: { sheetId: goal.sheetId }, description: PROTECTION_DESCRIPTION, warningOnly: true } } }];
}

/** The marker set to the goal's value: created, or the tab's own updated (a retry after a lost answer finds it set: nothing). */
function markerRequests(goal: GridGoal, now: Tab | undefined): sheets_v4.Schema$Request[] {
  if (goal.marker === undefined) return [];
  const existing = now?.marker;
  if (existing) {
    if (markerValue(existing) === goal.marker) return [];
    return [{ updateDeveloperMetadata: { dataFilters: [{ developerMetadataLookup: { metadataId: existing.id } }], developerMetadata: { metadataValue: goal.marker }, fields: 'metadataValue' } }];
  }
  return [{ createDeveloperMetadata: { developerMetadata: { metadataKey: MARKER_KEY, metadataValue: goal.marker, location: { sheetId: goal.sheetId }, visibility: 'DOCUMENT' } } }];
}

export function budgetProblem(view: TabTitle, growth: number, total: number, limit: number): string {
  return `tab "${view}" needs ${growth.toLocaleString('en')} more cells: the spreadsheet would hold ${total.toLocaleString('en')} cells, over Google's limit of ${limit.toLocaleString('en')}; nothing was written to it. Use a new spreadsheet (or delete old tabs) and keep the CSV target for the full history.`;
}

/**
 * Pure: the grids that fit Google's cell budget. `cells` is what the
 * spreadsheet holds now. In order, each with its slack if that fits, else with none; a view whose grid
 * does not fit at all is refused alone, naming the tab and the limit.
 */
export function fitBudget(
  plans: readonly ViewPlan[],
  cells: number,
  slack: number,
  limit = MAX_SPREADSHEET_CELLS,
  markers: ReadonlyMap<TabTitle, string> = new Map(),
  extras: (title: TabTitle) => TabExtras = () => ({}),
): { goals: GridGoal[]; refused: Array<{ view: TabTitle; error: string }> } {
  const gridGoalOf = (plan: ViewPlan, rows: number) => gridGoal(plan, rows, markers.get(titleOf(plan.d)), extras(titleOf(plan.d)));
  const wanted = plans.map((plan) => ({ plan, goal: gridGoalOf(plan, slack) }));
  const goals: GridGoal[] = [];
  const refused: Array<{ view: TabTitle; error: string }> = [];
  let used = cells;
  for (const { plan, goal } of wanted) {
    if (!goal) continue;
    const fits = [goal, gridGoalOf(plan, 0)].find((g): g is GridGoal => g !== undefined && used + g.growth <= limit);
    if (fits) {
      goals.push(fits);
      used += fits.growth;
    } else {
      const tight = gridGoalOf(plan, 0) ?? goal;
      refused.push({ view: titleOf(plan.d), error: budgetProblem(titleOf(plan.d), tight.growth, used + tight.growth, limit) });
    }
  }
  return { goals, refused };
}
