import type { sheets_v4 } from '@googleapis/sheets';
import type { RunFacts } from '../../model/sync.js';
import type { ViewName } from '../../model/views.js';
import { a1 } from './a1.js';
import { DATE_TIME_PATTERN, fitCell, toSerial, type SheetCell } from './cells.js';
import { PROTECTION_DESCRIPTION, sameTitle, type Tab, type TabTitle } from './plan-views.js';
import type { ValueEntry } from './pack-values.js';

/** The title of the status tab. */
export const STATUS_TITLE = 'ember-sync';
/** Its grid: every rewrite covers all of it, so nothing of an older status is left. */
export const STATUS_ROWS = 40;
export const STATUS_COLUMNS = 4;
/** Share of the cell budget from which the status warns. */
export const CELL_WARNING_SHARE = 0.8;

/**
 * The status tab among the tabs: named exactly STATUS_TITLE, or in another case (an analyst renamed it
 * "Ember-Sync": Google refuses to add "ember-sync" next to it, so that tab is the status tab).
 */
export function findStatusTab(tabs: ReadonlyMap<TabTitle, Tab>): { title: TabTitle; tab: Tab } | undefined {
  const exact = tabs.get(STATUS_TITLE);
  if (exact) return { title: STATUS_TITLE, tab: exact };
  for (const [title, tab] of tabs) if (sameTitle(title, STATUS_TITLE)) return { title, tab };
  return undefined;
}

/** The labels of the status tab's first rows (column A), always the same: read back to see the tab sorted or edited. */
export const STATUS_LABELS = ['ember-sync: Google Sheets sync', 'Last sync', 'Result', 'Last error', 'Quarantined payloads', 'Events not projected', 'Cells used', 'Tabs rebuilt', 'Tabs dropped'] as const;

/**
 * Pure: were the status tab's rows moved (sorted, rows inserted or deleted) or its labels edited? Its
 * formats moved with the rows then (Sheets moves a cell's format with it): the time cell is no longer
 * where the time is written. `rows`: column A of its first rows as read (0-based row → cells).
 */
export function statusLabelsMoved(rows: ReadonlyMap<number, readonly unknown[]> | undefined): boolean {
  if (!rows) return false;
  // A tab that holds nothing yet (just added, never written) has nothing out of place.
  if (![...rows.values()].some((r) => r[0] !== undefined && r[0] !== null && r[0] !== '')) return false;
  return STATUS_LABELS.some((label, i) => rows.get(i)?.[0] !== label);
}

/** One view's line. */
export interface ViewStatus {
  view: ViewName;
  /** Rows still to write after this sync. */
  pending: number;
  /** Rows written by this sync. */
  written: number;
  /** The tabs this sync wrote to. */
  tabs: string[];
  /** undefined: delivered (or nothing to do). */
  error?: string;
  /** Not in SHEETS_VIEWS. */
  skipped?: boolean;
}

export interface SyncStatus {
  run: RunFacts | undefined;
  /** When the sync ran (ISO), when `run` is absent. */
  now: string;
  zone: string;
  views: ViewStatus[];
  cellsUsed: number;
  cellBudget: number;
  rebuilt: Array<{ tab: string; why: string }>;
  /** Month tabs deleted for SHEETS_KEEP_MONTHS. */
  dropped: string[];
  /** Month tabs deleted for RETENTION_DAYS (their rows were deleted from the store), and the first month kept. */
  retained?: string[];
  retainFrom?: string;
  /** Problems that are not one view's (the keep-months policy, the status itself). */
  notes: string[];
}

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en')} ${n === 1 ? one : many}`;

/** The sync's result in a few words. */
export function resultOf(s: SyncStatus): string {
  const synced = s.views.filter((v) => !v.skipped);
  const failed = synced.filter((v) => v.error !== undefined);
  if (failed.length === 0) return `ok: ${plural(synced.reduce((n, v) => n + v.written, 0), 'row')} written`;
  if (failed.length === synced.length) return `failed: no view was delivered`;
  return `partly failed: ${failed.length} of ${synced.length} views not delivered (${failed.map((v) => v.view).join(', ')})`;
}

/**
 * Pure: the status tab's cells, STATUS_ROWS × STATUS_COLUMNS (empty cells as
 * "" so a rewrite clears what an older status left). Row 2 holds the time
 * of the sync as a date-time cell of REPORT_TIMEZONE's wall clock.
 */
export function statusCells(s: SyncStatus): SheetCell[][] {
  const rows: SheetCell[][] = [];
  const line = (...cells: SheetCell[]) => {
    rows.push(cells);
  };
  const at = s.run?.startedAt ?? s.now;
  const [title, lastSync, result, lastError, quarantined, parked, cells, rebuilt, dropped] = STATUS_LABELS;
  line(title, 'rewritten by every sync; do not edit');
  line(lastSync, toSerial(at, s.zone) ?? at, `${s.zone} (REPORT_TIMEZONE)`);
  line(result, resultOf(s));
  const errors = s.views.filter((v) => v.error !== undefined);
  line(lastError, errors.length > 0 ? `${errors[0]!.view}: ${errors[0]!.error}` : 'none');
  line(quarantined, s.run ? s.run.quarantined : '', s.run && s.run.quarantined > 0 ? 'webhooks that failed validation: see `ember-sync status`, fix and run `ember-sync replay`' : '');
  line(parked, s.run ? s.run.parked : '', s.run && s.run.parked > 0 ? 'see `ember-sync status` and the log; `ember-sync rebuild` derives them again' : '');
  const share = s.cellsUsed / s.cellBudget;
  const warn =
    share >= CELL_WARNING_SHARE
      ? `WARNING: ${Math.round(share * 100)}% of the budget used; old month tabs are dropped per SHEETS_KEEP_MONTHS (auto drops from 90%); delete tabs of your own or start a new spreadsheet`
      : `${(share * 100).toFixed(1)}% used`;
  line(cells, s.cellsUsed, `of ${s.cellBudget.toLocaleString('en')}`, warn);
  line(rebuilt, s.rebuilt.length > 0 ? s.rebuilt.map((r) => `${r.tab}: ${r.why}`).join('\n') : 'none');
  const gone = [
    ...(s.retained && s.retained.length > 0 ? [`${s.retained.join(', ')} (RETENTION_DAYS: months before ${s.retainFrom ?? '?'})`] : []),
    ...(s.dropped.length > 0 ? [`${s.dropped.join(', ')} (SHEETS_KEEP_MONTHS)`] : []),
  ];
  line(dropped, gone.length > 0 ? gone.join('; ') : 'none');
  for (const note of s.notes) line('Note', note);
  line();
  line('View', 'Rows pending', 'Tabs written', 'State');
  for (const v of s.views) {
    if (v.skipped) line(v.view, '', '', 'not synced to Sheets (not in SHEETS_VIEWS)');
    else line(v.view, v.pending, v.tabs.join(', '), v.error === undefined ? 'ok' : `error: ${v.error}`);
  }
  const out = rows.slice(0, STATUS_ROWS).map((r) =>
    Array.from({ length: STATUS_COLUMNS }, (_, i): SheetCell => {
      const v = r[i];
      return v === undefined || v === null ? '' : typeof v === 'string' ? fitCell(v) : v;
    }),
  );
  while (out.length < STATUS_ROWS) out.push(new Array<SheetCell>(STATUS_COLUMNS).fill(''));
  return out;
}

/** The status as one range of a values.batchUpdate (`title`: the status tab's, see findStatusTab). */
export function statusEntry(s: SyncStatus, title: TabTitle = STATUS_TITLE): ValueEntry {
  const values = statusCells(s);
  const range = a1(title, 0, 0, STATUS_ROWS - 1, STATUS_COLUMNS - 1);
  return { view: STATUS_TITLE, range, values, firstRow: 0, isHeader: true, bytes: Buffer.byteLength(JSON.stringify({ range, majorDimension: 'ROWS', values })) + 1 };
}

/**
 * The structural requests the status tab needs: added (first among the tabs,
 * warning-protected, its time cell formatted) when missing, grown back when
 * someone cut its grid, its formats put back when its rows were moved
 * (`reformat`: see statusLabelsMoved). `now`: the tab as the metadata shows it.
 */
export function statusTabRequests(sheetId: number, now: Tab | undefined, reformat = false): sheets_v4.Schema$Request[] {
  const format: sheets_v4.Schema$Request = {
    repeatCell: {
      range: { sheetId, startRowIndex: 1, endRowIndex: 2, startColumnIndex: 1, endColumnIndex: 2 },
      cell: { userEnteredFormat: { numberFormat: { type: 'DATE_TIME', pattern: DATE_TIME_PATTERN } } },
      fields: 'userEnteredFormat.numberFormat',
    },
  };
  if (!now) {
    return [
      { addSheet: { properties: { sheetId, title: STATUS_TITLE, index: 0, gridProperties: { rowCount: STATUS_ROWS, columnCount: STATUS_COLUMNS, frozenRowCount: 1 } } } },
      format,
      { addProtectedRange: { protectedRange: { range: { sheetId }, description: PROTECTION_DESCRIPTION, warningOnly: true } } },
    ];
  }
  const requests: sheets_v4.Schema$Request[] = [];
  if (now.rowCount < STATUS_ROWS) requests.push({ appendDimension: { sheetId: now.sheetId, dimension: 'ROWS', length: STATUS_ROWS - now.rowCount } });
  if (now.columnCount < STATUS_COLUMNS) requests.push({ appendDimension: { sheetId: now.sheetId, dimension: 'COLUMNS', length: STATUS_COLUMNS - now.columnCount } });
  // Formats that a sort moved elsewhere are cleared first (a date-time format on a count would show it as a date).
  if (reformat) requests.push({ repeatCell: { range: { sheetId: now.sheetId }, cell: { userEnteredFormat: {} }, fields: 'userEnteredFormat.numberFormat' } });
  if (requests.length > 0) requests.push({ ...format, repeatCell: { ...format.repeatCell, range: { ...format.repeatCell!.range, sheetId: now.sheetId } } });
  // Its warning-only protection, removed by hand: put back once, as on the synced tabs.
  if (!now.protectedWarning) requests.push({ addProtectedRange: { protectedRange: { range: { sheetId: now.sheetId }, description: PROTECTION_DESCRIPTION, warningOnly: true } } });
  return requests;
}

/** Cells the status tab adds to the spreadsheet. */
export function statusGrowth(now: Tab | undefined): number {
  const cells = STATUS_ROWS * STATUS_COLUMNS;
  return now ? Math.max(0, Math.max(now.rowCount, STATUS_ROWS) * Math.max(now.columnCount, STATUS_COLUMNS) - now.rowCount * now.columnCount) : cells;
}
