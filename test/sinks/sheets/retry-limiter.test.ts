import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLimiter } from '../../../src/sinks/sheets/limiter.js';
import { describeFailure, isRetryable, withRetry } from '../../../src/sinks/sheets/retry.js';

/** A virtual clock: sleeping moves time forward instantly, so quotas are checked without waiting. */
function clock() {
  let t = 1_000_000;
  const sleeps: number[] = [];
  return { now: () => t, sleep: async (ms: number) => { sleeps.push(ms); t += ms; }, sleeps, get t() { return t; } };
}

test('the limiter spaces requests by 1 s and caps writes at 60 per rolling minute', async () => {
  const c = clock();
  const limiter = createLimiter({ now: c.now, sleep: c.sleep });
  const start = c.t;
  const times: number[] = [];
  for (let i = 0; i < 130; i++) {
    await limiter.acquire('write');
    times.push(c.t - start);
  }
  for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 1000, 'at least 1 s apart');
  for (let i = 60; i < times.length; i++) assert.ok(times[i]! - times[i - 60]! >= 60_000, 'never 61 writes within a minute');
  // Reads do not use the write quota, but keep the spacing.
  const l2 = createLimiter({ now: c.now, sleep: c.sleep, writesPerMinute: 2, minIntervalMs: 0 });
  await l2.acquire('write');
  await l2.acquire('write');
  const before = c.t;
  await l2.acquire('read');
  assert.equal(c.t, before, 'a read is not held by the write quota');
  await l2.acquire('write');
  assert.ok(c.t - before >= 59_000, 'the third write waits for the minute to roll');
});

function httpError(status: number, retryAfter?: string) {
  const headers = new Headers(retryAfter ? { 'retry-after': retryAfter } : {});
  return Object.assign(new Error(`HTTP ${status}`), { status, response: { status, headers } });
}

test('withRetry retries 429 and 5xx with growing, jittered delays and honours Retry-After', async () => {
  const c = clock();
  let calls = 0;
  const result = await withRetry(
    async () => {
      calls++;
      if (calls === 1) throw httpError(429, '7');
      if (calls === 2) throw httpError(503);
      if (calls === 3) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      return 'ok';
    },
    { sleep: c.sleep, random: () => 0.5, baseMs: 1000 },
  );
  assert.equal(result, 'ok');
  assert.equal(calls, 4);
  assert.equal(c.sleeps[0], 7000, 'Retry-After: 7 wins over a shorter backoff');
  assert.equal(c.sleeps[1], 1000, 'then exponential backoff with jitter: 0.5 × 2 s');
  assert.equal(c.sleeps[2], 2000, '0.5 × 4 s');
});

test('withRetry gives up after a bounded number of attempts and never retries other 4xx', async () => {
  const c = clock();
  let calls = 0;
  await assert.rejects(withRetry(async () => { calls++; throw httpError(500); }, { sleep: c.sleep, attempts: 4, random: () => 1 }), /HTTP 500/);
  assert.equal(calls, 4);
  assert.deepEqual(c.sleeps, [1000, 2000, 4000]);
  calls = 0;
  await assert.rejects(withRetry(async () => { calls++; throw httpError(403); }, { sleep: c.sleep }), /HTTP 403/);
  assert.equal(calls, 1);
  assert.equal(isRetryable(httpError(400)), false);
  assert.equal(isRetryable(httpError(429)), true);
  // A Retry-After beyond the limit means: stop this run, the rows stay pending.
  calls = 0;
  await assert.rejects(withRetry(async () => { calls++; throw httpError(429, '3600'); }, { sleep: c.sleep }), /HTTP 429/);
  assert.equal(calls, 1);
  assert.equal(describeFailure(httpError(429, new Date(Date.now() + 5000).toUTCString())).retryAfterMs! > 3000, true, 'an HTTP-date Retry-After');
});

// The default sleeps would wait 60 s if they ignored the signal: the timeout turns that into a failure.
test('a stopped sync stops waiting: the limiter and withRetry throw the signal\'s reason, and make no further try', { timeout: 20_000 }, async () => {
  const reason = new Error('the sync lock was taken over');
  const c = clock();
  const ac = new AbortController();
  const limiter = createLimiter({ now: c.now, sleep: c.sleep, minIntervalMs: 1000 });
  await limiter.acquire('write', ac.signal);
  ac.abort(reason);
  await assert.rejects(limiter.acquire('write', ac.signal), reason);

  // Aborted during the backoff: the sleep is cut short (the default one listens to the signal) and no retry is made.
  const ac2 = new AbortController();
  let calls = 0;
  await assert.rejects(
    withRetry(
      async () => {
        calls++;
        setImmediate(() => ac2.abort(reason));
        throw httpError(503);
      },
      { baseMs: 60_000, capMs: 60_000, random: () => 1, signal: ac2.signal },
    ),
    reason,
  );
  assert.equal(calls, 1);
  // An injected sleep is handed the signal.
  const given: Array<AbortSignal | undefined> = [];
  const ac4 = new AbortController();
  const failing = async (): Promise<string> => {
    throw httpError(503);
  };
  await assert.rejects(withRetry(failing, { attempts: 2, signal: ac4.signal, sleep: async (_ms, signal) => void given.push(signal) }), /HTTP 503/);
  assert.equal(given.length, 1);
  assert.equal(given[0], ac4.signal);
  // The limiter's default sleep too.
  const ac3 = new AbortController();
  const l3 = createLimiter({ minIntervalMs: 60_000 });
  await l3.acquire('read', ac3.signal);
  setImmediate(() => ac3.abort(reason));
  await assert.rejects(l3.acquire('read', ac3.signal), reason);
});
