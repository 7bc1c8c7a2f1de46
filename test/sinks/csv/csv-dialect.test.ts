import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSettings } from '../../../src/config/settings.js';
import { DEFAULT_CSV_DIALECT, type CsvDialect } from '../../../src/model/csv.js';
import { csvDialectFromSettings, csvDialectKey } from '../../../src/sinks/csv/csv-dialect.js';

test('csvDialectFromSettings: the CSV target writes in the settings\' dialect', async () => {
  assert.deepEqual(csvDialectFromSettings(loadSettings({}, '/srv')), DEFAULT_CSV_DIALECT);
  const s = loadSettings({ CSV_DELIMITER: 'tab', CSV_BOM: 'true', CSV_FORMULA_GUARD: 'false', CSV_DECIMAL: ',', CSV_TIME_FORMAT: 'local', REPORT_TIMEZONE: 'Europe/Berlin' }, '/srv');
  assert.deepEqual(csvDialectFromSettings(s), { delimiter: '\t', bom: true, guard: false, decimal: ',', timeFormat: 'local', timeZone: 'Europe/Berlin' });
});

test('csvDialectKey: every field that changes the bytes changes the key; the zone only with local times; never an older key', async () => {
  const base: CsvDialect = { ...DEFAULT_CSV_DIALECT };
  const variants: CsvDialect[] = [
    base,
    { ...base, delimiter: ';' },
    { ...base, bom: true },
    { ...base, guard: false },
    { ...base, delimiter: ';', decimal: ',' },
    { ...base, timeFormat: 'local' },
    { ...base, timeFormat: 'local', timeZone: 'America/New_York' },
  ];
  const keys = variants.map(csvDialectKey);
  assert.equal(new Set(keys).size, keys.length, keys.join('\n'));
  assert.equal(csvDialectKey({ ...base, timeZone: 'Asia/Tokyo' }), csvDialectKey(base), 'iso times do not depend on the zone');
  // The key the CSV target stored before these rules: files written under it are rewritten once, not continued.
  assert.ok(!keys.includes(JSON.stringify({ d: ',', b: false })));
});
