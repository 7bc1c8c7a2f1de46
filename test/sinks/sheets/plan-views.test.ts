/** Planning what to do per view, and what to read back — pure, no server. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_VIEW_COLUMNS } from '../../../src/model/columns.js';
import { parseTabs, PROTECTION_DESCRIPTION, DROPPED_KEY, planViews, readBackChecks, type SpreadsheetTabs, type Tab } from '../../../src/sinks/sheets/plan-views.js';
import { HEADER, makeDelivery, someRows } from './make-delivery.js';

const sheetOf = (tabs: Record<string, Tab>): SpreadsheetTabs => ({ tabs: new Map(Object.entries(tabs)), cells: Object.values(tabs).reduce((n, t) => n + t.rowCount * t.columnCount, 0) });
/** Ids to hand out, in order (collisions included, to check they are skipped). */
const ids = (...list: number[]) => () => list.shift() ?? assert.fail('ran out of sheet ids');

test('parseTabs: tabs by title with their place, our protection and the record of dropped months, and the cells of every tab', async () => {
  const sheet = parseTabs({
    developerMetadata: [{ metadataId: 5, metadataKey: DROPPED_KEY, metadataValue: '2026-03' }],
    sheets: [
      { properties: { sheetId: 0, title: 'Sheet1', index: 0, gridProperties: { rowCount: 1000, columnCount: 26 } }, protectedRanges: [{ description: 'mine', warningOnly: true }] },
      { properties: { sheetId: 42, title: 'scores', index: 1, gridProperties: { rowCount: 10, columnCount: 8 } }, protectedRanges: [{ description: PROTECTION_DESCRIPTION, warningOnly: true }] },
    ],
  });
  assert.deepEqual([...sheet.tabs], [
    ['Sheet1', { sheetId: 0, rowCount: 1000, columnCount: 26, index: 0 }],
    ['scores', { sheetId: 42, rowCount: 10, columnCount: 8, index: 1, protectedWarning: true }],
  ]);
  assert.equal(sheet.cells, 26_080);
  assert.deepEqual(sheet.droppedThrough, { month: '2026-03', id: 5 });
  assert.deepEqual(parseTabs({}), { tabs: new Map(), cells: 0 });
});

test('a fresh spreadsheet: every view is created, with a sheet id no tab has, and nothing to read back', async () => {
  const ds = [makeDelivery({ view: 'red_flags', header: HEADER, rows: someRows(4) }), makeDelivery({ view: 'scores', header: HEADER }), makeDelivery({ view: 'workflows', header: HEADER, rows: someRows(1) })];
  const { plans, done } = await planViews(ds, sheetOf({ Sheet1: { sheetId: 7, rowCount: 1000, columnCount: 26 } }), ids(7, 9, 9, 11, 12));
  assert.deepEqual(done, []);
  assert.deepEqual(
    plans.map((p) => [p.mode, p.d.view, p.mode === 'create' ? p.sheetId : -1, p.mode === 'create' ? p.total : -1]),
    [
      ['create', 'red_flags', 9, 4],
      ['create', 'scores', 11, 0],
      ['create', 'workflows', 12, 1],
    ],
  );
  assert.deepEqual(readBackChecks(plans), []);
});

test('appends: a tracked tab gets its new rows; a view with nothing new is done without a request', async () => {
  const tab = { sheetId: 5, rowCount: 11, columnCount: 3 };
  const state = { sheetId: 5, nextRow: 4, header: HEADER, last: null };
  const fresh = makeDelivery({ view: 'red_flags', header: HEADER, rows: someRows(5), delivered: 3, state });
  const idle = makeDelivery({ view: 'low_scores', header: HEADER, rows: someRows(3), delivered: 3, state: { ...state, sheetId: 6 } });
  const widened = makeDelivery({ view: 'scores', header: [...HEADER, 'new'], rows: someRows(3), delivered: 3, state: { ...state, sheetId: 8 } });
  const { plans, done } = await planViews([fresh, idle, widened], sheetOf({ red_flags: tab, low_scores: { ...tab, sheetId: 6 }, scores: { ...tab, sheetId: 8 } }), ids());
  assert.deepEqual(
    plans.map((p) => [p.mode, p.d.view]),
    [
      ['append', 'red_flags'],
      ['append', 'scores'],
    ],
  );
  assert.deepEqual(done, [{ view: 'low_scores', ok: true, receipt: { rows: 0, totalRows: 3, state: { ...state, sheetId: 6 } } }]);
});

test('adopting: a tab we have no record of (a crashed first sync), or one re-made by hand under our name, is read back whole', async () => {
  const crashed = makeDelivery({ view: 'scores', header: HEADER, rows: someRows(2) });
  const remade = makeDelivery({ view: 'red_flags', header: HEADER, rows: someRows(2), delivered: 2, state: { sheetId: 1, nextRow: 3, header: HEADER, last: null } });
  const { plans } = await planViews([crashed, remade], sheetOf({ scores: { sheetId: 3, rowCount: 3, columnCount: 3 }, red_flags: { sheetId: 2, rowCount: 1000, columnCount: 26 } }), ids());
  assert.deepEqual(
    plans.map((p) => [p.mode, p.d.view, p.mode === 'adopt' ? p.total : -1]),
    [
      ['adopt', 'scores', 2],
      ['adopt', 'red_flags', 2],
    ],
  );
  assert.deepEqual(readBackChecks(plans), [
    { view: 'scores', kind: 'whole', firstRow: 0, range: "'scores'", width: Infinity },
    { view: 'red_flags', kind: 'whole', firstRow: 0, range: "'red_flags'", width: Infinity },
  ]);
});

test('a view wider than Sheets allows is refused before anything is planned for it, naming the tab and the limit', async () => {
  const wide = makeDelivery({ view: 'low_scores', header: Array.from({ length: MAX_VIEW_COLUMNS + 1 }, (_, i) => `c${i}`) });
  const ok = makeDelivery({ view: 'scores', header: Array.from({ length: MAX_VIEW_COLUMNS }, (_, i) => `c${i}`) });
  const { plans, done } = await planViews([wide, ok], sheetOf({}), ids(1));
  assert.deepEqual(
    plans.map((p) => p.d.view),
    ['scores'],
  );
  assert.equal(done.length, 1);
  assert.equal(done[0]!.ok, false);
  assert.match(done[0]!.ok ? '' : done[0]!.error, /^tab "low_scores" would need 18,279 columns, over Google Sheets' limit of 18,278 columns per tab; nothing was written to it/);
});

test('read-back of an append: header, last row, all the rows ahead that the grid has (an empty area costs nothing to read)', async () => {
  const state = { sheetId: 5, nextRow: 4, header: HEADER, last: ['w-2', 1, 2] };
  const d = makeDelivery({ view: 'scores', header: [...HEADER, 'extra'], rows: someRows(13), delivered: 3, state });
  const { plans } = await planViews([d], sheetOf({ scores: { sheetId: 5, rowCount: 12, columnCount: 3 } }), ids());
  // Ten new rows go to rows 4..13 (0-based); the grid ends at row 11; the tab is 3 columns wide so far.
  // The header (row 0), the last row (3) and the area are close together: one range.
  assert.deepEqual(readBackChecks(plans), [{ view: 'scores', kind: 'rows', firstRow: 0, range: "'scores'!A1:C12", width: 3 }]);
  // The first append of a tab that only has its header: no last row to check.
  const first = makeDelivery({ view: 'scores', header: HEADER, rows: someRows(1), state: { ...state, nextRow: 1, last: null } });
  const { plans: p2 } = await planViews([first], sheetOf({ scores: { sheetId: 5, rowCount: 2, columnCount: 3 } }), ids());
  assert.deepEqual(readBackChecks(p2), [{ view: 'scores', kind: 'rows', firstRow: 0, range: "'scores'!A1:C2", width: 3 }]);
});

test('read-back with anchors: every anchor row in the grid, rows a few apart as one range, in the same request as the header and the rows ahead', async () => {
  const anchors = [1, 40, 41, 44, 80, 99].map((row) => ({ row, hash: 'h' }));
  const state = { sheetId: 5, nextRow: 100, header: HEADER, anchors };
  const d = makeDelivery({ view: 'scores', header: HEADER, rows: someRows(105), delivered: 99, state });
  const { plans } = await planViews([d], sheetOf({ scores: { sheetId: 5, rowCount: 500, columnCount: 3 } }), ids());
  assert.deepEqual(
    readBackChecks(plans).map((c) => [c.firstRow, c.range]),
    [
      [0, "'scores'!A1:C2"],
      [40, "'scores'!A41:C45"],
      [80, "'scores'!A81:C81"],
      [99, "'scores'!A100:C106"], // the last row (an anchor) and the six rows ahead
    ],
  );
  // Anchors past the grid (rows deleted by hand) are not read: they read as empty, and fail the check.
  const { plans: cut } = await planViews([d], sheetOf({ scores: { sheetId: 5, rowCount: 60, columnCount: 3 } }), ids());
  assert.deepEqual(
    readBackChecks(cut).map((c) => c.range),
    ["'scores'!A1:C2", "'scores'!A41:C45"],
  );
});

test('regression: nothing new but the grid was cut below the rows we wrote: not idle, the read-back will check it', async () => {
  const state = { sheetId: 5, nextRow: 10, header: HEADER, last: null };
  const d = makeDelivery({ view: 'scores', header: HEADER, rows: someRows(9), delivered: 9, state });
  const idle = await planViews([d], { tabs: new Map([['scores', { sheetId: 5, rowCount: 10, columnCount: 3 }]]), cells: 0 }, () => 1);
  assert.equal(idle.plans.length, 0, 'intact and nothing new: no request');
  const cut = await planViews([d], { tabs: new Map([['scores', { sheetId: 5, rowCount: 6, columnCount: 3 }]]), cells: 0 }, () => 1);
  assert.equal(cut.plans[0]?.mode, 'append');
});

test('tab titles in another case: our tab renamed is refused (rename it back); someone else\'s is in the way; neither is created over', async () => {
  const state = { sheetId: 5, nextRow: 4, header: HEADER, anchors: [] };
  const ours = makeDelivery({ view: 'scores', header: HEADER, rows: someRows(5), delivered: 3, state });
  const fresh = makeDelivery({ view: 'red_flags', header: HEADER, rows: someRows(2) });
  const tracked = makeDelivery({ view: 'low_scores', header: HEADER, rows: someRows(5), delivered: 3, state: { ...state, sheetId: 9 } });
  const sheet = sheetOf({ Scores: { sheetId: 5, rowCount: 10, columnCount: 3 }, RED_FLAGS: { sheetId: 6, rowCount: 1000, columnCount: 26 }, Low_Scores: { sheetId: 7, rowCount: 10, columnCount: 3 } });
  const { plans, done } = await planViews([ours, fresh, tracked], sheet, ids(9, 10));
  assert.deepEqual(plans, [], 'nothing is planned: no addSheet Google would refuse, no write to a tab named otherwise');
  const errors = Object.fromEntries(done.map((o) => [o.view, o.ok ? '' : o.error]));
  assert.match(errors['scores'] ?? '', /^the tab "scores" was renamed to "Scores"; .*rename "Scores" back to "scores" \(or delete it to have it rebuilt from SQLite\)/);
  assert.match(errors['red_flags'] ?? '', /^a tab "RED_FLAGS" is in the way of tab "red_flags": Google Sheets tab names ignore case.*rename "RED_FLAGS" \(or delete it\)/);
  assert.match(errors['low_scores'] ?? '', /^a tab "Low_Scores" is in the way of tab "low_scores"/, 'another sheetId than ours: not our tab');
  // The exact title still wins as before.
  const exact = await planViews([ours], sheetOf({ scores: { sheetId: 5, rowCount: 10, columnCount: 3 } }), ids());
  assert.deepEqual(exact.plans.map((p) => p.mode), ['append']);
});

test('regression: the whole area ahead is read back, however large (an analyst’s cell anywhere in it is seen)', async () => {
  const state = { sheetId: 5, nextRow: 4, header: HEADER, last: ['w-2', 1, 2] };
  const d = makeDelivery({ view: 'scores', header: HEADER, rows: someRows(20_003), delivered: 3, state });
  const { plans } = await planViews([d], sheetOf({ scores: { sheetId: 5, rowCount: 30_000, columnCount: 3 } }), ids());
  assert.deepEqual(readBackChecks(plans), [{ view: 'scores', kind: 'rows', firstRow: 0, range: "'scores'!A1:C20004", width: 3 }]);
});
