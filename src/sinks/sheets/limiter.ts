import { setTimeout as delay } from 'node:timers/promises';

export interface LimiterOptions {
  /** Least time between two requests to the spreadsheet (Google: keep it to about 1 per second). */
  minIntervalMs?: number;
  /** Write requests allowed per rolling minute (Google: 60 per user per project). */
  writesPerMinute?: number;
  now?: () => number;
  /** Waits `ms`; should end early (reject) when `signal` is aborted. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Client-side quota: requests are spaced by `minIntervalMs`, and writes are
 * capped per rolling minute, so ember-sync stays under Google's limits instead
 * of discovering them through 429s. Callers run one request at a time.
 */
export function createLimiter(o: LimiterOptions = {}) {
  const minInterval = o.minIntervalMs ?? 1000;
  const perMinute = o.writesPerMinute ?? 60;
  const now = o.now ?? (() => Date.now());
  const sleep = o.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, signal ? { signal } : undefined));
  let last = -Infinity;
  const writes: number[] = [];
  let waited = 0;
  return {
    /** Waits for the turn of one request; a sync that is stopped (signal) stops waiting: its reason is thrown. */
    async acquire(kind: 'read' | 'write', signal?: AbortSignal): Promise<void> {
      for (;;) {
        signal?.throwIfAborted();
        const t = now();
        while (writes.length > 0 && writes[0]! <= t - 60_000) writes.shift();
        const spacing = last + minInterval - t;
        const quota = kind === 'write' && writes.length >= perMinute ? writes[0]! + 60_000 - t : 0;
        const wait = Math.max(spacing, quota, 0);
        if (wait <= 0) {
          last = t;
          if (kind === 'write') writes.push(t);
          return;
        }
        waited += wait;
        await sleep(wait, signal).catch((err: unknown) => {
          signal?.throwIfAborted();
          throw err;
        });
      }
    },
    /** Total time spent waiting (for logs and benchmarks). */
    get waitedMs(): number {
      return waited;
    },
  };
}
export type Limiter = ReturnType<typeof createLimiter>;
