/**
 * SHEETS_KEEP_MONTHS against the fake Sheets API with a small cell budget
 * (the fake's limit lowered, the target told the same): `auto` drops the
 * oldest month tabs before the spreadsheet passes 90% of it, never the
 * current month nor a daily tab; a view that still cannot fit stops alone,
 * saying why; a drop survives a sync that dies before its cursor commit.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MonthViewState } from '../../../src/sinks/sheets/month-tabs.js';
import { ingest } from '../../helpers/ingest.js';
import { deliveries, mixed, rawApi, setup, SHEET } from './harness.js';
import { assertMonthTabs, failures, syncAt } from './month-harness.js';

const month = (m: number, i: number) => new Date(Date.UTC(2026, m - 1, 10, 9, i)).toISOString();

test('auto: the oldest month tabs are dropped when the spreadsheet would pass 90% of its cells; the current month and daily tabs stay', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 30), (i) => month(8 + Math.floor(i / 10), i));
  assert.deepEqual(failures(await syncAt(store, target({ partition: 'month', growSlackRows: 0 }), '2026-10-20T00:00:00.000Z')), []);
  const cells = fake.totalCells(SHEET);
  // A budget whose 90% the history fills just below: the next month pushes it over.
  const budget = Math.ceil(cells / 0.9) + 50;
  fake.setLimits({ maxCells: budget });
  const sheets = target({ partition: 'month', growSlackRows: 0, cellBudget: budget, statusTab: true });

  await ingest(store, mixed(100, 10, 'nov-'), (i) => month(11, i));
  const outs = await syncAt(store, sheets, '2026-11-20T00:00:00.000Z');
  assert.deepEqual(failures(outs), []);
  const used = fake.totalCells(SHEET);
  assert.ok(used <= budget * 0.9, `${used} cells, at most 90% of ${budget}`);
  assert.ok(!fake.tabs(SHEET).some((title) => title.endsWith(' 2026-08')), 'August dropped');
  // Whole months, oldest first, as many as needed (here the status tab's cells count too).
  const gone = ['2026-08', '2026-09', '2026-10'].filter((m) => !fake.tab(SHEET, `scores ${m}`));
  assert.deepEqual(gone, ['2026-08', '2026-09', '2026-10'].slice(0, gone.length));
  for (const m of gone) assert.ok(!fake.tabs(SHEET).some((title) => title.endsWith(` ${m}`)), `${m}: every view's tab dropped`);
  await assertMonthTabs(fake, store, 'scores', gone);
  assert.ok(fake.tab(SHEET, 'scores 2026-11'), 'the current month stays');
  assert.ok(fake.tab(SHEET, 'daily_agents'), 'daily tabs stay');
  const state = (await store.sync.cursor('sheets', 'scores')).state as MonthViewState;
  assert.equal(state.droppedThrough, gone.at(-1));
  assert.ok(gone.every((m) => !(m in state.months)));
  // Reported: in the status tab and the run's notices.
  const status = fake.tab(SHEET, 'ember-sync')!.values;
  const dropped = status.find((r) => r[0] === 'Tabs dropped');
  assert.match(String(dropped?.[1]), /scores 2026-08/);
  assert.ok(sheets.notices!().some((n) => /tab "scores 2026-08" was dropped \(SHEETS_KEEP_MONTHS=auto\)/.test(n)));
});

test('auto: a view that still cannot fit stops alone and says why; the views that fit are delivered', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 20), (i) => month(11, i));
  assert.deepEqual(failures(await syncAt(store, target({ partition: 'month', growSlackRows: 0 }), '2026-11-20T00:00:00.000Z')), []);
  const budget = fake.totalCells(SHEET) + 400;
  fake.setLimits({ maxCells: budget });
  await ingest(store, mixed(100, 30, 'more-'), (i) => month(11, i));
  const outs = await syncAt(store, target({ partition: 'month', growSlackRows: 0, cellBudget: budget }), '2026-11-21T00:00:00.000Z');
  const byView = new Map(outs.map((o) => [o.view, o]));
  assert.ok(byView.get('red_flags')?.ok, 'a small view still fits');
  const scores = byView.get('scores')!;
  assert.equal(scores.ok, false);
  assert.match(scores.ok ? '' : scores.error, /tab "scores 2026-11" needs [\d,]+ more cells/);
  assert.match(scores.ok ? '' : scores.error, /SHEETS_KEEP_MONTHS=auto dropped 0 month tabs in this sync and no older month is left to drop/);
  assert.ok(fake.totalCells(SHEET) <= budget);
});

test('N months: older month tabs are dropped whatever the cells; all: never', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 40), (i) => month(8 + Math.floor(i / 10), i));
  assert.deepEqual(failures(await syncAt(store, target({ partition: 'month', keepMonths: 'all' }), '2026-11-20T00:00:00.000Z')), []);
  assert.ok(fake.tab(SHEET, 'scores 2026-08'), 'all: nothing dropped');
  // An analyst's own tab named like a month tab is never dropped.
  await rawApi(fake).spreadsheets.batchUpdate({ spreadsheetId: SHEET, requestBody: { requests: [{ addSheet: { properties: { title: 'red_flags 2026-01' } } }] } });
  fake.resetRequests();
  assert.deepEqual(failures(await syncAt(store, target({ partition: 'month', keepMonths: 2 }), '2026-11-20T00:00:00.000Z')), []);
  assert.deepEqual(
    fake.tabs(SHEET).filter((title) => title.startsWith('scores')),
    ['scores 2026-10', 'scores 2026-11'],
  );
  assert.ok(fake.tab(SHEET, 'red_flags 2026-01'), 'not ours: kept');
  // Nothing else to write: the drop is its one structural request.
  assert.deepEqual(fake.requests.map((r) => r.kind), ['get', 'batchUpdate']);
  const state = (await store.sync.cursor('sheets', 'scores')).state as MonthViewState;
  assert.deepEqual(Object.keys(state.months).sort(), ['2026-10', '2026-11']);
});

test('a sync that dies after a drop (before its cursor commit) repairs itself: the months stay dropped and are forgotten', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 30), (i) => month(9 + Math.floor(i / 10), i));
  assert.deepEqual(failures(await syncAt(store, target({ partition: 'month' }), '2026-11-20T00:00:00.000Z')), []);
  await ingest(store, mixed(100, 5, 'late-'), (i) => month(11, i));
  // The drop goes through (and its answer is lost once: the retry re-reads and sends only what is missing), then the
  // process dies before committing anything.
  fake.injectFault({ status: 503, afterApply: true, match: (r) => r.kind === 'batchUpdate' });
  const sheets = target({ partition: 'month', keepMonths: 1 });
  await sheets.deliver(await deliveries(store), { run: { startedAt: '2026-11-25T00:00:00.000Z', quarantined: 0, parked: 0 } });
  assert.deepEqual(fake.tabs(SHEET).filter((title) => title.startsWith('scores')), ['scores 2026-11']);
  const stale = (await store.sync.cursor('sheets', 'scores')).state as MonthViewState;
  assert.ok('2026-09' in stale.months, 'the cursor still lists the dropped months');

  const outs = await syncAt(store, target({ partition: 'month', keepMonths: 'auto' }), '2026-11-25T00:05:00.000Z');
  assert.deepEqual(failures(outs), []);
  assert.deepEqual(fake.tabs(SHEET).filter((title) => title.startsWith('scores')), ['scores 2026-11'], 'dropped months are not brought back');
  const state = (await store.sync.cursor('sheets', 'scores')).state as MonthViewState;
  assert.deepEqual(Object.keys(state.months), ['2026-11']);
  assert.equal(state.droppedThrough, '2026-10');
  await assertMonthTabs(fake, store, 'scores', ['2026-09', '2026-10']);
});
