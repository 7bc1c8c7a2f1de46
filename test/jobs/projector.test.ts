import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { createProjector } from '../../src/jobs/projector.js';

/** A projection whose batches take `ms` each and report how many ran at once. */
function slowProjection(pending: number, ms: number) {
  let left = pending;
  let running = 0;
  const stats = { batches: 0, mostAtOnce: 0 };
  return {
    stats,
    get left() {
      return left;
    },
    add(n: number) {
      left += n;
    },
    async projectBatch(limit: number): Promise<number> {
      running++;
      stats.mostAtOnce = Math.max(stats.mostAtOnce, running);
      stats.batches++;
      await sleep(ms);
      running--;
      const n = Math.min(limit, left);
      left -= n;
      return n;
    },
  };
}

test('the projector runs one batch at a time: kicks during a slow batch start no second one, and are not lost', async (t) => {
  const projection = slowProjection(25, 20);
  const projector = createProjector({ projection, onError: (err) => assert.fail(String(err)), chunk: 10, quietMs: 1 });
  t.after(() => projector.stop());
  projector.start();
  // Webhooks committed while the batches run: the server kicks the projector after each commit.
  for (let i = 0; i < 20; i++) {
    projection.add(1);
    projector.kick();
    await sleep(3);
  }
  for (let i = 0; i < 200 && projection.left > 0; i++) await sleep(5);
  assert.equal(projection.left, 0, 'everything kicked was projected');
  assert.equal(projection.stats.mostAtOnce, 1, 'never two batches at once');
  // A kick after it caught up: one more (empty) batch, then it rests.
  const before = projection.stats.batches;
  projector.kick();
  await sleep(60);
  assert.equal(projection.stats.batches, before + 1);
});

test('a failing batch is retried after a second, not at the next kick; stop waits for the batch in flight', async () => {
  let calls = 0;
  const errors: unknown[] = [];
  const projector = createProjector({
    projection: {
      async projectBatch() {
        calls++;
        await sleep(30);
        if (calls === 1) throw new Error('SQLITE_BUSY');
        return 0;
      },
    },
    onError: (err) => errors.push(err),
    quietMs: 1,
  });
  projector.start();
  await sleep(40);
  assert.equal(errors.length, 1);
  projector.kick();
  await sleep(100);
  assert.equal(calls, 1, 'the kick waits for the retry delay');
  await sleep(1000);
  assert.equal(calls, 2, 'retried after a second');
  projector.kick();
  await sleep(5);
  const started = performance.now();
  await projector.stop();
  assert.ok(performance.now() - started >= 10, 'stop waited for the batch in flight');
  assert.equal(calls, 3);
});
