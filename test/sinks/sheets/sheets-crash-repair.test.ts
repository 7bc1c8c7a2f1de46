/**
 * A first sync that died after writing and before its cursor commit leaves tabs
 * without a record; the next sync adopts them when they hold exactly a
 * beginning of the view — also when a column was added in between.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { runSync } from '../../../src/jobs/sync.js';
import { VIEW_NAMES } from '../../../src/model/views.js';
import { vendorJson } from '../../helpers/fixtures.js';
import { ingest } from '../../helpers/ingest.js';
import { assertTabEqualsView, deliveries, mixed, setup, SHEET } from './harness.js';

test('a crashed first sync, then a new column: the next sync adopts the tabs and completes them, no duplicate', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target();
  await ingest(store, mixed(0, 10));
  // The first sync writes everything, and its process dies before the cursor commit.
  const crashed = await sheets.deliver(await deliveries(store));
  assert.ok(crashed.every((o) => o.ok));
  assert.equal((await store.sync.cursor('sheets', 'low_scores')).state ?? null, null, 'no record of the tabs');
  const before = fake.tab(SHEET, 'low_scores')!.values[0]!.length;

  const extra = { ...vendorJson('low-score'), webhook_id: 'new-metric-1', score_details: { upsell_score: 9, upsell_justification: 'offered premium' } };
  await ingest(store, [extra]);
  const result = await runSync({ store, target: sheets, logger: pino({ level: 'silent' }) });
  assert.equal(result.status, 'ok', JSON.stringify(result));
  assert.equal(fake.tab(SHEET, 'low_scores')!.values[0]!.length, before + 2);
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view);
});
