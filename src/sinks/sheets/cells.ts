import type { Cell } from '../../model/cells.js';
import { FIXED_COLUMNS, TIME_COLUMNS, type ViewName } from '../../model/views.js';

/** Google Sheets refuses cells above this many characters. */
export const MAX_CELL_CHARS = 50_000;
/** Sheets' cell budget per spreadsheet (empty grid cells count too). */
export const MAX_SPREADSHEET_CELLS = 10_000_000;
/** The number format of time columns: a real date-time cell that sorts and filters. */
export const DATE_TIME_PATTERN = 'yyyy-mm-dd hh:mm:ss.000';

const DAY_MS = 86_400_000;
/** Sheets' day 0 is 1899-12-30. */
const EPOCH_OFFSET_DAYS = 25_569;

export type SheetCell = string | number | null;

/** ISO 8601 date-time with seconds and a zone, as received_at and the vendor's times are: nothing looser. */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * An ISO 8601 time as a Sheets serial number (days since 1899-12-30, UTC wall
 * clock); undefined for anything else (Date.parse would read "Call 12" as a
 * date in 2001).
 */
export function toSerial(iso: string): number | undefined {
  if (!ISO_DATE_TIME.test(iso)) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms / DAY_MS + EPOCH_OFFSET_DAYS;
}

export function truncationMarker(length: number): string {
  return ` … [truncated by ember-sync: ${length} characters in all; the full text is in the CSV export]`;
}

/** A text longer than a cell may hold is cut with a visible marker (the full value stays in SQLite and CSV). */
export function fitCell(text: string): string {
  if (text.length <= MAX_CELL_CHARS) return text;
  const marker = truncationMarker(text.length);
  let cut = MAX_CELL_CHARS - marker.length;
  // Never between the two halves of a surrogate pair (an emoji): a lone half is not text Sheets can hold.
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return text.slice(0, cut) + marker;
}

/**
 * Which columns of a view's header hold times: its fixed time columns only. A
 * dynamic column may carry the same name (a score_details key `timestamp` in
 * completions) and hold any text.
 */
export function timeColumns(view: ViewName, header: readonly string[]): boolean[] {
  const fixed = FIXED_COLUMNS[view].length;
  return header.map((name, i) => i < fixed && TIME_COLUMNS.has(name));
}

/**
 * One view row as written with valueInputOption RAW: numbers stay numbers,
 * times become serial numbers (the column carries a date-time format), text
 * stays text even when it starts with "=" (RAW never makes a formula), null
 * leaves the cell empty.
 */
export function toSheetRow(cells: readonly Cell[], isTime: readonly boolean[]): SheetCell[] {
  return cells.map((c, i) => {
    if (c === null) return null;
    if (typeof c === 'string') {
      if (isTime[i]) return toSerial(c) ?? fitCell(c);
      return fitCell(c);
    }
    return c;
  });
}

/** What Sheets gives back (UNFORMATTED_VALUE, SERIAL_NUMBER) equals what we wrote. */
export function sameRow(written: readonly SheetCell[], read: readonly unknown[] | undefined): boolean {
  const got = read ?? [];
  const width = Math.max(written.length, got.length);
  for (let i = 0; i < width; i++) {
    const w = written[i] ?? null;
    const r = got[i] === undefined || got[i] === '' ? null : got[i];
    if (w === null || r === null) {
      if ((w === null || w === '') && r === null) continue;
      return false;
    }
    if (typeof w === 'number' && typeof r === 'number') {
      if (Math.abs(w - r) > 1e-9 * Math.max(1, Math.abs(w))) return false;
      continue;
    }
    if (w !== r) return false;
  }
  return true;
}

export function isEmptyRow(read: readonly unknown[] | undefined): boolean {
  return (read ?? []).every((v) => v === undefined || v === null || v === '');
}
