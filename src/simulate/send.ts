import { Webhook } from 'standardwebhooks';
import { generateWebhook } from './generate.js';

export interface SimulateOptions {
  url: string;
  count: number;
  /** Webhooks per second (0: as fast as `concurrency` allows). */
  rate: number;
  concurrency?: number;
  /** Sign like a Standard Webhooks sender when a secret is given. */
  signingSecret?: string | undefined;
  seed?: number;
  onProgress?: (done: number) => void;
}

export interface SimulateResult {
  sent: number;
  accepted: number;
  duplicates: number;
  failed: number;
  retries: number;
  failures: string[];
}

/** EmberQA's documented delivery: POST JSON, 30 s timeout, 2 retries, success is 2xx. */
const TIMEOUT_MS = 30_000;
const RETRIES = 2;

async function deliver(url: string, body: string, id: string, signer: Webhook | undefined): Promise<{ ok: boolean; duplicate: boolean; attempts: number; error?: string }> {
  let last = '';
  for (let attempt = 1; attempt <= RETRIES + 1; attempt++) {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'ember-sync-simulate' };
    if (signer) {
      const at = new Date();
      headers['webhook-id'] = id;
      headers['webhook-timestamp'] = String(Math.floor(at.getTime() / 1000));
      headers['webhook-signature'] = signer.sign(id, at, body);
    }
    try {
      const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(TIMEOUT_MS) });
      const text = await res.text();
      if (res.status >= 200 && res.status < 300) {
        const duplicate = (JSON.parse(text) as { duplicate?: boolean }).duplicate === true;
        return { ok: true, duplicate, attempts: attempt };
      }
      last = `HTTP ${res.status} ${text.slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
  }
  return { ok: false, duplicate: false, attempts: RETRIES + 1, error: last };
}

/** Sends `count` realistic webhooks at `rate` per second, the way EmberQA does. */
export async function simulate(o: SimulateOptions): Promise<SimulateResult> {
  const result: SimulateResult = { sent: 0, accepted: 0, duplicates: 0, failed: 0, retries: 0, failures: [] };
  const signer = o.signingSecret ? new Webhook(o.signingSecret) : undefined;
  const concurrency = o.concurrency ?? 20;
  const runId = Date.now().toString(36);
  const start = Date.now();
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= o.count) return;
      if (o.rate > 0) {
        const due = start + (i * 1000) / o.rate;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const payload = generateWebhook(i, { seed: o.seed ?? 1, idPrefix: `sim-${runId}-` });
      const out = await deliver(o.url, JSON.stringify(payload), `msg_${payload.webhook_id}`, signer);
      result.sent++;
      result.retries += out.attempts - 1;
      if (out.ok) {
        result.accepted++;
        if (out.duplicate) result.duplicates++;
      } else {
        result.failed++;
        if (result.failures.length < 10) result.failures.push(`${payload.webhook_id}: ${out.error}`);
      }
      o.onProgress?.(result.sent);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, o.count)) }, worker));
  return result;
}
