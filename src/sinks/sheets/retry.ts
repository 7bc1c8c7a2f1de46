import { setTimeout as delay } from 'node:timers/promises';

export interface RetryOptions {
  /** Tries in all (the first one included). */
  attempts?: number;
  baseMs?: number;
  capMs?: number;
  /** Longest Retry-After honoured; longer means "give up for this run". */
  maxRetryAfterMs?: number;
  /** Waits `ms`; should end early (reject) when `signal` is aborted. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  /** Once aborted, no further try is made (the wait is cut short): the signal's reason is thrown. */
  signal?: AbortSignal;
  onRetry?: (info: { attempt: number; delayMs: number; status: number | undefined; reason: string }) => void;
}

/** What a failed call looked like: HTTP status and Retry-After, from a GaxiosError or a network error. */
export function describeFailure(err: unknown): { status: number | undefined; retryAfterMs: number | undefined; code: string | undefined; message: string } {
  const e = err as { status?: unknown; code?: unknown; message?: unknown; response?: { status?: number; headers?: unknown } };
  const status = typeof e.status === 'number' ? e.status : typeof e.response?.status === 'number' ? e.response.status : undefined;
  const headers = e.response?.headers;
  let raw: string | null | undefined;
  if (headers && typeof (headers as Headers).get === 'function') raw = (headers as Headers).get('retry-after');
  else if (headers && typeof headers === 'object') raw = (headers as Record<string, string | undefined>)['retry-after'];
  let retryAfterMs: number | undefined;
  if (raw) {
    const secs = Number(raw);
    retryAfterMs = Number.isFinite(secs) ? secs * 1000 : Math.max(0, Date.parse(raw) - Date.now());
    if (Number.isNaN(retryAfterMs)) retryAfterMs = undefined;
  }
  return { status, retryAfterMs, code: typeof e.code === 'string' ? e.code : undefined, message: typeof e.message === 'string' ? e.message : String(err) };
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

export function isRetryable(err: unknown): boolean {
  const f = describeFailure(err);
  if (f.status !== undefined) return f.status === 429 || f.status >= 500;
  return f.code !== undefined && NETWORK_CODES.has(f.code);
}

/**
 * Retries 429, 5xx and network failures with exponential backoff and full
 * jitter, never sooner than the server's Retry-After, a bounded number of
 * times; then the last error is thrown and the sync fails with it. Only used
 * around idempotent work (reads, writes to explicit ranges, structural changes
 * that re-read what a lost answer may already have applied).
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const attempts = o.attempts ?? 6;
  const base = o.baseMs ?? 1000;
  const cap = o.capMs ?? 32_000;
  const sleep = o.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, signal ? { signal } : undefined));
  const random = o.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    o.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || !isRetryable(err)) throw err;
      const f = describeFailure(err);
      if (f.retryAfterMs !== undefined && f.retryAfterMs > (o.maxRetryAfterMs ?? 120_000)) throw err;
      const backoff = random() * Math.min(cap, base * 2 ** (attempt - 1));
      const delayMs = Math.max(backoff, f.retryAfterMs ?? 0);
      o.onRetry?.({ attempt, delayMs, status: f.status, reason: f.message });
      await sleep(delayMs, o.signal).catch((sleepErr: unknown) => {
        o.signal?.throwIfAborted();
        throw sleepErr;
      });
    }
  }
}
