import type { sheets_v4 } from '@googleapis/sheets';
import { isMonthKey, splitByMonth } from '../../model/partition.js';
import { isViewName } from '../../model/views.js';
import { later, parseMonthTitle } from './month-tabs.js';
import { DROPPED_KEY, type SpreadsheetTabs, type Tab, type TabTitle } from './plan-views.js';

/** SHEETS_KEEP_MONTHS: `auto` (drop the oldest month tabs before the spreadsheet passes the threshold), N months, or `all`. */
export type KeepMonths = 'auto' | 'all' | number;

/** Share of Google's cell limit past which `auto` drops month tabs (9,000,000 of 10,000,000): room for a month's growth. */
export const AUTO_DROP_SHARE = 0.9;

/** A month tab ember-sync made (`<view> <yyyy-mm>` of a view split by month). */
export interface MonthTab {
  title: TabTitle;
  month: string;
  sheetId: number;
  cells: number;
}

/** The month `n` months before `month` (`yyyy-mm`). */
export function monthsBefore(month: string, n: number): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const k = y * 12 + (m - 1) - n;
  return `${String(Math.floor(k / 12)).padStart(4, '0')}-${String((k % 12) + 1).padStart(2, '0')}`;
}

/**
 * The month tabs ember-sync made among the spreadsheet's tabs, oldest month
 * first: titled `<view> <yyyy-mm>` and carrying ember-sync's marker (set when
 * the tab was created); a tab an analyst named that way is never dropped.
 */
export function monthTabs(tabs: ReadonlyMap<TabTitle, Tab>): MonthTab[] {
  const out: MonthTab[] = [];
  for (const [title, tab] of tabs) {
    const p = parseMonthTitle(title);
    if (!p || !isViewName(p.view) || !splitByMonth(p.view) || !tab.marker) continue;
    out.push({ title, month: p.month, sheetId: tab.sheetId, cells: tab.rowCount * tab.columnCount });
  }
  return out.sort((a, b) => a.month.localeCompare(b.month) || a.title.localeCompare(b.title));
}

/** For SHEETS_KEEP_MONTHS=N: the months dropped are those up to this one (N months kept, the current one included). */
export function keepWindowThrough(keep: KeepMonths, currentMonth: string): string | undefined {
  if (typeof keep !== 'number') return undefined;
  return monthsBefore(currentMonth, Math.max(1, keep));
}

/**
 * RETENTION_DAYS: the months whose month tabs go because the store deleted
 * their rows — those before the earliest `retainFrom` of the deliveries (the
 * engine hands every view the same one; the earliest errs on keeping a tab,
 * since a drop is recorded for good). Never the current month nor a later one
 * (`currentMonth`: the earliest month of the sync among the views' zones), so
 * that a bogus `retainFrom` cannot stop the months being written for good.
 * Undefined when no delivery carries a valid one (retention off or not run yet).
 */
export function retentionThrough(retainFroms: Iterable<string | undefined>, currentMonth: string): string | undefined {
  const valid = [...retainFroms].filter((m): m is string => m !== undefined && isMonthKey(m)).sort();
  const first = valid[0];
  if (first === undefined) return undefined;
  const through = monthsBefore(first, 1);
  const lastPast = monthsBefore(currentMonth, 1);
  return through < lastPast ? through : lastPast;
}

export interface DropPlan {
  /** Tabs to delete, oldest month first. */
  drop: MonthTab[];
  /** The months dropped (with a tab or only planned by this sync), oldest first: this sync writes none of them. */
  months: string[];
  /** The record of drops after this sync (every month up to it is gone for good). */
  through: string | undefined;
}

/**
 * Pure: which month tabs to delete. `retainThrough` (RETENTION_DAYS, see
 * retentionThrough): every month tab up to it, whatever `keep` says (`all`
 * too), since the store no longer has their rows; `keep` adds to those.
 * `N`: every month tab older than the N newest months. `auto`: whole months, oldest first, while the spreadsheet
 * would hold more than `threshold` cells after this sync (`cells` now, plus
 * `growth`) — counting every tab, the analysts' own too. A month this sync
 * was about to write (`planned`: the cells its tabs would add, by month; a
 * first sync of a long history creates them all) is dropped like the others:
 * its rows are then not written, and what it would have added is saved.
 * Never the current month (nor a later one), never a daily view's tab (it has
 * no month), never a tab ember-sync did not make. A month is dropped whole,
 * all views together, so that the months an analyst finds are the same in
 * every view.
 */
export function planDrops(o: {
  keep: KeepMonths;
  tabs: readonly MonthTab[];
  currentMonth: string;
  planned?: ReadonlyMap<string, number>;
  cells: number;
  growth: number;
  threshold: number;
  droppedThrough: string | undefined;
  retainThrough?: string | undefined;
}): DropPlan {
  const { keep, currentMonth, retainThrough } = o;
  const planned = o.planned ?? new Map<string, number>();
  const monthCells = (m: string) => o.tabs.filter((t) => t.month === m).reduce((n, t) => n + t.cells, 0) + (planned.get(m) ?? 0);
  const months = [...new Set([...o.tabs.map((t) => t.month), ...planned.keys()])].filter((m) => m < currentMonth).sort();
  const retained = (m: string) => retainThrough !== undefined && m <= retainThrough;
  // Retention first: the oldest months, gone whatever `keep` says; what they free counts for `auto`.
  const dropMonths = months.filter(retained);
  if (typeof keep === 'number') {
    const through = keepWindowThrough(keep, currentMonth)!;
    dropMonths.push(...months.filter((m) => m <= through && !retained(m)));
  } else if (keep === 'auto') {
    let total = o.cells + o.growth - dropMonths.reduce((n, m) => n + monthCells(m), 0);
    for (const m of months) {
      if (retained(m)) continue;
      if (total <= o.threshold) break;
      dropMonths.push(m);
      total -= monthCells(m);
    }
  }
  const dropped = new Set(dropMonths);
  // The record covers the retained months even without a tab (never written again, like any month dropped).
  const through = later(later(o.droppedThrough, dropMonths.at(-1)), retainThrough !== undefined && retainThrough < currentMonth ? retainThrough : undefined);
  return { drop: o.tabs.filter((t) => dropped.has(t.month)), months: dropMonths, through };
}

/**
 * The requests of a drop, against the spreadsheet as (re-)read: each tab
 * still there deleted, and the record of drops (spreadsheet developer
 * metadata) moved to `through` — in the same atomic batchUpdate, so that a
 * sync that dies before its cursor commit still finds the months dropped.
 */
export function dropRequests(drop: readonly MonthTab[], through: string | undefined, now: SpreadsheetTabs): sheets_v4.Schema$Request[] {
  const there = new Set([...now.tabs.values()].map((t) => t.sheetId));
  const requests: sheets_v4.Schema$Request[] = drop.filter((t) => there.has(t.sheetId)).map((t) => ({ deleteSheet: { sheetId: t.sheetId } }));
  if (through !== undefined && now.droppedThrough?.month !== through) {
    requests.push(
      now.droppedThrough
        ? { updateDeveloperMetadata: { dataFilters: [{ developerMetadataLookup: { metadataId: now.droppedThrough.id } }], developerMetadata: { metadataValue: through }, fields: 'metadataValue' } }
        : { createDeveloperMetadata: { developerMetadata: { metadataKey: DROPPED_KEY, metadataValue: through, location: { spreadsheet: true }, visibility: 'DOCUMENT' } } },
    );
  }
  return requests;
}
