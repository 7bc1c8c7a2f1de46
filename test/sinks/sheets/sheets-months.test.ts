/**
 * SHEETS_PARTITION=month against the fake Sheets API with the real client and
 * a real store: a tab per view and month, in tab order; the daily views whole;
 * a single tab from before left as it is; SHEETS_VIEWS.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { runSync } from '../../../src/jobs/sync.js';
import { LOG_VIEWS } from '../../../src/model/views.js';
import { loadSettings } from '../../../src/config/settings.js';
import { isMonthViewState, type MonthViewState } from '../../../src/sinks/sheets/month-tabs.js';
import { sheetsBehaviour } from '../../../src/sinks/sheets/sheets-options.js';
import { ingest } from '../../helpers/ingest.js';
import { deliveries, mixed, setup, SHEET } from './harness.js';
import { assertMonthTabs, failures, syncAt } from './month-harness.js';

const silent = pino({ level: 'silent' });
/** Webhook i of 40 arrives in month 2026-08 + ⌊i / 10⌋ (four months), mid-month, a minute apart. */
const fourMonths = (i: number) => new Date(Date.UTC(2026, 7 + Math.floor(i / 10), 14, 12, i)).toISOString();

test('a history spanning four months: four month tabs per detail view, each holding its month, in tab order; daily views one tab each', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ partition: 'month', growSlackRows: 5 });
  await ingest(store, mixed(0, 40), fourMonths);
  const outs = await syncAt(store, sheets, '2026-11-20T00:00:00.000Z');
  assert.deepEqual(failures(outs), []);

  for (const view of [...LOG_VIEWS, 'contents', 'content_scores'] as const) {
    const months = await assertMonthTabs(fake, store, view);
    if (view === 'red_flags' || view === 'scores' || view === 'contents') assert.deepEqual(months, ['2026-08', '2026-09', '2026-10', '2026-11'], view);
    // Tab order: a view's months side by side, oldest first.
    const order = fake.tabs(SHEET).filter((t) => t.startsWith(`${view} `));
    assert.deepEqual(order, months.map((m) => `${view} ${m}`));
    const at = fake.tabs(SHEET).indexOf(order[0]!);
    assert.deepEqual(fake.tabs(SHEET).slice(at, at + order.length), order, `${view}: month tabs next to each other`);
  }
  for (const view of ['daily_agents', 'daily_metrics']) assert.ok(fake.tab(SHEET, view), `${view}: one tab`);
  assert.equal(fake.tab(SHEET, 'red_flags'), undefined, 'no single tab');

  // Rows of the current month and of a new one: appended to November, December created right after November.
  await ingest(store, mixed(100, 6), (i) => new Date(Date.UTC(2026, 10 + Math.floor(i / 3), 20, 8, i)).toISOString());
  fake.resetRequests();
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-12-01T10:00:00.000Z')), []);
  for (const view of ['red_flags', 'scores', 'contents'] as const) {
    assert.deepEqual((await assertMonthTabs(fake, store, view)).slice(-2), ['2026-11', '2026-12']);
    const titles = fake.tabs(SHEET);
    assert.equal(titles.indexOf(`${view} 2026-12`), titles.indexOf(`${view} 2026-11`) + 1, `${view}: the new month next to the previous one`);
  }
  // Only November and December were written (older months untouched), in the usual requests.
  const touched = new Set(fake.writes.map((w) => w.title));
  assert.ok([...touched].every((title) => !/ 2026-(08|09|10)$/.test(title)), [...touched].join(', '));
  assert.deepEqual(fake.requests.map((r) => r.kind), ['get', 'values.batchGet', 'batchUpdate', 'values.batchUpdate']);

  // The state per view: a month state per tab.
  const state = (await store.sync.cursor('sheets', 'red_flags')).state;
  assert.ok(isMonthViewState(state));
  assert.deepEqual(Object.keys((state as MonthViewState).months).sort(), ['2026-08', '2026-09', '2026-10', '2026-11', '2026-12']);

  // Idle: the metadata read only.
  fake.resetRequests();
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-12-01T10:01:00.000Z')), []);
  assert.deepEqual(fake.requests.map((r) => r.kind), ['get']);
});

test('a sync that dies after creating month tabs (before its cursor commit): the next one finds its rows there and writes each row once', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ partition: 'month' });
  await ingest(store, mixed(0, 20), fourMonths);
  await sheets.deliver(await deliveries(store), { run: { startedAt: '2026-11-20T00:00:00.000Z', quarantined: 0, parked: 0 } });
  assert.ok(fake.tab(SHEET, 'scores 2026-09'));
  await ingest(store, mixed(60, 4, 'x-'), () => '2026-09-20T00:00:00.000Z');
  assert.deepEqual(failures(await syncAt(store, sheets, '2026-11-20T00:01:00.000Z')), []);
  for (const view of ['red_flags', 'scores', 'contents', 'content_scores'] as const) await assertMonthTabs(fake, store, view);
});

test('migration: a single tab from SHEETS_PARTITION=none is left as it is, new rows go to month tabs', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 10), () => '2026-10-05T10:00:00.000Z');
  assert.equal((await runSync({ store, target: target(), logger: silent })).status, 'ok');
  const before = fake.tab(SHEET, 'scores')!.values;
  assert.ok(before.length > 1);

  await ingest(store, mixed(50, 10, 'new-'), (i) => `2026-11-0${1 + (i % 5)}T10:00:00.000Z`);
  assert.deepEqual(failures(await syncAt(store, target({ partition: 'month' }), '2026-11-10T00:00:00.000Z')), []);
  assert.deepEqual(fake.tab(SHEET, 'scores')!.values, before, 'the single tab is left as it was');
  assert.equal(fake.tab(SHEET, 'scores 2026-10'), undefined, 'October stays in the single tab');
  const nov = fake.tab(SHEET, 'scores 2026-11');
  assert.ok(nov);
  // November holds only the rows received after the switch.
  const ids = nov.values.slice(1).map((r) => String(r[0]));
  assert.ok(ids.length > 0 && ids.every((id) => id.startsWith('new-')), ids.join(' '));
  const titles = fake.tabs(SHEET);
  assert.equal(titles.indexOf('scores 2026-11'), titles.indexOf('scores') + 1, 'the first month tab goes next to the single tab');
  const state = (await store.sync.cursor('sheets', 'scores')).state as MonthViewState;
  assert.equal(state.legacy?.sheetId, fake.tab(SHEET, 'scores')!.sheetId, 'the single tab is remembered');
  // A keyed view's months are written whole next to its single tab (its rows change in place: no cut by time).
  await assertMonthTabs(fake, store, 'contents');
});

test('SHEETS_VIEWS: only the chosen views are synced; the engine hands the target no other, whose cursors and state stay', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 12));
  const sheets = target({ views: ['red_flags', 'daily_agents'] });
  const before = await store.sync.cursor('sheets', 'scores');
  const r = await runSync({ store, target: sheets, logger: silent });
  assert.ok(r.status === 'ok', JSON.stringify(r));
  assert.deepEqual(fake.tabs(SHEET).sort(), ['daily_agents', 'red_flags']);
  assert.deepEqual(r.views.map((v) => v.view), ['red_flags', 'daily_agents']);
  assert.deepEqual(await store.sync.cursor('sheets', 'scores'), before, 'a view not chosen: its cursor did not move');
});

test('the product defaults (settings → sheetsBehaviour) through the engine: status tab first, month tabs protected, steady syncs in ≤ 4 requests', async (t) => {
  const { fake, store, target, dir } = await setup(t);
  const settings = loadSettings({ DATA_DIR: dir, SHEETS_SPREADSHEET_ID: SHEET }, dir);
  const sheets = target({ ...sheetsBehaviour(settings), growSlackRows: 100 });
  const now = Date.now();
  await ingest(store, mixed(0, 10), (i) => new Date(now - (10 - i) * 1000).toISOString());
  const first = await runSync({ store, target: sheets, logger: silent });
  assert.equal(first.status, 'ok', JSON.stringify(first));
  const titles = fake.tabs(SHEET);
  assert.equal(titles[0], 'ember-sync');
  const month = new Date(now).toISOString().slice(0, 7);
  assert.ok(titles.includes(`scores ${month}`), titles.join(', '));
  for (const title of titles) assert.equal(fake.tab(SHEET, title)!.protectedRanges.length, 1, title);
  for (let k = 0; k < 3; k++) {
    await ingest(store, mixed(100 + 10 * k, 5, `s${k}-`));
    fake.resetRequests();
    assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
    assert.ok(fake.requests.length <= 4, fake.requests.map((r) => r.kind).join(', '));
  }
});
