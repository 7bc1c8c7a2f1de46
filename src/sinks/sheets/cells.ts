import type { Cell } from '../../model/cells.js';
import { daySerial, localSerialFormatter, perZone } from '../../model/time.js';
import type { ColumnKind } from '../../model/views.js';

/** Google Sheets refuses cells above this many characters. */
export const MAX_CELL_CHARS = 50_000;
/** Sheets' cell budget per spreadsheet (empty grid cells count too). */
export const MAX_SPREADSHEET_CELLS = 10_000_000;
/** The number format of time columns: a real date-time cell that sorts and filters. */
export const DATE_TIME_PATTERN = 'yyyy-mm-dd hh:mm:ss.000';
/** The number format of day columns (`day` of the daily views): a real date cell. */
export const DATE_PATTERN = 'yyyy-mm-dd';

export type SheetCell = string | number | boolean | null;

/**
 * An ISO 8601 date-time with a zone as a Sheets serial number (days since
 * 1899-12-30) of the wall clock in `zone` (UTC by default); undefined for
 * anything else (Date.parse would read "Call 12" as a date in 2001).
 */
export function toSerial(iso: string, zone = 'UTC'): number | undefined {
  return serialIn(zone)(iso);
}

/** `localSerial` for many times in one zone (a backlog has millions), one formatter per zone kept. */
const serialIn = perZone(localSerialFormatter);

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
 * One view row as written with valueInputOption RAW: numbers and booleans
 * stay what they are, times become serial numbers of the wall clock in `zone`
 * (the column carries a date-time format), days date serials, text stays text
 * even when it starts with "=" (RAW never makes a formula). `kinds` is
 * columnKinds (or timeColumns: true is a time column). A null cell is `empty`:
 * null leaves the cell as it is (rows written where nothing is), "" clears it
 * (rows written over older values of the same row).
 */
export function toSheetRow(cells: readonly Cell[], kinds: readonly (ColumnKind | boolean)[], zone = 'UTC', empty: null | '' = null): SheetCell[] {
  return cells.map((c, i) => {
    if (c === null) return empty;
    if (typeof c === 'string') {
      const kind = kinds[i];
      if (kind === 'time' || kind === true) return toSerial(c, zone) ?? fitCell(c);
      if (kind === 'day') return daySerial(c) ?? fitCell(c);
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
    if (w === null || w === '' || r === null) {
      if ((w === null || w === '') && r === null) continue;
      return false;
    }
    if (typeof w === 'number' && typeof r === 'number') {
      if (Math.abs(w - r) > 1e-9 * Math.max(1, Math.abs(w))) return false;
      continue;
    }
    // Booleans come back as JSON booleans: true is never "TRUE" nor 1.
    if (typeof w === 'boolean' || typeof r === 'boolean') {
      if (w !== r) return false;
      continue;
    }
    if (w !== r) return false;
  }
  return true;
}

export function isEmptyRow(read: readonly unknown[] | undefined): boolean {
  return (read ?? []).every((v) => v === undefined || v === null || v === '');
}
