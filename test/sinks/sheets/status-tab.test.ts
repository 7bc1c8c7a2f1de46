/** The status tab's cells, pure: every rewrite covers the whole grid; the result, the warning and the views in words. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resultOf, statusCells, statusTabRequests, STATUS_COLUMNS, STATUS_ROWS, type SyncStatus } from '../../../src/sinks/sheets/status-tab.js';

const base: SyncStatus = {
  run: { startedAt: '2026-11-30T12:00:00.000Z', quarantined: 0, parked: 0 },
  now: '2026-11-30T12:00:00.000Z',
  zone: 'Europe/Paris',
  views: [
    { view: 'red_flags', pending: 0, written: 3, tabs: ['red_flags 2026-11'] },
    { view: 'scores', pending: 0, written: 18, tabs: ['scores 2026-11'] },
    { view: 'daily_agents', pending: 0, written: 0, tabs: [], skipped: true },
  ],
  cellsUsed: 1_000_000,
  cellBudget: 10_000_000,
  rebuilt: [],
  dropped: [],
  notes: [],
};

test('the grid is always STATUS_ROWS × STATUS_COLUMNS, empty cells "" (a rewrite clears what an older status left)', async () => {
  const cells = statusCells(base);
  assert.equal(cells.length, STATUS_ROWS);
  assert.ok(cells.every((r) => r.length === STATUS_COLUMNS && r.every((c) => c !== null && c !== undefined)));
  // 13:00 in Paris, as a serial number.
  assert.ok(Math.abs(Number(cells[1]![1]) - (Date.UTC(2026, 10, 30, 13) - Date.UTC(1899, 11, 30)) / 86_400_000) < 1e-9);
  assert.equal(resultOf(base), 'ok: 21 rows written');
  assert.deepEqual(cells.find((r) => r[0] === 'daily_agents'), ['daily_agents', '', '', 'not synced to Sheets (not in SHEETS_VIEWS)']);
  assert.match(String(cells.find((r) => r[0] === 'Cells used')![3]), /^10\.0% used$/);
  // Many notes never push the grid past its size.
  const crowded = statusCells({ ...base, notes: Array.from({ length: 80 }, (_, i) => `note ${i}`) });
  assert.equal(crowded.length, STATUS_ROWS);
});

test('failures: the result names the views, the last error is the first one, pending rows shown; 80% of the cells warns', async () => {
  const s: SyncStatus = {
    ...base,
    cellsUsed: 8_100_000,
    views: [
      { view: 'red_flags', pending: 4, written: 0, tabs: ['red_flags 2026-11'], error: 'tab "red_flags 2026-11" needs 9 more cells' },
      { view: 'scores', pending: 0, written: 18, tabs: ['scores 2026-11'] },
    ],
    dropped: ['scores 2026-01'],
  };
  const cells = statusCells(s);
  assert.equal(resultOf(s), 'partly failed: 1 of 2 views not delivered (red_flags)');
  assert.equal(cells.find((r) => r[0] === 'Last error')![1], 'red_flags: tab "red_flags 2026-11" needs 9 more cells');
  assert.deepEqual(cells.find((r) => r[0] === 'red_flags')!.slice(0, 2), ['red_flags', 4]);
  assert.match(String(cells.find((r) => r[0] === 'Cells used')![3]), /^WARNING: 81% of the budget used/);
  assert.equal(cells.find((r) => r[0] === 'Tabs dropped')![1], 'scores 2026-01 (SHEETS_KEEP_MONTHS)');
  assert.equal(resultOf({ ...s, views: [s.views[0]!] }), 'failed: no view was delivered');
});

test('the status tab is added first, protected, its time cell formatted; a cut grid is grown back; an intact one needs nothing', async () => {
  const add = statusTabRequests(7, undefined);
  assert.deepEqual(add[0], { addSheet: { properties: { sheetId: 7, title: 'ember-sync', index: 0, gridProperties: { rowCount: STATUS_ROWS, columnCount: STATUS_COLUMNS, frozenRowCount: 1 } } } });
  assert.ok(add.some((r) => r.addProtectedRange?.protectedRange?.warningOnly === true));
  assert.deepEqual(statusTabRequests(7, { sheetId: 7, rowCount: STATUS_ROWS, columnCount: STATUS_COLUMNS, protectedWarning: true }), []);
  const grow = statusTabRequests(7, { sheetId: 7, rowCount: 10, columnCount: STATUS_COLUMNS, protectedWarning: true });
  assert.deepEqual(grow[0], { appendDimension: { sheetId: 7, dimension: 'ROWS', length: STATUS_ROWS - 10 } });
  // Its protection removed by hand: put back, alone.
  const unprotected = statusTabRequests(7, { sheetId: 7, rowCount: STATUS_ROWS, columnCount: STATUS_COLUMNS });
  assert.deepEqual(unprotected.map((r) => Object.keys(r)[0]), ['addProtectedRange']);
  assert.equal(unprotected[0]!.addProtectedRange!.protectedRange!.warningOnly, true);
  // Sorted by hand: every number format cleared, then the time cell's set again.
  const reformat = statusTabRequests(7, { sheetId: 7, rowCount: STATUS_ROWS, columnCount: STATUS_COLUMNS, protectedWarning: true }, true);
  assert.deepEqual(reformat[0], { repeatCell: { range: { sheetId: 7 }, cell: { userEnteredFormat: {} }, fields: 'userEnteredFormat.numberFormat' } });
  assert.equal(reformat[1]!.repeatCell!.cell!.userEnteredFormat!.numberFormat!.type, 'DATE_TIME');
});

test('the settings map to the target options the product runs with', async () => {
  const { sheetsBehaviour } = await import('../../../src/sinks/sheets/sheets-options.js');
  assert.deepEqual(sheetsBehaviour({ sheetsViews: ['scores'], sheetsPartition: 'month', sheetsKeepMonths: 6, sheetsOnConflict: 'rebuild', reportTimezone: 'Europe/Paris' }), {
    views: ['scores'],
    partition: 'month',
    keepMonths: 6,
    onConflict: 'rebuild',
    reportTimezone: 'Europe/Paris',
    statusTab: true,
    protectTabs: true,
  });
});
