import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { createStore } from '../../src/store/create-store.js';
import { runCli } from '../helpers/cli.js';
import { vendorJson } from '../helpers/fixtures.js';
import { ingest } from '../helpers/ingest.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * A red flag received on a Sunday evening in New York (Monday in UTC), with a
 * decimal score and a score_details key called `timestamp` (a dynamic column,
 * not a time column), and a workflow costing 0.45.
 */
async function seed(dataDir: string): Promise<void> {
  const store = createStore({ dbPath: join(dataDir, 'ember-sync.db') });
  const flag = { ...vendorJson('red-flag'), webhook_id: 'rf-1', total_score: -1250.5, score_details: { empathy_score: 8.6, timestamp: '2026-11-30T04:30:00.000Z' } };
  const workflow = { ...vendorJson('completion-workflow'), webhook_id: 'wf-1' };
  await ingest(store, [flag, workflow], () => '2026-11-30T04:30:00.000Z');
  await store.close();
}

type Row = Record<string, string>;
const rows = (text: string, delimiter = ',') => parse(text, { columns: true, delimiter }) as Row[];

test('export --time-format local --timezone America/New_York: the fixed time columns on the New York wall clock, nothing else', async (t) => {
  const dataDir = tempDir(t);
  await seed(dataDir);
  const env = { DATA_DIR: dataDir };
  const iso = await runCli(['export', 'red_flags'], env);
  assert.equal(iso.code, 0, iso.stderr);
  assert.equal(rows(iso.stdout)[0]!['received_at'], '2026-11-30T04:30:00.000Z', 'iso by default, as received');

  const local = await runCli(['export', 'red_flags', '--time-format', 'local', '--timezone', 'America/New_York'], env);
  assert.equal(local.code, 0, local.stderr);
  const [row] = rows(local.stdout);
  assert.equal(row!['received_at'], '2026-11-29 23:30:00.000', 'Sunday evening, not Monday');
  assert.equal(row!['timestamp'], '2025-01-16 10:30:45.123', "the vendor's time too");
  assert.equal(row!['score_details.timestamp'], '2026-11-30T04:30:00.000Z', 'a dynamic column named like a time column is text');
  assert.ok(local.stdout.startsWith('webhook_id,received_at,timestamp,'), 'the header is not converted');

  // CSV_TIME_FORMAT is a default; local times are in the zone the database records (the server's REPORT_TIMEZONE),
  // not a shell's: a shell that sets another one is told so. A flag wins.
  const berlin = await runCli(['export', 'red_flags'], { ...env, CSV_TIME_FORMAT: 'local', REPORT_TIMEZONE: 'Europe/Berlin' });
  assert.equal(berlin.code, 0, berlin.stderr);
  assert.equal(rows(berlin.stdout)[0]!['received_at'], '2026-11-30 04:30:00.000');
  assert.match(berlin.stderr, /REPORT_TIMEZONE here is Europe\/Berlin, but the views are derived in UTC/);
  const tokyo = await runCli(['export', 'red_flags', '--timezone', 'Asia/Tokyo'], { ...env, CSV_TIME_FORMAT: 'local', REPORT_TIMEZONE: 'Europe/Berlin' });
  assert.equal(rows(tokyo.stdout)[0]!['received_at'], '2026-11-30 13:30:00.000');
  const back = await runCli(['export', 'red_flags', '--time-format', 'iso'], { ...env, CSV_TIME_FORMAT: 'local' });
  assert.equal(rows(back.stdout)[0]!['received_at'], '2026-11-30T04:30:00.000Z');
});

test("export --decimal , --delimiter ';': numbers with a decimal comma, text and times untouched", async (t) => {
  const dataDir = tempDir(t);
  await seed(dataDir);
  const env = { DATA_DIR: dataDir };
  const r = await runCli(['export', 'red_flags', '--decimal', ',', '--delimiter', ';'], env);
  assert.equal(r.code, 0, r.stderr);
  const [row] = rows(r.stdout, ';');
  assert.equal(row!['total_score'], '-1250,5');
  assert.equal(row!['empathy_score'], '8,6');
  assert.equal(row!['received_at'], '2026-11-30T04:30:00.000Z');
  const wf = await runCli(['export', 'workflows', '--decimal', ',', '--delimiter', 'tab'], env);
  assert.equal(rows(wf.stdout, '\t')[0]!['cost'], '0,45');
  // From the settings, with local times: the seconds take the comma too.
  const de = await runCli(['export', 'red_flags', '--timezone', 'Europe/Berlin'], { ...env, CSV_DELIMITER: ';', CSV_DECIMAL: ',', CSV_TIME_FORMAT: 'local' });
  assert.equal(de.code, 0, de.stderr);
  const [deRow] = rows(de.stdout, ';');
  assert.deepEqual([deRow!['received_at'], deRow!['total_score']], ['2026-11-30 05:30:00,000', '-1250,5']);
  // --decimal . overrides CSV_DECIMAL, and then a , delimiter is fine.
  const dot = await runCli(['export', 'workflows', '--decimal', '.', '--delimiter', ','], { ...env, CSV_DELIMITER: ';', CSV_DECIMAL: ',' });
  assert.equal(dot.code, 0, dot.stderr);
  assert.equal(rows(dot.stdout)[0]!['cost'], '0.45');
});

test('bad time format, zone or decimal, and a decimal comma with , as delimiter: exit 2 with one clear line', async (t) => {
  const dataDir = tempDir(t);
  const env = { DATA_DIR: dataDir };
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['export', 'scores', '--decimal', ','], {}, /^ember-sync: --decimal , needs ; \| or tab as the delimiter \(CSV_DELIMITER is ,\): add --delimiter ";"\n$/],
    [['export', 'scores', '--decimal', ',', '--delimiter', ','], {}, /--decimal , needs ; \| or tab as the delimiter, not ,\n$/],
    [['export', 'scores', '--delimiter', ','], { CSV_DELIMITER: ';', CSV_DECIMAL: ',' }, /--delimiter , cannot be used with the decimal comma of CSV_DECIMAL: add --decimal \./],
    [['export', 'scores', '--decimal', 'comma'], {}, /--decimal must be \. or , \(got "comma"\)/],
    [['export', 'scores', '--time-format', 'utc'], {}, /--time-format must be iso or local \(got "utc"\)/],
    [['export', 'scores', '--time-format', 'local', '--timezone', 'Mars/Olympus_Mons'], {}, /--timezone "Mars\/Olympus_Mons" is not a timezone/],
    [['export', 'scores', '--timezone', 'America/New_York'], {}, /--timezone sets the zone of local times: add --time-format local/],
    [['export', 'scores'], { CSV_DECIMAL: ',' }, /^ember-sync: invalid setting CSV_DECIMAL: a decimal comma needs CSV_DELIMITER ; \| or tab/],
    [['export', 'scores'], { REPORT_TIMEZONE: 'Europe/Pariss' }, /^ember-sync: invalid setting REPORT_TIMEZONE: unknown timezone "Europe\/Pariss"/],
    [['export', 'scores'], { CSV_TIME_FORMAT: 'excel' }, /^ember-sync: invalid setting CSV_TIME_FORMAT: must be iso or local/],
    [['export', 'scores'], { CSV_FORMULA_GUARD: 'maybe' }, /^ember-sync: invalid setting CSV_FORMULA_GUARD: must be true or false/],
  ];
  for (const [args, extra, re] of cases) {
    const r = await runCli(args, { ...env, ...extra });
    const label = `${args.join(' ')} ${JSON.stringify(extra)}`;
    assert.equal(r.code, 2, `${label}: ${r.stderr}`);
    assert.match(r.stderr, re, label);
    assert.equal(r.stderr.split('\n').length, 2, `${label}: one line`);
    assert.equal(r.stdout, '', label);
  }
});
