import { parseDelimiter } from '../config/settings.js';
import type { CsvDialect } from '../model/csv.js';
import { isViewName, VIEW_NAMES, type ViewName } from '../model/views.js';

/** A bad export argument; the CLI turns it into exit 2, the API into 400 (404 for the view). */
export class ExportOptionError extends Error {
  override name = 'ExportOptionError';
  constructor(
    message: string,
    readonly field: 'view' | 'since' | 'until' | 'delimiter' | 'bom' | 'raw',
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

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * `2025-01-16` (midnight UTC) or an ISO 8601 date-time; without a timezone it
 * is read as UTC. Returned in received_at's own form (UTC, milliseconds) so
 * that text comparison in SQLite is time comparison.
 */
export function parseTimeBound(raw: string, field: 'since' | 'until'): string {
  const s = raw.trim();
  let ms: number;
  if (DATE_ONLY.test(s)) ms = Date.parse(`${s}T00:00:00Z`);
  else if (DATE_TIME.test(s)) ms = Date.parse(/(Z|[+-]\d{2}:?\d{2})$/i.test(s) ? s.replace(' ', 'T') : `${s.replace(' ', 'T')}Z`);
  else ms = NaN;
  if (Number.isNaN(ms)) throw new ExportOptionError(`--${field} ${JSON.stringify(raw)} is not a date (YYYY-MM-DD) or an ISO 8601 date-time`, field);
  return new Date(ms).toISOString();
}

export function parseExportRequest(input: { view: string; since?: string | undefined; until?: string | undefined; delimiter?: string | undefined; bom?: boolean | string | undefined; raw?: boolean | string | undefined }, defaults: { delimiter: string; bom: boolean }): ExportRequest {
  if (!isViewName(input.view)) throw new ExportOptionError(`unknown view ${JSON.stringify(input.view)} (views: ${VIEW_NAMES.join(', ')})`, 'view');
  const since = input.since === undefined || input.since === '' ? undefined : parseTimeBound(input.since, 'since');
  const until = input.until === undefined || input.until === '' ? undefined : parseTimeBound(input.until, 'until');
  if (since !== undefined && until !== undefined && since >= until) throw new ExportOptionError('--since must be earlier than --until', 'until');
  let delimiter = defaults.delimiter;
  if (input.delimiter !== undefined) {
    const d = parseDelimiter(input.delimiter);
    if (d === undefined) throw new ExportOptionError(`--delimiter must be , ; | or tab (got ${JSON.stringify(input.delimiter)})`, 'delimiter');
    delimiter = d;
  }
  const flag = (v: boolean | string | undefined, name: 'bom' | 'raw'): boolean | undefined => {
    if (v === undefined || typeof v === 'boolean') return v;
    if (['', '1', 'true', 'yes'].includes(v.toLowerCase())) return true;
    if (['0', 'false', 'no'].includes(v.toLowerCase())) return false;
    throw new ExportOptionError(`${name} must be true or false`, name);
  };
  return {
    view: input.view,
    since,
    until,
    dialect: { delimiter, bom: flag(input.bom, 'bom') ?? defaults.bom, neutralize: !(flag(input.raw, 'raw') ?? false) },
  };
}
