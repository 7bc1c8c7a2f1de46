import type { BigIntStats } from 'node:fs';
import type { Partition } from '../../model/partition.js';
import { isMonthKey, splitByMonth } from '../../model/partition.js';
import { zoneKey } from '../../model/time.js';
import type { ViewName } from '../../model/views.js';

/** One file of a view as of the confirmed cursor. */
export interface CsvFileEntry {
  /** Size of the file. */
  bytes: number;
  /** sha256 of those bytes: the whole file, so an edit anywhere is seen. */
  sha256: string;
  /** Inode, change time and size once renamed into place: while they hold, nothing has touched it. */
  stamp: string;
  /** Data rows in it. */
  rows: number;
  /** Keyed files: where every ROWS_PER_CHECKPOINT-th row starts (see keyed-file.ts). */
  checkpoints?: number[];
}

/** What the csv target remembers per view, committed with the cursor. Kept small: it is stored every sync. */
export interface CsvViewState {
  v: 2;
  header: string[];
  /** csvDialectKey of the dialect the files were written in. */
  dialect: string;
  /** layoutKey: how the view's rows were split into files. */
  layout: string;
  /** Keyed views: the derivation the files were written from (a new one means a full rewrite). */
  epoch?: string;
  /** Relative path (`red_flags.csv`, `red_flags/red_flags-2026-11.csv`) → its file. */
  files: Record<string, CsvFileEntry>;
}

/** The change time cannot be set back by a user (utimes sets it to now), unlike mtime. */
export const stampOf = (st: BigIntStats): string => `${st.ino}:${st.ctimeNs}:${st.size}`;

/** Whether this view goes to month files with this setting (daily views never do). */
export const isSplit = (view: ViewName, partition: Partition): boolean => partition === 'month' && splitByMonth(view);

/**
 * How a view's rows are laid out in files: months depend on the zone, so a
 * new REPORT_TIMEZONE (another spelling of the same zone excepted) is a new layout.
 */
export function layoutKey(split: boolean, zone: string): string {
  return split ? `month:${zoneKey(zone)}` : 'none';
}

/** The file of a view kept whole: `<view>.csv`. */
export const wholeFile = (view: ViewName): string => `${view}.csv`;
/** The file of one month of a split view: `<view>/<view>-<yyyy-mm>.csv`. */
export const monthFile = (view: ViewName, month: string): string => `${view}/${view}-${month}.csv`;

/** The month of a path monthFile made for this view; undefined for any other path (the whole file, another view's). */
export function monthOfFile(view: ViewName, rel: string): string | undefined {
  const prefix = `${view}/${view}-`;
  if (!rel.startsWith(prefix) || !rel.endsWith('.csv')) return undefined;
  const month = rel.slice(prefix.length, -'.csv'.length);
  return isMonthKey(month) ? month : undefined;
}

/**
 * Whether a file holds a month RETENTION_DAYS deleted from the store (before
 * `retainFrom`): such a file is removed and never written again. `yyyy-mm`
 * keys compare as text.
 */
export const isExpired = (view: ViewName, rel: string, retainFrom: string | undefined): boolean => {
  if (retainFrom === undefined) return false;
  const month = monthOfFile(view, rel);
  return month !== undefined && month < retainFrom;
};

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
const isText = (s: unknown): s is string => typeof s === 'string';

function fileEntry(v: unknown): CsvFileEntry | undefined {
  const e = v as Partial<CsvFileEntry> | null | undefined;
  const ok =
    typeof e === 'object' &&
    e !== null &&
    isCount(e.bytes) &&
    isText(e.sha256) &&
    isText(e.stamp) &&
    isCount(e.rows) &&
    (e.checkpoints === undefined || (Array.isArray(e.checkpoints) && e.checkpoints.every(isCount)));
  return ok ? (e as CsvFileEntry) : undefined;
}

/** The state of the one-file-per-view target before partitions (still read: `CSV_PARTITION=none` continues those files). */
interface LegacyState {
  bytes: number;
  sha256: string;
  header: string[];
  dialect: string;
  stamp: string;
  epoch?: string;
  checkpoints?: number[];
}

/**
 * The state as stored, or undefined (another format, a hand edit of the
 * database, files that do not add up to the cursor's rows): anything
 * undefined means the view is written whole. Under RETENTION_DAYS the files
 * of removed months may or may not be counted in the cursor's rows (whoever
 * deleted the months may have taken their rows off it): either adds up.
 */
export function readState(v: unknown, view: ViewName, deliveredRows: number, retainFrom?: string): CsvViewState | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const s = v as Record<string, unknown>;
  const header = s['header'];
  if (!Array.isArray(header) || !header.every(isText) || !isText(s['dialect']) || (s['epoch'] !== undefined && !isText(s['epoch']))) return undefined;
  const epoch = s['epoch'] as string | undefined;
  let state: CsvViewState | undefined;
  if (s['v'] === 2) {
    const files = s['files'];
    if (!isText(s['layout']) || typeof files !== 'object' || files === null || Array.isArray(files)) return undefined;
    const entries: Record<string, CsvFileEntry> = {};
    for (const [rel, e] of Object.entries(files)) {
      const entry = fileEntry(e);
      if (!entry) return undefined;
      entries[rel] = entry;
    }
    state = { v: 2, header, dialect: s['dialect'], layout: s['layout'], ...(epoch === undefined ? {} : { epoch }), files: entries };
  } else {
    const legacy = fileEntry({ ...s, rows: deliveredRows }) as (CsvFileEntry & LegacyState) | undefined;
    if (!legacy) return undefined;
    const { bytes, sha256, stamp, checkpoints } = legacy;
    const entry: CsvFileEntry = { bytes, sha256, stamp, rows: deliveredRows, ...(checkpoints === undefined ? {} : { checkpoints }) };
    state = { v: 2, header, dialect: s['dialect'], layout: layoutKey(false, 'UTC'), ...(epoch === undefined ? {} : { epoch }), files: { [wholeFile(view)]: entry } };
  }
  const rows = Object.values(state.files).reduce((n, e) => n + e.rows, 0);
  if (rows === deliveredRows) return state;
  const kept = Object.entries(state.files).reduce((n, [rel, e]) => n + (isExpired(view, rel, retainFrom) ? 0 : e.rows), 0);
  return retainFrom !== undefined && kept === deliveredRows ? state : undefined;
}

/** Rows held over all of a view's files (the receipt's totalRows). */
export const rowsIn = (files: Record<string, CsvFileEntry>): number => Object.values(files).reduce((n, e) => n + e.rows, 0);
