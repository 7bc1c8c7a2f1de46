import { randomInt, randomUUID } from 'node:crypto';
import type { sheets_v4 } from '@googleapis/sheets';
import type { Logger } from 'pino';
import { monthOfDay, type Partition } from '../../model/partition.js';
import type { DeliveryControl, RunFacts, SyncTarget, ViewDelivery, ViewOutcome } from '../../model/sync.js';
import { dayIn } from '../../model/time.js';
import type { ViewName } from '../../model/views.js';
import type { SheetsAuth } from './auth.js';
import { anchorRows, hashRow, keepAnchors, type Anchor } from './anchors.js';
import { isEmptyRow, MAX_SPREADSHEET_CELLS, type SheetCell } from './cells.js';
import { sendIsolating, whatFor } from './isolate.js';
import { AUTO_DROP_SHARE, dropRequests, keepWindowThrough, monthsBefore, monthTabs, planDrops, retentionThrough, type KeepMonths } from './keep-months.js';
import type { LimiterOptions } from './limiter.js';
import { isMonthViewState, joinOutcome, later, parseMonthTitle, splitViews, type ViewSplit } from './month-tabs.js';
import { packValues, requestBytes, toValueRanges, valueJob } from './pack-values.js';
import { fitBudget, goalRequests, protectRequests, type TabExtras } from './plan-grid.js';
import { endRow, markerValue, MAX_READ_RANGES, parseTabs, planViews, readBackChecks, sheetIdOf, titleOf, type ReadCheck, type SheetViewState, type SpreadsheetTabs, type TabDelivery, type TabOutcome, type TabTitle, type ViewPlan } from './plan-views.js';
import type { RetryOptions } from './retry.js';
import { abortReason, errorMessage as message } from '../../lib/text.js';
import { createSheetsClient, refusedForContent, type SheetsSession, type SheetsStats } from './sheets-client.js';
import { findStatusTab, statusEntry, statusGrowth, statusLabelsMoved, statusTabRequests, STATUS_LABELS, STATUS_TITLE, type SyncStatus, type ViewStatus } from './status-tab.js';
import { a1 } from './a1.js';
import { placeNewTabs } from './tab-order.js';
import { adoptedRows, collectReadBack, verifyView, type ReadBack } from './verify-views.js';
import { zoneNotice } from './zones.js';

export { SheetsTargetError, type SheetsStats } from './sheets-client.js';
export type { SheetViewState } from './plan-views.js';

export interface SheetsTargetOptions {
  spreadsheetId: string;
  auth: SheetsAuth;
  /** SHEETS_API_ROOT_URL (emulators, proxies); Google's when unset. */
  rootUrl?: string | undefined;
  limiter?: LimiterOptions;
  retry?: RetryOptions;
  /** Largest values.batchUpdate body (Google recommends about 2 MB; default 2 MiB). */
  maxRequestBytes?: number;
  /** Extra empty rows when an existing tab must grow, so most syncs need no grid change. */
  growSlackRows?: number;
  /**
   * REPORT_TIMEZONE (IANA; default UTC): date-time cells hold the wall clock
   * of this zone. A tab written in another zone is written again in this one.
   */
  reportTimezone?: string;
  logger?: Logger;
  /** SHEETS_VIEWS: the views synced to Sheets (default: all). The others get an ok outcome with 0 rows and keep their state. */
  views?: readonly ViewName[];
  /**
   * SHEETS_PARTITION: `month` gives each view split by month (model/partition.ts) a tab per month,
   * `<view> <yyyy-mm>`; `none` one tab per view. Default here `none` (the settings default is `month`).
   */
  partition?: Partition;
  /** SHEETS_KEEP_MONTHS (with `month`): `auto` (default), a number of months, or `all`. */
  keepMonths?: KeepMonths;
  /** SHEETS_ON_CONFLICT: `rebuild` a synced tab found sorted or edited, or `stop` its view (default here `stop`, the settings default is `rebuild`). */
  onConflict?: 'rebuild' | 'stop';
  /** Keep the `ember-sync` status tab (default false here; the product has it on). */
  statusTab?: boolean;
  /** Give synced tabs a warning-only protected range (default false here; the product has it on). */
  protectTabs?: boolean;
  /** The spreadsheet's cell limit (Google: 10,000,000); `auto` drops month tabs from 90% of it. Lowered in tests. */
  cellBudget?: number;
  /** The clock, when the engine gives no run facts (tests). */
  now?: () => Date;
}

const randomSheetId = () => randomInt(1, 2 ** 31 - 1);

/** What one view wrote so far in this sync, and the anchors it takes on the way. */
interface Progress {
  /** The row after the last row of the view written so far. */
  end: number;
  /** The view's last row (0-based): rows written past it clear rows that were ours (a keyed view that shrank). */
  limit: number;
  /** Rows of the view written (not the header, not rows cleared). */
  rows: number;
  /** Anchors from before this sync (verified by its read-back). */
  kept: Anchor[];
  /** Rows of this sync worth anchoring (and anchors kept whose rows are written again: they take their new hash). */
  wanted: Set<number>;
  added: Anchor[];
  /** The last row of the view written. */
  last: Anchor | undefined;
}

function startProgress(plan: ViewPlan): Progress {
  const fresh = (total: number, limit = Infinity): Progress => ({ end: 1, limit, rows: 0, kept: [], wanted: new Set(anchorRows(1, total)), added: [], last: undefined });
  switch (plan.mode) {
    case 'append': {
      const { state, d } = plan;
      if (plan.retime) return fresh(state.nextRow + d.pending - 1);
      // A state from before anchors: its last row was checked by the read-back; anchoring starts from it.
      const kept = state.anchors ?? (state.last && state.nextRow > 1 && !isEmptyRow(state.last) ? [{ row: state.nextRow - 1, hash: hashRow(state.last) }] : []);
      return { end: state.nextRow, limit: Infinity, rows: 0, kept, wanted: new Set(anchorRows(state.nextRow, state.nextRow + d.pending - 1)), added: [], last: undefined };
    }
    case 'update': {
      const { state, known, d } = plan;
      const kept = state.anchors ?? [];
      const wanted = new Set([...anchorRows(known + 1, d.rows.total), ...kept.map((a) => a.row)]);
      return { end: known + 1, limit: d.rows.total, rows: 0, kept, wanted, added: [], last: undefined };
    }
    case 'rewrite':
    case 'rebuild':
      return fresh(plan.total, plan.total);
    default:
      return fresh(plan.total, plan.d.kind === 'keyed' ? plan.total : Infinity);
  }
}

/** Rows firstRow.. were written (confirmed by the API). */
function written(p: Progress, firstRow: number, values: readonly SheetCell[][]): void {
  values.forEach((cells, i) => {
    const row = firstRow + i;
    if (row > p.limit) return;
    p.rows++;
    const empty = isEmptyRow(cells);
    if (p.wanted.has(row) && !empty) p.added.push({ row, hash: hashRow(cells) });
    if (row + 1 >= p.end) {
      p.end = row + 1;
      if (!empty) p.last = { row, hash: hashRow(cells) };
    }
  });
}

/** The anchors committed with the cursor: the ones kept, those of this sync and its last row, thinned (a later anchor of a row replaces an earlier one). */
const anchorsAfter = (p: Progress) => keepAnchors([...p.kept, ...p.added, ...(p.last ? [p.last] : [])]);

/** The outcome of every tab of one delivery, filled step by step; the first word on a tab stands. */
function tabOutcomes() {
  const outcomes = new Map<TabTitle, TabOutcome>();
  return {
    outcomes: outcomes as ReadonlyMap<TabTitle, TabOutcome>,
    decided: (tab: TabTitle) => outcomes.has(tab),
    set(outcome: TabOutcome) {
      if (!outcomes.has(outcome.view)) outcomes.set(outcome.view, outcome);
    },
    fail(tab: TabTitle, err: unknown) {
      if (!outcomes.has(tab)) outcomes.set(tab, { view: tab, ok: false, error: message(err) });
    },
    failAll(tabs: Iterable<TabTitle>, err: unknown) {
      for (const tab of tabs) this.fail(tab, err);
    },
  };
}

/**
 * The Google Sheets target: one tab per view (named as the view), or with
 * `partition: 'month'` one per view and month (`<view> <yyyy-mm>`, see
 * month-tabs.ts; the daily views stay whole), in SHEETS_SPREADSHEET_ID. Every
 * tab is planned, checked and written on its own; a view's outcome joins its
 * tabs' (one cursor per view). Header row frozen and kept equal to the view's
 * columns, rows written with valueInputOption RAW to explicit ranges at the row
 * positions the target tracks (never values.append and its table guessing).
 * Date-time cells are serial numbers of REPORT_TIMEZONE's wall clock, days date
 * cells, booleans booleans.
 *
 * Append-only views: new rows after the ones written. Keyed views (rows that
 * are the current truth per key, each key at a fixed position for life):
 * changed rows written where they are, new keys after the last; a new epoch
 * (or REPORT_TIMEZONE) rewrites the tab whole and clears what was ours below.
 *
 * Exactly once: the row position moves with the cursor, after the API
 * confirmed. Before writing, the header, rows written before (anchors: the
 * first, the last, and some spread over the tab), the key cells of the rows
 * about to be updated and the rows about to be added are read back
 * (verify-views.ts): they must be ours, a row to update must still hold its
 * key, and the rows ahead must be empty or what we are about to write (an
 * append) or hold the same keys (a keyed view). Anything else stops that view
 * with an error in status, and their cells are never overwritten — or, with
 * `onConflict: 'rebuild'`, rewrites the tab whole from the database in place
 * (a tab an analyst sorted or edited). Filters and filter views move no row:
 * they are never conflicts. A sync that
 * writes a tab whole announces it first on the tab (a marker in developer
 * metadata): one that dies half-way is seen by the next.
 *
 * Per sync: one metadata read, one batched read-back (at most ~100 ranges),
 * at most one structural batchUpdate (absolute sizes: a retry after a lost
 * answer re-reads the metadata and sends only what is missing), one
 * values.batchUpdate per ~2 MB — every view in the same requests. One view
 * never stops the others: it is checked against Sheets' limits before
 * sending, and a batch Google refuses is sent again view by view. Once
 * `signal` is aborted no request is sent. The month tabs SHEETS_KEEP_MONTHS
 * drops, and those of the months RETENTION_DAYS deleted from the store
 * (ViewDelivery.retainFrom), go in the structural request (with a record
 * of the drop, so that a sync dying before its cursor commit leaves them
 * dropped); the `ember-sync`
 * status tab's cells ride with the last values request (a request of their
 * own only when there is none, or when the outcome changed after it).
 * `notices()` tells what the operator should know from the last deliver (the
 * spreadsheet's own time zone differs from REPORT_TIMEZONE, tabs rebuilt or
 * dropped).
 */
export function createSheetsTarget(o: SheetsTargetOptions): SyncTarget & { stats: SheetsStats } {
  const client = createSheetsClient(o);
  const maxBytes = o.maxRequestBytes ?? 2 * 1024 * 1024;
  const slack = o.growSlackRows ?? 500;
  const zone = o.reportTimezone ?? 'UTC';
  const chosen = o.views ? new Set<ViewName>(o.views) : undefined;
  const partition = o.partition ?? 'none';
  const keep = o.keepMonths ?? 'auto';
  const onConflict = o.onConflict ?? 'stop';
  const budget = o.cellBudget ?? MAX_SPREADSHEET_CELLS;
  const clock = o.now ?? (() => new Date());
  /** What the operator should know from the last deliver. */
  let notices: string[] = [];

  /** Reads back what the plans build on; a tab whose ranges Google refuses fails alone. */
  async function readBack(s: SheetsSession, checks: readonly ReadCheck[], refuse: (tab: TabTitle, err: unknown) => void): Promise<Map<TabTitle, ReadBack>> {
    const seen = new Map<TabTitle, ReadBack>();
    await sendIsolating(
      checks,
      async (part, tabs) => {
        const values = await s.retrying(whatFor(tabs, 'reading back the rows about to be written', 'reading back tab'), () => s.readRanges(part.map((c) => c.range)));
        for (const [tab, found] of collectReadBack(part, values)) seen.set(tab, found);
      },
      refusedForContent,
      refuse,
    );
    return seen;
  }

  /**
   * Brings the spreadsheet to its shape in one batchUpdate (month tabs dropped, the status tab, new and grown
   * tabs). After a failure whose answer may have been lost, the metadata is re-read and only what is missing is sent.
   */
  async function shapeTabs(s: SheetsSession, sheet: SpreadsheetTabs, parts: readonly Shape[], tabs: readonly string[]): Promise<void> {
    let now = sheet;
    await s.retrying(whatFor(tabs, 'creating or growing tabs', 'creating or growing tab'), async (attempt) => {
      if (attempt > 1) now = parseTabs(await s.readTabs());
      const requests = parts.flatMap((p) => p.requests(now));
      if (requests.length > 0) await s.updateStructure(requests);
    });
  }

  async function deliver(deliveries: ViewDelivery[], control: DeliveryControl = {}): Promise<ViewOutcome[]> {
    const { signal } = control;
    const s = client.session(control);
    notices = [];
    const stopped = () => (signal?.aborted ? `the sync was stopped: ${abortReason(signal)}` : undefined);
    // Views left out of SHEETS_VIEWS: nothing sent, their state kept as it is.
    const skipped = deliveries.filter((d) => chosen && !chosen.has(d.view));
    const synced = deliveries.filter((d) => !chosen || chosen.has(d.view));
    const finish = (views: ViewOutcome[]): ViewOutcome[] => {
      const byView = new Map(views.map((v) => [v.view, v]));
      for (const d of skipped) byView.set(d.view, { view: d.view, ok: true, receipt: { rows: 0, totalRows: d.cursor.deliveredRows, state: d.cursor.state } });
      const why = stopped();
      return deliveries.map((d) => {
        const v = byView.get(d.view) ?? { view: d.view, ok: false as const, error: 'not delivered' };
        // A stopped sync commits nothing: every view is reported as not delivered.
        return why !== undefined && v.ok && !skipped.includes(d) ? { view: d.view, ok: false as const, error: why } : v;
      });
    };

    // 1. The tabs as they are now, and the spreadsheet's time zone.
    let sheet: SpreadsheetTabs;
    try {
      sheet = parseTabs(await s.retrying('reading the spreadsheet', () => s.readTabs()));
    } catch (err) {
      return finish(synced.map((d) => ({ view: d.view, ok: false, error: message(err) })));
    }
    const notice = zoneNotice(sheet.timeZone, zone);
    if (notice) notices.push(notice);

    // 2. Each view's tabs: the view's own, or one per month with rows to write.
    const startedAt = control.run?.startedAt ?? clock().toISOString();
    // The current month: of REPORT_TIMEZONE, or earlier in the zone a view's month tabs began in (an append-only
    // view keeps filling the months of that zone after REPORT_TIMEZONE changed): never dropped, its rows written.
    const zones = new Set([zone, ...synced.flatMap((d) => (isMonthViewState(d.cursor.state) ? [d.cursor.state.zone] : []))]);
    const currentMonth = [...zones].map((z) => monthOfDay(dayIn(startedAt, z) ?? startedAt.slice(0, 10))).sort()[0]!;
    const windowThrough = partition === 'month' ? keepWindowThrough(keep, currentMonth) : undefined;
    // RETENTION_DAYS: the months the store deleted go like months dropped, whatever SHEETS_KEEP_MONTHS says — from every
    // view's delivery, those left out of SHEETS_VIEWS too (their month tabs hold the deleted rows as well). With
    // SHEETS_PARTITION=none (refused with RETENTION_DAYS by the settings) there is no month tab to delete.
    const retainThrough = partition === 'month' ? retentionThrough(deliveries.map((d) => d.retainFrom), currentMonth) : undefined;
    const knownThrough = later(later(sheet.droppedThrough?.month, windowThrough), retainThrough);
    const { units, splits } = await splitViews(synced, { partition, droppedThrough: knownThrough, currentMonth, exists: (title) => sheet.tabs.has(title) });
    const unitPending = new Map(units.map((u) => [titleOf(u), u.pending]));
    const tabs = await deliverTabs(s, sheet, units, control, { currentMonth, knownThrough, retainThrough, splits, skipped, startedAt, notices: [...notices], unitPending });
    const views = splits.map((split) => joinOutcome(split, tabs.outcomes, tabs.droppedThrough));
    for (const d of tabs.dropped) {
      notices.push(
        retainedTab(d, retainThrough)
          ? `tab "${d}" was deleted: RETENTION_DAYS keeps the months from ${firstKept(retainThrough!)} and its rows were deleted from SQLite`
          : `tab "${d}" was dropped (SHEETS_KEEP_MONTHS=${String(keep)}); its rows stay in SQLite and the CSV export`,
      );
    }
    for (const r of tabs.rebuilt) notices.push(`tab "${r.tab}" was rebuilt from the database: ${r.why}`);
    notices.push(...tabs.notes);
    return finish(views);
  }

  /** The status as analysts see it in the status tab, from the tabs' outcomes so far (undecided ones count as delivered). */
  function statusOf(ctx: TabsContext, outcomes: ReadonlyMap<TabTitle, TabOutcome>, extra: { cellsUsed: number; rebuilt: Rebuilt[]; dropped: string[]; notes: string[] }): SyncStatus {
    const views: ViewStatus[] = ctx.splits.map((split) => {
      const titles = [...split.units.keys()];
      const errors = titles.flatMap((t) => {
        const r = outcomes.get(t);
        return r && !r.ok ? [r.error] : [];
      });
      // Rows written: each tab's receipt, or (not written yet: the status rides with the last request) what it has to
      // write. A tab of a month dropped by this sync wrote nothing; months dropped before have no tab here.
      const rowsOf = (t: TabTitle) => {
        const r = outcomes.get(t);
        return r?.ok ? r.receipt.rows : (ctx.unitPending.get(t) ?? 0);
      };
      const written = titles.reduce((n, t) => n + rowsOf(t), 0);
      return {
        view: split.d.view,
        pending: errors.length > 0 ? split.d.pending : 0,
        written: errors.length > 0 ? 0 : written,
        tabs: split.d.pending > 0 ? titles.filter((t) => rowsOf(t) > 0 || outcomes.get(t)?.ok === false) : [],
        ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
      };
    });
    for (const d of ctx.skipped) views.push({ view: d.view, pending: 0, written: 0, tabs: [], skipped: true });
    const retained = extra.dropped.filter((t) => retainedTab(t, ctx.retainThrough));
    return {
      run: ctx.run,
      now: ctx.startedAt,
      zone,
      views,
      cellsUsed: extra.cellsUsed,
      cellBudget: budget,
      rebuilt: extra.rebuilt,
      dropped: extra.dropped.filter((t) => !retained.includes(t)),
      ...(retained.length > 0 ? { retained, retainFrom: firstKept(ctx.retainThrough!) } : {}),
      notes: [...ctx.notices, ...extra.notes],
    };
  }

  /**
   * The tabs of one sync: planned, read back and checked, shaped (with the
   * month tabs dropped and the status tab) in one batchUpdate, written in
   * values.batchUpdates of ~2 MB — the status tab's cells in the last of them.
   */
  async function deliverTabs(s: SheetsSession, sheet: SpreadsheetTabs, units: TabDelivery[], control: DeliveryControl, base: Omit<TabsContext, 'run'>): Promise<TabsResult> {
    const ctx: TabsContext = { ...base, ...(control.run ? { run: control.run } : {}) };
    const out = tabOutcomes();
    const undecided = (plans: readonly ViewPlan[]) => plans.filter((p) => !out.decided(titleOf(p.d)));
    const titles = (plans: readonly ViewPlan[]) => plans.map((p) => titleOf(p.d));
    /** Tabs being rebuilt, and why; reported as rebuilt unless their write failed. */
    const rebuilding = new Map<TabTitle, string>();
    const rebuilt = (): Rebuilt[] => [...rebuilding].filter(([tab]) => out.outcomes.get(tab)?.ok !== false).map(([tab, why]) => ({ tab, why }));
    const notes: string[] = [];
    let dropped: string[] = [];
    let droppedThrough = ctx.knownThrough;
    let cellsUsed = sheet.cells;
    const result = (): TabsResult => ({ outcomes: out.outcomes, dropped, droppedThrough, rebuilt: rebuilt(), notes });
    const statusTab = o.statusTab === true;
    // The status tab as it is (renamed in another case by an analyst, it is still the one: Google would refuse a second).
    const statusFound = statusTab ? findStatusTab(sheet.tabs) : undefined;
    const statusTitle = statusFound?.title ?? STATUS_TITLE;
    let statusReady = statusTab && statusFound !== undefined;
    let statusSent: string | undefined;
    const status = () => statusOf(ctx, out.outcomes, { cellsUsed, rebuilt: rebuilt(), dropped, notes });
    /** The status alone, in a request of its own: only when no values request could carry it, or it changed after. */
    const sendStatus = async () => {
      if (!statusReady || control.signal?.aborted) return;
      const entry = statusEntry(status(), statusTitle);
      const text = JSON.stringify(entry.values);
      if (text === statusSent) return;
      try {
        await s.retrying('writing the status tab', () => s.writeValues(toValueRanges([entry]), requestBytes([entry])));
        statusSent = text;
      } catch (err) {
        notes.push(`the status tab "${STATUS_TITLE}" could not be written: ${message(err)}`);
      }
    };

    // Plans. With SHEETS_ON_CONFLICT=rebuild, a tab a sync left half rebuilt is rebuilt again (its marker tells).
    const planned = await planViews(units, sheet, randomSheetId, zone);
    planned.done.forEach((d) => out.set(d));
    let plans = planned.plans.map((p) => (onConflict === 'rebuild' && p.mode === 'append' && p.retime && p.tab.marker && p.tab.marker.rewrite !== p.state.rewrite ? rebuildOf(p, 'a sync had died while rebuilding it; rebuilt again') : p));
    for (const p of plans) if (p.mode === 'rebuild') rebuilding.set(titleOf(p.d), p.why);

    // Read back what we are about to build on, in one request; a tab changed by hand is rebuilt or stops its view.
    const checks = readBackChecks(plans, statusReady ? MAX_READ_RANGES - 1 : MAX_READ_RANGES);
    // When rows are read back anyway, the status tab's labels too (no request more): a status tab sorted or edited by
    // hand gets its formats put back (its time cell's format went wherever the sort moved the row).
    // (Never past its grid: a range past it is refused, and the whole read-back would be sent again tab by tab.)
    if (statusReady && statusFound && checks.length > 0) {
      checks.push({ view: STATUS_TITLE, kind: 'rows', firstRow: 0, range: a1(statusTitle, 0, 0, Math.min(STATUS_LABELS.length, statusFound.tab.rowCount) - 1, 0), width: 1 });
    }
    let seen = new Map<TabTitle, ReadBack>();
    /** The plan as it goes on after the read-back: as it was, rebuilt, or (its view stopped) decided. */
    const checked = async (plan: ViewPlan): Promise<ViewPlan> => {
      if (out.decided(titleOf(plan.d))) return plan;
      const problem = await verifyView(plan, seen.get(titleOf(plan.d)), zone);
      if (!problem) return plan;
      if (onConflict === 'rebuild' && (plan.mode === 'append' || plan.mode === 'update' || plan.mode === 'rewrite')) {
        rebuilding.set(titleOf(plan.d), problem);
        return rebuildOf(plan, problem);
      }
      out.fail(titleOf(plan.d), problem);
      return plan;
    };
    if (checks.length > 0) {
      try {
        seen = await readBack(s, checks, (tab, err) => (tab === STATUS_TITLE ? undefined : out.fail(tab, err)));
      } catch (err) {
        out.failAll(titles(plans), err);
        await sendStatus();
        return result();
      }
    }
    const verified: ViewPlan[] = [];
    for (const plan of plans) verified.push(await checked(plan));
    plans = verified;

    // Structure: dropped month tabs, the status tab, new tabs (exact grid, frozen header, protected), grown grids,
    // date-time formats, the marker of each tab about to be written whole — one request, within the cell budget.
    const rewrites = new Map<TabTitle, string>();
    const markers = new Map<TabTitle, string>();
    for (const plan of undecided(plans)) {
      if (plan.mode === 'update' || (plan.mode === 'append' && !plan.retime)) continue;
      const rewrite = randomUUID();
      const rows = Math.max(endRow(plan) - 1, plan.mode === 'rebuild' ? plan.clearThrough : 0);
      rewrites.set(titleOf(plan.d), rewrite);
      markers.set(titleOf(plan.d), markerValue({ rewrite, zone, rows }));
    }
    const extras = (): TabExtras => ({ protect: o.protectTabs === true });
    const wanted = fitBudget(undecided(plans), 0, slack, Infinity, markers, extras).goals;
    const statusGrow = statusTab ? statusGrowth(statusFound?.tab) : 0;
    const statusMoved = statusLabelsMoved(seen.get(STATUS_TITLE)?.rows);
    const growth = wanted.reduce((n, g) => n + g.growth, 0) + statusGrow;
    // The month of each month tab this sync writes, and the cells its tabs would add by month: `auto` may drop a
    // month this sync was about to write (a first sync of a long history), which then writes nothing there.
    const unitMonth = new Map<TabTitle, string>();
    for (const split of ctx.splits) if (split.monthly) for (const [title, month] of split.units) unitMonth.set(title, month);
    const monthGrowth = new Map<string, number>();
    for (const p of undecided(plans)) {
      const m = unitMonth.get(titleOf(p.d));
      if (m !== undefined) monthGrowth.set(m, monthGrowth.get(m) ?? 0);
    }
    for (const g of wanted) {
      const m = unitMonth.get(g.view);
      if (m !== undefined) monthGrowth.set(m, (monthGrowth.get(m) ?? 0) + g.growth);
    }
    const drops =
      partition === 'month'
        ? planDrops({ keep, tabs: monthTabs(sheet.tabs), currentMonth: ctx.currentMonth, planned: monthGrowth, cells: sheet.cells, growth, threshold: budget * AUTO_DROP_SHARE, droppedThrough, retainThrough: ctx.retainThrough })
        : { drop: [], months: [], through: droppedThrough };
    const droppedMonths = new Set(drops.months);
    /** Plans of months this sync drops: not written (decided once the drop went through). */
    const unwritten = undecided(plans).filter((p) => droppedMonths.has(unitMonth.get(titleOf(p.d)) ?? ''));
    for (const p of unwritten) rebuilding.delete(titleOf(p.d));
    const live0 = undecided(plans).filter((p) => !unwritten.includes(p));
    const freed = drops.drop.reduce((n, t) => n + t.cells, 0);
    const { goals, refused } = fitBudget(live0, sheet.cells - freed + statusGrow, slack, budget, markers, extras);
    for (const r of refused) out.fail(r.view, `${r.error} ${keepHint(keep, partition, drops.drop.length)}`);
    placeNewTabs(goals, sheet, drops.drop.map((t) => t.title), statusTab && !statusFound);
    const parts: Shape[] = [];
    if (drops.drop.length > 0 || (drops.through !== undefined && drops.through !== sheet.droppedThrough?.month)) {
      parts.push({ view: DROP_PART, requests: (now) => dropRequests(drops.drop, drops.through, now) });
    }
    const statusId = statusFound?.tab.sheetId ?? randomSheetId();
    if (statusTab) parts.push({ view: STATUS_TITLE, requests: (now) => statusTabRequests(statusId, findStatusTab(now.tabs)?.tab, statusMoved) });
    parts.push(...goals.map((g): Shape => ({ view: g.view, requests: (now) => goalRequests(g, now.tabs.get(g.view)) })));
    if (o.protectTabs === true) {
      // Tabs synced before protection existed, not written in this sync: protected once, in the same request.
      const tracked = trackedSheetIds(ctx.splits);
      const shaped = new Set(goals.map((g) => g.sheetId));
      parts.push({ view: PROTECT_PART, requests: (now) => [...now.tabs.values()].filter((t) => tracked.has(t.sheetId) && !shaped.has(t.sheetId)).flatMap((t) => protectRequests({ sheetId: t.sheetId, protect: true }, t)) });
    }
    let dropRefused = false;
    let statusRefused = false;
    try {
      await sendIsolating(
        parts.filter((p) => p.requests(sheet).length > 0),
        (part, names) => shapeTabs(s, sheet, part, names),
        refusedForContent,
        (name, err) => {
          if (name === DROP_PART) {
            dropRefused = true;
            notes.push(`the oldest month tabs could not be dropped: ${message(err)}`);
          } else if (name === PROTECT_PART) notes.push(`synced tabs could not be given their warning-only protection: ${message(err)}`);
          else if (name === STATUS_TITLE) {
            statusRefused = true;
            notes.push(`the status tab "${STATUS_TITLE}" could not be added: ${message(err)}`);
          } else out.fail(name, err);
        },
      );
    } catch (err) {
      out.failAll(titles(undecided(plans)), err);
      await sendStatus();
      return result();
    }
    if (!dropRefused) {
      dropped = drops.drop.map((t) => t.title);
      droppedThrough = drops.through;
      cellsUsed -= freed;
      // Their month is gone for good: nothing to write there (joinOutcome forgets the month).
      for (const p of unwritten) out.set({ view: titleOf(p.d), ok: true, receipt: { rows: 0, totalRows: 0, state: null } });
      const untabbed = drops.months.filter((m) => !drops.drop.some((t) => t.month === m));
      if (untabbed.length > 0) {
        notes.push(
          `month${untabbed.length === 1 ? '' : 's'} ${untabbed.join(', ')} not written to Sheets: with ${untabbed.length === 1 ? 'it' : 'them'} the spreadsheet would pass ${Math.round(budget * AUTO_DROP_SHARE).toLocaleString('en')} cells (SHEETS_KEEP_MONTHS=${String(keep)}); the rows stay in SQLite and the CSV export`,
        );
      }
    } else for (const p of unwritten) out.fail(titleOf(p.d), 'its month was to be dropped (SHEETS_KEEP_MONTHS) and the drop failed; the next sync tries again');
    if (statusTab && !statusRefused) {
      statusReady = true;
      cellsUsed += statusGrow;
    }
    cellsUsed += goals.filter((g) => !out.decided(g.view)).reduce((n, g) => n + g.growth, 0);

    // Values: header rows, new and changed rows of every tab, RAW, ~2 MB per request; the status rides with the last.
    const live = undecided(plans);
    const progress = new Map(live.map((p) => [titleOf(p.d), startProgress(p)]));
    // An adopted keyed tab: the rows below the view that were there are cleared.
    const jobs = live.map((p) => valueJob(p, zone, p.mode === 'adopt' ? adoptedRows(seen.get(titleOf(p.d))) : 0));
    const reserve = statusReady ? STATUS_RESERVE_BYTES : 0;
    try {
      for await (const { batch, last } of lookahead(packValues(jobs, Math.max(maxBytes - reserve, 64 * 1024), out.decided))) {
        const entries = batch.filter((e) => !out.decided(e.view));
        let statusText: string | undefined;
        if (last && statusReady && !control.signal?.aborted) {
          const entry = statusEntry(status(), statusTitle);
          statusText = JSON.stringify(entry.values);
          entries.push(entry);
        }
        await sendIsolating(
          entries,
          (part, names) => s.retrying(whatFor(names, 'writing rows', 'writing the rows of tab'), () => s.writeValues(toValueRanges(part), requestBytes(part))),
          refusedForContent,
          (name, err) => {
            if (name === STATUS_TITLE) {
              notes.push(`the status tab "${STATUS_TITLE}" could not be written: ${message(err)}`);
              statusText = undefined;
            } else out.fail(name, err);
          },
        );
        if (statusText !== undefined) statusSent = statusText;
        for (const e of entries) {
          if (e.isHeader || out.decided(e.view)) continue;
          written(progress.get(e.view)!, e.firstRow, e.values);
        }
      }
    } catch (err) {
      out.failAll(titles(undecided(live)), err);
      await sendStatus();
      return result();
    }
    const shaped = new Map(goals.map((g) => [g.view, g.rowCount]));
    for (const plan of undecided(live)) {
      const { d } = plan;
      const title = titleOf(d);
      const p = progress.get(title)!;
      const keyed = d.kind === 'keyed';
      // A keyed view holds rows 1..total now, whatever rows this sync had to write.
      const nextRow = keyed ? endRow(plan) : p.end;
      // Without a structural change the grid was fully formatted already (else formats would have been sent).
      const formattedRows = shaped.get(title) ?? ('tab' in plan && plan.mode !== 'adopt' ? plan.tab.rowCount : nextRow);
      const rewrite = rewrites.get(title) ?? ('state' in plan ? plan.state.rewrite : undefined);
      const state: SheetViewState = { sheetId: sheetIdOf(plan), nextRow, header: d.header, anchors: anchorsAfter(p), formattedRows, timeZone: zone, ...(keyed ? { epoch: d.epoch } : {}), ...(rewrite ? { rewrite } : {}) };
      out.set({ view: title, ok: true, receipt: { rows: keyed ? p.rows : d.pending, totalRows: nextRow - 1, state } });
    }
    // No values request carried the status, or its outcome changed since: one request of its own.
    await sendStatus();
    return result();
  }

  return { name: 'sheets', ...(o.views ? { views: o.views } : {}), stats: client.stats, deliver, notices: () => [...notices] };
}

/** Room kept in the last values request for the status tab's cells. */
const STATUS_RESERVE_BYTES = 32 * 1024;
/** The names parts of a structural request that are no tab's go by when Google refuses them. */
const DROP_PART = 'dropping month tabs';
const PROTECT_PART = 'protecting synced tabs';

/** The tabs the views' states say are ours (each view's tab, or its month tabs). */
function trackedSheetIds(splits: readonly ViewSplit[]): Set<number> {
  const ids = new Set<number>();
  for (const split of splits) {
    if (split.monthly) for (const m of Object.values(split.state?.months ?? {})) ids.add(m.sheetId);
    else {
      const state = split.d.cursor.state as Partial<SheetViewState> | null | undefined;
      if (typeof state?.sheetId === 'number') ids.add(state.sheetId);
    }
  }
  return ids;
}

type Rebuilt = { tab: TabTitle; why: string };

interface TabsContext {
  currentMonth: string;
  knownThrough: string | undefined;
  /** RETENTION_DAYS: month tabs up to this month go, whatever SHEETS_KEEP_MONTHS says (see retentionThrough). */
  retainThrough: string | undefined;
  splits: ViewSplit[];
  skipped: ViewDelivery[];
  startedAt: string;
  /** What the operator should know before the tabs (the spreadsheet's time zone): shown in the status tab too. */
  notices: string[];
  /** Rows each tab has to write (its unit's pending). */
  unitPending: ReadonlyMap<TabTitle, number>;
  run?: RunFacts;
}

interface TabsResult {
  outcomes: ReadonlyMap<TabTitle, TabOutcome>;
  dropped: TabTitle[];
  droppedThrough: string | undefined;
  rebuilt: Rebuilt[];
  notes: string[];
}

/** A part of the structural request: its requests given the spreadsheet as (re-)read. */
interface Shape {
  view: string;
  requests: (now: SpreadsheetTabs) => sheets_v4.Schema$Request[];
}

/** Each batch with whether it is the last (packing runs one batch ahead of the sending). */
async function* lookahead<T>(it: AsyncIterable<T>): AsyncGenerator<{ batch: T; last: boolean }> {
  let prev: { value: T } | undefined;
  for await (const value of it) {
    if (prev) yield { batch: prev.value, last: false };
    prev = { value };
  }
  if (prev) yield { batch: prev.value, last: true };
}

/** A tab changed by hand, written again whole from the database in place (SHEETS_ON_CONFLICT=rebuild). */
function rebuildOf(plan: Extract<ViewPlan, { mode: 'append' | 'update' | 'rewrite' }>, why: string): ViewPlan {
  const total = plan.d.kind === 'keyed' ? plan.d.rows.total : plan.state.nextRow - 1 + plan.d.pending;
  return { mode: 'rebuild', d: plan.d, state: plan.state, tab: plan.tab, total, clearThrough: plan.tab.rowCount - 1, why };
}

/** The first month RETENTION_DAYS keeps: the one after `retainThrough`. */
const firstKept = (retainThrough: string): string => monthsBefore(retainThrough, -1);

/** A month tab deleted for RETENTION_DAYS (its month is up to `retainThrough`) rather than for SHEETS_KEEP_MONTHS. */
function retainedTab(title: TabTitle, retainThrough: string | undefined): boolean {
  const month = parseMonthTitle(title)?.month;
  return retainThrough !== undefined && month !== undefined && month <= retainThrough;
}

/** What the operator can do when a tab does not fit, given SHEETS_KEEP_MONTHS. */
function keepHint(keep: KeepMonths, partition: string, dropped: number): string {
  if (partition !== 'month') return 'With SHEETS_PARTITION=month, old months go to tabs of their own that SHEETS_KEEP_MONTHS can drop.';
  if (keep === 'all') return 'SHEETS_KEEP_MONTHS=all never drops month tabs: set it to auto or a number of months.';
  return `SHEETS_KEEP_MONTHS=${String(keep)} dropped ${dropped} month tab${dropped === 1 ? '' : 's'} in this sync and no older month is left to drop (the current month and the daily tabs are never dropped); the rest is this month's rows and tabs ember-sync does not sync: delete tabs of your own, lower SHEETS_VIEWS, or start a new spreadsheet.`;
}
