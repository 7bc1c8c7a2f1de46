import { setTimeout as sleepFor } from 'node:timers/promises';
import { Webhook } from 'standardwebhooks';
import { generateCallWebhooks, type CallHistoryOptions, type CallStep } from './calls.js';
import { redactUrl, type RedactedUrl } from './redact.js';

/** EmberQA's documented delivery: POST JSON, 30 s timeout, 2 retries, success is 2xx. */
export const TIMEOUT_MS = 30_000;
/**
 * The waits before the two retries. The vendor says "2 retries", not when: a
 * short one for a blip, a longer one for a restart (serve takes a few seconds).
 */
export const RETRY_DELAYS_MS: readonly number[] = [2_000, 10_000];

export interface SimulateProgress {
  /** Webhooks done (accepted or failed). */
  done: number;
  total: number;
  accepted: number;
  duplicates: number;
  failed: number;
  retries: number;
}

export interface SimulateOptions extends Pick<CallHistoryOptions, 'now' | 'days' | 'metrics' | 'threshold'> {
  url: string;
  /** How many webhooks. */
  count: number;
  /** Webhooks per second (0: as fast as `concurrency` allows). */
  rate: number;
  /** Requests in flight at once (default 20). A call's webhooks are still sent one after the other. */
  concurrency?: number;
  /** Sign like a Standard Webhooks sender when a secret is given. */
  signingSecret?: string | undefined;
  /** Seed of the generated calls (default 1). */
  seed?: number;
  /** Prefix of every webhook_id (default `sim-<time>-`, new on every run). */
  idPrefix?: string;
  /** Per request (default 30 s, like EmberQA). */
  timeoutMs?: number;
  /** One wait per retry (default RETRY_DELAYS_MS: 2 retries). */
  retryDelaysMs?: readonly number[];
  /** How a wait between retries is made (tests pass one that records and returns at once); it rejects when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  onProgress?: (progress: SimulateProgress) => void;
  /** A line for the operator, as it happens: a retry, why the run stopped. Never holds the token. */
  onNotice?: (line: string) => void;
}

export interface SimulateResult {
  /** Webhooks asked for. */
  total: number;
  /** Webhooks sent (accepted or failed); less than `total` when the run stopped. */
  sent: number;
  accepted: number;
  duplicates: number;
  failed: number;
  retries: number;
  /** What the sent webhooks were about: calls (first completions), alerts, re-scores, workflow completions. */
  calls: number;
  alerts: number;
  rescores: number;
  workflows: number;
  /** Up to 10 failures, `webhook_id: why` (never the token). */
  failures: string[];
  /** Why the run stopped before sending everything: a wrong URL or token, nothing listening. */
  stopped: string | undefined;
  /** The URL as printed: the token replaced by `…`. */
  shownUrl: string;
}

type Attempt =
  | { ok: true; duplicate: boolean }
  /** `retry`: worth another try; `stop`: the whole run cannot succeed (now, or once the retries are spent). */
  | { ok: false; error: string; retry: boolean; stop?: string; stopIfLast?: string };

const MAX_FAILURES_LISTED = 10;
const MAX_RETRY_NOTICES = 5;

function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  const visit = (e: unknown, depth: number) => {
    if (typeof e !== 'object' || e === null || depth > 3) return;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    visit((e as { cause?: unknown }).cause, depth + 1);
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors)) for (const x of errors) visit(x, depth + 1);
  };
  visit(err, 0);
  return codes;
}

/** A failed fetch in words that name the address (never the token) and what to check. */
function describeNetworkError(err: unknown, url: RedactedUrl, timeoutMs: number): Pick<Extract<Attempt, { ok: false }>, 'error' | 'stopIfLast'> {
  const e = err as { name?: string; message?: string; cause?: { message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return { error: `no answer within ${timeoutMs / 1000} s from ${url.shown}` };
  const codes = errorCodes(err);
  if (codes.includes('ECONNREFUSED')) {
    const error = `connection refused at ${url.shown} — is ember-sync serve running?`;
    return { error, stopIfLast: error };
  }
  if (codes.includes('ENOTFOUND') || codes.includes('EAI_AGAIN')) {
    const error = `cannot resolve the host of ${url.shown} — check the URL`;
    return { error, stopIfLast: error };
  }
  if (codes.includes('EHOSTUNREACH') || codes.includes('ENETUNREACH')) {
    const error = `no route to ${url.shown} — check the URL and the network`;
    return { error, stopIfLast: error };
  }
  if (codes.includes('ECONNRESET') || codes.includes('UND_ERR_SOCKET')) return { error: `connection closed by ${url.shown} before it answered` };
  if (codes.includes('UND_ERR_CONNECT_TIMEOUT') || codes.includes('ETIMEDOUT')) return { error: `could not connect to ${url.shown} (timed out)` };
  const detail = [e?.message, e?.cause?.message].filter((m): m is string => typeof m === 'string' && m !== '').join(': ');
  return { error: url.scrub(`${detail || String(err)} (${url.shown})`) };
}

/** What an answer means for this webhook and for the run. A 4xx is never retried: the same request gets the same answer. */
function judgeAnswer(status: number, text: string, url: RedactedUrl, signed: boolean): Attempt {
  if (status >= 200 && status < 300) {
    let duplicate = false;
    try {
      duplicate = (JSON.parse(text) as { duplicate?: unknown }).duplicate === true;
    } catch {
      // A 2xx is a success whatever its body.
    }
    return { ok: true, duplicate };
  }
  let code = '';
  try {
    const c = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    if (typeof c === 'string') code = c;
  } catch {
    // not one of ember-sync's answers
  }
  const error = url.scrub(`HTTP ${status} ${text.replace(/\s+/g, ' ').trim().slice(0, 200)}`.trim());
  if (status === 401) {
    const stop =
      code === 'invalid_signature'
        ? signed
          ? `401 at ${url.shown}: the server refused the signature — WEBHOOK_SIGNING_SECRET here is not one of the server's secrets`
          : `401 at ${url.shown}: the server requires signed webhooks — set WEBHOOK_SIGNING_SECRET to one of its secrets`
        : `401 at ${url.shown}: wrong URL or token — use the webhook URL ember-sync serve printed (ember-sync status shows it)`;
    return { ok: false, error, retry: false, stop };
  }
  if (status === 403 || status === 404 || status === 405) {
    return { ok: false, error, retry: false, stop: `${status} at ${url.shown}: no webhook endpoint takes this URL — check it against the one ember-sync serve printed` };
  }
  if (status >= 400 && status < 500) return { ok: false, error, retry: false };
  return { ok: false, error, retry: true };
}

const defaultSleep = (ms: number, signal: AbortSignal): Promise<void> => sleepFor(ms, undefined, { signal });

/** Sends `count` webhooks of coherent calls at `rate` per second, the way EmberQA does. */
export async function simulate(o: SimulateOptions): Promise<SimulateResult> {
  const url = redactUrl(o.url);
  const result: SimulateResult = { total: o.count, sent: 0, accepted: 0, duplicates: 0, failed: 0, retries: 0, calls: 0, alerts: 0, rescores: 0, workflows: 0, failures: [], stopped: undefined, shownUrl: url.shown };
  const signer = o.signingSecret ? new Webhook(o.signingSecret) : undefined;
  const concurrency = Math.max(1, Math.min(o.concurrency ?? 20, o.count));
  const timeoutMs = o.timeoutMs ?? TIMEOUT_MS;
  const delays = o.retryDelaysMs ?? RETRY_DELAYS_MS;
  const sleep = o.sleep ?? defaultSleep;
  const halt = new AbortController();
  let retryNotices = 0;
  const notice = (line: string) => o.onNotice?.(url.scrub(line));

  const stop = (reason: string) => {
    if (result.stopped !== undefined) return;
    result.stopped = reason;
    notice(`stopping: ${reason}`);
    halt.abort(new Error(reason));
  };

  async function attempt(body: string, msgId: string): Promise<Attempt> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'ember-sync-simulate' };
    if (signer) {
      const at = new Date();
      headers['webhook-id'] = msgId;
      headers['webhook-timestamp'] = String(Math.floor(at.getTime() / 1000));
      headers['webhook-signature'] = signer.sign(msgId, at, body);
    }
    try {
      const res = await fetch(o.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
      const text = await res.text();
      return judgeAnswer(res.status, text, url, signer !== undefined);
    } catch (err) {
      return { ok: false, retry: true, ...describeNetworkError(err, url, timeoutMs) };
    }
  }

  async function deliver(webhookId: string, body: string): Promise<void> {
    const msgId = `msg_${webhookId}`;
    for (let tries = 0; ; tries++) {
      const a = await attempt(body, msgId);
      if (a.ok) {
        result.accepted++;
        if (a.duplicate) result.duplicates++;
        return;
      }
      const last = !a.retry || tries >= delays.length || halt.signal.aborted;
      if (last) {
        result.failed++;
        if (result.failures.length < MAX_FAILURES_LISTED) result.failures.push(`${webhookId}: ${a.error}`);
        const reason = a.stop ?? (a.retry && tries >= delays.length ? a.stopIfLast : undefined);
        if (reason !== undefined) stop(reason);
        return;
      }
      const wait = delays[tries]!;
      if (retryNotices < MAX_RETRY_NOTICES) {
        retryNotices++;
        notice(`retry ${tries + 1} of ${delays.length} for ${webhookId} in ${wait / 1000} s: ${a.error}${retryNotices === MAX_RETRY_NOTICES ? ' (further retries are counted, not shown)' : ''}`);
      }
      result.retries++;
      try {
        await sleep(wait, halt.signal);
      } catch {
        // The run stopped while this webhook waited: it is not tried again.
      }
      if (halt.signal.aborted) {
        result.failed++;
        if (result.failures.length < MAX_FAILURES_LISTED) result.failures.push(`${webhookId}: ${a.error} (not retried: the run stopped)`);
        return;
      }
    }
  }

  const stream = generateCallWebhooks(o.count, {
    seed: o.seed ?? 1,
    idPrefix: o.idPrefix ?? `sim-${Date.now().toString(36)}-`,
    ...(o.now !== undefined && { now: o.now }),
    ...(o.days !== undefined && { days: o.days }),
    ...(o.metrics !== undefined && { metrics: o.metrics }),
    ...(o.threshold !== undefined && { threshold: o.threshold }),
  });
  /** The last webhook sent or being sent per content_id: a call's webhooks go one after the other (alert before completion). */
  const inFlight = new Map<string, Promise<void>>();
  const count = (step: CallStep) => {
    if (step === 'completion') result.calls++;
    else if (step === 'alert') result.alerts++;
    else if (step === 'rescore') result.rescores++;
    else result.workflows++;
  };
  const start = Date.now();
  let index = 0;

  const worker = async () => {
    for (;;) {
      if (halt.signal.aborted) return;
      const next = stream.next();
      if (next.done) return;
      const i = index++;
      const { webhook, step } = next.value;
      const before = inFlight.get(webhook.content_id);
      let finished!: () => void;
      const mine = new Promise<void>((resolve) => (finished = resolve));
      inFlight.set(webhook.content_id, mine);
      try {
        if (o.rate > 0) {
          const wait = start + (i * 1000) / o.rate - Date.now();
          if (wait > 0) await sleepFor(wait);
        }
        if (before) await before;
        if (halt.signal.aborted) return;
        await deliver(webhook.webhook_id, JSON.stringify(webhook));
        result.sent++;
        count(step);
        o.onProgress?.({ done: result.sent, total: o.count, accepted: result.accepted, duplicates: result.duplicates, failed: result.failed, retries: result.retries });
      } finally {
        finished();
        if (inFlight.get(webhook.content_id) === mine) inFlight.delete(webhook.content_id);
      }
    }
  };
  await Promise.all(Array.from({ length: o.count === 0 ? 0 : concurrency }, worker));
  return result;
}
