import { sheets, type sheets_v4 } from '@googleapis/sheets';
import type { Settings } from '../config/settings.js';
import { SettingError } from '../errors.js';
import { sameZone } from '../model/time.js';
import { createSheetsAuth, type SheetsAuth } from '../sinks/sheets/auth.js';
import { fail, oneLine, pass, type CheckResult } from './check.js';

/** Google's limit per spreadsheet; SHEETS_KEEP_MONTHS=auto keeps a spreadsheet below 9,000,000. */
export const MAX_CELLS = 10_000_000;
export const CELLS_WARN = 9_000_000;

interface Failure {
  status: number | undefined;
  message: string;
}

/** Status and Google's own words, from a gaxios or gtoken error (never a token or the request). */
function failureOf(err: unknown): Failure {
  const e = err as { status?: unknown; code?: unknown; response?: { status?: number; data?: unknown } };
  const status = e.response?.status ?? (typeof e.status === 'number' ? e.status : undefined);
  const data = e.response?.data as { error?: unknown; error_description?: unknown } | undefined;
  let message = oneLine(err, 200);
  if (data && typeof data.error === 'object' && data.error !== null && typeof (data.error as { message?: unknown }).message === 'string') {
    message = oneLine((data.error as { message: string }).message, 200);
  } else if (data && typeof data.error === 'string') {
    message = `${data.error}${typeof data.error_description === 'string' ? `: ${oneLine(data.error_description, 200)}` : ''}`;
  } else if (status === undefined && typeof e.code === 'string') {
    message = `${e.code}: ${message}`;
  }
  return { status, message };
}

const fmt = (n: number): string => n.toLocaleString('en-US');

export interface SheetsCheckOptions {
  settings: Pick<Settings, 'sheetsSpreadsheetId' | 'sheetsAccessToken' | 'googleApplicationCredentials' | 'googleOauthTokenUrl' | 'sheetsApiRootUrl'>;
  /** The zone the views are derived in (REPORT_TIMEZONE as the server adopted it). */
  reportTimezone: string;
  timeoutMs?: number;
}

/**
 * The sheets target, step by step, each step only when the one before it
 * passed: credentials load, a token is obtained, the spreadsheet is readable,
 * it can be written, its time zone, its cells. The write check is a
 * values.batchUpdate whose only cell is null: the API skips null cells ("Null
 * values will be skipped"), so nothing in the sheet changes, yet Google checks
 * edit access as for any write.
 */
export async function checkSheets(o: SheetsCheckOptions): Promise<CheckResult[]> {
  const id = o.settings.sheetsSpreadsheetId!;
  const out: CheckResult[] = [];
  const timeout = o.timeoutMs ?? 15_000;

  let auth: SheetsAuth;
  try {
    auth = createSheetsAuth(o.settings);
  } catch (err) {
    if (err instanceof SettingError) {
      out.push(fail('Sheets credentials', `${err.setting}: ${err.problem}`, 'download a JSON key of the service account (IAM → Service accounts → Keys → Add key → JSON) and point GOOGLE_APPLICATION_CREDENTIALS at it'));
      return out;
    }
    throw err;
  }
  const who = auth.email;
  out.push(pass('Sheets credentials', who ? `service account ${who} (from ${o.settings.googleApplicationCredentials})` : 'SHEETS_ACCESS_TOKEN (a ready token)'));

  if (who) {
    try {
      // The token request has no timeout of its own: a silent token endpoint must not hang doctor.
      let timer: NodeJS.Timeout | undefined;
      const silent = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer from the token endpoint within ${timeout / 1000} s`)), timeout);
      });
      try {
        await Promise.race([auth.client.getAccessToken(), silent]);
      } finally {
        clearTimeout(timer);
      }
      out.push(pass('Sheets token', `obtained for ${who}`));
    } catch (err) {
      const f = failureOf(err);
      out.push(fail('Sheets token', `Google refused the key of ${who}: ${f.message}`, "the key may be deleted or disabled, or this host's clock is off: check the time (timedatectl), or create a new key (IAM → Service accounts → Keys)"));
      return out;
    }
  } else {
    out.push(pass('Sheets token', 'SHEETS_ACCESS_TOKEN is used as given (a short-lived token: prefer a key file for a server)'));
  }

  const rootUrl = o.settings.sheetsApiRootUrl;
  const api = sheets({ version: 'v4', auth: auth.client, ...(rootUrl ? { rootUrl: rootUrl.endsWith('/') ? rootUrl : `${rootUrl}/` } : {}) });
  const shareWith = who ? `share the sheet with ${who} as Editor (Share button in Google Sheets)` : 'give the account behind SHEETS_ACCESS_TOKEN edit access';
  const explain = (f: Failure): string => {
    if (f.status === 401) return 'check GOOGLE_APPLICATION_CREDENTIALS or SHEETS_ACCESS_TOKEN (the API rejected the credentials)';
    if (f.status === 403) return shareWith;
    if (f.status === 404) return `check SHEETS_SPREADSHEET_ID: the part between /d/ and /edit in the sheet's URL${who ? `, and that the sheet is shared with ${who}` : ''}`;
    if (f.status === 429 || (f.status !== undefined && f.status >= 500)) return 'Google is busy or failing: run ember-sync doctor again in a minute';
    if (f.status === undefined) return `check that this host reaches ${rootUrl ?? 'https://sheets.googleapis.com'} (DNS, firewall, proxy)`;
    return 'see the message';
  };

  let book: sheets_v4.Schema$Spreadsheet;
  try {
    const res = await api.spreadsheets.get(
      { spreadsheetId: id, includeGridData: false, fields: 'properties(title,timeZone),sheets(properties(sheetId,title,sheetType,gridProperties(rowCount,columnCount)))' },
      { retry: false, timeout },
    );
    book = res.data;
  } catch (err) {
    const f = failureOf(err);
    out.push(fail('Sheets spreadsheet', `cannot read spreadsheet ${id} (${f.status ?? 'no answer'}): ${f.message}`, explain(f)));
    return out;
  }
  const tabs = book.sheets ?? [];
  out.push(pass('Sheets spreadsheet', `"${book.properties?.title ?? id}" (${id}) is readable: ${tabs.length} ${tabs.length === 1 ? 'tab' : 'tabs'}`));

  // Any grid tab has a cell A1; a null value there is skipped by the API (no cell changes).
  const grid = tabs.find((s) => (s.properties?.sheetType ?? 'GRID') === 'GRID')?.properties?.title;
  const data = grid === undefined || grid === null ? [] : [{ range: `'${grid.replace(/'/g, "''")}'!A1`, values: [[null]] }];
  try {
    await api.spreadsheets.values.batchUpdate({ spreadsheetId: id, requestBody: { valueInputOption: 'RAW', data } }, { retry: false, timeout });
    out.push(pass('Sheets write access', `${who ?? 'the token\'s account'} can edit it (checked with a write that changes no cell)`));
  } catch (err) {
    const f = failureOf(err);
    out.push(
      f.status === 403
        ? fail('Sheets write access', `${who ?? 'the account behind SHEETS_ACCESS_TOKEN'} can read the spreadsheet but not edit it (403: ${f.message})`, who ? `share it with ${who} as Editor, not Viewer or Commenter` : 'give that account edit access')
        : fail('Sheets write access', `the write check failed (${f.status ?? 'no answer'}): ${f.message}`, explain(f)),
    );
  }

  const zone = book.properties?.timeZone ?? undefined;
  if (zone === undefined) out.push(fail('Sheets time zone', 'the spreadsheet reports no time zone', `set File → Settings → Time zone to ${o.reportTimezone}`));
  else if (sameZone(zone, o.reportTimezone)) out.push(pass('Sheets time zone', `${zone}, as REPORT_TIMEZONE`));
  else {
    out.push(
      fail(
        'Sheets time zone',
        `the spreadsheet's time zone is ${zone} but REPORT_TIMEZONE is ${o.reportTimezone}: date-time cells show ${o.reportTimezone} wall-clock times, while NOW(), TODAY() and the edit history use ${zone}`,
        `set File → Settings → Time zone to ${o.reportTimezone} (or REPORT_TIMEZONE to ${zone})`,
      ),
    );
  }

  const cells = tabs.reduce((n, s) => n + (s.properties?.gridProperties?.rowCount ?? 0) * (s.properties?.gridProperties?.columnCount ?? 0), 0);
  const share = `${((cells / MAX_CELLS) * 100).toFixed(1)}%`;
  out.push(
    cells > CELLS_WARN
      ? fail('Sheets cells', `${fmt(cells)} of Google's ${fmt(MAX_CELLS)} cells per spreadsheet are used (${share}); new rows will soon not fit`, 'delete tabs you no longer need (empty rows count too), keep fewer months (SHEETS_KEEP_MONTHS), or sync fewer views (SHEETS_VIEWS); the CSV target keeps the full history')
      : pass('Sheets cells', `${fmt(cells)} of ${fmt(MAX_CELLS)} cells used (${share})`),
  );
  return out;
}
