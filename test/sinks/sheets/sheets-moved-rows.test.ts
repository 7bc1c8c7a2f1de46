/**
 * Rows moved by an analyst (a sort, rows inserted or deleted above) are found
 * by the anchors of the view's state — rows we wrote, read back in the same
 * batched read-back — even when the last row we wrote stays in place: the view
 * stops with an error naming the tab and the row, and nothing is written to
 * it. Filters and hidden rows move nothing and are no conflict.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { runSync } from '../../../src/jobs/sync.js';
import { VIEW_NAMES, type ViewName } from '../../../src/model/views.js';
import { MAX_ANCHORS } from '../../../src/sinks/sheets/anchors.js';
import type { SheetViewState } from '../../../src/sinks/sheets/plan-views.js';
import type { Store } from '../../../src/store/store.js';
import type { FakeSheets } from '../../fakes/fake-sheets.js';
import { ingest } from '../../helpers/ingest.js';
import { assertTabEqualsView, commitOutcomes, mixed, rawApi, setup, SHEET } from './harness.js';

const silent = pino({ level: 'silent' });
const errorsOf = async (store: Store) => Object.fromEntries((await store.sync.viewErrors('sheets')).map((e) => [e.view, e.last_error ?? '']));
const stateOf = async (store: Store, view: ViewName) => (await store.sync.cursor('sheets', view)).state as SheetViewState;
const writesTo = (fake: FakeSheets, view: ViewName) => fake.requests.filter((r) => r.kind === 'values.batchUpdate' && (r.ranges ?? []).some((x) => x.startsWith(`'${view}'!`)));
const sheetIdOf = (fake: FakeSheets, view: ViewName) => fake.tab(SHEET, view)!.sheetId;

/** A workflow whose only output field has no reasoning: its row in workflow_fields has an empty `reasoning` cell. */
const workflowWithoutReasoning = (id: string) => ({
  webhook_id: id,
  trigger_reason: 'completed_action',
  content_id: `content-${id}`,
  data: { output_schema: { note: { value: `note of ${id}`, reasoning: null } }, status: 'complete', cost: 0.25 },
});

/** The view stopped with a "moved" error naming its tab and a row, nothing was written to it, its cursor stayed. */
async function assertRefusedUntouched(fake: FakeSheets, store: Store, view: ViewName, before: { values: unknown[][]; rows: number }): Promise<string> {
  const error = (await errorsOf(store))[view] ?? '';
  assert.match(error, new RegExp(`^the rows of tab "${view}" were moved \\(sorted, or rows inserted or deleted above\\): row \\d+ no longer holds the row ember-sync wrote there`));
  assert.equal(writesTo(fake, view).length, 0, `nothing was sent to ${view}`);
  assert.deepEqual(fake.tab(SHEET, view)!.values, before.values, 'their cells are intact');
  assert.equal((await store.sync.cursor('sheets', view)).deliveredRows, before.rows, 'the cursor did not move');
  return error;
}

const snapshot = async (fake: FakeSheets, store: Store, view: ViewName) => ({ values: structuredClone(fake.tab(SHEET, view)!.values), rows: (await store.sync.cursor('sheets', view)).deliveredRows });

test("the tester's repro: a sort by a column that is blank in the last row leaves that row in place; the anchors see it, the view stops, nothing is written", async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target();
  await ingest(store, mixed(0, 20));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  await ingest(store, [workflowWithoutReasoning('last-wf')]);
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');

  const view = 'workflow_fields';
  const tab = fake.tab(SHEET, view)!;
  const header = tab.values[0] as string[];
  const reasoning = header.indexOf('reasoning');
  const lastRow = tab.values.length - 1;
  assert.equal(tab.values[lastRow]![header.indexOf('webhook_id')], 'last-wf');
  assert.equal(tab.values[lastRow]![reasoning] ?? null, null, 'the last row has no reasoning');
  const unsorted = structuredClone(tab.values);
  fake.sortRows(SHEET, view, { startRow: 1, column: reasoning });
  const sorted = fake.tab(SHEET, view)!.values;
  assert.deepEqual(sorted[lastRow], unsorted[lastRow], 'precondition: blank cells sort last, the last row stays');
  assert.notDeepEqual(sorted, unsorted, 'precondition: other rows moved');

  await ingest(store, [...mixed(100, 6), workflowWithoutReasoning('after-sort')]);
  const before = await snapshot(fake, store, view);
  fake.resetRequests();
  const result = await runSync({ store, target: sheets, logger: silent });
  assert.equal(result.status, 'failed');
  const error = await assertRefusedUntouched(fake, store, view, before);
  assert.match(error, /undo the change, or delete the tab to have it rebuilt/);
  assert.deepEqual(
    fake.requests.filter((r) => !r.kind.endsWith('atchUpdate')).map((r) => r.kind),
    ['get', 'values.batchGet'],
    'the anchors were read in the one batched read-back',
  );
  assert.equal(fake.requests.filter((r) => r.kind === 'values.batchUpdate').length, 1, 'the other views were written');
  for (const other of VIEW_NAMES) if (other !== view) await assertTabEqualsView(fake, store, other);

  // Undo the sort (put the rows back): the view goes on from where it was.
  fake.setCells(SHEET, view, `'${view}'!A1`, unsorted as never);
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  await assertTabEqualsView(fake, store, view);
});

test('a sort by several columns, from the UI or the API, stops the view', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target();
  await ingest(store, mixed(0, 30));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  const header = fake.tab(SHEET, 'scores')!.values[0] as string[];
  // Metric A→Z, then score Z→A (a sort an analyst makes to rank agents per metric).
  await rawApi(fake).spreadsheets.batchUpdate({
    spreadsheetId: SHEET,
    requestBody: {
      requests: [
        {
          sortRange: {
            range: { sheetId: sheetIdOf(fake, 'scores'), startRowIndex: 1 },
            sortSpecs: [
              { dimensionIndex: header.indexOf('metric'), sortOrder: 'ASCENDING' },
              { dimensionIndex: header.indexOf('score'), sortOrder: 'DESCENDING' },
            ],
          },
        },
      ],
    },
  });
  await ingest(store, mixed(100, 10));
  const before = await snapshot(fake, store, 'scores');
  fake.resetRequests();
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'failed');
  await assertRefusedUntouched(fake, store, 'scores', before);
  for (const other of VIEW_NAMES) if (other !== 'scores') await assertTabEqualsView(fake, store, other);
});

test('a sort that moves only rows in the middle (first and last rows in place) stops the view, naming a row in the sorted block', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target();
  // Several syncs, so that the anchors are a mix of spread points and the last rows of recent syncs.
  for (let i = 0; i < 6; i++) {
    await ingest(store, mixed(i * 100, 8));
    assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  }
  const view = 'scores';
  const anchors = (await stateOf(store, view)).anchors!;
  assert.ok(anchors.length > 3 && anchors.length <= MAX_ANCHORS, `anchors: ${JSON.stringify(anchors)}`);
  const middle = anchors[Math.floor(anchors.length / 2)]!.row;
  const unsorted = structuredClone(fake.tab(SHEET, view)!.values);
  // The rows of a middle anchor and the next one swap places (by a column where they differ, in the order that moves them).
  for (const column of [5, 6, 0, 1]) {
    for (const descending of [false, true]) {
      if (JSON.stringify(fake.tab(SHEET, view)!.values) === JSON.stringify(unsorted)) fake.sortRows(SHEET, view, { startRow: middle, endRow: middle + 2, column, descending });
    }
  }
  const sorted = fake.tab(SHEET, view)!.values;
  assert.notDeepEqual(sorted[middle], unsorted[middle], 'precondition: the middle rows moved');
  assert.deepEqual([sorted[1], sorted.at(-1)], [unsorted[1], unsorted.at(-1)], 'precondition: first and last rows in place');

  await ingest(store, mixed(900, 5));
  const before = await snapshot(fake, store, view);
  fake.resetRequests();
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'failed');
  const error = await assertRefusedUntouched(fake, store, view, before);
  const named = Number(/row (\d+) no longer holds/.exec(error)![1]) - 1;
  assert.ok(named === middle || named === middle + 1, `names a row of the sorted block (row ${named + 1})`);
});

test('an untouched tab with a full set of anchors: steady syncs stay 3 requests, the read-back one request of a modest size, the state small; filters and hidden rows are no conflict', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ growSlackRows: 1000 });
  await ingest(store, mixed(0, 40));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  await ingest(store, mixed(50, 4));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok', 'the exact grids grow, with slack');
  // An analyst filters scores (hiding a metric), hides rows of red_flags, and freezes nothing else.
  const scoresHeader = fake.tab(SHEET, 'scores')!.values[0] as string[];
  const metric = fake.tab(SHEET, 'scores')!.values[1]![scoresHeader.indexOf('metric')];
  await rawApi(fake).spreadsheets.batchUpdate({
    spreadsheetId: SHEET,
    requestBody: {
      requests: [
        { setBasicFilter: { filter: { range: { sheetId: sheetIdOf(fake, 'scores') }, filterSpecs: [{ columnIndex: scoresHeader.indexOf('metric'), filterCriteria: { hiddenValues: [String(metric)] } }] } } },
        { updateDimensionProperties: { range: { sheetId: sheetIdOf(fake, 'red_flags'), dimension: 'ROWS', startIndex: 1, endIndex: 3 }, properties: { hiddenByUser: true }, fields: 'hiddenByUser' } },
      ],
    },
  });
  assert.ok(fake.tab(SHEET, 'scores')!.basicFilter!.filteredRows.length > 0);
  assert.deepEqual(fake.tab(SHEET, 'red_flags')!.hiddenRows, [1, 2]);

  const kinds: string[][] = [];
  let readBack = { ranges: 0, url: 0 };
  for (let i = 1; i <= 15; i++) {
    await ingest(store, mixed(i * 100, 4));
    fake.resetRequests();
    const result = await runSync({ store, target: sheets, logger: silent });
    assert.equal(result.status, 'ok', JSON.stringify(result));
    kinds.push(fake.requests.map((r) => r.kind));
    const get = fake.requests.find((r) => r.kind === 'values.batchGet')!;
    readBack = { ranges: Math.max(readBack.ranges, get.ranges!.length), url: Math.max(readBack.url, get.rawUrl.length) };
  }
  // A view's exact grid grows (with slack) the first time it gets rows: at most one structural request then.
  kinds.forEach((k, i) =>
    assert.deepEqual(
      k.filter((x) => x !== 'batchUpdate'),
      ['get', 'values.batchGet', 'values.batchUpdate'],
      `sync ${i + 1}`,
    ),
  );
  kinds.forEach((k, i) => assert.ok(k.filter((x) => x === 'batchUpdate').length <= 1, `sync ${i + 1}`));
  kinds.slice(-10).forEach((k, i) => assert.deepEqual(k, ['get', 'values.batchGet', 'values.batchUpdate'], `steady sync ${i + 6}`));
  for (const view of VIEW_NAMES) {
    await assertTabEqualsView(fake, store, view);
    const state = await stateOf(store, view);
    assert.ok(state.anchors!.length <= MAX_ANCHORS);
    assert.equal(state.anchors![0]!.row, 1, `${view}: the first data row is anchored`);
    assert.equal(state.anchors!.at(-1)!.row, state.nextRow - 1, `${view}: so is the last`);
    assert.equal(state.last, undefined, 'no row cells in the state');
    assert.ok(JSON.stringify(state).length < 1500, `${view}: a small state (${JSON.stringify(state).length} bytes)`);
  }
  // Every view's anchors, header and rows ahead in one request: at most one range per anchor, header and rows ahead.
  assert.ok(readBack.ranges <= VIEW_NAMES.length * (MAX_ANCHORS + 2), JSON.stringify(readBack));
  assert.ok(readBack.url < 8000, `the batchGet URL stays well under Google's limits (${readBack.url} characters)`);
  t.diagnostic(`steady read-back: ${readBack.ranges} ranges, URL ${readBack.url} characters`);
});

test('a state written before anchors: checked by its last row, and anchored from the next write on', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target();
  await ingest(store, mixed(0, 20));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  // Turn every state into one of the old kind: no anchors, the last row as written.
  const oldLast = (await stateOf(store, 'scores')).nextRow - 1;
  for (const view of VIEW_NAMES) {
    const cursor = await store.sync.cursor('sheets', view);
    const { anchors, ...rest } = cursor.state as SheetViewState;
    assert.ok(anchors);
    const last = fake.tab(SHEET, view)!.values[rest.nextRow - 1]!;
    await commitOutcomes(store, 'sheets', cursor.deliveredSeq, [{ view, ok: true, receipt: { rows: 0, totalRows: cursor.deliveredRows, state: { ...rest, last } } }]);
  }
  await ingest(store, mixed(100, 5));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok', 'the old states still work');
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view);
  const state = await stateOf(store, 'scores');
  assert.ok(
    state.anchors!.some((a) => a.row === oldLast),
    'the old last row (checked by this sync) is an anchor',
  );
  assert.equal(state.anchors!.at(-1)!.row, state.nextRow - 1);

  // A sort that leaves the newest rows in place but moves the old last row: found now.
  const unsorted = structuredClone(fake.tab(SHEET, 'scores')!.values);
  // (The two rows swap places, as a sort of them would.)
  fake.setCells(SHEET, 'scores', `'scores'!A${oldLast}`, [unsorted[oldLast]!, unsorted[oldLast - 1]!]);
  assert.notDeepEqual(fake.tab(SHEET, 'scores')!.values[oldLast], unsorted[oldLast], 'precondition: the old last row moved');
  assert.deepEqual(fake.tab(SHEET, 'scores')!.values.slice(oldLast + 1), unsorted.slice(oldLast + 1), 'precondition: the newer rows did not');
  await ingest(store, mixed(200, 5));
  const before = await snapshot(fake, store, 'scores');
  fake.resetRequests();
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'failed');
  await assertRefusedUntouched(fake, store, 'scores', before);

  // A view whose old state has a moved last row is refused as before.
  const cursor = await store.sync.cursor('sheets', 'workflows');
  const { anchors: _, ...rest } = cursor.state as SheetViewState;
  await commitOutcomes(store, 'sheets', cursor.deliveredSeq, [{ view: 'workflows', ok: true, receipt: { rows: 0, totalRows: cursor.deliveredRows, state: { ...rest, last: ['not', 'our', 'row'] } } }]);
  await ingest(store, [workflowWithoutReasoning('wf-late')]);
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'failed');
  assert.match((await errorsOf(store))['workflows'] ?? '', /^the rows of tab "workflows" were moved/);
});
