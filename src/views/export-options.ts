import { parseDelimiter, type Settings } from '../config/settings.js';
import { CSV_DECIMALS, CSV_TIME_FORMATS, DEFAULT_CSV_DIALECT, dialectProblem, type CsvDecimal, type CsvDialect, type CsvTimeFormat } from '../model/csv.js';
import { isTimeZone } from '../model/time.js';
import { isViewName, VIEW_NAMES, type ViewName } from '../model/views.js';

/** A bad export argument; the CLI turns it into exit 2, the API into 400 (404 for the view). */
export class ExportOptionError extends Error {
  override name = 'ExportOptionError';
  constructor(
    message: string,
    readonly field: 'view' | 'since' | 'until' | 'delimiter' | 'bom' | 'raw' | 'timeFormat' | 'decimal' | 'timezone',
  ) {
    super(message);
  }
}

export interface ExportRequest {
  view: ViewName;
  since: string | undefined;
  until: string | undefined;
  dialect: CsvDialect;
}

/** `YYYY-MM-DD`, optionally followed by `[T ]hh:mm[:ss[.fraction]]` and a zone (`Z`, `±hh:mm`, `±hhmm`). */
const TIME_BOUND = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):?(\d{2}))?)?$/i;

const isLeapYear = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
function daysInMonth(year: number, month: number): number {
  return month === 2 ? (isLeapYear(year) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * `2025-01-16` (midnight UTC) or an ISO 8601 date-time; without a timezone it
 * is read as UTC. Every field is checked against the calendar: Date.parse
 * rolls `2025-02-30` over to March 2 instead of refusing it. Returned in
 * received_at's own form (UTC, milliseconds) so that text comparison in
 * SQLite is time comparison.
 */
export function parseTimeBound(raw: string, field: 'since' | 'until'): string {
  const bad = (why: string) => new ExportOptionError(`--${field} ${JSON.stringify(raw)} is not ${why}`, field);
  const m = TIME_BOUND.exec(raw.trim());
  if (!m) throw bad('a date (YYYY-MM-DD) or an ISO 8601 date-time');
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((v) => Number(v ?? 0)) as [number, number, number, number, number, number];
  if (month < 1 || month > 12) throw bad(`a date: there is no month ${m[2]}`);
  if (day < 1 || day > daysInMonth(year, month)) throw bad(`a date: ${m[1]}-${m[2]} has no day ${m[3]}`);
  if (hour > 23 || minute > 59 || second > 59) throw bad('a time of day (00:00:00 to 23:59:59)');
  const offsetHours = Number(m[10] ?? 0);
  const offsetMinutes = Number(m[11] ?? 0);
  if (offsetHours > 23 || offsetMinutes > 59) throw bad('a valid timezone offset (±hh:mm)');
  // received_at has whole milliseconds, so a finer bound is rounded up: `>= x` and `< x` keep their meaning.
  const fraction = m[7] ?? '';
  const ms = Number(fraction.padEnd(3, '0').slice(0, 3)) + (/[1-9]/.test(fraction.slice(3)) ? 1 : 0);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  const offset = (m[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  return new Date(date.getTime() - offset).toISOString();
}

/**
 * What an export is written in when the request does not say: CSV_DELIMITER,
 * CSV_BOM, CSV_DECIMAL, CSV_TIME_FORMAT and REPORT_TIMEZONE. The formula guard
 * is not among them: CSV_FORMULA_GUARD is the CSV target's, an export is
 * guarded unless it asks for `--raw`. A field left out keeps ember-sync's
 * default (`.`, `iso`, `UTC`).
 */
export type ExportDefaults = Pick<CsvDialect, 'delimiter' | 'bom'> & Partial<Pick<CsvDialect, 'decimal' | 'timeFormat' | 'timeZone'>>;

export function exportDefaults(settings: Pick<Settings, 'csvDelimiter' | 'csvBom' | 'csvDecimal' | 'csvTimeFormat' | 'reportTimezone'>): ExportDefaults {
  return { delimiter: settings.csvDelimiter, bom: settings.csvBom, decimal: settings.csvDecimal, timeFormat: settings.csvTimeFormat, timeZone: settings.reportTimezone };
}

export interface ExportInput {
  view: string;
  since?: string | undefined;
  until?: string | undefined;
  delimiter?: string | undefined;
  bom?: boolean | string | undefined;
  raw?: boolean | string | undefined;
  timeFormat?: string | undefined;
  decimal?: string | undefined;
  timezone?: string | undefined;
}

function choice<T extends string>(raw: string, allowed: readonly T[], flag: string, field: ExportOptionError['field']): T {
  if ((allowed as readonly string[]).includes(raw.toLowerCase())) return raw.toLowerCase() as T;
  throw new ExportOptionError(`${flag} must be ${allowed.join(' or ')} (got ${JSON.stringify(raw)})`, field);
}

/**
 * The dialect half of a request. Explicit values only, and none is ignored: a
 * zone given while times stay `iso` would change nothing, so it is refused
 * rather than silently dropped, like a decimal comma with `,` as delimiter.
 */
function exportDialect(input: ExportInput, defaults: ExportDefaults): CsvDialect {
  let delimiter = defaults.delimiter;
  if (input.delimiter !== undefined) {
    const d = parseDelimiter(input.delimiter);
    if (d === undefined) throw new ExportOptionError(`--delimiter must be , ; | or tab (got ${JSON.stringify(input.delimiter)})`, 'delimiter');
    delimiter = d;
  }
  const flag = (v: boolean | string | undefined, name: 'bom' | 'raw'): boolean | undefined => {
    if (v === undefined || typeof v === 'boolean') return v;
    // Explicit values only: an empty `raw=` must not quietly turn the formula guard off.
    if (['1', 'true', 'yes'].includes(v.toLowerCase())) return true;
    if (['0', 'false', 'no'].includes(v.toLowerCase())) return false;
    throw new ExportOptionError(`${name} must be true or false`, name);
  };
  const decimal = input.decimal === undefined ? (defaults.decimal ?? DEFAULT_CSV_DIALECT.decimal) : choice<CsvDecimal>(input.decimal, CSV_DECIMALS, '--decimal', 'decimal');
  if (dialectProblem({ delimiter, decimal })) {
    throw new ExportOptionError(
      input.decimal === undefined
        ? `--delimiter , cannot be used with the decimal comma of CSV_DECIMAL: add --decimal . or choose ; | or tab`
        : `--decimal , needs ; | or tab as the delimiter${input.delimiter === undefined ? ' (CSV_DELIMITER is ,): add --delimiter ";"' : ', not ,'}`,
      input.decimal === undefined ? 'delimiter' : 'decimal',
    );
  }
  const timeFormat = input.timeFormat === undefined ? (defaults.timeFormat ?? DEFAULT_CSV_DIALECT.timeFormat) : choice<CsvTimeFormat>(input.timeFormat, CSV_TIME_FORMATS, '--time-format', 'timeFormat');
  let timeZone = defaults.timeZone ?? DEFAULT_CSV_DIALECT.timeZone;
  if (input.timezone !== undefined) {
    if (!isTimeZone(input.timezone)) throw new ExportOptionError(`--timezone ${JSON.stringify(input.timezone)} is not a timezone (use an IANA name such as America/New_York)`, 'timezone');
    if (timeFormat !== 'local') throw new ExportOptionError('--timezone sets the zone of local times: add --time-format local (times are iso, in UTC, otherwise)', 'timezone');
    timeZone = input.timezone;
  }
  return { delimiter, bom: flag(input.bom, 'bom') ?? defaults.bom, guard: !(flag(input.raw, 'raw') ?? false), decimal, timeFormat, timeZone };
}

export function parseExportRequest(input: ExportInput, defaults: ExportDefaults): ExportRequest {
  if (!isViewName(input.view)) throw new ExportOptionError(`unknown view ${JSON.stringify(input.view)} (views: ${VIEW_NAMES.join(', ')})`, 'view');
  // An empty bound is a mistake (a script's empty variable), not "no bound": refused, never ignored.
  const since = input.since === undefined ? undefined : parseTimeBound(input.since, 'since');
  const until = input.until === undefined ? undefined : parseTimeBound(input.until, 'until');
  if (since !== undefined && until !== undefined && since >= until) throw new ExportOptionError('--since must be earlier than --until', 'until');
  return { view: input.view, since, until, dialect: exportDialect(input, defaults) };
}
