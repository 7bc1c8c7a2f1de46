import { sheets, type sheets_v4 } from '@googleapis/sheets';
import type { DeliveryControl } from '../../model/sync.js';
import { abortReason } from '../../lib/text.js';
import type { Logger } from 'pino';
import type { SheetsAuth } from './auth.js';
import { createLimiter, type LimiterOptions } from './limiter.js';
import { describeFailure, withRetry, type RetryOptions } from './retry.js';

export interface SheetsClientOptions {
  spreadsheetId: string;
  auth: SheetsAuth;
  /** SHEETS_API_ROOT_URL (emulators, proxies); Google's when unset. */
  rootUrl?: string | undefined;
  limiter?: LimiterOptions;
  retry?: RetryOptions;
  logger?: Logger;
}

export interface SheetsStats {
  requests: number;
  writeRequests: number;
  bytesSent: number;
  retries: number;
}

/** A Sheets failure worded for the operator; `status` is the HTTP status when Google answered. */
export class SheetsTargetError extends Error {
  override name = 'SheetsTargetError';
  constructor(
    message: string,
    readonly status: number | undefined,
    /** The sync was stopped (its signal aborted): not a Sheets problem, nothing more is sent. */
    readonly stopped = false,
  ) {
    super(message);
  }
}

/**
 * Google refused the request for what it holds (400 and the like), not for who
 * asks (401/403), where (404) or when (429): sending its parts one by one
 * finds the part it refuses. Sheets applies a batch atomically, so nothing of
 * a refused batch was applied.
 */
export function refusedForContent(err: unknown): boolean {
  if (!(err instanceof SheetsTargetError) || err.stopped || err.status === undefined) return false;
  return err.status >= 400 && err.status < 500 && ![401, 403, 404, 408, 429].includes(err.status);
}


/** The requests one delivery makes, bound to its AbortSignal. Each method is one try; wrap them in `retrying`. */
export interface SheetsSession {
  /** The spreadsheet's time zone and developer metadata, and its tabs' titles, ids, places, grid sizes, developer metadata (ember-sync's markers) and protected ranges. */
  readTabs(): Promise<sheets_v4.Schema$Spreadsheet>;
  /** Values of the ranges as written (UNFORMATTED_VALUE, times as serial numbers), one list of rows per range. */
  readRanges(ranges: readonly string[]): Promise<unknown[][][]>;
  updateStructure(requests: sheets_v4.Schema$Request[]): Promise<void>;
  /** One values.batchUpdate, RAW; `bytes` is its body size (for the stats). */
  writeValues(data: sheets_v4.Schema$ValueRange[], bytes: number): Promise<void>;
  /**
   * Runs `fn` with the retry policy (429/5xx/network, backoff, Retry-After),
   * stops once the signal is aborted, and turns the last error into a
   * SheetsTargetError that tells the operator what to do.
   */
  retrying<T>(what: string, fn: (attempt: number) => Promise<T>): Promise<T>;
  /** The error to report when the sync was stopped before `what`. */
  stoppedError(what: string): SheetsTargetError;
}

export interface SheetsClient {
  readonly stats: SheetsStats;
  session(control?: DeliveryControl): SheetsSession;
}

/**
 * The Sheets API as the target uses it: the real client library, a client-side
 * limiter shared by every sync of the process (1 request/s, 60 writes/min by
 * default), retries, request statistics, and Google's errors worded for the
 * operator (403: share the sheet with the service account; 404: check
 * SHEETS_SPREADSHEET_ID).
 */
export function createSheetsClient(o: SheetsClientOptions): SheetsClient {
  const api = sheets({ version: 'v4', auth: o.auth.client, ...(o.rootUrl ? { rootUrl: o.rootUrl.endsWith('/') ? o.rootUrl : `${o.rootUrl}/` } : {}) });
  const limiter = createLimiter(o.limiter);
  const id = o.spreadsheetId;
  const stats: SheetsStats = { requests: 0, writeRequests: 0, bytesSent: 0, retries: 0 };

  function explain(err: unknown, what: string): SheetsTargetError {
    const f = describeFailure(err);
    const who = o.auth.email;
    const say = (message: string) => new SheetsTargetError(`${what}: ${message}`, f.status);
    if (f.status === 403) {
      return say(
        who
          ? `permission denied on spreadsheet ${id}. Share the sheet with the service account ${who} as Editor (Share button in Google Sheets).`
          : `permission denied on spreadsheet ${id}; the account behind SHEETS_ACCESS_TOKEN needs edit access.`,
      );
    }
    if (f.status === 404) return say(`spreadsheet ${id} was not found. Check SHEETS_SPREADSHEET_ID (the part between /d/ and /edit in the sheet's URL)${who ? ` and that the sheet is shared with ${who}` : ''}.`);
    if (f.status === 401) return say('the Sheets API rejected the credentials (401). Check GOOGLE_APPLICATION_CREDENTIALS or SHEETS_ACCESS_TOKEN.');
    if (f.status === 429) return say('Sheets API quota exceeded (429) after retrying; the rows stay pending for the next sync.');
    if (f.status !== undefined && f.status >= 500) return say(`the Sheets API failed with ${f.status} after retrying; the rows stay pending for the next sync.`);
    if (f.status !== undefined) return say(`the Sheets API refused the request (${f.status}): ${f.message}`);
    return say(`cannot reach the Sheets API (${f.code ?? 'error'}): ${f.message}`);
  }

  return {
    stats,
    session({ signal, fence }: DeliveryControl = {}) {
      const stoppedError = (what: string) => new SheetsTargetError(`stopped before ${what}: ${signal ? abortReason(signal) : 'aborted'}`, undefined, true);

      /**
       * One request: wait for the limiter, then send — unless the sync was
       * stopped meanwhile, or (for a write) its lock was taken over: a stale
       * run must not write over what the new holder delivered.
       */
      async function send<T>(kind: 'read' | 'write', bytes: number, fn: () => Promise<{ data: T }>): Promise<T> {
        await limiter.acquire(kind, signal);
        signal?.throwIfAborted();
        if (kind === 'write') await fence?.();
        stats.requests++;
        if (kind === 'write') stats.writeRequests++;
        stats.bytesSent += bytes;
        return (await fn()).data;
      }

      return {
        stoppedError,
        async readTabs() {
          return send('read', 0, () => api.spreadsheets.get({ spreadsheetId: id, includeGridData: false, fields: 'properties.timeZone,developerMetadata(metadataId,metadataKey,metadataValue),sheets(properties(sheetId,title,index,gridProperties(rowCount,columnCount)),developerMetadata(metadataId,metadataKey,metadataValue),protectedRanges(protectedRangeId,description,warningOnly))' }, { retry: false }));
        },
        async readRanges(ranges) {
          const got = await send('read', 0, () =>
            api.spreadsheets.values.batchGet({ spreadsheetId: id, ranges: [...ranges], valueRenderOption: 'UNFORMATTED_VALUE', dateTimeRenderOption: 'SERIAL_NUMBER', majorDimension: 'ROWS' }, { retry: false }),
          );
          return ranges.map((_, i) => (got.valueRanges?.[i]?.values ?? []) as unknown[][]);
        },
        async updateStructure(requests) {
          const body = { requests };
          await send('write', Buffer.byteLength(JSON.stringify(body)), () => api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: body }, { retry: false }));
        },
        async writeValues(data, bytes) {
          await send('write', bytes, () => api.spreadsheets.values.batchUpdate({ spreadsheetId: id, requestBody: { valueInputOption: 'RAW', data } }, { retry: false }));
        },
        async retrying(what, fn) {
          try {
            return await withRetry(fn, {
              ...o.retry,
              ...(signal ? { signal } : {}),
              onRetry: (info) => {
                stats.retries++;
                o.logger?.warn({ what, ...info }, 'Sheets API: retrying');
                o.retry?.onRetry?.(info);
              },
            });
          } catch (err) {
            if (signal?.aborted) throw stoppedError(what);
            if (err instanceof SheetsTargetError) throw err;
            throw explain(err, what);
          }
        },
      };
    },
  };
}
