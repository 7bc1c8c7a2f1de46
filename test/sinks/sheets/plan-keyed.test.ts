/** Planning, read-back and packing of keyed views — pure, no server. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashRow } from '../../../src/sinks/sheets/anchors.js';
import { toSheetRow } from '../../../src/sinks/sheets/cells.js';
import { columnKinds } from '../../../src/model/views.js';
import { packValues, valueJob } from '../../../src/sinks/sheets/pack-values.js';
import { gridGoal } from '../../../src/sinks/sheets/plan-grid.js';
import { keyColumns, MAX_READ_RANGES, planViews, readBackChecks, type SheetViewState, type Tab, type ViewPlan } from '../../../src/sinks/sheets/plan-views.js';
import { collectReadBack, verifyView, type ReadBack } from '../../../src/sinks/sheets/verify-views.js';
import { contentRow, contentsModel, CONTENTS_HEADER } from './keyed-harness.js';
import { collect, KeyedModel } from './make-delivery.js';

const tabOf = (rowCount: number, columnCount = CONTENTS_HEADER.length): Tab => ({ sheetId: 5, rowCount, columnCount });
const kinds = columnKinds('contents', CONTENTS_HEADER);
const written = (cells: Parameters<typeof toSheetRow>[0]) => toSheetRow(cells, kinds, 'UTC', '');

/** A contents tab of `n` rows delivered (seq n), anchored at `anchorRows`, then `changes` applied to the model. */
function tracked(n: number, o: { anchorRows?: number[]; grid?: number; epoch?: string; timeZone?: string } = {}) {
  const model = contentsModel(n);
  const anchors = (o.anchorRows ?? [1, n]).map((row) => ({ row, hash: hashRow(written(model.rows[row - 1]!)) }));
  const state: SheetViewState = { sheetId: 5, nextRow: n + 1, header: [...CONTENTS_HEADER], anchors, formattedRows: o.grid ?? n + 1, epoch: o.epoch ?? 'e1', timeZone: o.timeZone ?? 'UTC' };
  const cursor = { deliveredSeq: model.seq, deliveredRows: n, state };
  const plan = async (zone = 'UTC'): Promise<ViewPlan> => {
    const { plans, done } = await planViews([model.delivery(cursor)], { tabs: new Map([['contents', tabOf(o.grid ?? n + 1)]]), cells: 0 }, () => 1, zone);
    assert.equal(done.length, 0, JSON.stringify(done));
    return plans[0]!;
  };
  return { model, state, cursor, plan };
}

test('keyColumns: the key of each keyed view in its header', async () => {
  assert.deepEqual(keyColumns('contents'), [0]);
  assert.deepEqual(keyColumns('content_scores'), [0, 3]);
  assert.deepEqual(keyColumns('daily_agents'), [0, 1]);
  assert.deepEqual(keyColumns('daily_metrics'), [0, 1, 2]);
});

test('planning a keyed view: update in place within its epoch; idle without a request; rewrite for another epoch, zone or a cursor that disagrees', async () => {
  const t = tracked(10);
  assert.equal((await planViews([t.model.delivery(t.cursor)], { tabs: new Map([['contents', tabOf(11)]]), cells: 0 }, () => 1)).done[0]?.ok, true, 'nothing changed: done');
  t.model.set(4, contentRow(3, 1));
  t.model.set(9, contentRow(8, 1));
  t.model.add(contentRow(10));
  const p = (await t.plan());
  assert.equal(p.mode, 'update');
  assert.deepEqual(p.mode === 'update' && [p.known, p.updates], [10, [4, 9]]);
  assert.equal((await t.plan('America/New_York')).mode, 'rewrite', 'REPORT_TIMEZONE changed');
  t.model.epoch = 'e2';
  assert.equal((await t.plan()).mode, 'rewrite', 'a new epoch');
  t.model.epoch = 'e1';
  t.cursor.deliveredRows = 9;
  assert.equal((await t.plan()).mode, 'rewrite', 'a cursor that disagrees with the rows the state tracks');
});

test('the planning reads the changed rows only, never the whole view', async () => {
  const t = tracked(5000);
  for (const p of [10, 2000, 4999]) t.model.set(p, contentRow(p - 1, 1));
  t.model.reads = 0;
  const p = (await t.plan());
  assert.deepEqual(p.mode === 'update' && p.updates, [10, 2000, 4999]);
  assert.ok(t.model.reads <= 3, `${t.model.reads} rows read`);
});

test('read-back of an update: header and anchors full width, key cells of updated rows, the area of new keys full width', async () => {
  const t = tracked(100, { anchorRows: [1, 50, 100], grid: 110 });
  for (const p of [20, 21, 70]) t.model.set(p, contentRow(p - 1, 1));
  for (let i = 0; i < 4; i++) t.model.add(contentRow(100 + i));
  const checks = readBackChecks([(await t.plan())]);
  assert.deepEqual(
    checks.map((c) => c.range),
    ["'contents'!A1:O2", "'contents'!A21:A22", "'contents'!A51:O51", "'contents'!A71:A71", "'contents'!A101:O105"],
  );
});

test('read-back budget: scattered rows are merged, closest first, to at most MAX_READ_RANGES ranges over every view', async () => {
  const t = tracked(100_000, { anchorRows: [1, 100_000], grid: 100_100 });
  // 400 rows, in clusters of 4 a few rows apart, the clusters spread over the tab.
  for (let c = 0; c < 100; c++) for (let k = 0; k < 4; k++) t.model.set(500 + c * 997 + k * 5, contentRow(0, 1));
  const checks = readBackChecks([(await t.plan())]);
  assert.ok(checks.length <= MAX_READ_RANGES, `${checks.length} ranges`);
  const rows = checks.reduce((n, c) => n + (Number(/(\d+)$/.exec(c.range)![1]) - c.firstRow), 0);
  // 403 spans to 100: the 300 gaps inside the clusters (4 rows each), then the 3 closest clusters (~1000 rows apart).
  assert.ok(rows < 100 * 16 + 3 * 1000 + 100, `the clusters are merged first, then the closest of them: ${rows} rows read`);
  assert.ok(checks.filter((c) => c.width === 1).length >= MAX_READ_RANGES - 5, 'key cells only');
  // A smaller budget: still within it.
  assert.ok(readBackChecks([(await t.plan())], 10).length <= 10);
});

/** What the tab holds after `tracked`: header and rows as written, by row. */
function tabRows(model: KeyedModel, n: number): Map<number, unknown[]> {
  const m = new Map<number, unknown[]>([[0, [...CONTENTS_HEADER]]]);
  for (let p = 1; p <= n; p++) m.set(p, written(contentsModel(n).rows[p - 1]!));
  void model;
  return m;
}

test('verifying an update: our rows in place go; a moved key, a changed anchor or foreign rows where new keys go are refused', async () => {
  const t = tracked(20, { anchorRows: [1, 10, 20], grid: 30 });
  t.model.set(5, contentRow(4, 1));
  t.model.set(10, contentRow(9, 1));
  t.model.add(contentRow(20));
  t.model.add(contentRow(21));
  const plan = (await t.plan());
  const base = () => ({ rows: tabRows(t.model, 20) }) as ReadBack;
  assert.equal(await verifyView(plan, base()), undefined);

  // A crashed earlier version of this sync: row 10 (an anchor, updated) holds other values, the new rows are there.
  const crashed = base();
  crashed.rows.set(10, written(contentRow(9, 5)));
  crashed.rows.set(21, written(contentRow(20, 3)));
  assert.equal(await verifyView(plan, crashed), undefined, 'values may differ, keys may not');

  const moved = base();
  moved.rows.set(5, written(contentRow(7)));
  assert.match(await verifyView(plan, moved) ?? '', /^the rows of tab "contents" were moved .*row 6 no longer holds "c-000004"/);

  const anchor = base();
  anchor.rows.set(20, written(contentRow(19, 2)));
  assert.match(await verifyView(plan, anchor) ?? '', /row 21 no longer holds the row ember-sync wrote there/, 'an anchor this sync does not update must be as written');

  const foreign = base();
  foreign.rows.set(22, ['my note']);
  assert.match(await verifyView(plan, foreign) ?? '', /^row 23 of tab "contents" holds data that ember-sync did not write there/);
  const otherKey = base();
  otherKey.rows.set(21, written(contentRow(99)));
  assert.match(await verifyView(plan, otherKey) ?? '', /^row 22 of tab "contents" holds data/);

  const header = base();
  header.rows.set(0, ['content_id', 'what']);
  assert.match(await verifyView(plan, header) ?? '', /header row of tab "contents" was changed by hand/);
});

test('collectReadBack keeps the widest reading of a row read twice', async () => {
  const back = collectReadBack(
    [
      { view: 'contents', kind: 'rows', firstRow: 3, range: 'x', width: 15 },
      { view: 'contents', kind: 'rows', firstRow: 3, range: 'y', width: 1 },
    ],
    [[['c-1', 'call', 'f']], [['c-1']]],
  );
  assert.deepEqual(back.get('contents')!.rows.get(3), ['c-1', 'call', 'f']);
});

test('packing an update: each changed row at its row, consecutive rows as one range, null cells sent as "" (they clear an older value)', async () => {
  const t = tracked(20, { grid: 30 });
  for (const p of [3, 4, 12]) t.model.set(p, contentRow(p - 1, 3));
  t.model.add(contentRow(20));
  const batches = (await collect(packValues([valueJob((await t.plan()))], 2 ** 20)));
  assert.equal(batches.length, 1);
  assert.deepEqual(
    batches[0]!.map((e) => e.range),
    ["'contents'!A4:O5", "'contents'!A13:O13", "'contents'!A22:O22"],
  );
  const row = batches[0]![0]!.values[0]!;
  assert.equal(row[11], '', 'total_score null: cleared');
  assert.equal(row[8], true, 'booleans stay booleans');
});

test('packing a rewrite: header, every row from 1, then empty rows over the rows that were ours below the view', async () => {
  const t = tracked(8, { grid: 12 });
  t.model.reorder(contentsModel(5).rows, 'e2');
  const plan = (await t.plan());
  assert.equal(plan.mode, 'rewrite');
  const entries = (await collect(packValues([valueJob(plan)], 2 ** 20))).flat();
  assert.deepEqual(
    entries.map((e) => e.range),
    ["'contents'!A1:O1", "'contents'!A2:O9"],
  );
  assert.deepEqual(entries[1]!.values.slice(5), [0, 1, 2].map(() => new Array(15).fill('')));
  assert.deepEqual(readBackChecks([plan]).map((c) => c.range), ["'contents'!A1:O1", "'contents'!A10:O12"], 'the header, and the grid past our rows (a sync of another epoch may have died writing there)');
  assert.equal(gridGoal(plan, 100), undefined, 'the grid holds it');
});

test('day columns are date cells with a date format; times follow REPORT_TIMEZONE', async () => {
  const m = new KeyedModel('daily_metrics', ['day', 'agent_name', 'metric', 'contents', 'avg_score', 'min_score', 'max_score']);
  m.add(['2025-03-09', 'Ng', 'greeting', 2, 7.5, 5, 10]);
  const plan = (await planViews([m.delivery({ deliveredSeq: 0, deliveredRows: 0, state: undefined })], { tabs: new Map(), cells: 0 }, () => 3)).plans[0]!;
  const goal = gridGoal(plan, 0)!;
  assert.deepEqual(goal.formats, [{ column: 0, fromRow: 1, toRow: 2, date: true }]);
  const entries = (await collect(packValues([valueJob(plan, 'America/New_York')], 2 ** 20))).flat();
  assert.deepEqual(entries[1]!.values[0], [45725, 'Ng', 'greeting', 2, 7.5, 5, 10]);
});
