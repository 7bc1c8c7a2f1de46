/** Grids that only grow, the requests still missing after a lost answer, and the cell budget — pure, no server. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DATE_TIME_PATTERN } from '../../../src/sinks/sheets/cells.js';
import { fitBudget, goalRequests, gridGoal, type GridGoal } from '../../../src/sinks/sheets/plan-grid.js';
import { planViews, type SpreadsheetTabs, type Tab, type ViewPlan } from '../../../src/sinks/sheets/plan-views.js';
import { HEADER, makeDelivery, someRows } from './make-delivery.js';

const sheetOf = (tabs: Record<string, Tab>): SpreadsheetTabs => ({ tabs: new Map(Object.entries(tabs)), cells: 0 });
const planOf = async (d: ReturnType<typeof makeDelivery>, tabs: Record<string, Tab> = {}, id = 77): Promise<ViewPlan> => (await planViews([d], sheetOf(tabs), () => id)).plans[0]!;
const timeFormat = (sheetId: number, column: number, from: number, to: number) => ({
  repeatCell: {
    range: { sheetId, startRowIndex: from, endRowIndex: to, startColumnIndex: column, endColumnIndex: column + 1 },
    cell: { userEnteredFormat: { numberFormat: { type: 'DATE_TIME', pattern: DATE_TIME_PATTERN } } },
    fields: 'userEnteredFormat.numberFormat',
  },
});

test('a new tab: exactly its rows (at least header + one), its columns, the header frozen, time columns formatted', async () => {
  const goal = gridGoal(await planOf(makeDelivery({ view: 'red_flags', header: HEADER, rows: someRows(4) })), 500)!;
  assert.deepEqual(goal, { view: 'red_flags', sheetId: 77, before: undefined, rowCount: 5, columnCount: 3, adopt: false, formats: [{ column: 1, fromRow: 1, toRow: 5 }], growth: 15 });
  assert.deepEqual(goalRequests(goal, undefined), [
    { addSheet: { properties: { sheetId: 77, title: 'red_flags', gridProperties: { rowCount: 5, columnCount: 3, frozenRowCount: 1 } } } },
    timeFormat(77, 1, 1, 5),
  ]);
  assert.equal(gridGoal(await planOf(makeDelivery({ view: 'scores', header: HEADER })), 500)!.rowCount, 2, 'an empty view still has a row under its frozen header');
  // The answer was lost but Google added the tab (our sheet id): nothing is sent again.
  assert.deepEqual(goalRequests(goal, { sheetId: 77, rowCount: 5, columnCount: 3 }), []);
});

test('growing a tab: rows appended with slack, only the dimensions that change; a growth already applied is not sent again', async () => {
  const tab = { sheetId: 5, rowCount: 4, columnCount: 3 };
  const state = { sheetId: 5, nextRow: 4, header: HEADER, last: null };
  const grow = await planOf(makeDelivery({ view: 'scores', header: HEADER, rows: someRows(6), delivered: 3, state }), { scores: tab });
  const goal = gridGoal(grow, 10)!;
  assert.deepEqual([goal.rowCount, goal.columnCount, goal.growth], [17, 3, 39]);
  const requests = goalRequests(goal, tab);
  assert.deepEqual(requests, [{ appendDimension: { sheetId: 5, dimension: 'ROWS', length: 13 } }, timeFormat(5, 1, 4, 17)]);
  assert.deepEqual(goalRequests(goal, { ...tab, rowCount: 17 }), [timeFormat(5, 1, 4, 17)], 'applied: only the idempotent format again');
  assert.deepEqual(goalRequests(goal, tab), requests, 'not applied: the same request again');
  assert.deepEqual(goalRequests(goal, { ...tab, rowCount: 10 }), [{ appendDimension: { sheetId: 5, dimension: 'ROWS', length: 7 } }, timeFormat(5, 1, 4, 17)], 'grown meanwhile: only what is missing');
  // Regression (found by the model-based test): a tab that grew past the goal since the read (another sync
  // took the lock over and delivered) is never cut back: no request can remove rows or columns.
  assert.deepEqual(goalRequests(goal, { ...tab, rowCount: 500, columnCount: 9 }), [timeFormat(5, 1, 4, 17)]);

  // A new column: the columns grow. It is a dynamic one, so never formatted as a time, even named like one.
  const widened = await planOf(makeDelivery({ view: 'scores', header: [...HEADER, 'timestamp'], rows: someRows(3), delivered: 3, state }), { scores: tab });
  const g2 = gridGoal(widened, 10)!;
  assert.deepEqual([g2.rowCount, g2.columnCount], [4, 4]);
  assert.deepEqual(goalRequests(g2, tab), [{ appendDimension: { sheetId: 5, dimension: 'COLUMNS', length: 1 } }]);

  // Rows that fit the grid and the same columns: no structural request at all.
  assert.equal(gridGoal(await planOf(makeDelivery({ view: 'scores', header: HEADER, rows: someRows(4), delivered: 3, state }), { scores: { ...tab, rowCount: 10 } }), 10), undefined);
});

test('adopting a tab: grown to what it needs, never trimmed (someone may be writing to it), header frozen', async () => {
  const tab = { sheetId: 9, rowCount: 1000, columnCount: 26 };
  const goal = gridGoal(await planOf(makeDelivery({ view: 'scores', header: HEADER, rows: someRows(2) }), { scores: tab }), 500)!;
  assert.deepEqual([goal.rowCount, goal.columnCount, goal.adopt, goal.growth], [1000, 26, true, 0]);
  assert.deepEqual(goalRequests(goal, tab)[0], { updateSheetProperties: { properties: { sheetId: 9, gridProperties: { frozenRowCount: 1 } }, fields: 'gridProperties.frozenRowCount' } });
  // A small tab grows to its rows; freezing and formats are resent (idempotent).
  const small = gridGoal(await planOf(makeDelivery({ view: 'scores', header: HEADER, rows: someRows(4) }), { scores: { sheetId: 9, rowCount: 2, columnCount: 2 } }), 500)!;
  assert.deepEqual([small.rowCount, small.columnCount, small.growth], [5, 3, 11]);
  assert.deepEqual(goalRequests(small, { sheetId: 9, rowCount: 2, columnCount: 2 }).slice(0, 2), [
    { appendDimension: { sheetId: 9, dimension: 'ROWS', length: 3 } },
    { appendDimension: { sheetId: 9, dimension: 'COLUMNS', length: 1 } },
  ]);
  assert.equal(goalRequests(small, { sheetId: 9, rowCount: 5, columnCount: 3 }).length, 2, 'applied: freeze and format only');
});

test('the cell budget: each view with its slack if it fits, else without, else refused alone', async () => {
  const state = { sheetId: 5, nextRow: 4, header: HEADER, last: null };
  const append = await planOf(makeDelivery({ view: 'scores', header: HEADER, rows: someRows(6), delivered: 3, state }), { scores: { sheetId: 5, rowCount: 4, columnCount: 3 } });
  const create = await planOf(makeDelivery({ view: 'red_flags', header: HEADER, rows: someRows(9) }), {}, 8);
  const adopt = await planOf(makeDelivery({ view: 'low_scores', header: HEADER, rows: someRows(1) }), { low_scores: { sheetId: 6, rowCount: 10, columnCount: 3 } });
  const views = (goals: GridGoal[]) => goals.map((g) => [g.view, g.rowCount]);

  // Room for everything.
  assert.deepEqual(views(fitBudget([append, create, adopt], 0, 10, 1000).goals), [
    ['scores', 17],
    ['red_flags', 10],
    ['low_scores', 10],
  ]);
  // 970 cells used: scores fits only without its slack (+9, not +39: 979); red_flags (+30: 1,009) not at all;
  // the adopted tab needs nothing more (+0).
  const { goals, refused } = fitBudget([append, create, adopt], 970, 10, 1000);
  assert.deepEqual(views(goals), [
    ['scores', 7],
    ['low_scores', 10],
  ]);
  assert.deepEqual(
    refused.map((r) => r.view),
    ['red_flags'],
  );
  assert.match(refused[0]!.error, /^tab "red_flags" needs 30 more cells: the spreadsheet would hold 1,009 cells, over Google's limit of 1,000; nothing was written to it\./);
});

test('regression: rows someone else added to the grid (a late growth of a sync that lost its lock) get the time format before rows land there', async () => {
  const state = { sheetId: 5, nextRow: 4, header: HEADER, last: null, formattedRows: 6 };
  // The grid has 20 rows but only 6 carry our formats; 3 new rows fit without growing.
  const plan = await planOf(makeDelivery({ view: 'scores', header: HEADER, rows: someRows(6), delivered: 3, state }), { scores: { sheetId: 5, rowCount: 20, columnCount: 3 } });
  const goal = gridGoal(plan, 10)!;
  assert.deepEqual([goal.rowCount, goal.columnCount, goal.growth], [20, 3, 0]);
  assert.deepEqual(goalRequests(goal, { sheetId: 5, rowCount: 20, columnCount: 3 }), [timeFormat(5, 1, 6, 20)]);
  // Fully formatted: no request at all.
  assert.equal(gridGoal(await planOf(makeDelivery({ view: 'scores', header: HEADER, rows: someRows(6), delivered: 3, state: { ...state, formattedRows: 20 } }), { scores: { sheetId: 5, rowCount: 20, columnCount: 3 } }), 10), undefined);
});
