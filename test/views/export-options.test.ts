import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadSettings } from '../../src/config/settings.js';
import { exportDefaults, ExportOptionError, parseExportRequest, parseTimeBound, type ExportInput } from '../../src/views/export-options.js';
import { timeColumns } from '../../src/model/views.js';
import { FIXED_COLUMNS, VIEW_NAMES } from '../../src/model/views.js';

const rejects = (raw: string, re: RegExp) =>
  assert.throws(() => parseTimeBound(raw, 'since'), (err: unknown) => err instanceof ExportOptionError && err.field === 'since' && re.test(err.message), raw);

test('dates that do not exist are refused, not rolled over into the next month', () => {
  rejects('2025-02-30', /2025-02 has no day 30/);
  rejects('2025-02-29T10:00:00Z', /2025-02 has no day 29/);
  rejects('1900-02-29', /has no day 29/);
  rejects('2025-04-31', /has no day 31/);
  rejects('2025-13-01', /no month 13/);
  rejects('2025-00-10', /no month 00/);
  rejects('2025-01-00', /has no day 00/);
  rejects('2025-01-01T24:00:00Z', /time of day/);
  rejects('2025-01-01T10:60', /time of day/);
  rejects('2025-01-01T10:00:60Z', /time of day/);
  rejects('2025-01-01T10:00:00+24:00', /timezone offset/);
  rejects('2025-01-01T10:00:00+01:60', /timezone offset/);
  rejects('yesterday', /is not a date \(YYYY-MM-DD\)/);
  rejects('2025-1-1', /is not a date/);
});

test('valid dates and date-times, in received_at form (UTC, milliseconds)', () => {
  const cases: Array<[string, string]> = [
    ['2025-01-16', '2025-01-16T00:00:00.000Z'],
    ['2024-02-29', '2024-02-29T00:00:00.000Z'],
    ['2000-02-29T23:59:59Z', '2000-02-29T23:59:59.000Z'],
    ['2025-01-16 10:00', '2025-01-16T10:00:00.000Z'],
    ['2025-01-16T10:00:00+02:00', '2025-01-16T08:00:00.000Z'],
    ['2025-01-16T10:00:00-0230', '2025-01-16T12:30:00.000Z'],
    ['2025-01-16t10:00:00.5z', '2025-01-16T10:00:00.500Z'],
    ['0099-06-01', '0099-06-01T00:00:00.000Z'],
    // received_at has whole milliseconds: a finer bound rounds up, so `>=` and `<` keep their meaning.
    ['2025-01-16T10:00:00.1231Z', '2025-01-16T10:00:00.124Z'],
    ['2025-01-16T10:00:00.123000000Z', '2025-01-16T10:00:00.123Z'],
    ['2025-12-31T23:59:59.9999Z', '2026-01-01T00:00:00.000Z'],
  ];
  for (const [raw, want] of cases) assert.equal(parseTimeBound(raw, 'until'), want, raw);
});

/** Day 0 of the next month is the last day of this one (the JS calendar, proleptic Gregorian). */
function lastDayOfMonth(year: number, month: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, 0);
  return d.getUTCDate();
}

test('property: every calendar date-time is accepted as itself; a day past the end of its month never is', () => {
  const dateTime = fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true });
  fc.assert(
    fc.property(dateTime, (d) => {
      const iso = d.toISOString();
      assert.equal(parseTimeBound(iso, 'since'), iso);
      assert.equal(parseTimeBound(iso.slice(0, 10), 'since'), `${iso.slice(0, 10)}T00:00:00.000Z`);
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 10 }), (y, m, extra) => {
      const last = lastDayOfMonth(y, m);
      const ymd = (day: number) => `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
      assert.equal(parseTimeBound(ymd(last), 'since').slice(0, 10), ymd(last));
      if (last + extra <= 99) assert.throws(() => parseTimeBound(`${ymd(last + extra)}T10:00:00Z`, 'since'), ExportOptionError);
    }),
    { numRuns: 300 },
  );
});

test('parseExportRequest: since before until, delimiter and flags', () => {
  assert.throws(() => parseExportRequest({ view: 'scores', since: '2025-02-01', until: '2025-01-01' }, { delimiter: ',', bom: false }), /--since must be earlier/);
  assert.throws(() => parseExportRequest({ view: 'scores', until: '2025-02-30' }, { delimiter: ',', bom: false }), (e: unknown) => e instanceof ExportOptionError && e.field === 'until');
  const req = parseExportRequest({ view: 'scores', delimiter: 'tab', bom: 'yes', raw: '1' }, { delimiter: ',', bom: false });
  assert.deepEqual(req.dialect, { delimiter: '\t', bom: true, guard: false, decimal: '.', timeFormat: 'iso', timeZone: 'UTC' });
});

const defaults = { delimiter: ',', bom: false };
const field = (input: Omit<ExportInput, 'view'>, defs: Parameters<typeof parseExportRequest>[1], name: ExportOptionError['field'], re: RegExp) =>
  assert.throws(
    () => parseExportRequest({ view: 'scores', ...input }, defs),
    (e: unknown) => e instanceof ExportOptionError && e.field === name && re.test(e.message),
    JSON.stringify(input),
  );

test('parseExportRequest: time format, zone and decimal, from the request or the defaults', () => {
  const local = parseExportRequest({ view: 'red_flags', timeFormat: 'local', timezone: 'America/New_York' }, defaults).dialect;
  assert.deepEqual(local, { delimiter: ',', bom: false, guard: true, decimal: '.', timeFormat: 'local', timeZone: 'America/New_York' });
  const comma = parseExportRequest({ view: 'red_flags', decimal: ',', delimiter: ';' }, defaults).dialect;
  assert.deepEqual([comma.decimal, comma.delimiter], [',', ';']);
  // The settings are the defaults; the request wins over them.
  const settings = exportDefaults(loadSettings({ CSV_DELIMITER: ';', CSV_DECIMAL: ',', CSV_TIME_FORMAT: 'local', REPORT_TIMEZONE: 'Europe/Berlin', CSV_FORMULA_GUARD: 'false' }, '/srv'));
  assert.deepEqual(parseExportRequest({ view: 'scores' }, settings).dialect, { delimiter: ';', bom: false, guard: true, decimal: ',', timeFormat: 'local', timeZone: 'Europe/Berlin' }, 'CSV_FORMULA_GUARD is the CSV target\'s: an export is guarded unless --raw');
  assert.deepEqual(parseExportRequest({ view: 'scores', timezone: 'Asia/Tokyo', decimal: '.', delimiter: ',', timeFormat: 'LOCAL' }, settings).dialect, { delimiter: ',', bom: false, guard: true, decimal: '.', timeFormat: 'local', timeZone: 'Asia/Tokyo' });
  assert.equal(parseExportRequest({ view: 'scores', timeFormat: 'iso' }, settings).dialect.timeFormat, 'iso');
});

test('parseExportRequest: bad time formats, zones and decimals, and a decimal comma with , as delimiter, are refused with the flag named', () => {
  field({ timeFormat: 'utc' }, defaults, 'timeFormat', /--time-format must be iso or local \(got "utc"\)/);
  field({ timeFormat: '' }, defaults, 'timeFormat', /--time-format must be/);
  field({ decimal: ';', delimiter: ';' }, defaults, 'decimal', /--decimal must be \. or ,/);
  field({ decimal: '' }, defaults, 'decimal', /--decimal must be/);
  field({ decimal: ',' }, defaults, 'decimal', /--decimal , needs ; \| or tab as the delimiter \(CSV_DELIMITER is ,\): add --delimiter ";"/);
  field({ decimal: ',', delimiter: ',' }, { delimiter: ';', bom: false }, 'decimal', /--decimal , needs ; \| or tab as the delimiter, not ,$/);
  field({ delimiter: ',' }, { delimiter: ';', bom: false, decimal: ',' }, 'delimiter', /--delimiter , cannot be used with the decimal comma of CSV_DECIMAL: add --decimal \./);
  field({ timeFormat: 'local', timezone: 'Mars/Olympus_Mons' }, defaults, 'timezone', /--timezone "Mars\/Olympus_Mons" is not a timezone/);
  field({ timeFormat: 'local', timezone: '' }, defaults, 'timezone', /is not a timezone/);
  // A zone that would change nothing is a mistake, not a no-op.
  field({ timezone: 'America/New_York' }, defaults, 'timezone', /--timezone sets the zone of local times: add --time-format local/);
  field({ timezone: 'America/New_York', timeFormat: 'iso' }, { ...defaults, timeFormat: 'local' }, 'timezone', /add --time-format local/);
  assert.equal(parseExportRequest({ view: 'scores', timezone: 'Asia/Tokyo' }, { ...defaults, timeFormat: 'local' }).dialect.timeZone, 'Asia/Tokyo');
});

test('timeColumns: the fixed time columns of the view, never a dynamic column of the same name', () => {
  assert.deepEqual(timeColumns('red_flags', [...FIXED_COLUMNS.red_flags, 'timestamp', 'received_at', 'x_score']), [false, true, true, false, false, false, false, false, false, false, false, false]);
  assert.deepEqual(timeColumns('completions', [...FIXED_COLUMNS.completions, 'timestamp']).map((t, i) => (t ? FIXED_COLUMNS.completions[i] ?? `dynamic ${i}` : '')).filter(Boolean), ['received_at', 'created_time']);
  for (const view of VIEW_NAMES) {
    const t = timeColumns(view, FIXED_COLUMNS[view]);
    assert.equal(t.length, FIXED_COLUMNS[view].length);
    assert.equal(t[FIXED_COLUMNS[view].indexOf('received_at')], FIXED_COLUMNS[view].includes('received_at') ? true : undefined, view);
  }
  // A header that is not the view's (shorter, or another column where a time column would be) marks only what matches.
  assert.deepEqual(timeColumns('scores', ['webhook_id', 'timestamp']), [false, false]);
});
