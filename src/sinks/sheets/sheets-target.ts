import { randomInt, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DeliveryControl, SyncTarget, ViewDelivery, ViewOutcome } from '../../model/sync.js';
import type { ViewName } from '../../model/views.js';
import type { SheetsAuth } from './auth.js';
import { anchorRows, hashRow, keepAnchors, type Anchor } from './anchors.js';
import { isEmptyRow, type SheetCell } from './cells.js';
import { sendIsolating, whatFor } from './isolate.js';
import type { LimiterOptions } from './limiter.js';
import { packValues, requestBytes, toValueRanges, valueJob } from './pack-values.js';
import { fitBudget, goalRequests, type GridGoal } from './plan-grid.js';
import { endRow, markerValue, parseTabs, planViews, readBackChecks, sheetIdOf, type ReadCheck, type SheetViewState, type SpreadsheetTabs, type ViewPlan } from './plan-views.js';
import type { RetryOptions } from './retry.js';
import { abortReason, errorMessage as message } from '../../lib/text.js';
import { createSheetsClient, refusedForContent, type SheetsSession, type SheetsStats } from './sheets-client.js';
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

/** The outcome of every view of one delivery, filled step by step; the first word on a view stands. */
function outcomesOf(deliveries: readonly ViewDelivery[]) {
  const outcomes = new Map<ViewName, ViewOutcome>();
  return {
    decided: (view: ViewName) => outcomes.has(view),
    set(outcome: ViewOutcome) {
      if (!outcomes.has(outcome.view)) outcomes.set(outcome.view, outcome);
    },
    fail(view: ViewName, err: unknown) {
      if (!outcomes.has(view)) outcomes.set(view, { view, ok: false, error: message(err) });
    },
    failAll(views: Iterable<ViewName>, err: unknown) {
      for (const view of views) this.fail(view, err);
    },
    /** One outcome per delivery, in order. */
    list(stopped?: string): ViewOutcome[] {
      return deliveries.map((d) => {
        const out = outcomes.get(d.view) ?? { view: d.view, ok: false as const, error: 'not delivered' };
        // A stopped sync commits nothing: every view is reported as not delivered.
        return stopped !== undefined && out.ok ? { view: d.view, ok: false as const, error: stopped } : out;
      });
    },
  };
}

/**
 * The Google Sheets target: one tab per view (named as the view) in
 * SHEETS_SPREADSHEET_ID, header row frozen and kept equal to the view's
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
 * with an error in status, and their cells are never overwritten. A sync that
 * writes a tab whole announces it first on the tab (a marker in developer
 * metadata): one that dies half-way is seen by the next.
 *
 * Per sync: one metadata read, one batched read-back (at most ~100 ranges),
 * at most one structural batchUpdate (absolute sizes: a retry after a lost
 * answer re-reads the metadata and sends only what is missing), one
 * values.batchUpdate per ~2 MB — every view in the same requests. One view
 * never stops the others: it is checked against Sheets' limits before
 * sending, and a batch Google refuses is sent again view by view. Once
 * `signal` is aborted no request is sent. `notices()` tells what the operator
 * should know from the last deliver (the spreadsheet's own time zone differs
 * from REPORT_TIMEZONE).
 */
export function createSheetsTarget(o: SheetsTargetOptions): SyncTarget & { stats: SheetsStats } {
  const client = createSheetsClient(o);
  const maxBytes = o.maxRequestBytes ?? 2 * 1024 * 1024;
  const slack = o.growSlackRows ?? 500;
  const zone = o.reportTimezone ?? 'UTC';
  /** What the operator should know from the last deliver. */
  let notices: string[] = [];

  /** Reads back what the plans build on; a view whose ranges Google refuses fails alone. */
  async function readBack(s: SheetsSession, checks: readonly ReadCheck[], refuse: (view: ViewName, err: unknown) => void): Promise<Map<ViewName, ReadBack>> {
    const seen = new Map<ViewName, ReadBack>();
    await sendIsolating(
      checks,
      async (part, views) => {
        const values = await s.retrying(whatFor(views, 'reading back the rows about to be written', 'reading back tab'), () => s.readRanges(part.map((c) => c.range)));
        for (const [view, found] of collectReadBack(part, values)) seen.set(view, found);
      },
      refusedForContent,
      refuse,
    );
    return seen;
  }

  /** Brings the tabs to their goals in one batchUpdate. After a failure whose answer may have been lost, the metadata is re-read and only what is missing is sent. */
  async function shapeTabs(s: SheetsSession, sheet: SpreadsheetTabs, goals: readonly GridGoal[], views: readonly ViewName[]): Promise<void> {
    let tabs = sheet.tabs;
    await s.retrying(whatFor(views, 'creating or growing tabs', 'creating or growing tab'), async (attempt) => {
      if (attempt > 1) tabs = parseTabs(await s.readTabs()).tabs;
      const requests = goals.flatMap((g) => goalRequests(g, tabs.get(g.view)));
      if (requests.length > 0) await s.updateStructure(requests);
    });
  }

  async function deliver(deliveries: ViewDelivery[], control: DeliveryControl = {}): Promise<ViewOutcome[]> {
    const { signal } = control;
    const s = client.session(control);
    const out = outcomesOf(deliveries);
    const done = () => out.list(signal?.aborted ? `the sync was stopped: ${abortReason(signal)}` : undefined);
    const undecided = (plans: readonly ViewPlan[]) => plans.filter((p) => !out.decided(p.d.view));
    const views = (plans: readonly ViewPlan[]) => plans.map((p) => p.d.view);
    notices = [];

    // 1. The tabs as they are now, and the spreadsheet's time zone.
    let sheet: SpreadsheetTabs;
    try {
      sheet = parseTabs(await s.retrying('reading the spreadsheet', () => s.readTabs()));
    } catch (err) {
      out.failAll(deliveries.map((d) => d.view), err);
      return done();
    }
    const notice = zoneNotice(sheet.timeZone, zone);
    if (notice) notices.push(notice);

    // 2. What to do per view (views with nothing new, or that Sheets cannot hold, are decided here).
    const { plans, done: decided } = planViews(deliveries, sheet, randomSheetId, zone);
    decided.forEach((d) => out.set(d));
    if (plans.length === 0) return done();

    // 3. Read back what we are about to build on, in one request, and refuse views whose area is not ours any more.
    const checks = readBackChecks(plans);
    let seen = new Map<ViewName, ReadBack>();
    if (checks.length > 0) {
      try {
        seen = await readBack(s, checks, (view, err) => out.fail(view, err));
      } catch (err) {
        out.failAll(views(plans), err);
        return done();
      }
    }
    for (const plan of undecided(plans)) {
      const problem = verifyView(plan, seen.get(plan.d.view), zone);
      if (problem) out.fail(plan.d.view, problem);
    }

    // 4. Structure: new tabs (exact grid, frozen header), grown grids, date-time formats, the marker of each tab
    // about to be written whole — one request, within the cell budget.
    const rewrites = new Map<ViewName, string>();
    const markers = new Map<ViewName, string>();
    for (const plan of undecided(plans)) {
      if (plan.mode === 'update' || (plan.mode === 'append' && !plan.retime)) continue;
      const rewrite = randomUUID();
      rewrites.set(plan.d.view, rewrite);
      markers.set(plan.d.view, markerValue({ rewrite, zone, rows: endRow(plan) - 1 }));
    }
    const { goals, refused } = fitBudget(undecided(plans), sheet.cells, slack, undefined, markers);
    refused.forEach((r) => out.fail(r.view, r.error));
    try {
      await sendIsolating(goals, (part, names) => shapeTabs(s, sheet, part, names), refusedForContent, (view, err) => out.fail(view, err));
    } catch (err) {
      out.failAll(views(undecided(plans)), err);
      return done();
    }

    // 5. Values: header rows, new rows and changed rows of every view, RAW, ~2 MB per request.
    const live = undecided(plans);
    const progress = new Map(live.map((p) => [p.d.view, startProgress(p)]));
    // An adopted keyed tab: the rows below the view that were there are cleared.
    const jobs = live.map((p) => valueJob(p, zone, p.mode === 'adopt' ? adoptedRows(seen.get(p.d.view)) : 0));
    try {
      for (const batch of packValues(jobs, maxBytes, out.decided)) {
        const entries = batch.filter((e) => !out.decided(e.view));
        await sendIsolating(
          entries,
          (part, names) => s.retrying(whatFor(names, 'writing rows', 'writing the rows of tab'), () => s.writeValues(toValueRanges(part), requestBytes(part))),
          refusedForContent,
          (view, err) => out.fail(view, err),
        );
        for (const e of entries) {
          if (e.isHeader || out.decided(e.view)) continue;
          written(progress.get(e.view)!, e.firstRow, e.values);
        }
      }
    } catch (err) {
      out.failAll(views(undecided(live)), err);
      return done();
    }
    const shaped = new Map(goals.map((g) => [g.view, g.rowCount]));
    for (const plan of undecided(live)) {
      const { d } = plan;
      const p = progress.get(d.view)!;
      const keyed = d.kind === 'keyed';
      // A keyed view holds rows 1..total now, whatever rows this sync had to write.
      const nextRow = keyed ? endRow(plan) : p.end;
      // Without a structural change the grid was fully formatted already (else formats would have been sent).
      const formattedRows = shaped.get(d.view) ?? ('tab' in plan && plan.mode !== 'adopt' ? plan.tab.rowCount : nextRow);
      const rewrite = rewrites.get(d.view) ?? ('state' in plan ? plan.state.rewrite : undefined);
      const state: SheetViewState = { sheetId: sheetIdOf(plan), nextRow, header: d.header, anchors: anchorsAfter(p), formattedRows, timeZone: zone, ...(keyed ? { epoch: d.epoch } : {}), ...(rewrite ? { rewrite } : {}) };
      out.set({ view: d.view, ok: true, receipt: { rows: keyed ? p.rows : d.pending, totalRows: nextRow - 1, state } });
    }
    return done();
  }

  return { name: 'sheets', stats: client.stats, deliver, notices: () => [...notices] };
}
