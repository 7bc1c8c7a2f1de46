/**
 * Regressions found by attacking the Sheets target as an analyst, an operator
 * and an attacker would (month tabs, SHEETS_KEEP_MONTHS, the status tab,
 * SHEETS_ON_CONFLICT): each test is one finding, against the fake Sheets API
 * with the real client and a real store.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MonthViewState } from '../../../src/sinks/sheets/month-tabs.js';
import { ingest } from '../../helpers/ingest.js';
import { mixed, rawApi, setup, SHEET } from './harness.js';
import { assertMonthTabs, failures, syncAt } from './month-harness.js';

const statusRow = (values: unknown[][], label: string) => values.find((r) => r[0] === label);

test('a column the analyst inserted in a synced tab: the rebuild leaves nothing of the shifted column behind, and the next syncs are plain appends', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ partition: 'month', onConflict: 'rebuild', statusTab: true, protectTabs: true });
  await ingest(store, mixed(0, 12), (i) => `2026-11-0${1 + (i % 9)}T10:00:00.000Z`);
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:00:00.000Z')), []);
  const title = 'scores 2026-11';
  const tab = fake.tab(SHEET, title)!;
  const width = tab.values[0]!.length;
  await rawApi(fake).spreadsheets.batchUpdate({
    spreadsheetId: SHEET,
    requestBody: { requests: [{ insertDimension: { range: { sheetId: tab.sheetId, dimension: 'COLUMNS', startIndex: 2, endIndex: 3 } } }] },
  });
  await ingest(store, mixed(50, 3, 'n-'), () => '2026-11-10T10:00:00.000Z');
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:01:00.000Z')), []);
  assert.match(String(statusRow(fake.tab(SHEET, 'ember-sync')!.values, 'Tabs rebuilt')?.[1]), /^scores 2026-11: the header row of tab "scores 2026-11" was changed by hand/);
  // Every row holds the view's columns and nothing right of them (the last column had been pushed out to the right).
  const after = fake.tab(SHEET, title)!;
  assert.ok(after.values.every((r) => r.length <= width), `no cell past column ${width}: ${JSON.stringify(after.values[0])}`);
  await assertMonthTabs(fake, store, 'scores');
  await ingest(store, mixed(70, 2, 'm-'), () => '2026-11-11T10:00:00.000Z');
  fake.resetRequests();
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:02:00.000Z')), []);
  assert.equal(statusRow(fake.tab(SHEET, 'ember-sync')!.values, 'Tabs rebuilt')?.[1], 'none');
  await assertMonthTabs(fake, store, 'scores');
});

test('REPORT_TIMEZONE changes and a keyed month is left without contents: its tab is emptied, no content shows in two month tabs', async (t) => {
  const { fake, store, target } = await setup(t);
  // Two calls: one mid-November, one at 03:00 UTC on December 1st — still November 30 in New York.
  await ingest(store, mixed(0, 2), (i) => (i === 0 ? '2026-11-10T10:00:00.000Z' : '2026-12-01T03:00:00.000Z'));
  assert.deepEqual(failures(await syncAt(store, target({ partition: 'month' }), '2026-12-01T04:00:00.000Z')), []);
  const ids = (title: string) => (fake.tab(SHEET, title)?.values ?? []).slice(1).map((r) => r[0]).filter((v) => v !== null && v !== undefined);
  assert.equal(ids('contents 2026-12').length, 1, 'in UTC the second call is December’s');

  await store.adoptReportTimezone('America/New_York');
  const ny = target({ partition: 'month', reportTimezone: 'America/New_York' });
  assert.deepEqual(failures(await syncAt(store, ny, '2026-12-01T06:00:00.000Z')), []);
  for (const view of ['contents', 'content_scores'] as const) {
    const nov = ids(`${view} 2026-11`);
    const dec = ids(`${view} 2026-12`);
    assert.ok(nov.length > 0);
    assert.deepEqual(dec, [], `${view} 2026-12 holds no row of another month`);
    assert.deepEqual(fake.tab(SHEET, `${view} 2026-12`)!.values[0]![0], view === 'contents' ? 'content_id' : 'content_id', 'its header stays');
  }
  assert.equal(new Set(ids('contents 2026-11')).size, 2, 'both calls in November');
  // Steady afterwards: nothing more to write.
  fake.resetRequests();
  assert.deepEqual(failures(await syncAt(store, ny, '2026-12-01T06:01:00.000Z')), []);
  assert.deepEqual(fake.requests.map((r) => r.kind), ['get']);
});

test('the status tab renamed by an analyst in another case ("Ember-Sync") is still the status tab: no refused request, kept up to date', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ partition: 'month', statusTab: true, protectTabs: true });
  await ingest(store, mixed(0, 5), () => '2026-11-05T10:00:00.000Z');
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:00:00.000Z')), []);
  fake.renameTab(SHEET, 'ember-sync', 'Ember-Sync');
  for (const [k, at] of ['2026-11-20T00:01:00.000Z', '2026-11-20T00:02:00.000Z'].entries()) {
    await ingest(store, mixed(10 + k * 10, 3, `x${k}-`), () => '2026-11-06T10:00:00.000Z');
    fake.resetRequests();
    assert.deepEqual(failures(await syncAt(store, sheets, at)), []);
    assert.ok(fake.requests.every((r) => r.status === 200), fake.requests.map((r) => `${r.kind} ${r.status}`).join(', '));
    assert.ok(fake.requests.length <= 4, fake.requests.map((r) => r.kind).join(', '));
    assert.deepEqual(sheets.notices!(), []);
    const time = statusRow(fake.tab(SHEET, 'Ember-Sync')!.values, 'Last sync')![1];
    assert.ok(Math.abs(Number(time) - (Date.parse(at) - Date.UTC(1899, 11, 30)) / 86_400_000) < 1e-6, 'this sync’s time');
  }
  assert.deepEqual(fake.tabs(SHEET).filter((title) => title.toLowerCase() === 'ember-sync'), ['Ember-Sync'], 'no second status tab');
});

test('a sorted status tab gets its formats back at the next sync that reads rows back: the time is a date-time again, no count shows as a date', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ partition: 'month', statusTab: true, protectTabs: true });
  await ingest(store, mixed(0, 5), () => '2026-11-05T10:00:00.000Z');
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:00:00.000Z')), []);
  // Data → Sort range A→Z on rows 2..40 (Sheets moves each cell's format with it).
  fake.sortRows(SHEET, 'ember-sync', { startRow: 1, column: 0 });
  assert.notEqual(fake.cellFormat(SHEET, 'ember-sync', 'B2')?.type, 'DATE_TIME', 'the time cell’s format moved away with its row');
  await ingest(store, mixed(10, 3, 'y-'), () => '2026-11-06T10:00:00.000Z');
  fake.resetRequests();
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:01:00.000Z')), []);
  assert.ok(fake.requests.length <= 4, fake.requests.map((r) => r.kind).join(', '));
  const values = fake.tab(SHEET, 'ember-sync')!.values;
  assert.equal(values[1]![0], 'Last sync');
  assert.equal(fake.cellFormat(SHEET, 'ember-sync', 'B2')?.type, 'DATE_TIME');
  values.forEach((row, r) => {
    if (r !== 1) assert.equal(fake.cellFormat(SHEET, 'ember-sync', `B${r + 1}`), undefined, `B${r + 1} (${String(row[0])}) has no date format`);
  });
  // Steady again: the formats are not sent at every sync.
  await ingest(store, mixed(20, 3, 'z-'), () => '2026-11-06T11:00:00.000Z');
  fake.resetRequests();
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:02:00.000Z')), []);
  assert.ok(!fake.requests.some((r) => r.kind === 'batchUpdate' && JSON.stringify(r.body).includes(String(fake.tab(SHEET, 'ember-sync')!.sheetId))), 'no status format request');
});

test('SHEETS_KEEP_MONTHS=1 after REPORT_TIMEZONE moved east: the month the append-only tabs still fill is current, never dropped, its rows written', async (t) => {
  const { fake, store, target } = await setup(t);
  // The month tabs began in Los Angeles time: a row keeps going to the month of that zone.
  await store.adoptReportTimezone('America/Los_Angeles');
  await ingest(store, mixed(0, 10), () => '2026-11-10T12:00:00.000Z');
  assert.deepEqual(failures(await syncAt(store, target({ partition: 'month', keepMonths: 1, reportTimezone: 'America/Los_Angeles' }), '2026-11-20T00:00:00.000Z')), []);
  await store.adoptReportTimezone('UTC');
  // 02:00 UTC on December 1st is still November 30 in Los Angeles: these rows belong in the November tabs.
  await ingest(store, mixed(50, 6, 'eve-'), () => '2026-12-01T02:00:00.000Z');
  const outs = await syncAt(store, target({ partition: 'month', keepMonths: 1, reportTimezone: 'UTC' }), '2026-12-01T02:30:00.000Z');
  assert.deepEqual(failures(outs), []);
  const ids = (fake.tab(SHEET, 'scores 2026-11')?.values ?? []).map((r) => String(r[0]));
  assert.ok(ids.some((id) => id.startsWith('eve-')), 'the evening’s rows are in the November tab');
  assert.equal(fake.tab(SHEET, 'scores 2026-12'), undefined);
});

test('SHEETS_PARTITION month → none → month in one month: the month tab it wrote before is not called someone else’s, nothing is written over it, and renaming it lets the view go on', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 5), () => '2026-11-05T10:00:00.000Z');
  assert.deepEqual(failures(await syncAt(store, target({ partition: 'month' }), '2026-11-20T00:00:00.000Z')), []);
  await ingest(store, mixed(10, 5, 'a-'), () => '2026-11-06T10:00:00.000Z');
  assert.deepEqual(failures(await syncAt(store, target({ partition: 'none' }), '2026-11-20T00:01:00.000Z')), []);
  const before = fake.tab(SHEET, 'scores 2026-11')!.values;
  await ingest(store, mixed(20, 5, 'b-'), () => '2026-11-07T10:00:00.000Z');
  const back = target({ partition: 'month', onConflict: 'rebuild' });
  const outs = await syncAt(store, back, '2026-11-20T00:02:00.000Z');
  const scores = outs.find((o) => o.view === 'scores')!;
  assert.equal(scores.ok, false);
  assert.match(scores.ok ? '' : scores.error, /^the tab "scores 2026-11" holds rows ember-sync wrote earlier that it no longer tracks \(SHEETS_PARTITION was switched to none and back/);
  assert.doesNotMatch(scores.ok ? '' : scores.error, /did not write/);
  assert.deepEqual(fake.tab(SHEET, 'scores 2026-11')!.values, before, 'left as it was');
  fake.renameTab(SHEET, 'scores 2026-11', 'scores 2026-11 (before)');
  assert.deepEqual(failures(await syncAt(store, back, '2026-11-20T00:03:00.000Z')).filter((f) => f.startsWith('scores')), []);
  const ids = fake.tab(SHEET, 'scores 2026-11')!.values.slice(1).map((r) => String(r[0]));
  assert.ok(ids.length > 0 && ids.every((id) => id.startsWith('b-')), 'the new tab holds the rows since the switch back');
});

test('auto: a first sync of a history too big for the spreadsheet leaves out its oldest months instead of failing views at every sync', async (t) => {
  const sixMonths = (i: number) => new Date(Date.UTC(2026, 5 + Math.floor(i / 10), 10, 9, i)).toISOString();
  // The cells the whole history takes in month tabs, measured on a spreadsheet without limit.
  const probe = await setup(t);
  await ingest(probe.store, mixed(0, 60), sixMonths);
  assert.deepEqual(failures(await syncAt(probe.store, probe.target({ partition: 'month', growSlackRows: 0 }), '2026-11-20T00:00:00.000Z')), []);
  const budget = Math.floor(probe.fake.totalCells(SHEET) / 2);

  const { fake, store, target } = await setup(t, { limits: { maxCells: budget } });
  await ingest(store, mixed(0, 60), sixMonths);
  const sheets = target({ partition: 'month', growSlackRows: 0, cellBudget: budget, statusTab: true });
  const outs = await syncAt(store, sheets, '2026-11-20T00:00:00.000Z');
  assert.deepEqual(failures(outs), [], 'every view delivered');
  assert.ok(fake.totalCells(SHEET) <= budget * 0.9, `${fake.totalCells(SHEET)} cells, at most 90% of ${budget}`);
  assert.ok(fake.tab(SHEET, 'scores 2026-11') && fake.tab(SHEET, 'daily_agents') && fake.tab(SHEET, 'daily_metrics'), 'the current month and the daily tabs');
  assert.ok(!fake.tabs(SHEET).some((title) => title.endsWith(' 2026-06')), 'the oldest month left out');
  const state = (await store.sync.cursor('sheets', 'scores')).state as MonthViewState;
  assert.ok(state.droppedThrough !== undefined && state.droppedThrough >= '2026-06');
  for (const m of Object.keys(state.months)) assert.ok(m > state.droppedThrough!, `${m} kept`);
  const kept = Object.keys(state.months).sort();
  await assertMonthTabs(fake, store, 'scores', ['2026-06', '2026-07', '2026-08', '2026-09', '2026-10'].filter((m) => !kept.includes(m)));
  assert.match(String(statusRow(fake.tab(SHEET, 'ember-sync')!.values, 'Note')?.[1]), /^months? 2026-06.* not written to Sheets: .*SHEETS_KEEP_MONTHS=auto/);
  // The result counts the rows that went to Sheets, not those of the months left out.
  const rows = fake.tabs(SHEET).filter((title) => title !== 'ember-sync').reduce((n, title) => n + fake.tab(SHEET, title)!.values.length - 1, 0);
  assert.equal(statusRow(fake.tab(SHEET, 'ember-sync')!.values, 'Result')?.[1], `ok: ${rows.toLocaleString('en')} rows written`);
  // The next syncs are steady: nothing refused, the left-out months stay out.
  await ingest(store, mixed(100, 3, 'n-'), () => '2026-11-19T10:00:00.000Z');
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:01:00.000Z')), []);
  assert.ok(!fake.tabs(SHEET).some((title) => title.endsWith(' 2026-06')));
  await assertMonthTabs(fake, store, 'scores', ['2026-06', '2026-07', '2026-08', '2026-09', '2026-10'].filter((m) => !kept.includes(m)));
});

test('month rollover at midnight in New York with the product options: the last second of November stays in November, the rollover sync makes at most 4 requests, the status tab too', async (t) => {
  const { fake, store, target } = await setup(t);
  await store.adoptReportTimezone('America/New_York');
  const sheets = target({ partition: 'month', keepMonths: 'auto', onConflict: 'rebuild', statusTab: true, protectTabs: true, reportTimezone: 'America/New_York', growSlackRows: 50 });
  await ingest(store, mixed(0, 20), (i) => `2026-11-${String(10 + i).padStart(2, '0')}T12:00:00.000Z`);
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-30T12:00:00.000Z')), []);
  // 04:59:59Z is 23:59:59 on November 30 in New York; 05:00:01Z is December 1st.
  const midnight = mixed(200, 2, 'mid-');
  await ingest(store, midnight, (i) => (i === 0 ? '2026-12-01T04:59:59.000Z' : '2026-12-01T05:00:01.000Z'));
  const [before, after] = midnight.map((w) => String(w['webhook_id']));
  fake.resetRequests();
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-12-01T05:00:30.000Z')), []);
  assert.ok(fake.requests.length <= 4, fake.requests.map((r) => r.kind).join(', '));
  const ids = (title: string) => new Set((fake.tab(SHEET, title)?.values ?? []).map((r) => String(r[0])));
  assert.ok(ids('scores 2026-11').has(before!) && !ids('scores 2026-12').has(before!), 'the last second of November in New York');
  assert.ok(ids('scores 2026-12').has(after!) && !ids('scores 2026-11').has(after!), 'the first second of December in New York');
  const titles = fake.tabs(SHEET);
  assert.equal(titles.indexOf('scores 2026-12'), titles.indexOf('scores 2026-11') + 1, 'December next to November');
  assert.equal(titles[0], 'ember-sync');
  assert.equal(fake.requests.at(-1)!.kind, 'values.batchUpdate');
  assert.ok(fake.requests.at(-1)!.ranges!.includes("'ember-sync'!A1:D40"), 'the status rides with the rows');
});

test('the status tab’s protection removed by hand is put back once, like a synced tab’s', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ partition: 'month', statusTab: true, protectTabs: true });
  await ingest(store, mixed(0, 5), () => '2026-11-05T10:00:00.000Z');
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:00:00.000Z')), []);
  const [range] = fake.tab(SHEET, 'ember-sync')!.protectedRanges;
  await rawApi(fake).spreadsheets.batchUpdate({ spreadsheetId: SHEET, requestBody: { requests: [{ deleteProtectedRange: { protectedRangeId: range!.protectedRangeId } }] } });
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:01:00.000Z')), []);
  assert.deepEqual(fake.tab(SHEET, 'ember-sync')!.protectedRanges.map((r) => r.warningOnly), [true]);
  fake.resetRequests();
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:02:00.000Z')), []);
  assert.deepEqual(fake.requests.map((r) => r.kind), ['get', 'values.batchUpdate'], 'idle again');
  assert.equal(fake.tab(SHEET, 'ember-sync')!.protectedRanges.length, 1);
});

test('a status tab cut to 3 rows by hand: grown back and formatted in the requests a sync makes anyway, nothing refused', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ partition: 'month', statusTab: true, protectTabs: true });
  await ingest(store, mixed(0, 5), () => '2026-11-05T10:00:00.000Z');
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:00:00.000Z')), []);
  fake.deleteRows(SHEET, 'ember-sync', 3, 37);
  await ingest(store, mixed(10, 3, 'y-'), () => '2026-11-06T10:00:00.000Z');
  fake.resetRequests();
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:01:00.000Z')), []);
  assert.deepEqual(fake.requests.map((r) => `${r.kind} ${r.status}`), ['get 200', 'values.batchGet 200', 'batchUpdate 200', 'values.batchUpdate 200']);
  assert.equal(fake.tab(SHEET, 'ember-sync')!.rowCount, 40);
  assert.equal(fake.cellFormat(SHEET, 'ember-sync', 'B2')?.type, 'DATE_TIME');
  assert.equal(statusRow(fake.tab(SHEET, 'ember-sync')!.values, 'Tabs dropped')?.[1], 'none');
});
