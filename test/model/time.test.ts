import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Temporal } from '@js-temporal/polyfill';
import fc from 'fast-check';
import { addDays, dayFormatter, dayIn, dayStart, isTimeZone, localDateTime, localDateTimeFormatter, localSerial, localSerialFormatter, toUtcIso } from '../../src/model/time.js';

const NY = 'America/New_York';
const BERLIN = 'Europe/Berlin';

test('toUtcIso: any offset to UTC with milliseconds', () => {
  const cases: Array<[string, string]> = [
    ['2026-11-29T19:30:00-05:00', '2026-11-30T00:30:00.000Z'],
    ['2026-11-30T09:24:41.923Z', '2026-11-30T09:24:41.923Z'],
    ['2026-11-30T09:24:41.923456Z', '2026-11-30T09:24:41.923Z'],
    ['2026-11-30T06:00:00+05:45', '2026-11-30T00:15:00.000Z'],
    ['2026-11-29T14:30:00-09:30', '2026-11-30T00:00:00.000Z'],
    ['2026-11-30t09:24:41z', '2026-11-30T09:24:41.000Z'],
    ['2026-11-30 09:24:41+0100', '2026-11-30T08:24:41.000Z'],
    ['2024-02-29T12:00:00Z', '2024-02-29T12:00:00.000Z'],
    ['0000-01-01T00:00:00Z', '0000-01-01T00:00:00.000Z'],
  ];
  for (const [input, want] of cases) assert.equal(toUtcIso(input), want, input);
});

test('invalid input is undefined everywhere, never a rolled-over or guessed date', () => {
  const bad = ['2026-02-30T10:00:00Z', '2025-02-29T10:00:00Z', '2026-11-30T24:00:00Z', '2026-12-31T23:59:61Z', '2026-13-01T00:00:00Z', '2026-11-30T09:24:41', '2026-11-30', 'Call 12', '', ' 2026-11-30T09:24:41Z', '2026-11-30T09:24Z', '2026-11-30T09:24:41+24:00', '2026-11-30T09:24:41+05:60', '+2026-11-30T09:24:41Z'];
  for (const input of bad) {
    for (const [name, f] of [['toUtcIso', toUtcIso], ['dayIn', (s: string) => dayIn(s, NY)], ['localDateTime', (s: string) => localDateTime(s, NY)], ['localSerial', (s: string) => localSerial(s, NY)], ['formatter', localDateTimeFormatter(NY)]] as const) {
      assert.equal(f(input), undefined, `${name}(${JSON.stringify(input)})`);
    }
  }
  // A leap second is the last instant of its minute (JavaScript time has no 61st second): the same day, not the next.
  assert.equal(toUtcIso('2026-12-31T23:59:60Z'), '2026-12-31T23:59:59.999Z', 'a leap second');
  assert.equal(toUtcIso('2026-06-30T18:59:60-05:00'), '2026-06-30T23:59:59.999Z');
  assert.equal(dayIn('2026-12-31T23:59:60Z', 'UTC'), '2026-12-31');
  // An instant past 9999 in UTC has no received_at form, though New York's wall clock is still in 9999.
  assert.equal(toUtcIso('9999-12-31T23:59:59-01:00'), undefined);
  assert.equal(dayIn('9999-12-31T23:59:59-01:00', NY), '9999-12-31');
});

test('a call at 23:30 on a Sunday in New York lands on that Sunday, not on Monday UTC', () => {
  // 2026-11-29 is a Sunday; 23:30 EST is 04:30 UTC on Monday.
  assert.equal(dayIn('2026-11-30T04:30:00.000Z', NY), '2026-11-29');
  assert.equal(dayIn('2026-11-29T23:30:00-05:00', NY), '2026-11-29');
  assert.equal(dayIn('2026-11-30T04:30:00.000Z', 'UTC'), '2026-11-30');
  assert.equal(localDateTime('2026-11-30T04:30:00.000Z', NY), '2026-11-29 23:30:00.000');
  assert.equal(new Date(Date.UTC(2026, 10, 29)).getUTCDay(), 0, 'a Sunday');
});

test('New York, spring forward 2026-03-08: 01:59:59.999 is followed by 03:00', () => {
  assert.equal(localDateTime('2026-03-08T06:59:59.999Z', NY), '2026-03-08 01:59:59.999');
  assert.equal(localDateTime('2026-03-08T07:00:00.000Z', NY), '2026-03-08 03:00:00.000');
  assert.equal(dayIn('2026-03-08T07:00:00.000Z', NY), '2026-03-08');
  const before = localSerial('2026-03-08T06:59:59.999Z', NY)!;
  const after = localSerial('2026-03-08T07:00:00.000Z', NY)!;
  // One real millisecond, one hour and a millisecond on the wall clock.
  assert.ok(Math.abs((after - before) * 86_400_000 - 3_600_001) < 0.01, String((after - before) * 86_400_000));
});

test('New York, fall back 2026-11-01: the 01:30 hour comes twice', () => {
  assert.equal(localDateTime('2026-11-01T05:30:00.000Z', NY), '2026-11-01 01:30:00.000', 'EDT');
  assert.equal(localDateTime('2026-11-01T06:30:00.000Z', NY), '2026-11-01 01:30:00.000', 'EST, an hour later');
  assert.equal(localDateTime('2026-11-01T01:30:00-04:00', NY), '2026-11-01 01:30:00.000');
  assert.equal(localDateTime('2026-11-01T01:30:00-05:00', NY), '2026-11-01 01:30:00.000');
  assert.equal(localSerial('2026-11-01T05:30:00.000Z', NY), localSerial('2026-11-01T06:30:00.000Z', NY));
  assert.equal(dayIn('2026-11-01T06:30:00.000Z', NY), '2026-11-01');
  assert.equal(dayIn('2026-11-01T03:59:59.999Z', NY), '2026-10-31');
});

test('Berlin, 2026-03-29 (02:00 → 03:00) and 2026-10-25 (03:00 → 02:00)', () => {
  assert.equal(localDateTime('2026-03-29T00:59:59.999Z', BERLIN), '2026-03-29 01:59:59.999');
  assert.equal(localDateTime('2026-03-29T01:00:00.000Z', BERLIN), '2026-03-29 03:00:00.000');
  assert.equal(localDateTime('2026-10-25T00:30:00.000Z', BERLIN), '2026-10-25 02:30:00.000', 'CEST');
  assert.equal(localDateTime('2026-10-25T01:30:00.000Z', BERLIN), '2026-10-25 02:30:00.000', 'CET');
  assert.equal(dayIn('2026-10-24T22:00:00.000Z', BERLIN), '2026-10-25');
  assert.equal(dayIn('2026-10-24T21:59:59.999Z', BERLIN), '2026-10-24');
});

test('quarter- and half-hour offsets: Kathmandu +05:45, Marquesas -09:30', () => {
  assert.equal(localDateTime('2026-11-30T18:15:00.000Z', 'Asia/Kathmandu'), '2026-12-01 00:00:00.000');
  assert.equal(dayIn('2026-11-30T18:14:59.999Z', 'Asia/Kathmandu'), '2026-11-30');
  assert.equal(localDateTime('2026-11-30T09:29:59.999Z', 'Pacific/Marquesas'), '2026-11-29 23:59:59.999');
  assert.equal(localDateTime('2026-11-30T00:00:00+05:45', 'UTC'), '2026-11-29 18:15:00.000');
  assert.equal(localDateTime('2026-11-30T00:00:00-09:30', 'UTC'), '2026-11-30 09:30:00.000');
});

test('localSerial: spreadsheet days since 1899-12-30 on the wall clock', () => {
  assert.equal(localSerial('1899-12-30T00:00:00Z', 'UTC'), 0);
  assert.equal(localSerial('2025-01-01T00:00:00Z', 'UTC'), 45658);
  assert.equal(localSerial('2026-11-30T12:00:00Z', 'UTC'), 46356.5);
  assert.equal(localSerial('2026-11-30T17:00:00Z', NY), 46356.5);
});

test('years at the edges: ISO year 0 is 1 BC; a wall clock outside 0000-9999 is undefined', () => {
  assert.equal(localDateTime('0000-06-01T00:00:00Z', 'UTC'), '0000-06-01 00:00:00.000');
  assert.equal(dayIn('0001-01-01T00:00:00Z', NY), '0000-12-31', 'local mean time, a day earlier');
  assert.equal(localDateTime('0000-01-01T00:00:00Z', NY), undefined);
  assert.equal(localDateTime('9999-12-31T23:59:59Z', 'Asia/Tokyo'), undefined);
  assert.equal(localDateTime('9999-12-31T23:59:59Z', NY), '9999-12-31 18:59:59.000');
});

test('isTimeZone: IANA names and UTC, nothing else', () => {
  for (const z of ['UTC', NY, BERLIN, 'Asia/Kathmandu', 'Etc/GMT+5']) assert.ok(isTimeZone(z), z);
  for (const z of ['', ' UTC', 'Mars/Olympus_Mons', 'Europe/Pariss', 'not a zone']) assert.ok(!isTimeZone(z), z);
});

// ---- against an independent oracle: the Temporal polyfill's own calendar and offset arithmetic ----

const ALL_ZONES = Intl.supportedValuesOf('timeZone');
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function temporalWall(ms: number, zone: string): { local: string | undefined; day: string | undefined; serial: number | undefined } {
  const z = Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(zone);
  if (z.year < 0 || z.year > 9999) return { local: undefined, day: undefined, serial: undefined };
  const day = `${pad(z.year, 4)}-${pad(z.month)}-${pad(z.day)}`;
  const wallMs = z.toPlainDateTime().toZonedDateTime('UTC').epochMilliseconds;
  return { local: `${day} ${pad(z.hour)}:${pad(z.minute)}:${pad(z.second)}.${pad(z.millisecond, 3)}`, day, serial: wallMs / 86_400_000 + 25_569 };
}

/** One formatter per zone for the whole file: its hour cache meets many instants, in hours with and without a change. */
const shared = new Map<string, (iso: string) => string | undefined>();
const sharedFormatter = (zone: string) => shared.get(zone) ?? shared.set(zone, localDateTimeFormatter(zone)).get(zone)!;

function agrees(ms: number, zone: string, iso = new Date(ms).toISOString()): void {
  const want = temporalWall(ms, zone);
  const label = `${iso} in ${zone}`;
  assert.equal(localDateTime(iso, zone), want.local, label);
  assert.equal(localDateTimeFormatter(zone)(iso), want.local, `${label} (fresh formatter)`);
  assert.equal(sharedFormatter(zone)(iso), want.local, `${label} (formatter with a cache)`);
  assert.equal(dayIn(iso, zone), want.day, `${label} (day)`);
  assert.equal(dayFormatter(zone)(iso), want.day, `${label} (day formatter)`);
  if (want.serial !== undefined) {
    assert.ok(Math.abs(localSerial(iso, zone)! - want.serial) < 1e-9, `${label} (serial)`);
    assert.ok(Math.abs(localSerialFormatter(zone)(iso)! - want.serial) < 1e-9, `${label} (serial formatter)`);
  }
}

test('property: localDateTime, dayIn, localSerial and the formatter agree with Temporal for any instant in any zone', () => {
  const instant = fc.oneof(fc.integer({ min: Date.parse('1900-01-01T00:00:00Z'), max: Date.parse('2100-01-01T00:00:00Z') }), fc.integer({ min: Date.parse('0000-01-01T00:00:00Z'), max: Date.parse('9999-12-31T23:59:59.999Z') }));
  fc.assert(
    fc.property(instant, fc.constantFrom(...ALL_ZONES), (ms, zone) => agrees(ms, zone)),
    { numRuns: 2000 },
  );
});

test('property: around every kind of offset change (DST both ways, zone moves), within the hour of the change', () => {
  const zones = [NY, BERLIN, 'Australia/Lord_Howe', 'America/St_Johns', 'Pacific/Apia', 'Asia/Kathmandu', 'Europe/Moscow', 'America/Sao_Paulo', 'Africa/Casablanca', 'Antarctica/Troll', 'Europe/Amsterdam', 'Asia/Kolkata'];
  fc.assert(
    fc.property(fc.constantFrom(...zones), fc.integer({ min: Date.parse('1890-01-01T00:00:00Z'), max: Date.parse('2060-01-01T00:00:00Z') }), fc.integer({ min: -7_200_000, max: 7_200_000 }), (zone, from, delta) => {
      const next = Temporal.Instant.fromEpochMilliseconds(from).toZonedDateTimeISO(zone).getTimeZoneTransition('next');
      if (next === null) return;
      // Both sides of the change, in the same hours, so that cached hours are met again.
      for (const d of [delta, -delta, Math.sign(delta) * (Math.abs(delta) % 2000), delta % 3_600_000, -1, 0]) agrees(next.epochMilliseconds + d, zone);
    }),
    { numRuns: 500 },
  );
});

test('property: a vendor time with any offset reads as the same instant', () => {
  const offset = fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }));
  fc.assert(
    fc.property(fc.integer({ min: Date.parse('1970-01-01T00:00:00Z'), max: Date.parse('2100-01-01T00:00:00Z') }), offset, fc.constantFrom(...ALL_ZONES), (ms, [sign, h, m], zone) => {
      const shift = (sign === '+' ? 1 : -1) * (h * 60 + m) * 60_000;
      const wall = new Date(ms + shift).toISOString().slice(0, 23);
      const iso = `${wall}${sign}${pad(h)}:${pad(m)}`;
      assert.equal(toUtcIso(iso), Temporal.Instant.from(iso).toString({ fractionalSecondDigits: 3 }), iso);
      agrees(ms, zone, iso);
    }),
    { numRuns: 1000 },
  );
});

test('addDays is calendar arithmetic (Temporal as the oracle): leap years, the end of February, years 1–9999', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 9998 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 31 }), fc.integer({ min: -800, max: 800 }), (y, m, d, n) => {
      const date = Temporal.PlainDate.from({ year: y, month: m, day: d }, { overflow: 'constrain' });
      const expected = date.add({ days: n });
      fc.pre(expected.year >= 1 && expected.year <= 9999);
      assert.equal(addDays(date.toString(), n), expected.toString());
    }),
    { numRuns: 2000 },
  );
  assert.equal(addDays('2027-03-01', -1), '2027-02-28');
  assert.equal(addDays('2024-03-01', -1), '2024-02-29');
});

test('dayStart is the first instant of the day in the zone (Temporal as the oracle), DST changes at midnight included', () => {
  const zones = ['UTC', 'America/New_York', 'Europe/Berlin', 'America/Sao_Paulo', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'Pacific/Kiritimati', 'America/Havana'];
  fc.assert(
    fc.property(fc.constantFrom(...zones), fc.integer({ min: 0, max: 365 * 40 }), (zone, offset) => {
      const day = Temporal.PlainDate.from('2000-01-01').add({ days: offset });
      const expected = day.toZonedDateTime({ timeZone: zone }).epochMilliseconds;
      assert.equal(dayStart(day.toString(), zone), expected, `${zone} ${day.toString()}`);
    }),
    { numRuns: 400 },
  );
  // São Paulo skipped midnight on 2018-11-04 (00:00 → 01:00): the day began at 01:00 local.
  assert.equal(new Date(dayStart('2018-11-04', 'America/Sao_Paulo')).toISOString(), '2018-11-04T03:00:00.000Z');
});
