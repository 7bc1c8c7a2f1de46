import { HOUR_OUTCOMES, HOUR_TYPES, hourOf, type HourCount, type HourOutcome, type HourType } from '../../store/webhook-hours.js';

export const CHART_HOURS = 48;

export interface HourlySeries {
  type: HourType;
  outcome: HourOutcome;
  /** One count per hour of `hours`. */
  counts: number[];
  total: number;
}

export interface Hourly {
  /** `yyyy-mm-ddThh` (UTC), oldest first; the last is the current hour. */
  hours: string[];
  /** The (type, outcome) pairs that had webhooks in the window, in a fixed order. */
  series: HourlySeries[];
  /** Per outcome, over the window. */
  totals: Record<HourOutcome, number>;
}

/** The first hour of the window that ends with the hour of `now`. */
export function windowStart(now: Date, hours = CHART_HOURS): string {
  return hourOf(new Date(now.getTime() - (hours - 1) * 3600_000).toISOString());
}

/** Counts of the store (from `windowStart` on) laid out on the window's hours; later hours (a clock set back) are left out. */
export function hourlyWindow(rows: readonly HourCount[], now: Date, size = CHART_HOURS): Hourly {
  const start = Date.parse(`${windowStart(now, size)}:00:00.000Z`);
  const hours = Array.from({ length: size }, (_, i) => hourOf(new Date(start + i * 3600_000).toISOString()));
  const index = new Map(hours.map((h, i) => [h, i]));
  const byPair = new Map<string, HourlySeries>();
  const totals = Object.fromEntries(HOUR_OUTCOMES.map((o) => [o, 0])) as Record<HourOutcome, number>;
  for (const row of rows) {
    const i = index.get(row.hour);
    if (i === undefined) continue;
    const key = `${row.type}/${row.outcome}`;
    let s = byPair.get(key);
    if (!s) {
      s = { type: row.type, outcome: row.outcome, counts: new Array<number>(size).fill(0), total: 0 };
      byPair.set(key, s);
    }
    s.counts[i] = (s.counts[i] ?? 0) + row.n;
    s.total += row.n;
    totals[row.outcome] += row.n;
  }
  const series = HOUR_TYPES.flatMap((type) => HOUR_OUTCOMES.map((outcome) => byPair.get(`${type}/${outcome}`)).filter((s): s is HourlySeries => s !== undefined));
  return { hours, series, totals };
}
