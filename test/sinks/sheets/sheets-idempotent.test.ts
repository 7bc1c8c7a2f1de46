/**
 * Structural changes survive a lost response: Google applied the batchUpdate,
 * then the answer was a 5xx (or the connection dropped), and the retry must not
 * add the tab twice ("already exists") nor grow the grid twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { runSync } from '../../../src/jobs/sync.js';
import { VIEW_NAMES } from '../../../src/model/views.js';
import type { FakeSheets, FaultSpec } from '../../fakes/fake-sheets.js';
import { vendorJson } from '../../helpers/fixtures.js';
import { ingest } from '../../helpers/ingest.js';
import type { Store } from '../../../src/store/store.js';
import { assertTabEqualsView, mixed, setup, SHEET, viewCount } from './harness.js';

const silent = pino({ level: 'silent' });
const SLACK = 10;
const structural = (r: { kind: string }) => r.kind === 'batchUpdate';

/** Every view has one tab, equal to the view, with the grid it should have. */
async function assertGrids(fake: FakeSheets, store: Store, rows: (view: (typeof VIEW_NAMES)[number], total: number) => number): Promise<void> {
  assert.deepEqual([...fake.tabs(SHEET)].sort(), [...VIEW_NAMES].sort(), 'one tab per view');
  const toSeq = await store.projection.cursor();
  for (const view of VIEW_NAMES) {
    const tab = fake.tab(SHEET, view)!;
    const total = await viewCount(store, view, toSeq);
    assert.equal(tab.rowCount, rows(view, total), `${view}: exact row count`);
    assert.equal(tab.columnCount, (await store.views.snapshot(view)).header.length, `${view}: exact column count`);
    await assertTabEqualsView(fake, store, view);
  }
}

test('tab creation survives a 5xx or a dropped connection after Google applied it: one tab each, exact grid', async (t) => {
  for (const fault of [{ status: 500 }, { status: 503 }, { status: 0, destroy: true }] satisfies FaultSpec[]) {
    await t.test(`fault ${fault.status || 'dropped connection'}`, async (t) => {
      const { fake, store, target } = await setup(t);
      await ingest(store, mixed(0, 20));
      fake.injectFault({ ...fault, afterApply: true, match: structural });
      const result = await runSync({ store, target: target({ growSlackRows: SLACK }), logger: silent });
      assert.equal(result.status, 'ok', JSON.stringify(result));
      await assertGrids(fake, store, (_, total) => Math.max(2, total + 1));
      assert.equal(fake.requests.filter((r) => r.status === 400).length, 0, 'no "already exists"');
      assert.equal(fake.requests.filter(structural).length, 1, 'the applied batch is not sent again');
    });
  }
});

test('grid growth survives a 5xx or a dropped connection after Google applied it: rows and columns grow once, to the exact size', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ growSlackRows: SLACK });
  await ingest(store, mixed(0, 20));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');

  let round = 0;
  for (const fault of [{ status: 503 }, { status: 500 }, { status: 0, destroy: true }] satisfies FaultSpec[]) {
    round++;
    const before = Object.fromEntries(VIEW_NAMES.map((v) => [v, fake.tab(SHEET, v)!.rowCount]));
    // New rows in every view, and a new metric: low_scores gains two columns.
    const extra = { ...vendorJson('low-score'), webhook_id: `new-metric-${round}`, score_details: { [`metric_${round}_score`]: 5, [`metric_${round}_justification`]: 'ok' } };
    await ingest(store, [extra, ...mixed(100 * round, 12)]);
    fake.injectFault({ ...fault, afterApply: true, match: structural });
    const result = await runSync({ store, target: sheets, logger: silent });
    assert.equal(result.status, 'ok', JSON.stringify(result));
    // A view whose rows pass its grid grows to exactly header + rows + slack; the others keep their grid.
    await assertGrids(fake, store, (view, total) => (total + 1 > before[view]! ? total + 1 + SLACK : before[view]!));
    assert.equal(fake.requests.filter((r) => r.status === 400).length, 0);
  }
});
