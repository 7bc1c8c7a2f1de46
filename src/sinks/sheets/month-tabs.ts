import type { Cell } from '../../model/cells.js';
import { isMonthKey, monthOfDay, splitByMonth, type Partition } from '../../model/partition.js';
import type { KeyedDelivery, KeyedRows, LogDelivery, RowSlice, RowSource, ViewDelivery, ViewOutcome } from '../../model/sync.js';
import type { ViewName } from '../../model/views.js';
import { dayFormatter } from '../../model/time.js';
import type { SheetViewState, TabDelivery, TabOutcome, TabTitle } from './plan-views.js';

/** A month tab's state: the tab's own, and where its rows begin. */
export interface MonthTabState extends SheetViewState {
  /**
   * Append-only views: the tab holds the month's rows of the events after
   * this seq (the view's cursor when the tab was first planned; rows before it
   * went to the single tab of SHEETS_PARTITION=none, or to no tab at all).
   */
  since: number;
}

/**
 * What the target remembers for a view split by month (SHEETS_PARTITION=month).
 * A state of the single-tab kind (SheetViewState, from before) becomes `legacy`:
 * that tab is left as it is and new rows go to month tabs.
 */
export interface MonthViewState {
  partition: 'month';
  /** The zone months are taken in (REPORT_TIMEZONE when the view was first split: a row never changes tab). */
  zone: string;
  /** By month (`yyyy-mm`). */
  months: Record<string, MonthTabState>;
  /** Month tabs up to this month were dropped (SHEETS_KEEP_MONTHS): their rows are not written again. */
  droppedThrough?: string;
  /** The single tab from before the split, left as it is. */
  legacy?: SheetViewState;
}

export function isMonthViewState(x: unknown): x is MonthViewState {
  return typeof x === 'object' && x !== null && (x as { partition?: unknown }).partition === 'month';
}

/** The title of a view's month tab. */
export const monthTitle = (view: ViewName, month: string): TabTitle => `${view} ${month}`;

/** The view and month of a month tab's title (undefined for any other title). */
export function parseMonthTitle(title: string): { view: string; month: string } | undefined {
  const at = title.lastIndexOf(' ');
  if (at <= 0) return undefined;
  const month = title.slice(at + 1);
  return isMonthKey(month) ? { view: title.slice(0, at), month } : undefined;
}

/** The later of two months (`yyyy-mm`), either may be absent. */
export const later = (a: string | undefined, b: string | undefined): string | undefined => (a === undefined ? b : b === undefined ? a : a > b ? a : b);

/** How one view was split into tab deliveries, to put its outcome back together. */
export interface ViewSplit {
  d: ViewDelivery;
  /** The view is split by month (its state is a MonthViewState). */
  monthly: boolean;
  /** The state the units build on (a MonthViewState for a monthly view). */
  state: MonthViewState | undefined;
  /** Unit tab title → month. */
  units: Map<TabTitle, string>;
  /** Months whose rows are not written (dropped before): counted as delivered. */
  skipped: string[];
}

/**
 * A log view's rows of one month, of events after `since`: what one month
 * tab holds. Rows are read from the view and filtered by the month of their
 * `received_at`. `pending` is what the split counted of this month among the
 * delivery's new rows (`fresh`: events after the cursor, up to toSeq): a read
 * of exactly those is answered from it, or stops at the month's last row,
 * instead of reading every pending row of the other months.
 */
function monthRows(rows: RowSource, monthOf: (cells: readonly Cell[]) => string | undefined, month: string, since: number, fresh: RowSlice & { fromSeq: number }, pending: number): RowSource {
  const slice = (s: RowSlice): RowSlice => ({ fromSeq: Math.max(s.fromSeq ?? 0, since), toSeq: s.toSeq });
  const isFresh = (s: RowSlice) => s.fromSeq === fresh.fromSeq && s.toSeq === fresh.toSeq;
  return {
    async *pages(s) {
      const sl = slice(s);
      let left = isFresh(sl) ? pending : Infinity;
      if (left === 0) return;
      for await (const page of rows.pages(sl)) {
        const mine = page.filter((cells) => monthOf(cells) === month);
        if (mine.length > 0) yield mine;
        left -= mine.length;
        if (left <= 0) return;
      }
    },
    async count(s) {
      const sl = slice(s);
      if (isFresh(sl)) return pending;
      let n = 0;
      for await (const page of rows.pages(sl)) for (const cells of page) if (monthOf(cells) === month) n++;
      return n;
    },
  };
}

/** The month of a log row: of its `received_at` in `zone` (rows without one go to the month of the sync). */
function rowMonth(header: readonly string[], zone: string, fallback: string): (cells: readonly Cell[]) => string {
  const column = header.indexOf('received_at');
  const day = dayFormatter(zone);
  return (cells) => {
    const v = cells[column];
    const d = typeof v === 'string' ? day(v) : undefined;
    return d ? monthOfDay(d) : fallback;
  };
}

/** The state a monthly view starts from: its own, or a fresh one keeping the single tab from before. */
function monthStateOf(d: ViewDelivery, zone: string): MonthViewState {
  const s = d.cursor.state;
  if (isMonthViewState(s)) return s;
  const legacy = typeof s === 'object' && s !== null && typeof (s as SheetViewState).sheetId === 'number' ? (s as SheetViewState) : undefined;
  return { partition: 'month', zone, months: {}, ...(legacy ? { legacy } : {}) };
}

async function splitLog(d: LogDelivery, state: MonthViewState, droppedThrough: string | undefined, currentMonth: string): Promise<{ units: TabDelivery[]; split: ViewSplit }> {
  const monthOf = rowMonth(d.header, state.zone, currentMonth);
  const pending = new Map<string, number>();
  if (d.pending > 0) {
    for await (const page of d.rows.pages({ fromSeq: d.cursor.deliveredSeq, toSeq: d.toSeq })) {
      for (const cells of page) {
        const m = monthOf(cells);
        pending.set(m, (pending.get(m) ?? 0) + 1);
      }
    }
  }
  const split: ViewSplit = { d, monthly: true, state, units: new Map(), skipped: [] };
  const units: TabDelivery[] = [];
  for (const month of [...pending.keys()].sort()) {
    if (droppedThrough !== undefined && month <= droppedThrough) {
      split.skipped.push(month);
      continue;
    }
    const tabState = state.months[month];
    const since = tabState?.since ?? d.cursor.deliveredSeq;
    const tab = monthTitle(d.view, month);
    split.units.set(tab, month);
    units.push({
      ...d,
      tab,
      pending: pending.get(month)!,
      cursor: { ...d.cursor, deliveredRows: tabState ? tabState.nextRow - 1 : 0, state: tabState },
      rows: monthRows(d.rows, monthOf, month, since, { fromSeq: d.cursor.deliveredSeq, toSeq: d.toSeq }, pending.get(month)!),
    });
  }
  return { units, split };
}

/** No pages at all. */
async function* none<T>(): AsyncGenerator<T> {}

/** The rows of a month that holds none (any more). */
const NO_ROWS: KeyedRows = { total: 0, pages: () => none(), changed: () => none(), countChanged: async () => 0 };

async function splitKeyed(d: KeyedDelivery, state: MonthViewState, droppedThrough: string | undefined, exists: (title: TabTitle) => boolean): Promise<{ units: TabDelivery[]; split: ViewSplit }> {
  const months = d.rows.months!;
  const split: ViewSplit = { d, monthly: true, state, units: new Map(), skipped: [] };
  const units: TabDelivery[] = [];
  const changed = await months.changedSince(d.cursor.deliveredSeq);
  const listed = new Set(months.list.map((m) => m.month));
  // A month whose tab holds rows of another epoch but that has no row in this one (REPORT_TIMEZONE changed: its
  // contents now belong to a neighbouring month): its tab is emptied down to the header, or its rows would be
  // shown twice, there and in the month they moved to.
  for (const [month, tabState] of Object.entries(state.months)) {
    if (listed.has(month) || tabState.nextRow <= 1 || tabState.epoch?.startsWith(`${d.epoch}#`) || (droppedThrough !== undefined && month <= droppedThrough)) continue;
    const tab = monthTitle(d.view, month);
    if (!exists(tab)) continue;
    split.units.set(tab, month);
    units.push({ ...d, tab, epoch: `${d.epoch}#0`, rows: NO_ROWS, pending: 0, cursor: { ...d.cursor, deliveredRows: tabState.nextRow - 1, state: tabState } });
  }
  for (const m of months.list) {
    const tabState = state.months[m.month];
    // The month's positions belong to its last renumbering: a new one (or a new epoch) means the tab is written whole.
    const epoch = `${d.epoch}#${m.resetSeq}`;
    const due = changed.has(m.month) || !tabState || tabState.epoch !== epoch || m.resetSeq > d.cursor.deliveredSeq;
    if (!due || (m.total === 0 && !tabState)) continue;
    if (droppedThrough !== undefined && m.month <= droppedThrough) {
      split.skipped.push(m.month);
      continue;
    }
    const rows = months.rows(m.month);
    const known = tabState ? tabState.nextRow - 1 : 0;
    const tab = monthTitle(d.view, m.month);
    split.units.set(tab, m.month);
    units.push({ ...d, tab, epoch, rows, pending: await rows.countChanged(d.cursor.deliveredSeq, known), cursor: { ...d.cursor, deliveredRows: known, state: tabState } });
  }
  return { units, split };
}

/**
 * Pure but for reading the rows pending: the tab deliveries of each view. With
 * SHEETS_PARTITION=none, or for a view that is not split by month (the daily
 * views), one unit: the view's tab. With `month`, one unit per month that has
 * rows to write, each aimed at its `<view> <yyyy-mm>` tab; months up to
 * `droppedThrough` are skipped (dropped tabs are not brought back).
 * `currentMonth` is the month of the sync in REPORT_TIMEZONE. `exists`: is
 * there a tab of that title (a keyed month left without rows empties its tab
 * only when the tab is there).
 */
export async function splitViews(
  deliveries: readonly ViewDelivery[],
  o: { partition: Partition; droppedThrough?: string | undefined; currentMonth: string; exists?: (title: TabTitle) => boolean },
): Promise<{ units: TabDelivery[]; splits: ViewSplit[] }> {
  const units: TabDelivery[] = [];
  const splits: ViewSplit[] = [];
  for (const d of deliveries) {
    // A keyed view whose store gives no months yet stays one tab.
    const monthly = o.partition === 'month' && splitByMonth(d.view) && (d.kind === 'log' || d.rows.months !== undefined);
    if (!monthly) {
      const state = d.cursor.state;
      // A view split before and now not (SHEETS_PARTITION back to none) continues its single tab from before.
      const unit = isMonthViewState(state) ? { ...d, cursor: { ...d.cursor, state: state.legacy } } : d;
      units.push(unit);
      splits.push({ d, monthly: false, state: undefined, units: new Map([[d.view, '']]), skipped: [] });
      continue;
    }
    const state = monthStateOf(d, d.zone);
    const through = later(state.droppedThrough, o.droppedThrough);
    const part = d.kind === 'log' ? await splitLog(d, state, through, o.currentMonth) : await splitKeyed(d, state, through, o.exists ?? (() => true));
    units.push(...part.units);
    splits.push(part.split);
  }
  return { units, splits };
}

/**
 * Pure: a view's outcome from its tabs' outcomes. A view succeeds only when
 * each of its tabs did (its cursor is one): otherwise the errors of its tabs,
 * and the next sync writes the same rows again (the tabs that took them find
 * them there and write them in place). `dropped`: months whose tabs this sync
 * dropped (every view forgets them); `droppedThrough`: the spreadsheet's
 * record of drops.
 */
export function joinOutcome(split: ViewSplit, tabs: ReadonlyMap<TabTitle, TabOutcome>, droppedThrough: string | undefined): ViewOutcome {
  const { d } = split;
  const outcomes = [...split.units.keys()].map((t) => tabs.get(t) ?? { view: t, ok: false as const, error: `tab "${t}": not delivered` });
  const failed = outcomes.filter((o): o is Extract<TabOutcome, { ok: false }> => !o.ok);
  if (failed.length > 0) return { view: d.view, ok: false, error: failed.map((f) => f.error).join('; ') };
  const ok = outcomes.filter((o): o is Extract<TabOutcome, { ok: true }> => o.ok);
  const rows = ok.reduce((n, o) => n + o.receipt.rows, 0);
  if (!split.monthly) {
    const only = ok[0];
    if (!only) return { view: d.view, ok: false, error: 'not delivered' };
    return { view: d.view, ok: true, receipt: only.receipt };
  }
  const state = split.state!;
  const through = later(state.droppedThrough, droppedThrough);
  const months: Record<string, MonthTabState> = {};
  for (const [month, s] of Object.entries(state.months)) if (through === undefined || month > through) months[month] = s;
  for (const o of ok) {
    const month = split.units.get(o.view)!;
    if (through !== undefined && month <= through) continue;
    const before = state.months[month];
    const since = before?.since ?? d.cursor.deliveredSeq;
    months[month] = { ...(o.receipt.state as SheetViewState), since };
  }
  const next: MonthViewState = { ...state, months, ...(through !== undefined ? { droppedThrough: through } : {}) };
  const totalRows = d.kind === 'keyed' ? d.rows.total : d.cursor.deliveredRows + d.pending;
  return { view: d.view, ok: true, receipt: { rows, totalRows, state: next } };
}
