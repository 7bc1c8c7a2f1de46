/**
 * Times as analysts get them. Every conversion between an instant and a wall
 * clock goes through Intl (ICU and its time zone database): days are calendar
 * days in the zone, and the hour a DST change repeats or skips is the zone
 * database's business, never an offset computed here. Pure: no imports.
 */

/** ISO 8601 / RFC 3339 date-time with seconds and a zone: nothing looser (Date.parse would read "Call 12" as a date). */
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}(?::?\d{2})?)$/;

/** Date.UTC without its two-digit-year rule (years 0–99 are not 1900–1999 here). */
function utc(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
  const d = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, ms));
  d.setUTCFullYear(year, month - 1, day);
  return d.getTime();
}

/** Milliseconds since the epoch of a strict ISO 8601 date-time with a zone; undefined for anything else. */
export function parseIsoInstant(text: string): number | undefined {
  const m = ISO_DATE_TIME.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  // Date.UTC rolls 2026-02-31 over to March: check the fields ourselves.
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  // A leap second (23:59:60, valid in RFC 3339 and accepted by the schemas) is the last instant of its minute:
  // JavaScript time has no 61st second, and rolling over would move the call to the next day.
  const leap = second === 60;
  const ms = leap ? 999 : frac ? Math.floor(Number(`0${frac}`) * 1000) : 0;
  const local = utc(Number(y), month, day, hour, minute, leap ? 59 : second, ms);
  const check = new Date(local);
  if (check.getUTCFullYear() !== Number(y) || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return undefined;
  let offset = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const z = zone!.replace(':', '');
    const oh = Number(z.slice(1, 3));
    const om = Number(z.slice(3, 5) || '0');
    if (oh > 23 || om > 59) return undefined;
    offset = (z[0] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  const instant = local - offset;
  return Number.isFinite(instant) && Math.abs(instant) <= 8.64e15 ? instant : undefined;
}

/**
 * A vendor time (`2026-11-29T19:30:00-05:00`) in the shape of `received_at`:
 * UTC with milliseconds (`2026-11-30T00:30:00.000Z`). Undefined when the text
 * is not a full ISO date-time with a zone, or its year leaves 0000–9999.
 */
export function toUtcIso(text: string): string | undefined {
  const ms = parseIsoInstant(text);
  if (ms === undefined) return undefined;
  const iso = new Date(ms).toISOString();
  return iso.length === 24 ? iso : undefined;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      // Without the era, 1 BC and AD 1 both read as year 1 (ISO year 0 and 1).
      era: 'short',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** True for a zone Intl knows (an IANA name such as `America/New_York`, or `UTC`). */
export function isTimeZone(zone: string): boolean {
  if (zone.trim() === '' || zone !== zone.trim()) return false;
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

/** The zone Intl resolves a name to (links such as `US/Eastern`, `Etc/UTC`, `utc` to their zone), or the name itself when Intl does not know it. */
function resolvedZone(zone: string): string {
  try {
    return formatterFor(zone).resolvedOptions().timeZone;
  } catch {
    return zone;
  }
}

/** Do two zone names name the same zone (`Etc/UTC`, `utc` and `UTC`; `US/Eastern` and `America/New_York`)? */
export function sameZone(a: string, b: string): boolean {
  return a === b || resolvedZone(a) === resolvedZone(b);
}

/** One key per zone, whatever its spelling (for comparisons and epochs; shown to nobody: ICU keeps old names such as Asia/Katmandu). */
export const zoneKey = resolvedZone;

export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

/** The wall clock in `zone` at an instant (ms since the epoch). Years are ISO years: 1 BC is 0. */
export function wallClock(ms: number, zone: string): WallClock {
  const parts: Record<string, number> = {};
  let bc = false;
  for (const p of formatterFor(zone).formatToParts(ms)) {
    if (p.type === 'era') bc = p.value === 'BC';
    else if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const millisecond = ((ms % 1000) + 1000) % 1000;
  const year = bc ? 1 - parts['year']! : parts['year']!;
  return { year, month: parts['month']!, day: parts['day']!, hour: parts['hour']!, minute: parts['minute']!, second: parts['second']!, millisecond };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `yyyy-mm-dd`, or undefined when the year leaves 0000–9999 (a wall clock can step out of the range of its instant). */
function dayText(w: WallClock): string | undefined {
  return w.year < 0 || w.year > 9999 ? undefined : `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}`;
}

function dateTimeText(w: WallClock): string | undefined {
  const day = dayText(w);
  return day === undefined ? undefined : `${day} ${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}.${pad(w.millisecond, 3)}`;
}

/** `yyyy-mm-dd` of the calendar day an ISO instant falls on in `zone`; undefined for text that is not one. */
export function dayIn(iso: string, zone: string): string | undefined {
  const ms = parseIsoInstant(iso);
  if (ms === undefined) return undefined;
  return dayText(wallClock(ms, zone));
}

/** `yyyy-mm-dd HH:MM:SS.mmm` on the wall clock of `zone`: what Excel and LibreOffice read as a date-time. */
export function localDateTime(iso: string, zone: string): string | undefined {
  const ms = parseIsoInstant(iso);
  if (ms === undefined) return undefined;
  return dateTimeText(wallClock(ms, zone));
}

const HOUR_MS = 3_600_000;

/** How far the wall clock of `zone` is ahead of UTC at an instant, in ms (whole seconds: old local mean times have them). */
function offsetAt(ms: number, zone: string): number {
  const w = wallClock(ms, zone);
  return utc(w.year, w.month, w.day, w.hour, w.minute, w.second, w.millisecond) - ms;
}

/** The wall clock of an instant already shifted by its offset (plain UTC arithmetic, no zone). */
function shiftedWallClock(wall: number): WallClock {
  const d = new Date(wall);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(), millisecond: d.getUTCMilliseconds() };
}

/**
 * The offset of `zone` at many instants, fast: Intl still decides every
 * offset. It is asked at the first and the last millisecond of each UTC hour
 * met, and when both agree the hour's instants take that offset; an hour in
 * which the offset changes (a DST switch) answers undefined, and the caller
 * asks Intl for that instant. This takes only that no zone changes its offset
 * twice within one hour and back: the closest two changes in the zone database
 * are days apart (Temporal's polyfill assumes two weeks).
 */
export function hourlyOffsets(zone: string): (ms: number) => number | undefined {
  // UTC hour number → the offset during that hour, NaN when it changes within it. Bounded: a cache, not a record.
  const offsets = new Map<number, number>();
  return (ms) => {
    const hour = Math.floor(ms / HOUR_MS);
    let offset = offsets.get(hour);
    if (offset === undefined) {
      if (offsets.size >= 4096) offsets.clear();
      const start = hour * HOUR_MS;
      // Outside the years Date can print (±275,760) there is nothing to cache.
      if (Math.abs(start) > 8.6e15) return undefined;
      const first = offsetAt(start, zone);
      offset = first === offsetAt(start + HOUR_MS - 1, zone) ? first : NaN;
      offsets.set(hour, offset);
    }
    return Number.isNaN(offset) ? undefined : offset;
  };
}

/** The wall clock of `zone` at many instants: `wallClock`, through the hour cache (see hourlyOffsets). */
function fastWallClock(zone: string): (ms: number) => WallClock {
  const offsetOf = hourlyOffsets(zone);
  return (ms) => {
    const offset = offsetOf(ms);
    return offset === undefined ? wallClock(ms, zone) : shiftedWallClock(ms + offset);
  };
}

/** An ISO instant through a fast wall clock to `text`, undefined for text that is no ISO instant. */
function formatter<T>(zone: string, text: (w: WallClock) => T | undefined): (iso: string) => T | undefined {
  const wall = fastWallClock(zone);
  return (iso) => {
    const ms = parseIsoInstant(iso);
    return ms === undefined ? undefined : text(wall(ms));
  };
}

/** `localDateTime` for many times in one zone (a CSV export's time columns), several times faster. */
export const localDateTimeFormatter = (zone: string) => formatter(zone, dateTimeText);
/** `dayIn` for many times in one zone (the projection's day of each call), several times faster. */
export const dayFormatter = (zone: string) => formatter(zone, dayText);
/** `localSerial` for many times in one zone (a Sheets backlog has millions), with the same results. */
export const localSerialFormatter = (zone: string) => formatter(zone, wallSerial);

/** Formatters kept per zone (each caches the offsets of the hours it met); bounded. */
export function perZone<T>(make: (zone: string) => T): (zone: string) => T {
  const made = new Map<string, T>();
  return (zone) => {
    let f = made.get(zone);
    if (f === undefined) {
      if (made.size >= 64) made.clear();
      f = make(zone);
      made.set(zone, f);
    }
    return f;
  };
}

const DAY_MS = 86_400_000;
/** Spreadsheet day 0 is 1899-12-30. */
const EPOCH_OFFSET_DAYS = 25_569;

/** A spreadsheet serial number (days since 1899-12-30) of the wall clock in `zone` at an ISO instant. */
export function localSerial(iso: string, zone: string): number | undefined {
  const ms = parseIsoInstant(iso);
  return ms === undefined ? undefined : wallSerial(wallClock(ms, zone));
}

/** The serial number of a wall clock. */
function wallSerial(w: WallClock): number {
  return utc(w.year, w.month, w.day, w.hour, w.minute, w.second, w.millisecond) / DAY_MS + EPOCH_OFFSET_DAYS;
}

/** The serial number of a `yyyy-mm-dd` day (a date cell). */
export function daySerial(day: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return undefined;
  const ms = utc(Number(m[1]), Number(m[2]), Number(m[3]));
  return Number.isFinite(ms) ? ms / DAY_MS + EPOCH_OFFSET_DAYS : undefined;
}

/** `yyyy-mm-dd` to `yyyy-mm` (the month a day belongs to). */
export const monthOf = (day: string): string => day.slice(0, 7);

/** The calendar day `n` days after `day` (`yyyy-mm-dd`; n may be negative): calendar arithmetic, no zone involved. */
export function addDays(day: string, n: number): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  // setUTCFullYear with month and day: the calendar of year y itself (Date.UTC would read years 0–99 as 1900–1999).
  const t = new Date(0);
  t.setUTCFullYear(y, m - 1, d + n);
  return t.toISOString().slice(0, 10);
}

/**
 * The first instant (ms) of calendar day `day` in `zone`: midnight, or the
 * first minute that exists when a DST change skips midnight. Found by
 * bisection on what the time zone library says the day is, so no offset is
 * computed here (offsets stay within ±14 h of UTC, searched ±26 h).
 */
export function dayStart(day: string, zone: string): number {
  const utcMidnight = Date.parse(`${day}T00:00:00.000Z`);
  let lo = utcMidnight - 26 * HOUR_MS; // still the day before, in every zone
  let hi = utcMidnight + 26 * HOUR_MS; // already `day` or later
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    // wallClock asks Intl at this very instant (the formatters' hourly caches could miss a change at :30).
    if ((dayText(wallClock(mid, zone)) ?? '') >= day) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * The day bound (exclusive) of an `until` instant for daily rows, which are
 * selected by their date as written: `--since 2026-11-28` (midnight UTC, as
 * every bound without a zone) starts at day 2026-11-28, and an `--until`
 * inside a day keeps that day (`2026-11-29T12:00Z` keeps the 29th).
 */
export function untilDay(until: string): string {
  const day = until.slice(0, 10);
  if (until.slice(10) === 'T00:00:00.000Z') return day;
  const next = new Date(`${day}T00:00:00.000Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  return next.toISOString().slice(0, 10);
}
