/** The exactly-once read-back verdicts — pure, no server. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Cell } from '../../../src/model/cells.js';
import { toSheetRow } from '../../../src/sinks/sheets/cells.js';
import { timeColumns } from '../../../src/model/views.js';
import { planViews, readBackChecks, type SheetViewState, type Tab, type ViewPlan } from '../../../src/sinks/sheets/plan-views.js';
import { collectReadBack, verifyView, type ReadBack } from '../../../src/sinks/sheets/verify-views.js';
import { hashRow } from '../../../src/sinks/sheets/anchors.js';
import { HEADER, makeDelivery, someRows } from './make-delivery.js';

const written = (rows: Cell[][], header = HEADER) => rows.map((r) => toSheetRow(r, timeColumns('scores', header)));
const plan = async (d: ReturnType<typeof makeDelivery>, tab: Tab): Promise<ViewPlan> => (await planViews([d], { tabs: new Map([[d.view, tab]]), cells: 0 }, () => 1)).plans[0]!;

// Three rows confirmed (sheet rows 1..3), two new ones about to go to rows 4 and 5.
const rows = someRows(5);
const w = written(rows);
/** A state from before anchors: the last row as written. */
const legacy: SheetViewState = { sheetId: 5, nextRow: 4, header: HEADER, last: w[2]! };
/** The same tab, anchored: its three rows. */
const anchored: SheetViewState = { sheetId: 5, nextRow: 4, header: HEADER, anchors: [1, 2, 3].map((row) => ({ row, hash: hashRow(w[row - 1]!) })) };
const tab = { sheetId: 5, rowCount: 10, columnCount: 3 };
const append = async (header = HEADER, state = legacy) => await plan(makeDelivery({ view: 'scores', header, rows, delivered: 3, state }), tab);
/** The read-back: the header and our three rows, then `ahead` from row 4 on; `at` replaces rows. */
const seen = (o: { header?: unknown[]; at?: Record<number, unknown[]>; ahead?: unknown[][] } = {}): ReadBack => {
  const m = new Map<number, unknown[]>([[0, o.header ?? [...HEADER]], [1, w[0]!], [2, w[1]!], [3, w[2]!]]);
  (o.ahead ?? []).forEach((r, i) => m.set(4 + i, r));
  for (const [row, cells] of Object.entries(o.at ?? {})) m.set(Number(row), cells);
  return { rows: m };
};

test('collectReadBack: the answers of one batchGet, by view and row', async () => {
  const checks = readBackChecks([await append(HEADER, anchored)]);
  assert.deepEqual(
    checks.map((c) => c.range),
    ["'scores'!A1:C6"],
    'the header, the anchors and the rows ahead are close together: one range',
  );
  const back = collectReadBack(checks, [[HEADER, ['w-0'], ['w-1'], ['w-2'], ['a']]]);
  assert.deepEqual(back.get('scores'), { rows: new Map([[0, HEADER], [1, ['w-0']], [2, ['w-1']], [3, ['w-2']], [4, ['a']]]) });
});

test('an append over an untouched tab, empty rows ahead: go', async () => {
  for (const state of [legacy, anchored]) {
    assert.equal(await verifyView(await append(HEADER, state), seen()), undefined);
    assert.equal(await verifyView(await append(HEADER, state), seen({ ahead: [[], ['', null]] })), undefined);
  }
});

test('crash repair: the rows ahead already hold exactly the rows about to be written (a sync died before its cursor commit)', async () => {
  assert.equal(await verifyView(await append(), seen({ ahead: [w[3]!, w[4]!] })), undefined);
  assert.equal(await verifyView(await append(HEADER, anchored), seen({ ahead: [w[3]!, w[4]!] })), undefined);
  // Also when a column was added since, and the crashed sync had already written its name.
  assert.equal(await verifyView(await append([...HEADER, 'upsell']), seen({ header: [...HEADER, 'upsell'], ahead: [w[3]!] })), undefined);
  assert.equal(await verifyView(await append([...HEADER, 'upsell'], anchored), seen({ header: [...HEADER, 'upsell'], ahead: [w[3]!] })), undefined);
});

test('the header changed by hand: refused, naming the tab', async () => {
  const problem = await verifyView(await append(), seen({ header: ['webhook_id', 'when', 'total_score'] }));
  assert.match(problem ?? '', /^the header row of tab "scores" was changed by hand \(expected webhook_id, received_at, total_score\)/);
  assert.match(await verifyView(await append(), seen({ header: [...HEADER, 'my column'] })) ?? '', /header row of tab "scores" was changed/);
});

test('rows moved (a state from before anchors: its last row): refused, naming the row', async () => {
  assert.match(await verifyView(await append(), seen({ at: { 3: ['w-0', 0, 0] } })) ?? '', /^the rows of tab "scores" were moved \(sorted, or rows inserted or deleted above\): row 4 no longer holds the row ember-sync wrote there/);
  assert.match(await verifyView(await append(), seen({ at: { 3: [] } })) ?? '', /were moved/);
});

test('rows moved under anchors: any anchor not holding its row refuses the view, naming the first such row', async () => {
  // A sort that leaves the last row in place (the tester's repro): only the upper anchors see it.
  const sorted = seen({ at: { 1: w[1]!, 2: w[0]! } });
  assert.match(await verifyView(await append(HEADER, anchored), sorted) ?? '', /^the rows of tab "scores" were moved .*: row 2 no longer holds the row ember-sync wrote there/);
  assert.equal(await verifyView(await append(HEADER, legacy), sorted), undefined, 'the last row alone does not see it');
  assert.match(await verifyView(await append(HEADER, anchored), seen({ at: { 3: [] } })) ?? '', /row 4 no longer holds/, 'a row deleted');
  // An anchor past the grid (rows deleted, the grid cut): nothing read there, refused.
  assert.match(await verifyView(await append(HEADER, { ...anchored, anchors: [...anchored.anchors!, { row: 20, hash: hashRow(['w-9', 1, 2]) }] }), seen()) ?? '', /row 21 no longer holds/);
  // Cells beyond our columns (an analyst's note to the right) are not ours to judge.
  assert.equal(await verifyView(await append(HEADER, anchored), seen({ at: { 2: [...w[1]!, 'my note'] } })), undefined);
  // Numbers as Sheets gives them back (float round trip), '' for empty: still ours.
  const roundTrip = w.slice(0, 3).map((r) => r.map((v) => (typeof v === 'number' ? v * (1 + 4e-16) : v)));
  assert.equal(await verifyView(await append(HEADER, anchored), seen({ at: { 1: roundTrip[0]!, 2: [...roundTrip[1]!, ''], 3: roundTrip[2]! } })), undefined);
});

test('foreign data in the rows ahead: refused, naming the row (1-based, as the analyst sees it)', async () => {
  assert.match(await verifyView(await append(), seen({ ahead: [w[3]!, ['my note', 42]] })) ?? '', /^row 6 of tab "scores" holds data that ember-sync did not write there/);
  assert.match(await verifyView(await append(HEADER, anchored), seen({ ahead: [[], ['my note', 42]] })) ?? '', /^row 6 of tab "scores" holds data/);
});

test('adopting a tab: empty, or exactly a beginning of this view (even with fewer columns), else someone else\'s', async () => {
  const d = makeDelivery({ view: 'scores', header: [...HEADER, 'later'], rows });
  const p = await plan(d, { sheetId: 3, rowCount: 1000, columnCount: 26 });
  const w = written(rows);
  assert.equal(await verifyView(p, { rows: new Map(), whole: [] }), undefined, 'an empty tab');
  assert.equal(await verifyView(p, { rows: new Map(), whole: [[...HEADER, 'later'], w[0]!, w[1]!] }), undefined, 'a first sync that died before its cursor commit');
  assert.equal(await verifyView(p, { rows: new Map(), whole: [HEADER, w[0]!, w[1]!, w[2]!, w[3]!, w[4]!] }), undefined, 'written before the column "later" was added');
  assert.equal(await verifyView(p, { rows: new Map(), whole: [[], w[0]!, w[1]!] }), undefined, 'our rows under an empty header row');
  const foreign = /^the tab "scores" already holds data that ember-sync did not write/;
  assert.match(await verifyView(p, { rows: new Map(), whole: [['my', 'table'], [1, 2]] }) ?? '', foreign);
  assert.match(await verifyView(p, { rows: new Map(), whole: [[...HEADER, 'later', 'more']] }) ?? '', foreign);
  assert.match(await verifyView(p, { rows: new Map(), whole: [HEADER, w[0]!, ['not ours']] }) ?? '', foreign);
  assert.match(await verifyView(p, { rows: new Map(), whole: [HEADER, w[0]!, w[1]!, w[2]!, w[3]!, w[4]!, [], ['below']] }) ?? '', foreign, 'data below the view');
});
