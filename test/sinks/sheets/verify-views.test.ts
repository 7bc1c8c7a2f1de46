/** The exactly-once read-back verdicts — pure, no server. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Cell } from '../../../src/model/cells.js';
import { timeColumns, toSheetRow } from '../../../src/sinks/sheets/cells.js';
import { planViews, readBackChecks, type SheetViewState, type Tab, type ViewPlan } from '../../../src/sinks/sheets/plan-views.js';
import { collectReadBack, verifyView, type ReadBack } from '../../../src/sinks/sheets/verify-views.js';
import { HEADER, makeDelivery, someRows } from './make-delivery.js';

const written = (rows: Cell[][], header = HEADER) => rows.map((r) => toSheetRow(r, timeColumns('scores', header)));
const plan = (d: ReturnType<typeof makeDelivery>, tab: Tab): ViewPlan => planViews([d], { tabs: new Map([[d.view, tab]]), cells: 0 }, () => 1).plans[0]!;

// Three rows confirmed (sheet rows 1..3), two new ones about to go to rows 4 and 5.
const rows = someRows(5);
const state: SheetViewState = { sheetId: 5, nextRow: 4, header: HEADER, last: written(rows)[2]! };
const tab = { sheetId: 5, rowCount: 10, columnCount: 3 };
const append = (header = HEADER) => plan(makeDelivery({ view: 'scores', header, rows, delivered: 3, state }), tab);
const seen = (o: Partial<ReadBack> = {}): ReadBack => ({ header: [...HEADER], last: written(rows)[2]!, area: new Map(), ...o });

test('collectReadBack: the answers of one batchGet, by view and kind', () => {
  const checks = readBackChecks([append()], 100);
  const back = collectReadBack(checks, [[HEADER], [['w-2', 1, 2]], [['a'], ['b']]]);
  assert.deepEqual(back.get('scores'), { header: HEADER, last: ['w-2', 1, 2], area: new Map([[4, ['a']], [5, ['b']]]) });
});

test('an append over an untouched tab, empty rows ahead: go', () => {
  assert.equal(verifyView(append(), seen()), undefined);
  assert.equal(verifyView(append(), seen({ area: new Map([[4, []], [5, ['', null]]]) })), undefined);
});

test('crash repair: the rows ahead already hold exactly the rows about to be written (a sync died before its cursor commit)', () => {
  const w = written(rows);
  assert.equal(verifyView(append(), seen({ area: new Map([[4, w[3]!], [5, w[4]!]]) })), undefined);
  // Also when a column was added since, and the crashed sync had already written its name.
  assert.equal(verifyView(append([...HEADER, 'upsell']), seen({ header: [...HEADER, 'upsell'], area: new Map([[4, w[3]!]]) })), undefined);
});

test('the header changed by hand: refused, naming the tab', () => {
  const problem = verifyView(append(), seen({ header: ['webhook_id', 'when', 'total_score'] }));
  assert.match(problem ?? '', /^the header row of tab "scores" was changed by hand \(expected webhook_id, received_at, total_score\)/);
  assert.match(verifyView(append(), seen({ header: [...HEADER, 'my column'] })) ?? '', /header row of tab "scores" was changed/);
});

test('rows moved (sorted, inserted or deleted above): refused, naming the row', () => {
  assert.match(verifyView(append(), seen({ last: ['w-0', 0, 0] })) ?? '', /^the rows of tab "scores" were moved \(sorted, inserted or deleted above row 4\)/);
  assert.match(verifyView(append(), seen({ last: [] })) ?? '', /were moved/);
});

test('foreign data in the rows ahead: refused, naming the row (1-based, as the analyst sees it)', () => {
  const w = written(rows);
  assert.match(verifyView(append(), seen({ area: new Map([[4, w[3]!], [5, ['my note', 42]]]) })) ?? '', /^row 6 of tab "scores" holds data that ember-sync did not write there/);
});

test('adopting a tab: empty, or exactly a beginning of this view (even with fewer columns), else someone else\'s', () => {
  const d = makeDelivery({ view: 'scores', header: [...HEADER, 'later'], rows });
  const p = plan(d, { sheetId: 3, rowCount: 1000, columnCount: 26 });
  const w = written(rows);
  assert.equal(verifyView(p, { area: new Map(), whole: [] }), undefined, 'an empty tab');
  assert.equal(verifyView(p, { area: new Map(), whole: [[...HEADER, 'later'], w[0]!, w[1]!] }), undefined, 'a first sync that died before its cursor commit');
  assert.equal(verifyView(p, { area: new Map(), whole: [HEADER, w[0]!, w[1]!, w[2]!, w[3]!, w[4]!] }), undefined, 'written before the column "later" was added');
  assert.equal(verifyView(p, { area: new Map(), whole: [[], w[0]!, w[1]!] }), undefined, 'our rows under an empty header row');
  const foreign = /^the tab "scores" already holds data that ember-sync did not write/;
  assert.match(verifyView(p, { area: new Map(), whole: [['my', 'table'], [1, 2]] }) ?? '', foreign);
  assert.match(verifyView(p, { area: new Map(), whole: [[...HEADER, 'later', 'more']] }) ?? '', foreign);
  assert.match(verifyView(p, { area: new Map(), whole: [HEADER, w[0]!, ['not ours']] }) ?? '', foreign);
  assert.match(verifyView(p, { area: new Map(), whole: [HEADER, w[0]!, w[1]!, w[2]!, w[3]!, w[4]!, [], ['below']] }) ?? '', foreign, 'data below the view');
});
