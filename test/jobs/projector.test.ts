import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { createProjector } from '../../src/jobs/projector.js';

/** A projection whose batches take `ms` each and report how many ran at once. */
function slowProjection(pending: number, ms: number) {
  let left = pending;
  let running = 0;
  const stats = { batches: 0, mostAtOnce: 0, ended: 0 };
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
      stats.ended++;
      const n = Math.min(limit, left);
      left -= n;
      return n;
    },
  };
}

/** Polls `ok` until it holds (the machine may be slow: no fixed sleeps in what is asserted). */
async function until(ok: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    assert.ok(Date.now() < deadline, `timed out waiting: ${what}`);
    await sleep(2);
  }
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
  await until(() => projection.left === 0, 'everything kicked is projected');
  assert.equal(projection.stats.mostAtOnce, 1, 'never two batches at once');
  // A kick after it caught up: one more (empty) batch, then it rests.
  const before = projection.stats.batches;
  projector.kick();
  await until(() => projection.stats.batches === before + 1, 'the kick runs one batch');
  await sleep(60);
  assert.equal(projection.stats.batches, before + 1, 'then it rests');
});

test('a failing batch is retried after a second, not at the next kick; stop waits for the batch in flight', async () => {
  let calls = 0;
  const errors: unknown[] = [];
  // Each batch waits for the test to let it finish: what runs when is decided here, not by timing.
  const gates: Array<(fail: boolean) => void> = [];
  const projector = createProjector({
    projection: {
      async projectBatch() {
        calls++;
        const fail = await new Promise<boolean>((resolve) => gates.push(resolve));
        if (fail) throw new Error('SQLITE_BUSY');
        return 0;
      },
    },
    onError: (err) => errors.push(err),
    quietMs: 1,
  });
  projector.start();
  await until(() => gates.length === 1, 'the first batch starts');
  gates[0]!(true);
  await until(() => errors.length === 1, 'the failure is reported');
  const failedAt = performance.now();
  projector.kick();
  // Timers never fire early: whatever the machine's load, a kick must not start a batch before the retry delay.
  await sleep(100);
  assert.equal(calls, 1, 'the kick waits for the retry delay');
  await until(() => calls === 2, 'the retry');
  assert.ok(performance.now() - failedAt >= 900, 'retried after about a second');
  gates[1]!(false);
  projector.kick();
  await until(() => calls === 3, 'the next batch starts');
  let stopped = false;
  const stopping = projector.stop().then(() => (stopped = true));
  await sleep(20);
  assert.equal(stopped, false, 'stop waits for the batch in flight');
  gates[2]!(false);
  await stopping;
  assert.equal(calls, 3);
});

test('while webhooks keep arriving, kicks during an asynchronous batch (PostgreSQL) do not cancel its yield to ingest', async (t) => {
  const projection = slowProjection(100, 20);
  // A share of 1%: after a 20 ms batch, no batch for at least 1.98 s while kicks keep coming.
  const projector = createProjector({ projection, onError: (err) => assert.fail(String(err)), chunk: 10, quietMs: 50, busyShare: 0.01 });
  let kicking = true;
  t.after(() => {
    kicking = false;
    return projector.stop();
  });
  // Every commit kicks, also while a batch is awaited.
  const kicks = (async () => {
    while (kicking) {
      projector.kick();
      await sleep(2);
    }
  })();
  await until(() => projection.stats.ended === 1, 'the first batch ends');
  // Timers never fire early: whatever the load, the next batch cannot start within this window.
  await sleep(300);
  assert.equal(projection.stats.batches, 1, 'the projector yields to ingest after a full batch');
  kicking = false;
  await kicks;
  await until(() => projection.left === 0, 'once ingest is quiet it catches up');
});
