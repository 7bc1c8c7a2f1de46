/**
 * The request budget of the README, request by request: one metadata read, one
 * batched read-back, at most one structural batchUpdate and one
 * values.batchUpdate per ~2 MiB per sync, every view in the same requests.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { runSync } from '../../../src/jobs/sync.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { VIEW_NAMES } from '../../../src/model/views.js';
import { ingest } from '../../helpers/ingest.js';
import { assertTabEqualsView, mixed, setup } from './harness.js';

const silent = pino({ level: 'silent' });
/** Low-score webhooks only: rows in low_scores (one each) and scores (six each). */
const lowScores = (from: number, n: number) => Array.from({ length: n }, (_, i) => generateWebhook(from + i, { seed: 5, idPrefix: 'ls-', kind: 'low_score' }));

test('requests per sync: first sync, growth, steady, idle, and a backlog split by request size', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target({ growSlackRows: 50 });
  const sync = async () => {
    fake.resetRequests();
    const r = await runSync({ store, target: sheets, logger: silent });
    assert.equal(r.status, 'ok', JSON.stringify(r));
    return fake.requests.map((q) => q.kind);
  };
  await ingest(store, mixed(0, 20));
  assert.deepEqual(await sync(), ['get', 'batchUpdate', 'values.batchUpdate'], 'first sync: no read-back, six tabs in one request');
  await ingest(store, lowScores(100, 3));
  assert.deepEqual(await sync(), ['get', 'values.batchGet', 'batchUpdate', 'values.batchUpdate'], 'exact grids grow (with slack)');
  await ingest(store, lowScores(200, 3));
  assert.deepEqual(await sync(), ['get', 'values.batchGet', 'values.batchUpdate'], 'within the slack: no structural request');
  assert.deepEqual(await sync(), ['get'], 'nothing new');

  // A backlog through a small request size: values requests ≈ bytes / size, each within it.
  const small = target({ maxRequestBytes: 64 * 1024, growSlackRows: 50 });
  await ingest(store, mixed(300, 400));
  fake.resetRequests();
  assert.equal((await runSync({ store, target: small, logger: silent })).status, 'ok');
  const writes = fake.requests.filter((q) => q.kind === 'values.batchUpdate');
  const bytes = writes.reduce((n, q) => n + q.bytesIn, 0);
  assert.ok(writes.every((q) => q.bytesIn <= 64 * 1024));
  assert.ok(writes.length <= Math.ceil(bytes / (64 * 1024)) + 1, `${writes.length} requests for ${bytes} bytes`);
  assert.deepEqual(fake.requests.slice(0, 3).map((q) => q.kind), ['get', 'values.batchGet', 'batchUpdate']);
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view);
});
