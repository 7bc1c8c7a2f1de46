/**
 * One view that cannot be created, grown, read back or written never stops the
 * others: Sheets applies a batch atomically, so a bad view is checked before
 * sending (width, cells) or, when Google still refuses a batch with a 4xx,
 * isolated by sending view by view. A later run recovers once the problem is
 * gone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { runSync } from '../../../src/jobs/sync.js';
import { MAX_VIEW_COLUMNS } from '../../../src/model/columns.js';
import type { ViewDelivery } from '../../../src/model/sync.js';
import { VIEW_NAMES, type ViewName } from '../../../src/model/views.js';
import { MAX_SPREADSHEET_CELLS } from '../../../src/sinks/sheets/cells.js';
import type { Store } from '../../../src/store/store.js';
import { vendorJson } from '../../helpers/fixtures.js';
import { ingest } from '../../helpers/ingest.js';
import { assertTabEqualsView, deliveries, mixed, rawApi, setup, SHEET, viewCount } from './harness.js';

const silent = pino({ level: 'silent' });

const errorsOf = async (store: Store) => Object.fromEntries((await store.sync.viewErrors('sheets')).map((e) => [e.view, e.last_error ?? '']));
/** A request (recorded, or being matched for a fault) that names the view's tab in a range or an added tab's title. */
const touches = (view: ViewName) => (r: { ranges?: string[] | undefined; body?: unknown }) => (r.ranges ?? []).some((x) => x.startsWith(`'${view}'!`)) || JSON.stringify(r.body ?? {}).includes(`"title":"${view}"`);

/** A low-score webhook with `n` metrics: 2n dynamic columns in low_scores. */
function wideLowScore(id: string, n: number, prefix = 'm'): Record<string, unknown> {
  const details: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    details[`${prefix}${i}_score`] = i % 10;
    details[`${prefix}${i}_justification`] = `because ${i}`;
  }
  return { ...vendorJson('low-score'), webhook_id: id, score_details: details };
}

async function assertOthersSynced(fake: Parameters<typeof assertTabEqualsView>[0], store: Store, ...bad: ViewName[]): Promise<void> {
  for (const view of VIEW_NAMES) if (!bad.includes(view)) await assertTabEqualsView(fake, store, view);
}

test('a view wider than Sheets allows fails alone, before anything is sent for it', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 10));
  const width = MAX_VIEW_COLUMNS + 1;
  // A header past the limit (the registry caps it, so build the delivery by hand).
  const ds = (await deliveries(store)).map((d): ViewDelivery => {
    if (d.view !== 'red_flags') return d;
    const pad = (row: unknown[]) => [...row, ...new Array<null>(width - row.length).fill(null)];
    return {
      ...d,
      header: [...d.header, ...Array.from({ length: width - d.header.length }, (_, i) => `extra_${i}`)],
      rows: { count: (s) => d.rows.count(s), async *pages(s) { for await (const page of d.rows.pages(s)) yield page.map((r) => pad(r) as typeof r); } },
    };
  });
  const outcomes = await target().deliver(ds);
  const bad = outcomes.find((o) => o.view === 'red_flags')!;
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? '' : bad.error, /tab "red_flags" would need 18,279 columns, over Google Sheets' limit of 18,278 columns per tab/);
  for (const o of outcomes) if (o.view !== 'red_flags') assert.equal(o.ok, true, JSON.stringify(o));
  assert.deepEqual([...fake.tabs(SHEET)].sort(), VIEW_NAMES.filter((v) => v !== 'red_flags').sort());
  assert.equal(fake.requests.filter(touches('red_flags')).length, 0, 'nothing sent for red_flags');
});

test('views that fit the 10,000,000-cell budget go on; the one that does not fails alone, naming the tab and the limit', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 12));
  await store.projection.catchUp();
  const toSeq = await store.projection.cursor();
  const need: Record<string, number> = {};
  for (const v of VIEW_NAMES) need[v] = Math.max(2, (await viewCount(store, v, toSeq)) + 1) * (await store.views.snapshot(v)).header.length;
  // Views are fitted in order: the last one finds no room left.
  const largest = VIEW_NAMES.at(-1)!;
  const others = VIEW_NAMES.filter((v) => v !== largest).reduce((n, v) => n + need[v]!, 0);
  // An analyst's tab that leaves room for every view but the last.
  await rawApi(fake).spreadsheets.batchUpdate({ spreadsheetId: SHEET, requestBody: { requests: [{ addSheet: { properties: { title: 'big', gridProperties: { rowCount: MAX_SPREADSHEET_CELLS - others, columnCount: 1 } } } }] } });
  const result = await runSync({ store, target: target(), logger: silent });
  assert.equal(result.status, 'failed');
  const errors = await errorsOf(store);
  assert.deepEqual(Object.keys(errors), [largest]);
  assert.match(errors[largest]!, new RegExp(`tab "${largest}" .*over Google's limit of 10,000,000; nothing was written`));
  assert.equal(fake.tab(SHEET, largest), undefined);
  await assertOthersSynced(fake, store, largest);
  assert.ok(fake.totalCells(SHEET) <= MAX_SPREADSHEET_CELLS);

  // Room is made (the analyst deletes the tab): the next run recovers.
  fake.deleteTab(SHEET, 'big');
  assert.equal((await runSync({ store, target: target(), logger: silent })).status, 'ok');
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view);
});

test('Google refuses one view in the structural batch (400): view by view, the others are created and grown, and a later run recovers', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ growSlackRows: 5 });
  await ingest(store, [...mixed(0, 10), wideLowScore('wide-1', 20)]);
  await store.projection.catchUp();
  const widths: Record<string, number> = {};
  for (const v of VIEW_NAMES) widths[v] = (await store.views.snapshot(v)).header.length;
  // The wide low score's metrics are columns of low_scores and of contents (one row per content).
  const wide = ['low_scores', 'contents'] as const;
  const limit = Math.max(...VIEW_NAMES.filter((v) => !(wide as readonly string[]).includes(v)).map((v) => widths[v]!));
  assert.ok(widths['low_scores']! > limit && widths['contents']! > limit);
  fake.setLimits({ maxColumns: limit });

  // A fresh spreadsheet: the one batch that adds every tab is refused; then each view alone.
  const first = await runSync({ store, target: sheets, logger: silent });
  assert.equal(first.status, 'failed');
  let errors = await errorsOf(store);
  assert.deepEqual(Object.keys(errors).sort(), [...wide].sort());
  for (const view of wide) {
    assert.match(errors[view]!, new RegExp(view));
    assert.match(errors[view]!, /above the limit of \d+/);
    assert.equal(fake.tab(SHEET, view), undefined);
  }
  await assertOthersSynced(fake, store, ...wide);

  fake.setLimits({ maxColumns: MAX_VIEW_COLUMNS });
  const healed = await runSync({ store, target: sheets, logger: silent });
  assert.equal(healed.status, 'ok', JSON.stringify(healed));
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view);

  // Growth: low_scores and contents gain columns past the (lowered) limit while every view gains rows.
  fake.setLimits({ maxColumns: Math.max(...wide.map((v) => fake.tab(SHEET, v)!.columnCount)) });
  await ingest(store, [...mixed(100, 10), wideLowScore('wide-2', 3, 'n')]);
  const grown = await runSync({ store, target: sheets, logger: silent });
  assert.equal(grown.status, 'failed');
  errors = await errorsOf(store);
  assert.deepEqual(Object.keys(errors).sort(), [...wide].sort());
  await assertOthersSynced(fake, store, ...wide);
  fake.setLimits({ maxColumns: MAX_VIEW_COLUMNS });
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view);
  assert.deepEqual(await errorsOf(store), {});
});

test('Google refuses the values of one view (400): the other views are written, the refused one reports it, a later run recovers', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target();
  await ingest(store, mixed(0, 10));
  fake.injectFault({ status: 400, count: 1000, message: 'Invalid data[3]: refused by the test', match: (r) => r.kind === 'values.batchUpdate' && touches('scores')(r) });
  const first = await runSync({ store, target: sheets, logger: silent });
  assert.equal(first.status, 'failed');
  const errors = await errorsOf(store);
  assert.deepEqual(Object.keys(errors), ['scores']);
  assert.match(errors['scores']!, /tab "scores".*refused the request \(400\): Invalid data\[3\]: refused by the test/);
  await assertOthersSynced(fake, store, 'scores');
  assert.equal((await store.sync.cursor('sheets', 'scores')).deliveredRows, 0);

  fake.clearFaults();
  await ingest(store, mixed(50, 5));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view);
});

test('Google refuses the read-back of one view (400): the others are checked and written', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target();
  await ingest(store, mixed(0, 10));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  await ingest(store, mixed(50, 5));
  fake.injectFault({ status: 400, count: 1000, match: (r) => r.kind === 'values.batchGet' && touches('workflow_fields')(r) });
  const result = await runSync({ store, target: sheets, logger: silent });
  assert.equal(result.status, 'failed');
  assert.deepEqual(Object.keys(await errorsOf(store)), ['workflow_fields']);
  await assertOthersSynced(fake, store, 'workflow_fields');
  fake.clearFaults();
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view);
});
