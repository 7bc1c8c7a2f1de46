/**
 * deliver(views, signal): once the signal is aborted (the sync lost its lock, so
 * another process may be writing), no further request is sent and every view
 * is reported as failed with the reason.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { runSync } from '../../../src/jobs/sync.js';
import { VIEW_NAMES } from '../../../src/model/views.js';
import { ingest } from '../../helpers/ingest.js';
import { deliveries, mixed, setup } from './harness.js';

const lockLost = () => new Error('the sync lock of target sheets was taken over by another process');

test('an aborted signal: nothing is sent, every view fails with the reason', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 10));
  const ac = new AbortController();
  ac.abort(lockLost());
  const outcomes = await target().deliver(await deliveries(store), { signal: ac.signal });
  assert.equal(fake.requests.length, 0);
  assert.equal(outcomes.length, VIEW_NAMES.length);
  for (const o of outcomes) {
    assert.equal(o.ok, false);
    assert.match(o.ok ? '' : o.error, /stopped.*taken over by another process/);
  }
});

test('aborted while a request is in flight: the next request is not sent', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 10));
  const sheets = target();
  for (const kind of ['get', 'batchUpdate'] as const) {
    fake.resetRequests();
    const ac = new AbortController();
    // The server receives the request, then the lock is lost before the answer arrives.
    fake.setLatency((r) => {
      if (r.kind === kind) ac.abort(lockLost());
      return 0;
    });
    const outcomes = await sheets.deliver(await deliveries(store), { signal: ac.signal });
    assert.equal(fake.requests.at(-1)?.kind, kind, `nothing sent after the ${kind} in flight`);
    for (const o of outcomes) assert.match(o.ok ? 'ok' : o.error, /stopped.*taken over by another process/);
  }
  fake.setLatency(0);
  assert.equal(fake.requests.filter((r) => r.kind === 'values.batchUpdate').length, 0);
  // The next sync (with its lock) delivers everything.
  assert.equal((await runSync({ store, target: sheets, logger: pino({ level: 'silent' }) })).status, 'ok');
});

test('aborted during a retry wait: the retry is not sent', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 10));
  const ac = new AbortController();
  fake.injectFault({ status: 503, count: 10, match: (r) => r.kind === 'get' });
  const sheets = target({ retry: { baseMs: 5, capMs: 5, onRetry: () => ac.abort(lockLost()) } });
  const outcomes = await sheets.deliver(await deliveries(store), { signal: ac.signal });
  assert.equal(fake.requests.length, 1, 'one try, no retry after the abort');
  for (const o of outcomes) assert.match(o.ok ? 'ok' : o.error, /stopped.*taken over by another process/);
});
