import { randomInt } from 'node:crypto';
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
import { parseTabs, planViews, readBackChecks, sheetIdOf, type ReadCheck, type SheetViewState, type SpreadsheetTabs, type ViewPlan } from './plan-views.js';
import type { RetryOptions } from './retry.js';
import { abortReason, errorMessage as message } from '../../lib/text.js';
import { createSheetsClient, refusedForContent, type SheetsSession, type SheetsStats } from './sheets-client.js';
import { collectReadBack, verifyView, type ReadBack } from './verify-views.js';

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
  logger?: Logger;
}

const randomSheetId = () => randomInt(1, 2 ** 31 - 1);

/** What one view wrote so far in this sync, and the anchors it takes on the way. */
interface Progress {
  nextRow: number;
  /** Anchors from before this sync (verified by its read-back). */
  kept: Anchor[];
  /** Rows of this sync worth anchoring. */
  wanted: Set<number>;
  added: Anchor[];
  /** The last row written. */
  last: Anchor | undefined;
}

function startProgress(plan: ViewPlan): Progress {
  if (plan.mode !== 'append') return { nextRow: 1, kept: [], wanted: new Set(anchorRows(1, plan.total)), added: [], last: undefined };
  const { state, d } = plan;
  // A state from before anchors: its last row was checked by the read-back; anchoring starts from it.
  const kept = state.anchors ?? (state.last && state.nextRow > 1 && !isEmptyRow(state.last) ? [{ row: state.nextRow - 1, hash: hashRow(state.last) }] : []);
  return { nextRow: state.nextRow, kept, wanted: new Set(anchorRows(state.nextRow, state.nextRow + d.pending - 1)), added: [], last: undefined };
}

/** Rows firstRow.. were written (confirmed by the API). */
function written(p: Progress, firstRow: number, values: readonly SheetCell[][]): void {
  values.forEach((cells, i) => {
    if (p.wanted.has(firstRow + i) && !isEmptyRow(cells)) p.added.push({ row: firstRow + i, hash: hashRow(cells) });
  });
  p.nextRow = firstRow + values.length;
  const last = values.at(-1);
  if (last && !isEmptyRow(last)) p.last = { row: p.nextRow - 1, hash: hashRow(last) };
}

/** The anchors committed with the cursor: the ones kept, those of this sync and its last row, thinned. */
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
 *
 * Exactly once: the row position moves with the cursor, after the API
 * confirmed. Before writing, the header, rows written before (anchors: the
 * first, the last, and some spread over the tab) and the rows about to be
 * written are read back (verify-views.ts): they must be ours, and
 * empty or exactly what we are about to write. Anything else stops that view
 * with an error in status, and their cells are never overwritten.
 *
 * Per sync: one metadata read, one batched read-back, at most one structural
 * batchUpdate (absolute sizes: a retry after a lost answer re-reads the
 * metadata and sends only what is missing), one values.batchUpdate per ~2 MB —
 * every view in the same requests. One view never stops the others: it is
 * checked against Sheets' limits before sending, and a batch Google refuses is
 * sent again view by view. Once `signal` is aborted no request is sent.
 */
export function createSheetsTarget(o: SheetsTargetOptions): SyncTarget & { stats: SheetsStats } {
  const client = createSheetsClient(o);
  const maxBytes = o.maxRequestBytes ?? 2 * 1024 * 1024;
  const slack = o.growSlackRows ?? 500;

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

    // 1. The tabs as they are now.
    let sheet: SpreadsheetTabs;
    try {
      sheet = parseTabs(await s.retrying('reading the spreadsheet', () => s.readTabs()));
    } catch (err) {
      out.failAll(deliveries.map((d) => d.view), err);
      return done();
    }

    // 2. What to do per view (views with nothing new, or that Sheets cannot hold, are decided here).
    const { plans, done: decided } = planViews(deliveries, sheet, randomSheetId);
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
      const problem = verifyView(plan, seen.get(plan.d.view));
      if (problem) out.fail(plan.d.view, problem);
    }

    // 4. Structure: new tabs (exact grid, frozen header), grown grids, date-time formats — one request, within the cell budget.
    const { goals, refused } = fitBudget(undecided(plans), sheet.cells, slack);
    refused.forEach((r) => out.fail(r.view, r.error));
    try {
      await sendIsolating(goals, (part, names) => shapeTabs(s, sheet, part, names), refusedForContent, (view, err) => out.fail(view, err));
    } catch (err) {
      out.failAll(views(undecided(plans)), err);
      return done();
    }

    // 5. Values: header rows and new rows of every view, RAW, ~2 MB per request.
    const live = undecided(plans);
    const progress = new Map(live.map((p) => [p.d.view, startProgress(p)]));
    try {
      for (const batch of packValues(live.map(valueJob), maxBytes, out.decided)) {
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
      const { nextRow } = p;
      // Without a structural change the grid was fully formatted already (else formats would have been sent).
      const formattedRows = shaped.get(d.view) ?? (plan.mode === 'append' ? plan.tab.rowCount : nextRow);
      const state: SheetViewState = { sheetId: sheetIdOf(plan), nextRow, header: d.header, anchors: anchorsAfter(p), formattedRows };
      out.set({ view: d.view, ok: true, receipt: { rows: d.pending, totalRows: nextRow - 1, state } });
    }
    return done();
  }

  return { name: 'sheets', stats: client.stats, deliver };
}
