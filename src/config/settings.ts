import { resolve, join } from 'node:path';
import { validateDetailed } from 'node-cron';
import { parse as parseConnectionString } from 'pg-connection-string';
import { SettingError } from '../errors.js';
import { PG_URL_KEYS, urlParams } from '../lib/pg-url.js';
import { driverTarget } from '../lib/pg-bouncer.js';
import { DEFAULT_MAX_DYNAMIC_COLUMNS, MAX_VIEW_COLUMNS } from '../model/columns.js';
import { CSV_DECIMALS, CSV_TIME_FORMATS, dialectProblem, type CsvDecimal, type CsvTimeFormat } from '../model/csv.js';
import { isTimeZone } from '../model/time.js';
import { SYNC_TARGET_NAMES, type SyncTargetName } from '../model/sync.js';
import { PARTITIONS, type Partition } from '../model/partition.js';
import { VIEW_NAMES, type ViewName } from '../model/views.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Every setting (README "Settings"), parsed and checked. Secrets are resolved separately (see secrets.ts). */
export interface Settings {
  port: number;
  host: string;
  publicUrl: string;
  dataDir: string;
  dbPath: string;
  /** From the environment; undefined means "generate once and keep in DATA_DIR". */
  webhookToken: string | undefined;
  adminToken: string | undefined;
  /** Standard Webhooks secrets; several for rotation. Empty: signatures not required. */
  signingSecrets: string[];
  maxBodyBytes: number;
  syncSchedule: string;
  syncTimezone: string;
  syncTargets: SyncTargetName[];
  csvDir: string;
  csvDelimiter: string;
  csvBom: boolean;
  /** IANA zone analysts think in: day/week/month buckets, `local` CSV times, Sheets date cells. */
  reportTimezone: string;
  /** CSV time columns as received (`iso`, UTC) or on REPORT_TIMEZONE's wall clock (`local`). */
  csvTimeFormat: CsvTimeFormat;
  /** Decimal separator of numbers in the CSV target's files (`,` only with a ; | or tab delimiter). */
  csvDecimal: CsvDecimal;
  /** Neutralise formula-looking text in the CSV target's files. */
  csvFormulaGuard: boolean;
  /** `month`: one CSV file per view and month (`$CSV_DIR/<view>/<view>-<yyyy-mm>.csv`); `none`: one per view. */
  csvPartition: Partition;
  sheetsSpreadsheetId: string | undefined;
  /** The views synced to Sheets (all by default), in view order. */
  sheetsViews: ViewName[];
  /** `month`: one tab per view and month (`<view> <yyyy-mm>`); `none`: one tab per view. */
  sheetsPartition: Partition;
  /** Month tabs kept: `auto` (drop the oldest before the spreadsheet passes 9,000,000 cells), a number of months, or `all`. */
  sheetsKeepMonths: 'auto' | 'all' | number;
  /** A synced tab found sorted or edited: `rebuild` it from the database, or `stop` that view. */
  sheetsOnConflict: 'rebuild' | 'stop';
  googleApplicationCredentials: string | undefined;
  sheetsAccessToken: string | undefined;
  sheetsApiRootUrl: string | undefined;
  googleOauthTokenUrl: string | undefined;
  logLevel: LogLevel;
  /** Dynamic columns per wide view at most; keys past it get no column. */
  maxDynamicColumns: number;
  /** RETENTION_DAYS: keep today and this many days before it (undefined: keep everything). */
  retentionDays: number | undefined;
  /** DATABASE_URL: PostgreSQL instead of the SQLite file (several replicas); undefined: SQLite at dbPath. */
  databaseUrl: string | undefined;
  /** DATABASE_POOL_SIZE: connections each replica opens at most. */
  databasePoolSize: number;
  /** DATABASE_STATEMENT_TIMEOUT_MS: a statement running longer is cancelled (a stuck lock never hangs a replica). */
  databaseStatementTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

/** Unset and empty both mean "use the default": `FOO=` in a unit file is common. */
function get(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = get(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new SettingError(name, `must be a whole number from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  const n = Number(raw);
  if (n < min || n > max) throw new SettingError(name, `must be from ${min} to ${max} (got ${raw})`);
  return n;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = get(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['true', '1', 'yes', 'on'].includes(raw)) return true;
  if (['false', '0', 'no', 'off'].includes(raw)) return false;
  throw new SettingError(name, `must be true or false (got ${JSON.stringify(raw)})`);
}

/** A URL as it may be shown in an error: a password or token in it (user:pw@, ?token=) is not repeated on the terminal or in a log. */
function shownUrl(raw: string): string {
  const cut = raw.replace(/\/\/[^/@]*@/, '//[credentials]@').replace(/[?#].*$/, (rest) => (rest.length > 1 ? `${rest[0]}[…]` : rest));
  return JSON.stringify(cut.length > 200 ? `${cut.slice(0, 200)}…` : cut);
}

function url(env: Env, name: string): string | undefined {
  const raw = get(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new SettingError(name, `must be an absolute http(s) URL (got ${shownUrl(raw)})`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new SettingError(name, `must be an http or https URL (got ${shownUrl(raw)})`);
  }
  // Paths are appended to it: a query, a fragment or credentials would end up in the middle of every URL.
  if (parsed.search !== '' || parsed.hash !== '' || raw.includes('#') || raw.includes('?') || parsed.username !== '' || parsed.password !== '') {
    throw new SettingError(name, `must be a plain base URL without query, fragment or credentials (got ${shownUrl(raw)})`);
  }
  return raw.replace(/\/+$/, '');
}

/** The URL's TLS parameters are what failed: a sslrootcert/sslcert/sslkey file that cannot be read, verify-ca without a CA. */
function sslProblem(err: unknown): string | undefined {
  const e = err as { code?: unknown; path?: unknown; message?: unknown };
  if (typeof e.code === 'string' && typeof e.path === 'string') return `cannot read ${e.path}, named by its sslrootcert, sslcert or sslkey (${e.code})`;
  if (typeof e.message === 'string' && /sslmode=verify-ca requires specifying a CA with sslrootcert/.test(e.message)) {
    return 'uselibpqcompat=true&sslmode=verify-ca needs sslrootcert=<CA file> (or use sslmode=verify-full)';
  }
  return undefined;
}

/**
 * DATABASE_URL as node-postgres reads it: `postgres://user:pass@host:5432/db`,
 * or a unix socket as `postgres://user@/db?host=/run/postgresql`. Its password
 * never appears in a message.
 */
function databaseUrl(env: Env): string | undefined {
  const raw = get(env, 'DATABASE_URL');
  if (raw === undefined) return undefined;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined) throw new SettingError('DATABASE_URL', 'must be a postgres:// URL, e.g. postgres://ember:secret@db.internal:5432/ember_sync');
  if (scheme !== 'postgres' && scheme !== 'postgresql') {
    throw new SettingError('DATABASE_URL', `must start with postgres:// or postgresql:// (got ${scheme}://…; leave it unset for SQLite)`);
  }
  // A user or password holding / ? # unencoded cuts the URL in the wrong place: the host would be read from inside
  // the password (and shown in messages). Refused without echoing the URL.
  const rest = raw.slice(raw.indexOf('://') + 3);
  const at = rest.lastIndexOf('@');
  if (at >= 0 && /[/?#]/.test(rest.slice(0, at))) {
    throw new SettingError('DATABASE_URL', 'the user or password holds / ? # or @ as is: percent-encode them (e.g. / as %2F, ? as %3F, # as %23, @ as %40)');
  }
  // Read as node-postgres reads it (a socket folder in ?host= is valid where the WHATWG URL parser refuses an empty host),
  // as the pool and doctor pass it on (lib/pg-bouncer.ts driverTarget: sslmode said outright, pgbouncer taken out).
  let parsed: ReturnType<typeof parseConnectionString>;
  try {
    parsed = parseConnectionString(driverTarget(raw).url);
  } catch (err) {
    throw new SettingError('DATABASE_URL', sslProblem(err) ?? 'is not a connection URL node-postgres can read (postgres://user:password@host:5432/database)');
  }
  if (!parsed.host) throw new SettingError('DATABASE_URL', 'names no host: give one (postgres://user@host/db) or a socket folder (postgres://user@/db?host=/run/postgresql)');
  if (!parsed.database) throw new SettingError('DATABASE_URL', 'names no database: add /<database> after the host');
  caseProblem(raw);
  pgBouncerProblem(raw);
  return raw;
}

/**
 * A known key spelled in another case (`SSLMODE=require`) is ignored by node-postgres — with sslmode, a plaintext
 * connection where TLS was asked for. Refused (libpq refuses it too); the value is not echoed (it may be a password).
 */
function caseProblem(raw: string): void {
  const q = raw.indexOf('?');
  if (q < 0) return;
  for (const [key] of new URLSearchParams(raw.slice(q + 1).split('#')[0])) {
    const lower = key.toLowerCase();
    if (key !== lower && PG_URL_KEYS.has(lower)) {
      throw new SettingError('DATABASE_URL', `${JSON.stringify(key.slice(0, 40))} must be written in lower case (${lower}): node-postgres ignores it otherwise`);
    }
  }
}

/**
 * `?pgbouncer=true` (lib/pg-bouncer.ts): PgBouncer in transaction pooling mode. In that mode a statement_timeout or
 * lock_timeout in the URL is applied to each transaction, in milliseconds: a unit (5s) would be read as 5 ms.
 */
function pgBouncerProblem(raw: string): void {
  const flags = urlParams(raw, 'pgbouncer');
  if (flags.length > 1) throw new SettingError('DATABASE_URL', 'names pgbouncer more than once');
  const flag = flags[0];
  if (flag === undefined || flag === 'false') return;
  if (flag !== 'true') throw new SettingError('DATABASE_URL', `pgbouncer must be true or false (got ${JSON.stringify(flag.slice(0, 20))})`);
  for (const key of ['statement_timeout', 'lock_timeout']) {
    for (const v of urlParams(raw, key)) {
      if (!/^\d{1,10}$/.test(v) || Number(v) > 2_147_483_647) throw new SettingError('DATABASE_URL', `${key} must be a whole number of milliseconds with pgbouncer=true (got ${JSON.stringify(v.slice(0, 20))})`);
    }
  }
  // PgBouncer refuses a login whose startup packet holds options (1.18); later versions take only some of it.
  if (urlParams(raw, 'options').length > 0) throw new SettingError('DATABASE_URL', 'options cannot go through PgBouncer with pgbouncer=true: set them on the role instead (ALTER ROLE … SET …)');
}

function token(env: Env, name: string): string | undefined {
  const raw = get(env, name);
  if (raw === undefined) return undefined;
  // It travels in a URL path and a header: keep it to URL-safe characters.
  if (!/^[A-Za-z0-9._~-]{16,256}$/.test(raw)) {
    throw new SettingError(name, 'must be 16 to 256 characters of A-Z a-z 0-9 . _ ~ - (leave it unset to have one generated)');
  }
  return raw;
}

/** `,` `;` `tab` (or a literal tab) and `|`: the dialects spreadsheets open without a wizard. */
export function parseDelimiter(raw: string): string | undefined {
  if (raw === 'tab' || raw === '\t' || raw === '\\t') return '\t';
  if (raw === ',' || raw === ';' || raw === '|') return raw;
  return undefined;
}

function timezone(env: Env, name: string): string {
  const zone = get(env, name) ?? 'UTC';
  if (!isTimeZone(zone)) throw new SettingError(name, `unknown timezone ${JSON.stringify(zone)} (use an IANA name such as Europe/Paris)`);
  return zone;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = get(env, name);
  if (raw === undefined) return fallback;
  const v = raw.toLowerCase();
  if (!(allowed as readonly string[]).includes(v)) throw new SettingError(name, `must be ${allowed.join(' or ')} (got ${JSON.stringify(raw)})`);
  return v as T;
}

function signingSecrets(env: Env): string[] {
  const raw = get(env, 'WEBHOOK_SIGNING_SECRET');
  if (raw === undefined) return [];
  const secrets = raw.split(/[\s,]+/).filter(Boolean);
  for (const s of secrets) {
    const b64 = s.startsWith('whsec_') ? s.slice(6) : undefined;
    if (b64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || Buffer.from(b64, 'base64').length < 16) {
      throw new SettingError('WEBHOOK_SIGNING_SECRET', 'must be one or more whsec_<base64> secrets (at least 16 bytes each), separated by spaces or commas');
    }
  }
  return secrets;
}

/** The views a target takes: SHEETS_VIEWS for Sheets, every view for CSV. */
export function viewsSyncedTo(settings: Pick<Settings, 'sheetsViews'>, target: SyncTargetName): readonly ViewName[] {
  return target === 'sheets' ? settings.sheetsViews : VIEW_NAMES;
}

function sheetsViews(env: Env): ViewName[] {
  const raw = get(env, 'SHEETS_VIEWS');
  if (raw === undefined) return [...VIEW_NAMES];
  const names = raw.split(',').map((v) => v.trim()).filter(Boolean);
  for (const n of names) {
    if (!(VIEW_NAMES as readonly string[]).includes(n)) throw new SettingError('SHEETS_VIEWS', `unknown view ${JSON.stringify(n)} (views: ${VIEW_NAMES.join(', ')})`);
  }
  if (names.length === 0) throw new SettingError('SHEETS_VIEWS', `must name at least one view (views: ${VIEW_NAMES.join(', ')})`);
  return VIEW_NAMES.filter((v) => names.includes(v));
}

function keepMonths(env: Env): 'auto' | 'all' | number {
  const raw = get(env, 'SHEETS_KEEP_MONTHS')?.toLowerCase();
  if (raw === undefined || raw === 'auto') return 'auto';
  if (raw === 'all') return 'all';
  // The current month is always kept: 1 is the least that means anything.
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 1200) throw new SettingError('SHEETS_KEEP_MONTHS', `must be auto, all or a number of months from 1 to 1200 (got ${JSON.stringify(raw)})`);
  return Number(raw);
}

export function loadSettings(env: Env = process.env, cwd = process.cwd()): Settings {
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const host = get(env, 'HOST') ?? '127.0.0.1';
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  const publicUrl = url(env, 'PUBLIC_URL') ?? `http://${hostInUrl}:${port}`;
  const dataDir = resolve(cwd, get(env, 'DATA_DIR') ?? './data');
  const dbPath = resolve(dataDir, get(env, 'DB_PATH') ?? 'ember-sync.db');

  const syncSchedule = get(env, 'SYNC_SCHEDULE') ?? '* * * * *';
  const cron = validateDetailed(syncSchedule);
  if (!cron.valid) {
    const why = cron.errors.map((e) => e.message).join('; ');
    throw new SettingError('SYNC_SCHEDULE', `${JSON.stringify(syncSchedule)} is not a valid cron expression${why ? ` (${why})` : ''}`);
  }
  const syncTimezone = timezone(env, 'SYNC_TIMEZONE');

  const sheetsSpreadsheetId = get(env, 'SHEETS_SPREADSHEET_ID');
  if (sheetsSpreadsheetId !== undefined && !/^[A-Za-z0-9_-]{10,200}$/.test(sheetsSpreadsheetId)) {
    throw new SettingError('SHEETS_SPREADSHEET_ID', 'must be the id from the sheet URL (docs.google.com/spreadsheets/d/<id>/edit)');
  }
  const database = databaseUrl(env);
  const targetsRaw = get(env, 'SYNC_TARGETS');
  let syncTargets: SyncTargetName[];
  if (targetsRaw === undefined) {
    // Several replicas: CSV files would land on whichever replica syncs, so the CSV target is on only when named.
    if (database !== undefined) syncTargets = sheetsSpreadsheetId ? ['sheets'] : [];
    else syncTargets = sheetsSpreadsheetId ? ['csv', 'sheets'] : ['csv'];
  } else {
    const names = targetsRaw.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
    for (const n of names) {
      if (!(SYNC_TARGET_NAMES as readonly string[]).includes(n)) throw new SettingError('SYNC_TARGETS', `unknown target ${JSON.stringify(n)} (known: ${SYNC_TARGET_NAMES.join(', ')})`);
    }
    syncTargets = [...new Set(names)] as SyncTargetName[];
    if (syncTargets.length === 0) throw new SettingError('SYNC_TARGETS', 'must name at least one target (csv, sheets)');
  }
  if (syncTargets.includes('sheets') && !sheetsSpreadsheetId) {
    throw new SettingError('SYNC_TARGETS', 'the sheets target needs SHEETS_SPREADSHEET_ID');
  }

  const delimiterRaw = env['CSV_DELIMITER'] === undefined || env['CSV_DELIMITER'] === '' ? ',' : env['CSV_DELIMITER'];
  const csvDelimiter = parseDelimiter(delimiterRaw);
  if (csvDelimiter === undefined) throw new SettingError('CSV_DELIMITER', `must be , ; | or tab (got ${JSON.stringify(delimiterRaw)})`);
  const csvDecimal = oneOf(env, 'CSV_DECIMAL', CSV_DECIMALS, '.');
  if (dialectProblem({ delimiter: csvDelimiter, decimal: csvDecimal })) {
    throw new SettingError('CSV_DECIMAL', `a decimal comma needs CSV_DELIMITER ; | or tab (CSV_DELIMITER is ${JSON.stringify(csvDelimiter)})`);
  }

  const csvPartition = oneOf(env, 'CSV_PARTITION', PARTITIONS, 'month');
  const sheetsPartition = oneOf(env, 'SHEETS_PARTITION', PARTITIONS, 'month');
  const retentionDays = get(env, 'RETENTION_DAYS') === undefined ? undefined : integer(env, 'RETENTION_DAYS', 0, 1, 36_500);
  // Old rows leave a target month by month: one file or tab per view would keep them for ever.
  if (retentionDays !== undefined && syncTargets.includes('csv') && csvPartition === 'none') {
    throw new SettingError('RETENTION_DAYS', 'needs CSV_PARTITION=month (one file per view cannot lose its old rows; month files are deleted whole)');
  }
  if (retentionDays !== undefined && syncTargets.includes('sheets') && sheetsPartition === 'none') {
    throw new SettingError('RETENTION_DAYS', 'needs SHEETS_PARTITION=month (one tab per view cannot lose its old rows; month tabs are deleted whole)');
  }

  const webhookToken = token(env, 'WEBHOOK_TOKEN');
  const adminToken = token(env, 'ADMIN_TOKEN');
  // Tokens generated on first start are kept in DATA_DIR: each replica would make its own, and a webhook URL
  // that works on one replica only loses every webhook the load balancer sends to another.
  if (database !== undefined) {
    for (const [name, value] of [['WEBHOOK_TOKEN', webhookToken], ['ADMIN_TOKEN', adminToken]] as const) {
      if (value === undefined) throw new SettingError(name, 'must be set in the environment with DATABASE_URL (every replica needs the same one; generate it once, e.g. `openssl rand -hex 32`)');
    }
  }

  const logLevel = (get(env, 'LOG_LEVEL') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new SettingError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(logLevel)})`);

  const googleApplicationCredentials = get(env, 'GOOGLE_APPLICATION_CREDENTIALS');

  return {
    port,
    host,
    publicUrl,
    dataDir,
    dbPath,
    webhookToken,
    adminToken,
    signingSecrets: signingSecrets(env),
    maxBodyBytes: integer(env, 'MAX_BODY_BYTES', 1048576, 1024, 64 * 1024 * 1024),
    syncSchedule,
    syncTimezone,
    syncTargets,
    csvDir: resolve(dataDir, get(env, 'CSV_DIR') ?? join(dataDir, 'exports')),
    csvDelimiter,
    csvBom: boolean(env, 'CSV_BOM', false),
    reportTimezone: timezone(env, 'REPORT_TIMEZONE'),
    csvTimeFormat: oneOf(env, 'CSV_TIME_FORMAT', CSV_TIME_FORMATS, 'iso'),
    csvDecimal,
    csvFormulaGuard: boolean(env, 'CSV_FORMULA_GUARD', true),
    csvPartition,
    sheetsSpreadsheetId,
    sheetsViews: sheetsViews(env),
    sheetsPartition,
    sheetsKeepMonths: keepMonths(env),
    sheetsOnConflict: oneOf(env, 'SHEETS_ON_CONFLICT', ['rebuild', 'stop'] as const, 'rebuild'),
    googleApplicationCredentials: googleApplicationCredentials === undefined ? undefined : resolve(cwd, googleApplicationCredentials),
    sheetsAccessToken: get(env, 'SHEETS_ACCESS_TOKEN'),
    sheetsApiRootUrl: url(env, 'SHEETS_API_ROOT_URL'),
    googleOauthTokenUrl: url(env, 'GOOGLE_OAUTH_TOKEN_URL'),
    logLevel: logLevel as LogLevel,
    // The widest view has 10 fixed columns; Google Sheets stops at 18,278.
    maxDynamicColumns: integer(env, 'MAX_DYNAMIC_COLUMNS', DEFAULT_MAX_DYNAMIC_COLUMNS, 0, MAX_VIEW_COLUMNS - 10),
    retentionDays,
    databaseUrl: database,
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 2, 200),
    databaseStatementTimeoutMs: integer(env, 'DATABASE_STATEMENT_TIMEOUT_MS', 30_000, 1_000, 3_600_000),
  };
}
