import { isKeyedView, type ViewName } from './views.js';

/** CSV_PARTITION / SHEETS_PARTITION: one file or tab per view and month, or one per view. */
export const PARTITIONS = ['month', 'none'] as const;
export type Partition = (typeof PARTITIONS)[number];

/**
 * Which views are split by month: the append-only views by the month of
 * `received_at`, `contents` and `content_scores` by the month of (their
 * content's) `first_received_at`, months in REPORT_TIMEZONE. The daily views
 * are small (a row per day and agent) and stay whole.
 */
export function splitByMonth(view: ViewName): boolean {
  return !isKeyedView(view) || view === 'contents' || view === 'content_scores';
}

/** `yyyy-mm` of a calendar day `yyyy-mm-dd` (a day in REPORT_TIMEZONE, see time.ts dayFormatter). */
export const monthOfDay = (day: string): string => day.slice(0, 7);

/** A month key as written in file and tab names. */
export const isMonthKey = (s: string): boolean => /^\d{4}-(0[1-9]|1[0-2])$/.test(s);
