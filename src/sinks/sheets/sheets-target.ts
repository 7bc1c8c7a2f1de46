import { randomInt } from 'node:crypto';
import { sheets, type sheets_v4 } from '@googleapis/sheets';
import type { Logger } from 'pino';
import type { DeliveryReceipt, SyncTarget, ViewDelivery, ViewOutcome } from '../../model/sync.js';
import type { ViewName } from '../../model/views.js';
import { a1, quoteSheet } from './a1.js';
import type { SheetsAuth } from './auth.js';
import { DATE_TIME_PATTERN, fitCell, isEmptyRow, MAX_SPREADSHEET_CELLS, sameRow, timeColumns, toSheetRow, type SheetCell } from './cells.js';
import { createLimiter, type LimiterOptions } from './limiter.js';
import { describeFailure, withRetry, type RetryOptions } from './retry.js';

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
  /** Rows of the area about to be written that are read back and checked in full; a larger area: its first and last halves of this. */
  verifyRows?: number;
  logger?: Logger;
}

/** What the target remembers per view, committed with the cursor. */
export interface SheetViewState {
  sheetId: number;
  /** 0-based index of the next row to write (row 0 is the header). */
  nextRow: number;
  header: string[];
  /** The last data row as written, to check that nobody moved it. */
  last: SheetCell[] | null;
}

interface Tab {
  sheetId: number;
  rowCount: number;
  columnCount: number;
}

type Plan =
  | { mode: 'append'; d: ViewDelivery; state: SheetViewState; tab: Tab }
  | { mode: 'create'; d: ViewDelivery; sheetId: number; total: number }
  | { mode: 'adopt'; d: ViewDelivery; tab: Tab; total: number };

export interface SheetsStats {
  requests: number;
  writeRequests: number;
  bytesSent: number;
  retries: number;
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** A Sheets failure worded for the operator. */
export class SheetsTargetError extends Error {
  override name = 'SheetsTargetError';
}

/**
 * The Google Sheets target: one tab per view (named as the view) in
 * SHEETS_SPREADSHEET_ID, header row frozen and kept equal to the view's
 * columns, rows written with valueInputOption RAW to explicit ranges at the row
 * positions the target tracks (never values.append and its table guessing).
 *
 * Exactly once: the row position moves with the cursor, after the API
 * confirmed. Before writing, the header, the last row written and the rows
 * about to be written are read back: they must be ours, and empty or exactly
 * what we are about to write (a crash after the write and before the cursor
 * commit is repaired by writing the same rows to the same range). Anything
 * else — an analyst sorted, inserted rows or typed into our area — stops that
 * view with an error in status, and their cells are never overwritten.
 *
 * Per sync: one metadata read, one batched read-back, one structural
 * batchUpdate when tabs are created or grown, and one values.batchUpdate per
 * ~2 MB — every view in the same requests. Requests go through a client-side
 * limiter (1/s, 60 writes/min) and are retried on 429/5xx with backoff that
 * honours Retry-After.
 */
export function createSheetsTarget(o: SheetsTargetOptions): SyncTarget & { stats: SheetsStats } {
  const api = sheets({ version: 'v4', auth: o.auth.client, ...(o.rootUrl ? { rootUrl: o.rootUrl.endsWith('/') ? o.rootUrl : `${o.rootUrl}/` } : {}) });
  const limiter = createLimiter(o.limiter);
  const maxBytes = o.maxRequestBytes ?? 2 * 1024 * 1024;
  const slack = o.growSlackRows ?? 500;
  const verifyRows = o.verifyRows ?? 5000;
  const id = o.spreadsheetId;
  const stats: SheetsStats = { requests: 0, writeRequests: 0, bytesSent: 0, retries: 0 };

  function explain(err: unknown, what: string): SheetsTargetError {
    const f = describeFailure(err);
    const who = o.auth.email;
    if (f.status === 403) {
      return new SheetsTargetError(
        who
          ? `${what}: permission denied on spreadsheet ${id}. Share the sheet with the service account ${who} as Editor (Share button in Google Sheets).`
          : `${what}: permission denied on spreadsheet ${id}; the account behind SHEETS_ACCESS_TOKEN needs edit access.`,
      );
    }
    if (f.status === 404) {
      return new SheetsTargetError(
        `${what}: spreadsheet ${id} was not found. Check SHEETS_SPREADSHEET_ID (the part between /d/ and /edit in the sheet's URL)${who ? ` and that the sheet is shared with ${who}` : ''}.`,
      );
    }
    if (f.status === 401) return new SheetsTargetError(`${what}: the Sheets API rejected the credentials (401). Check GOOGLE_APPLICATION_CREDENTIALS or SHEETS_ACCESS_TOKEN.`);
    if (f.status === 429) return new SheetsTargetError(`${what}: Sheets API quota exceeded (429) after retrying; the rows stay pending for the next sync.`);
    if (f.status !== undefined && f.status >= 500) return new SheetsTargetError(`${what}: the Sheets API failed with ${f.status} after retrying; the rows stay pending for the next sync.`);
    if (f.status !== undefined) return new SheetsTargetError(`${what}: the Sheets API refused the request (${f.status}): ${f.message}`);
    return new SheetsTargetError(`${what}: cannot reach the Sheets API (${f.code ?? 'error'}): ${f.message}`);
  }

  async function call<T>(kind: 'read' | 'write', what: string, bytes: number, fn: () => Promise<{ data: T }>): Promise<T> {
    try {
      return await withRetry(
        async () => {
          await limiter.acquire(kind);
          stats.requests++;
          if (kind === 'write') stats.writeRequests++;
          stats.bytesSent += bytes;
          return (await fn()).data;
        },
        { ...o.retry, onRetry: (info) => {
          stats.retries++;
          o.logger?.warn({ what, ...info }, 'Sheets API: retrying');
          o.retry?.onRetry?.(info);
        } },
      );
    } catch (err) {
      throw explain(err, what);
    }
  }

  return {
    name: 'sheets',
    stats,
    async deliver(deliveries: ViewDelivery[]): Promise<ViewOutcome[]> {
      const outcomes = new Map<ViewName, ViewOutcome>();
      const failAll = (message: string, views: readonly ViewDelivery[]) => {
        for (const d of views) if (!outcomes.has(d.view)) outcomes.set(d.view, { view: d.view, ok: false, error: message });
      };
      const ordered = () => deliveries.map((d) => outcomes.get(d.view)!);

      // 1. The tabs as they are now.
      let meta: sheets_v4.Schema$Spreadsheet;
      try {
        meta = await call('read', 'reading the spreadsheet', 0, () => api.spreadsheets.get({ spreadsheetId: id, includeGridData: false, fields: 'sheets.properties(sheetId,title,gridProperties(rowCount,columnCount))' }, { retry: false }));
      } catch (err) {
        failAll((err as Error).message, deliveries);
        return ordered();
      }
      const tabs = new Map<string, Tab>();
      let cells = 0;
      for (const s of meta.sheets ?? []) {
        const p = s.properties;
        if (!p?.title || p.sheetId === undefined || p.sheetId === null) continue;
        const tab = { sheetId: p.sheetId, rowCount: p.gridProperties?.rowCount ?? 0, columnCount: p.gridProperties?.columnCount ?? 0 };
        tabs.set(p.title, tab);
        cells += tab.rowCount * tab.columnCount;
      }
      const usedIds = new Set([...tabs.values()].map((t) => t.sheetId));

      // 2. What to do per view.
      const plans: Plan[] = [];
      for (const d of deliveries) {
        const state = d.cursor.state as SheetViewState | undefined;
        const tab = tabs.get(d.view);
        if (tab && state && tab.sheetId === state.sheetId) {
          if (d.pending === 0 && sameList(d.header, state.header)) {
            outcomes.set(d.view, { view: d.view, ok: true, receipt: { rows: 0, totalRows: d.cursor.deliveredRows, state } });
            continue;
          }
          plans.push({ mode: 'append', d, state, tab });
        } else {
          const total = d.rows.count({ toSeq: d.toSeq });
          if (!tab) {
            let sheetId: number;
            do sheetId = randomInt(1, 2 ** 31 - 1);
            while (usedIds.has(sheetId));
            usedIds.add(sheetId);
            plans.push({ mode: 'create', d, sheetId, total });
          } else {
            plans.push({ mode: 'adopt', d, tab, total });
          }
        }
      }
      if (plans.length === 0) return ordered();

      // 3. Read back what we are about to build on, in one request.
      const checks: Array<{ plan: Plan; kind: 'header' | 'last' | 'area' | 'whole'; firstRow: number; range: string }> = [];
      for (const plan of plans) {
        const { d } = plan;
        if (plan.mode === 'append') {
          const { state, tab } = plan;
          // Never read past the grid (Sheets refuses it): cells beyond it are empty by definition.
          const width = Math.min(Math.max(state.header.length, d.header.length, 1), tab.columnCount);
          checks.push({ plan, kind: 'header', firstRow: 0, range: a1(d.view, 0, 0, 0, width - 1) });
          if (state.nextRow > 1) checks.push({ plan, kind: 'last', firstRow: state.nextRow - 1, range: a1(d.view, state.nextRow - 1, 0, state.nextRow - 1, width - 1) });
          const lastInGrid = Math.min(state.nextRow + d.pending, tab.rowCount) - 1;
          if (lastInGrid >= state.nextRow) {
            const spans = lastInGrid - state.nextRow + 1 <= verifyRows ? [[state.nextRow, lastInGrid]] : [[state.nextRow, state.nextRow + verifyRows / 2 - 1], [lastInGrid - verifyRows / 2 + 1, lastInGrid]];
            for (const [from, to] of spans) checks.push({ plan, kind: 'area', firstRow: from!, range: a1(d.view, from!, 0, to!, width - 1) });
          }
        } else if (plan.mode === 'adopt') {
          checks.push({ plan, kind: 'whole', firstRow: 0, range: quoteSheet(d.view) });
        }
      }
      const readBack = new Map<Plan, { header?: unknown[]; last?: unknown[]; area: Map<number, unknown[]>; whole?: unknown[][] }>();
      if (checks.length > 0) {
        let got: sheets_v4.Schema$BatchGetValuesResponse;
        try {
          got = await call('read', 'reading back the rows about to be written', 0, () =>
            api.spreadsheets.values.batchGet({ spreadsheetId: id, ranges: checks.map((c) => c.range), valueRenderOption: 'UNFORMATTED_VALUE', dateTimeRenderOption: 'SERIAL_NUMBER', majorDimension: 'ROWS' }, { retry: false }),
          );
        } catch (err) {
          failAll((err as Error).message, plans.map((p) => p.d));
          return ordered();
        }
        checks.forEach((c, i) => {
          const values = (got.valueRanges?.[i]?.values ?? []) as unknown[][];
          const entry = readBack.get(c.plan) ?? { area: new Map<number, unknown[]>() };
          if (c.kind === 'header') entry.header = values[0] ?? [];
          else if (c.kind === 'last') entry.last = values[0] ?? [];
          else if (c.kind === 'whole') entry.whole = values;
          else values.forEach((row, j) => entry.area.set(c.firstRow + j, row));
          readBack.set(c.plan, entry);
        });
      }

      // 4. Refuse views whose area is not ours any more.
      const live: Plan[] = [];
      for (const plan of plans) {
        const { d } = plan;
        const seen = readBack.get(plan);
        let problem: string | undefined;
        if (plan.mode === 'adopt') {
          // A tab we have no record of: empty (made by hand, or by a sync that died before
          // writing), or holding exactly a beginning of this view (a first sync that died
          // before its cursor commit). Anything else is someone else's data.
          const whole = seen?.whole ?? [];
          const isTime = timeColumns(d.header);
          let ours = whole.length === 0 || isEmptyRow(whole[0]) || sameRow(d.header.map((h) => fitCell(h)), whole[0]);
          let row = 1;
          if (ours) {
            outer: for (const page of d.rows.pages({ toSeq: d.toSeq })) {
              for (const cells of page) {
                if (row >= whole.length) break outer;
                const there = whole[row];
                if (!isEmptyRow(there) && !sameRow(toSheetRow(cells, isTime), there)) {
                  ours = false;
                  break outer;
                }
                row++;
              }
            }
            for (; ours && row < whole.length; row++) if (!isEmptyRow(whole[row])) ours = false;
          }
          if (!ours) problem = `the tab "${d.view}" already holds data that ember-sync did not write; rename or delete that tab and the next sync recreates it`;
        } else if (plan.mode === 'append') {
          const { state } = plan;
          const header = (seen?.header ?? []).map((v) => (v === undefined || v === null ? '' : String(v)));
          const ours = state.header.map((h) => fitCell(h));
          // Past our confirmed columns: empty, or the new column names a crashed sync already wrote.
          const beyond = header.slice(ours.length);
          const newNames = d.header.slice(ours.length).map((h) => fitCell(h));
          const beyondOk = isEmptyRow(beyond) || sameRow(newNames.slice(0, beyond.length), beyond);
          if (!sameRow(ours, header.slice(0, ours.length)) || !beyondOk) {
            problem = `the header row of tab "${d.view}" was changed by hand (expected ${ours.join(', ')}); put it back or delete the tab to have it rebuilt`;
          } else if (state.last && !sameRow(state.last, seen?.last)) {
            problem = `the rows of tab "${d.view}" were moved (sorted, inserted or deleted above row ${state.nextRow}); ember-sync will not write over them — undo the change, or delete the tab to have it rebuilt`;
          } else if (seen && seen.area.size > 0) {
            const isTime = timeColumns(d.header);
            let row = state.nextRow;
            outer: for (const page of d.rows.pages({ fromSeq: d.cursor.deliveredSeq, toSeq: d.toSeq })) {
              for (const cells of page) {
                const there = seen.area.get(row);
                if (there && !isEmptyRow(there) && !sameRow(toSheetRow(cells, isTime), there)) {
                  problem = `row ${row + 1} of tab "${d.view}" holds data that ember-sync did not write there; it will not be overwritten — clear it or move it below the synced rows`;
                  break outer;
                }
                row++;
              }
            }
          }
        }
        if (problem) outcomes.set(d.view, { view: d.view, ok: false, error: problem });
        else live.push(plan);
      }
      if (live.length === 0) return ordered();

      // 5. Structure: new tabs (exact grid, frozen header), grown grids, date-time formats — one request.
      const requests: sheets_v4.Schema$Request[] = [];
      const timeFormat = (sheetId: number, header: readonly string[], fromRow: number, toRow: number) =>
        timeColumns(header).flatMap((isTime, col) =>
          isTime
            ? [{ repeatCell: { range: { sheetId, startRowIndex: fromRow, endRowIndex: toRow, startColumnIndex: col, endColumnIndex: col + 1 }, cell: { userEnteredFormat: { numberFormat: { type: 'DATE_TIME', pattern: DATE_TIME_PATTERN } } }, fields: 'userEnteredFormat.numberFormat' } }]
            : [],
        );
      let growth = 0;
      for (const plan of live) {
        const { d } = plan;
        const columns = Math.max(d.header.length, 1);
        if (plan.mode === 'create') {
          const rows = Math.max(2, plan.total + 1);
          growth += rows * columns;
          requests.push({ addSheet: { properties: { sheetId: plan.sheetId, title: d.view, gridProperties: { rowCount: rows, columnCount: columns, frozenRowCount: 1 } } } });
          requests.push(...timeFormat(plan.sheetId, d.header, 1, rows));
        } else if (plan.mode === 'adopt') {
          const rows = Math.max(2, plan.total + 1);
          growth += rows * columns - plan.tab.rowCount * plan.tab.columnCount;
          // Trim (or grow) an empty tab to exactly what it needs: blank cells count against the 10M budget.
          requests.push({ updateSheetProperties: { properties: { sheetId: plan.tab.sheetId, gridProperties: { rowCount: rows, columnCount: columns, frozenRowCount: 1 } }, fields: 'gridProperties(rowCount,columnCount,frozenRowCount)' } });
          requests.push(...timeFormat(plan.tab.sheetId, d.header, 1, rows));
        } else {
          const { tab, state } = plan;
          const need = state.nextRow + d.pending;
          if (need > tab.rowCount) {
            const add = need - tab.rowCount + slack;
            growth += add * Math.max(tab.columnCount, columns);
            requests.push({ appendDimension: { sheetId: tab.sheetId, dimension: 'ROWS', length: add } });
            requests.push(...timeFormat(tab.sheetId, d.header, tab.rowCount, tab.rowCount + add));
          }
          if (columns > tab.columnCount) {
            growth += (columns - tab.columnCount) * Math.max(tab.rowCount, need);
            requests.push({ appendDimension: { sheetId: tab.sheetId, dimension: 'COLUMNS', length: columns - tab.columnCount } });
          }
        }
      }
      if (cells + growth > MAX_SPREADSHEET_CELLS) {
        failAll(`the spreadsheet would hold ${(cells + growth).toLocaleString('en')} cells, over Google's limit of 10,000,000; nothing was written. Use a new spreadsheet (or delete old tabs) and keep the CSV target for the full history.`, live.map((p) => p.d));
        return ordered();
      }
      try {
        if (requests.length > 0) {
          const body = { requests };
          await call('write', 'creating or growing tabs', JSON.stringify(body).length, () => api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: body }, { retry: false }));
        }
      } catch (err) {
        failAll((err as Error).message, live.map((p) => p.d));
        return ordered();
      }

      // 6. Values: header rows and new rows of every view, RAW, ~2 MB per request.
      const receipts = new Map<Plan, DeliveryReceipt>();
      let data: sheets_v4.Schema$ValueRange[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        if (data.length === 0) return;
        const body: sheets_v4.Schema$BatchUpdateValuesRequest = { valueInputOption: 'RAW', data };
        const size = pendingBytes;
        data = [];
        pendingBytes = 0;
        await call('write', 'writing rows', size, () => api.spreadsheets.values.batchUpdate({ spreadsheetId: id, requestBody: body }, { retry: false }));
      };
      // The body is {"valueInputOption":"RAW","data":[…]}: count it as it will be serialised.
      const ENVELOPE = JSON.stringify({ valueInputOption: 'RAW', data: [] }).length;
      const add = (range: string, values: SheetCell[][], bytes: number) => {
        data.push({ range, majorDimension: 'ROWS', values });
        pendingBytes += bytes + JSON.stringify({ range, majorDimension: 'ROWS', values: [] }).length + 1;
      };
      try {
        for (const plan of live) {
          const { d } = plan;
          const width = Math.max(d.header.length, 1);
          const isTime = timeColumns(d.header);
          const fresh = plan.mode !== 'append';
          if (fresh || !sameList(plan.state.header, d.header)) {
            const header = [d.header.map((h) => fitCell(h))];
            add(a1(d.view, 0, 0, 0, width - 1), header, Buffer.byteLength(JSON.stringify(header)));
          }
          let row = fresh ? 1 : plan.state.nextRow;
          let last: SheetCell[] | null = fresh ? null : plan.state.last;
          let block: SheetCell[][] = [];
          let blockStart = row;
          // The longest range string this view can have, reserved for the block being filled.
          const range0 = a1(d.view, 1e7, 0, 1e7, width - 1);
          let blockBytes = 0;
          const closeBlock = () => {
            if (block.length === 0) return;
            add(a1(d.view, blockStart, 0, blockStart + block.length - 1, width - 1), block, blockBytes);
            block = [];
            blockBytes = 0;
          };
          for (const page of d.rows.pages({ fromSeq: fresh ? 0 : d.cursor.deliveredSeq, toSeq: d.toSeq })) {
            for (const cells of page) {
              const values = toSheetRow(cells, isTime);
              const size = Buffer.byteLength(JSON.stringify(values)) + 1;
              if (ENVELOPE + pendingBytes + blockBytes + size + range0.length + 64 > maxBytes) {
                closeBlock();
                await flush();
                blockStart = row;
              }
              block.push(values);
              blockBytes += size;
              last = values;
              row++;
            }
          }
          closeBlock();
          const state: SheetViewState = { sheetId: plan.mode === 'create' ? plan.sheetId : plan.tab.sheetId, nextRow: row, header: d.header, last };
          receipts.set(plan, { rows: d.pending, totalRows: row - 1, state });
        }
        await flush();
      } catch (err) {
        failAll((err as Error).message, live.map((p) => p.d));
        return ordered();
      }
      for (const [plan, receipt] of receipts) outcomes.set(plan.d.view, { view: plan.d.view, ok: true, receipt });
      return ordered();
    },
  };
}
