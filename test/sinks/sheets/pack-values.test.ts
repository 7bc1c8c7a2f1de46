/** Packing the values of every view into requests of at most ~2 MiB — pure, no server. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Cell } from '../../../src/model/cells.js';
import type { LogViewName } from '../../../src/model/views.js';
import { toSheetRow, type SheetCell } from '../../../src/sinks/sheets/cells.js';
import { timeColumns } from '../../../src/model/views.js';
import { packValues, requestBytes, toValueRanges, valueJob, type ValueEntry } from '../../../src/sinks/sheets/pack-values.js';
import { planViews, type ViewPlan } from '../../../src/sinks/sheets/plan-views.js';
import { collect, HEADER, makeDelivery, someRows } from './make-delivery.js';

const bodyBytes = (entries: readonly ValueEntry[]) => Buffer.byteLength(JSON.stringify({ valueInputOption: 'RAW', data: toValueRanges(entries) }));
const fresh = async (view: LogViewName, rows: Cell[][], header = HEADER): Promise<ViewPlan> => (await planViews([makeDelivery({ view, header, rows })], { tabs: new Map(), cells: 0 }, () => 1)).plans[0]!;

/** The rows each view gets, by 0-based sheet row, rebuilt from the requests. */
function rebuild(batches: ValueEntry[][]): Map<string, Map<number, SheetCell[]>> {
  const out = new Map<string, Map<number, SheetCell[]>>();
  for (const e of batches.flat()) {
    const rows = out.get(e.view) ?? new Map<number, SheetCell[]>();
    e.values.forEach((v, i) => rows.set(e.firstRow + i, v));
    out.set(e.view, rows);
    assert.match(e.range, new RegExp(`^'${e.view}'!A${e.firstRow + 1}:[A-Z]+${e.firstRow + e.values.length}$`), 'the range is where the rows go');
  }
  return out;
}

test('several views share a request; each view gets its header and its rows in order', async () => {
  const a = someRows(4);
  const b = someRows(2, 100);
  const batches = (await collect(packValues([valueJob(await fresh('red_flags', a)), valueJob(await fresh('scores', b))], 2 * 1024 * 1024)));
  assert.equal(batches.length, 1);
  assert.deepEqual(
    batches[0]!.map((e) => [e.view, e.range, e.isHeader]),
    [
      ['red_flags', "'red_flags'!A1:C1", true],
      ['red_flags', "'red_flags'!A2:C5", false],
      ['scores', "'scores'!A1:C1", true],
      ['scores', "'scores'!A2:C3", false],
    ],
  );
  assert.deepEqual(batches[0]![1]!.values, a.map((r) => toSheetRow(r, timeColumns('red_flags', HEADER))));
  assert.equal(batches[0]![1]!.values[0]![1], 45658, 'times as serial numbers');
});

test('an append writes from its row position; the header only when columns were added', async () => {
  const rows = someRows(5);
  const state = { sheetId: 5, nextRow: 4, header: HEADER, last: null };
  const tabs = new Map([['scores', { sheetId: 5, rowCount: 10, columnCount: 4 }]]);
  const same = (await planViews([makeDelivery({ view: 'scores', header: HEADER, rows, delivered: 3, state })], { tabs, cells: 0 }, () => 1)).plans[0]!;
  assert.deepEqual(
    (await collect(packValues([valueJob(same)], 1e6))).flat().map((e) => e.range),
    ["'scores'!A5:C6"],
  );
  const wider = (await planViews([makeDelivery({ view: 'scores', header: [...HEADER, 'new'], rows, delivered: 3, state })], { tabs, cells: 0 }, () => 1)).plans[0]!;
  assert.deepEqual(
    (await collect(packValues([valueJob(wider)], 1e6))).flat().map((e) => e.range),
    ["'scores'!A1:D1", "'scores'!A5:D6"],
  );
});

test('property: every request stays within the limit, its size is never under-counted, and the views come out whole and in place', async () => {
  const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constant('=1+2'));
  const cell: fc.Arbitrary<Cell> = fc.oneof(text, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null));
  const view = fc.array(fc.tuple(fc.uuid(), fc.date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }).map((d) => d.toISOString()), cell, cell), { maxLength: 60 });
  await fc.assert(
    fc.asyncProperty(view, view, fc.integer({ min: 1200, max: 6000 }), async (a, b, maxBytes) => {
      const header = ['webhook_id', 'received_at', 'x', 'y'];
      const jobs = [valueJob(await fresh('red_flags', a as Cell[][], header)), valueJob(await fresh('scores', b as Cell[][], header))];
      const batches = (await collect(packValues(jobs, maxBytes)));
      for (const batch of batches) {
        assert.ok(batch.length > 0);
        assert.ok(bodyBytes(batch) <= maxBytes, `${bodyBytes(batch)} > ${maxBytes}`);
        assert.ok(requestBytes(batch) >= bodyBytes(batch), 'the size used for packing is an upper bound');
      }
      const got = rebuild(batches);
      for (const [name, rows] of [['red_flags', a], ['scores', b]] as const) {
        const want = [header, ...(rows as Cell[][]).map((r) => toSheetRow(r, timeColumns(name, header)))];
        assert.deepEqual([...got.get(name)!.entries()].sort(([x], [y]) => x - y).map(([, v]) => v), want);
      }
    }),
    { numRuns: 150 },
  );
});

test('a view that failed meanwhile is not read any further', async () => {
  const big = makeDelivery({ view: 'scores', header: HEADER, rows: someRows(200), pageSize: 10 });
  const plan = (await planViews([big], { tabs: new Map(), cells: 0 }, () => 1)).plans[0]!;
  const failed = new Set<string>();
  const batches: ValueEntry[][] = [];
  for await (const batch of packValues([valueJob(plan), valueJob(await fresh('red_flags', someRows(3)))], 1500, (v) => failed.has(v))) {
    batches.push(batch);
    failed.add('scores'); // the first request for scores was refused
  }
  assert.ok(big.reads.rows < 60, `read ${big.reads.rows} of 200 rows`);
  assert.deepEqual([...new Set(batches.slice(1).flat().map((e) => e.view))], ['red_flags'], 'the other views still go');
});
