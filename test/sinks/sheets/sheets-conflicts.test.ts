/**
 * Conflicts against the fake Sheets API with the real client and a real store:
 * synced tabs carry a warning-only protected range; a sorted or edited tab is
 * rebuilt from the database in place (SHEETS_ON_CONFLICT=rebuild) or stops its
 * view (stop); filters and filter views hide rows without moving them and are
 * not conflicts; a rebuild that dies half-way is finished by the next sync.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { runSync } from '../../../src/jobs/sync.js';
import { PROTECTION_DESCRIPTION } from '../../../src/sinks/sheets/plan-views.js';
import { ingest } from '../../helpers/ingest.js';
import { assertTabEqualsView, mixed, rawApi, setup, SHEET } from './harness.js';
import { assertMonthTabs, failures, syncAt } from './month-harness.js';

const silent = pino({ level: 'silent' });
const statusRow = (values: unknown[][], label: string) => values.find((r) => r[0] === label);

test('synced tabs (and the status tab) carry one warning-only protected range; tabs from before get theirs once', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 10));
  assert.equal((await runSync({ store, target: target(), logger: silent })).status, 'ok');
  assert.deepEqual(fake.tab(SHEET, 'scores')!.protectedRanges, [], 'made before protection');
  const sheets = target({ protectTabs: true, statusTab: true });
  await ingest(store, mixed(20, 3));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  for (const title of fake.tabs(SHEET)) {
    const ranges = fake.tab(SHEET, title)!.protectedRanges;
    assert.equal(ranges.length, 1, `${title}: one protected range, added once`);
    assert.equal(ranges[0]!.warningOnly, true);
    assert.equal(ranges[0]!.description, PROTECTION_DESCRIPTION);
    assert.deepEqual(ranges[0]!.range, { sheetId: fake.tab(SHEET, title)!.sheetId }, 'the whole tab');
  }
});

test('rebuild: a sorted month tab is written again from the database in place, and the status tab says so', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ partition: 'month', onConflict: 'rebuild', statusTab: true, growSlackRows: 3 });
  await ingest(store, mixed(0, 12), (i) => `2026-11-0${1 + (i % 9)}T10:00:00.000Z`);
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:00:00.000Z')), []);
  const title = 'scores 2026-11';
  const tab = fake.tab(SHEET, title)!;
  // Sort by score, descending, and type a note in a synced row.
  fake.sortRows(SHEET, title, { startRow: 1, column: tab.values[0]!.indexOf('score'), descending: true });
  fake.setCells(SHEET, title, 'A3', [['my note']]);
  await ingest(store, mixed(50, 3, 'next-'), () => '2026-11-10T10:00:00.000Z');
  const sheetId = tab.sheetId;
  const outs = await syncAt(store, sheets, '2026-11-20T00:01:00.000Z');
  assert.deepEqual(failures(outs), []);
  await assertMonthTabs(fake, store, 'scores');
  assert.equal(fake.tab(SHEET, title)!.sheetId, sheetId, 'rebuilt in place (same tab)');
  const rebuilt = statusRow(fake.tab(SHEET, 'ember-sync')!.values, 'Tabs rebuilt');
  assert.match(String(rebuilt?.[1]), /^scores 2026-11: the rows of tab "scores 2026-11" were moved/);
  // The next sync is a plain append again.
  await ingest(store, mixed(80, 2, 'after-'), () => '2026-11-11T10:00:00.000Z');
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:02:00.000Z')), []);
  await assertMonthTabs(fake, store, 'scores');
  assert.equal(statusRow(fake.tab(SHEET, 'ember-sync')!.values, 'Tabs rebuilt')?.[1], 'none');
});

test('rebuild: a sorted keyed tab and rows inserted by hand are rebuilt; stop keeps the view stopped with the reason', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 15));
  assert.equal((await runSync({ store, target: target(), logger: silent })).status, 'ok');
  fake.sortRows(SHEET, 'contents', { startRow: 1, column: 3 });
  fake.insertRows(SHEET, 'red_flags', 2, 2);
  fake.setCells(SHEET, 'red_flags', 'A3', [['typed by hand']]);
  await ingest(store, mixed(40, 5, 'b-'));

  const stop = await runSync({ store, target: target({ onConflict: 'stop' }), logger: silent });
  assert.ok(stop.status !== 'locked');
  const failed = new Map(stop.views.filter((v) => v.error).map((v) => [v.view, v.error!]));
  assert.match(failed.get('red_flags') ?? '', /the rows of tab "red_flags" were moved/);
  assert.ok(failed.has('contents'));
  assert.ok(!failed.has('scores'), 'the others go on');

  const r = await runSync({ store, target: target({ onConflict: 'rebuild' }), logger: silent });
  assert.equal(r.status, 'ok', JSON.stringify(r));
  for (const view of ['red_flags', 'contents', 'scores'] as const) await assertTabEqualsView(fake, store, view);
});

test('filters and filter views hide rows without moving them: not conflicts, rows keep being appended', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ onConflict: 'rebuild', statusTab: true });
  await ingest(store, mixed(0, 10));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  const api = rawApi(fake);
  const scores = fake.tab(SHEET, 'scores')!;
  const metric = scores.values[0]!.indexOf('metric');
  await api.spreadsheets.batchUpdate({
    spreadsheetId: SHEET,
    requestBody: {
      requests: [
        { setBasicFilter: { filter: { range: { sheetId: scores.sheetId }, filterSpecs: [{ columnIndex: metric, filterCriteria: { hiddenValues: [String(scores.values[1]![metric])] } }] } } },
        { addFilterView: { filter: { title: 'by score', range: { sheetId: fake.tab(SHEET, 'red_flags')!.sheetId }, sortSpecs: [{ dimensionIndex: 1, sortOrder: 'DESCENDING' }] } } },
      ],
    },
  });
  assert.ok(fake.tab(SHEET, 'scores')!.basicFilter!.filteredRows.length > 0, 'the filter hides rows');
  const before = fake.tab(SHEET, 'red_flags')!.values;
  await ingest(store, mixed(30, 4, 'c-'));
  fake.resetRequests();
  const r = await runSync({ store, target: sheets, logger: silent });
  assert.equal(r.status, 'ok', JSON.stringify(r));
  assert.deepEqual(fake.tab(SHEET, 'red_flags')!.values.slice(0, before.length), before, 'the filter view moved nothing');
  for (const view of ['red_flags', 'scores'] as const) await assertTabEqualsView(fake, store, view);
  assert.equal(statusRow(fake.tab(SHEET, 'ember-sync')!.values, 'Tabs rebuilt')?.[1], 'none', 'nothing rebuilt');
  // Appends only: no row above the new ones was written again.
  const first = before.length;
  assert.ok(fake.writtenRows(SHEET, 'red_flags').every((row) => row === 0 || row >= first));
  assert.equal(fake.tab(SHEET, 'scores')!.basicFilter !== undefined, true, 'the filter is still there');
});

test('a rebuild that dies half-way is finished by the next sync', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ onConflict: 'rebuild', growSlackRows: 2 });
  await ingest(store, mixed(0, 20));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  fake.sortRows(SHEET, 'scores', { startRow: 1, column: 5, descending: true });
  fake.insertRows(SHEET, 'contents', 1, 1);
  await ingest(store, mixed(50, 2, 'd-'));
  // The marker goes out with the structure; every values request fails: the sync stops after the marker.
  fake.injectFault({ status: 503, count: 50, match: (q) => q.kind === 'values.batchUpdate' });
  const dead = await runSync({ store, target: target({ onConflict: 'rebuild', growSlackRows: 2, retry: { attempts: 2, baseMs: 1, capMs: 2 } }), logger: silent });
  assert.equal(dead.status, 'failed');
  fake.clearFaults();
  const r = await runSync({ store, target: sheets, logger: silent });
  assert.equal(r.status, 'ok', JSON.stringify(r));
  for (const view of ['scores', 'contents'] as const) await assertTabEqualsView(fake, store, view);
});

test('the status tab: last sync, result, pending rows per view, quarantine, cells used (warning from 80%), the last error — in the requests a sync makes anyway', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ partition: 'month', statusTab: true, reportTimezone: 'America/New_York', growSlackRows: 50, cellBudget: 10_000_000 });
  await ingest(store, mixed(0, 10), () => '2026-11-05T10:00:00.000Z');
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T15:30:00.000Z', { quarantined: 3, parked: 1 })), []);
  const titles = fake.tabs(SHEET);
  assert.equal(titles[0], 'ember-sync', 'first among the tabs');
  let values = fake.tab(SHEET, 'ember-sync')!.values;
  // 15:30 UTC is 10:30 in New York: a date-time cell of that wall clock.
  const serial = (Date.UTC(2026, 10, 20, 10, 30) - Date.UTC(1899, 11, 30)) / 86_400_000;
  assert.ok(Math.abs(Number(statusRow(values, 'Last sync')![1]) - serial) < 1e-6);
  assert.equal(fake.cellFormat(SHEET, 'ember-sync', 'B2')?.type, 'DATE_TIME');
  assert.match(String(statusRow(values, 'Result')![1]), /^ok: [\d,]+ rows written$/);
  assert.equal(statusRow(values, 'Last error')![1], 'none');
  assert.equal(statusRow(values, 'Quarantined payloads')![1], 3);
  assert.equal(statusRow(values, 'Events not projected')![1], 1);
  assert.equal(statusRow(values, 'Cells used')![1], fake.totalCells(SHEET));
  assert.match(String(statusRow(values, 'Cells used')![3]), /% used$/);
  assert.deepEqual(statusRow(values, 'scores')!.slice(0, 3), ['scores', 0, 'scores 2026-11']);
  assert.match(String(statusRow(values, 'Note')?.[1]), /the spreadsheet's time zone is Etc\/GMT but REPORT_TIMEZONE is America\/New_York/);

  // Steady (the exact grids of new tabs have grown with slack once): no request more than without the status tab.
  await ingest(store, mixed(20, 2, 'e-'), () => '2026-11-06T10:00:00.000Z');
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T15:30:30.000Z')), []);
  await ingest(store, mixed(30, 2, 'g-'), () => '2026-11-06T11:00:00.000Z');
  fake.resetRequests();
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T15:31:00.000Z')), []);
  const kinds = fake.requests.map((r) => r.kind);
  const order = ['get', 'values.batchGet', 'batchUpdate', 'values.batchUpdate'];
  assert.deepEqual(kinds, order.filter((k) => kinds.includes(k as (typeof kinds)[number])), `one request of each kind at most: ${kinds.join(', ')}`);
  assert.ok(fake.requests.at(-1)!.ranges!.includes("'ember-sync'!A1:D40"), 'the status rides with the rows');
  // An idle sync rewrites the status alone: one write.
  fake.resetRequests();
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T15:32:00.000Z')), []);
  assert.deepEqual(fake.requests.map((r) => r.kind), ['get', 'values.batchUpdate']);

  // A view that fails: its pending rows and the error, in words, with what to do.
  await ingest(store, mixed(40, 3, 'f-'), () => '2026-11-07T10:00:00.000Z');
  fake.setCells(SHEET, 'scores 2026-11', 'A1', [['renamed header']]);
  fake.setLimits({ maxCells: Math.floor(fake.totalCells(SHEET) / 0.85) });
  const tight = target({ partition: 'month', statusTab: true, reportTimezone: 'America/New_York', growSlackRows: 50, cellBudget: Math.floor(fake.totalCells(SHEET) / 0.85) });
  const outs = await syncAt(store, tight, '2026-11-20T15:33:00.000Z');
  assert.deepEqual(failures(outs).map((f) => f.split(':')[0]), ['scores']);
  values = fake.tab(SHEET, 'ember-sync')!.values;
  assert.match(String(statusRow(values, 'Result')![1]), /^partly failed: 1 of 10 views not delivered \(scores\)$/);
  assert.match(String(statusRow(values, 'Last error')![1]), /^scores: the header row of tab "scores 2026-11" was changed by hand .* put it back or delete the tab/);
  const scoresLine = statusRow(values, 'scores')!;
  assert.ok(Number(scoresLine[1]) > 0, 'its rows are pending');
  assert.match(String(scoresLine[3]), /^error: /);
  assert.match(String(statusRow(values, 'Cells used')![3]), /^WARNING: [89]\d% of the budget used/);
});
