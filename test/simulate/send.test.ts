import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RETRY_DELAYS_MS, simulate, type SimulateOptions } from '../../src/simulate/send.js';
import { runSimulation } from '../../src/simulate/run.js';
import { redactUrl } from '../../src/simulate/redact.js';
import { startTestService } from '../helpers/service.js';
import { checkCoherence } from './coherence.js';

const TOKEN = 'Tok3n-that-must-never-show_0123456789';

interface Hit {
  at: number;
  body: Record<string, unknown>;
}

/** A real HTTP server on loopback; `answer` decides each response from the webhook and how often it came. */
async function server(t: TestContext, answer: (body: Record<string, unknown>, attempt: number, res: ServerResponse) => unknown) {
  const hits: Hit[] = [];
  const attempts = new Map<string, number>();
  const s = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (raw += d));
    req.on('end', () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      const n = (attempts.get(String(body['webhook_id'])) ?? 0) + 1;
      attempts.set(String(body['webhook_id']), n);
      hits.push({ at: hits.length, body });
      void answer(body, n, res);
    });
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  t.after(() => {
    s.closeAllConnections();
    s.close();
  });
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}/webhooks/emberqa/${TOKEN}`;
  return { url, hits, attempts };
}

const json = (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
const ok = (res: ServerResponse, body: Record<string, unknown>) => json(res, 200, { received: true, duplicate: false, webhook_id: body['webhook_id'] });

/** An injected wait: records what was asked and returns at once (rejects like a real one once the run stopped). */
function recordingSleep(log: string[] = []) {
  const waits: number[] = [];
  const fn = async (ms: number, signal: AbortSignal) => {
    waits.push(ms);
    log.push(`wait ${ms}`);
    if (signal.aborted) throw signal.reason;
  };
  return { waits, fn, log };
}

const base = (url: string, extra: Partial<SimulateOptions> = {}): SimulateOptions => ({ url, count: 30, rate: 0, seed: 5, idPrefix: 't-', now: Date.parse('2026-03-10T15:00:00Z'), ...extra });

test('a 500 is retried after a wait, then the 200 counts as accepted', async (t) => {
  const log: string[] = [];
  const srv = await server(t, (body, attempt, res) => {
    log.push(`attempt ${attempt}`);
    if (attempt === 1) json(res, 500, { error: { code: 'internal_error' } });
    else ok(res, body);
  });
  const sleeper = recordingSleep(log);
  const r = await simulate(base(srv.url, { count: 12, concurrency: 1, sleep: sleeper.fn }));
  assert.equal(r.accepted, 12);
  assert.equal(r.failed, 0);
  assert.equal(r.retries, 12);
  assert.equal(r.sent, 12);
  assert.deepEqual(sleeper.waits, Array(12).fill(RETRY_DELAYS_MS[0]), 'one wait of the first retry delay per webhook');
  assert.ok(RETRY_DELAYS_MS.length === 2 && RETRY_DELAYS_MS.every((d) => d > 0), 'two retries, each after a wait');
  // Not back to back: every second attempt comes after a wait.
  for (let i = 0; i < log.length; i++) if (log[i] === 'attempt 2') assert.match(log[i - 1]!, /^wait /, `attempt at ${i} came right after ${log[i - 1]}`);
  assert.ok([...srv.attempts.values()].every((n) => n === 2));
});

test('a server that keeps failing gets one try and two retries per webhook, with growing waits', async (t) => {
  const srv = await server(t, (_body, _attempt, res) => json(res, 503, { error: { code: 'store_unavailable' } }));
  const sleeper = recordingSleep();
  const r = await simulate(base(srv.url, { count: 3, concurrency: 1, sleep: sleeper.fn }));
  assert.equal(r.failed, 3);
  assert.equal(r.retries, 6);
  assert.equal(r.stopped, undefined, 'a 5xx does not stop the run');
  assert.deepEqual(sleeper.waits, [...RETRY_DELAYS_MS, ...RETRY_DELAYS_MS, ...RETRY_DELAYS_MS]);
  assert.ok(RETRY_DELAYS_MS[1]! > RETRY_DELAYS_MS[0]!);
  assert.ok([...srv.attempts.values()].every((n) => n === 3));
  assert.match(r.failures[0]!, /HTTP 503/);
});

test('a 401 is not retried: the run stops and says the URL or token is wrong, without the token', async (t) => {
  const srv = await server(t, (_body, _attempt, res) => json(res, 401, { error: { code: 'unauthorized', message: `missing or wrong webhook token (${TOKEN})` } }));
  const sleeper = recordingSleep();
  const notices: string[] = [];
  const r = await simulate(base(srv.url, { count: 200, concurrency: 4, sleep: sleeper.fn, onNotice: (l) => notices.push(l) }));
  assert.deepEqual(sleeper.waits, [], 'no retry');
  assert.ok([...srv.attempts.values()].every((n) => n === 1));
  assert.ok(srv.hits.length <= 4, `stops at once (${srv.hits.length} requests)`);
  assert.equal(r.accepted, 0);
  assert.equal(r.retries, 0);
  assert.match(r.stopped!, /^401 at http:\/\/127\.0\.0\.1:\d+\/webhooks\/emberqa\/…: wrong URL or token/);
  const printed = JSON.stringify({ r, notices });
  assert.ok(!printed.includes(TOKEN), printed);
  assert.ok(r.sent < r.total);
});

test('other 4xx answers are not retried but do not stop the run', async (t) => {
  const srv = await server(t, (body, _attempt, res) => (String(body['webhook_id']).endsWith('3') ? json(res, 422, { error: { code: 'schema_validation_failed' } }) : ok(res, body)));
  const sleeper = recordingSleep();
  const r = await simulate(base(srv.url, { count: 40, sleep: sleeper.fn }));
  assert.deepEqual(sleeper.waits, []);
  assert.equal(r.sent, 40);
  assert.ok(r.failed > 0 && r.failed < 40);
  assert.equal(r.accepted + r.failed, 40);
  assert.equal(r.stopped, undefined);
  assert.ok([...srv.attempts.values()].every((n) => n === 1));
});

test('a refused connection is retried with waits, then names the address (not the token) and stops', async () => {
  // A port that was just free: nothing listens there.
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  const url = `http://127.0.0.1:${port}/webhooks/emberqa/${TOKEN}`;
  const sleeper = recordingSleep();
  const notices: string[] = [];
  const r = await simulate(base(url, { count: 50, concurrency: 1, sleep: sleeper.fn, onNotice: (l) => notices.push(l) }));
  assert.equal(r.stopped, `connection refused at http://127.0.0.1:${port}/webhooks/emberqa/… — is ember-sync serve running?`);
  assert.deepEqual(sleeper.waits, [...RETRY_DELAYS_MS], 'the first webhook is retried like EmberQA does, then the run stops');
  assert.equal(r.sent, 1);
  assert.equal(r.failed, 1);
  assert.ok(notices.some((n) => n.includes(`retry 1 of 2`) && n.includes(`connection refused at http://127.0.0.1:${port}/`)));
  const printed = JSON.stringify({ r, notices });
  assert.ok(!printed.includes(TOKEN) && !printed.includes('fetch failed'), printed);
});

test('a server that does not answer times out (30 s by default; shorter here) and is retried', async (t) => {
  const srv = await server(t, async (body, attempt, res) => {
    if (attempt === 1) await sleep(2_000);
    if (!res.destroyed) ok(res, body);
  });
  const sleeper = recordingSleep();
  const r = await simulate(base(srv.url, { count: 2, concurrency: 2, timeoutMs: 150, sleep: sleeper.fn }));
  assert.equal(r.accepted, 2);
  assert.equal(r.retries, 2);
  const notices: string[] = [];
  const r2 = await simulate(base(srv.url, { count: 1, idPrefix: 'u-', timeoutMs: 150, retryDelaysMs: [], sleep: sleeper.fn, onNotice: (l) => notices.push(l) }));
  assert.match(r2.failures[0]!, /no answer within 0\.15 s from http:\/\/127\.0\.0\.1:\d+\/webhooks\/emberqa\/…$/);
});

test('the webhooks of one call arrive in order (alerts before the completion) while calls interleave', async (t) => {
  // Alerts are answered slowly: without ordering, their completions would overtake them.
  const srv = await server(t, async (body, _attempt, res) => {
    if (body['alert_type'] !== undefined) await sleep(15);
    ok(res, body);
  });
  const r = await simulate(base(srv.url, { count: 300, concurrency: 20 }));
  assert.equal(r.accepted, 300);
  const arrived = srv.hits.map((h) => h.body);
  assert.deepEqual(checkCoherence(arrived).problems, []);
  // Interleaving: some call's alert and completion have another call's webhook between them.
  const firstAlert = new Map<unknown, number>();
  let interleaved = 0;
  arrived.forEach((b, i) => {
    if (b['alert_type'] !== undefined && !firstAlert.has(b['content_id'])) firstAlert.set(b['content_id'], i);
    else if (b['trigger_reason'] !== undefined && firstAlert.has(b['content_id']) && i - firstAlert.get(b['content_id'])! > 1) interleaved++;
  });
  assert.ok(interleaved > 0);
});

test('against the real service: every webhook accepted, none quarantined, the stored calls coherent; progress lines without a terminal', async (t) => {
  const s = await startTestService(t);
  const out: string[] = [];
  const err: string[] = [];
  const r = await runSimulation({
    url: s.webhookUrl,
    count: 400,
    rate: 0,
    seed: 11,
    stdout: { write: (c: string) => out.push(c) },
    stderr: { write: (c: string) => err.push(c), isTTY: false },
  });
  assert.equal(r.accepted, 400);
  assert.equal(s.store.db.prepare('SELECT count(*) FROM events').pluck().get(), 400);
  assert.equal(s.store.db.prepare('SELECT count(*) FROM quarantine').pluck().get(), 0, 'every payload passes its schema');
  const stored = (s.store.db.prepare('SELECT body FROM events ORDER BY seq').pluck().all() as Buffer[]).map((b) => JSON.parse(b.toString('utf8')) as Record<string, unknown>);
  const report = checkCoherence(stored);
  assert.deepEqual(report.problems, []);
  assert.ok(report.callsWithAlerts > 0 && report.rescored > 0 && report.workflows > 0);
  const summary = out.join('');
  assert.match(summary, /^sent 400 webhooks: 400 accepted \(0 duplicates\), 0 failed, 0 retries\n/);
  assert.match(summary, /\n {2}\d+ call completions, \d+ alerts before them, \d+ re-scores?, \d+ workflow completions; to http:\/\/127\.0\.0\.1:\d+\/webhooks\/emberqa\/…; seed 11\n/);
  const lines = err.join('').split('\n').filter(Boolean);
  assert.ok(lines.length >= 10, `a line per tenth at least:\n${lines.join('\n')}`);
  for (const l of lines) assert.match(l, /^simulate: \d+\/400 webhooks \(\d+%\): \d+ accepted, \d+ failed, \d+ retries$/);
  assert.equal(lines.at(-1), 'simulate: 400/400 webhooks (100%): 400 accepted, 0 failed, 0 retries');
  assert.ok(!(summary + err.join('')).includes(s.webhookToken), 'the token is never printed');
  assert.ok(!/rows/.test(summary + err.join('')), 'counted in webhooks');
});

test('signed like Standard Webhooks when the server requires it; a wrong secret stops with a clear line', async (t) => {
  const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
  const s = await startTestService(t, { WEBHOOK_SIGNING_SECRET: secret });
  const good = await simulate({ url: s.webhookUrl, count: 20, rate: 0, signingSecret: secret });
  assert.equal(good.accepted, 20);
  const unsigned = await simulate({ url: s.webhookUrl, count: 5, rate: 0, concurrency: 1 });
  assert.match(unsigned.stopped!, /requires signed webhooks — set WEBHOOK_SIGNING_SECRET/);
  const wrong = await simulate({ url: s.webhookUrl, count: 5, rate: 0, concurrency: 1, signingSecret: `whsec_${Buffer.from('another secret, 32 bytes long!!!').toString('base64')}` });
  assert.match(wrong.stopped!, /refused the signature/);
  assert.equal(wrong.retries, 0);
});

test('a line every few seconds while a run waits, even without progress', async (t) => {
  const srv = await server(t, async (body, _attempt, res) => {
    await sleep(400);
    ok(res, body);
  });
  const err: string[] = [];
  await runSimulation({ ...base(srv.url, { count: 1 }), stdout: { write: () => true }, stderr: { write: (c: string) => err.push(c) }, progress: { everyMs: 100 } });
  const lines = err.join('').split('\n').filter(Boolean);
  assert.ok(lines.filter((l) => l.startsWith('simulate: 0/1 webhooks')).length >= 2, lines.join('\n'));
});

test('redaction: what follows emberqa, token-like segments, credentials and the query never show', () => {
  const cases: Array<[string, string]> = [
    [`http://127.0.0.1:3000/webhooks/emberqa/${TOKEN}`, 'http://127.0.0.1:3000/webhooks/emberqa/…'],
    [`https://hooks.example.com/prefix/WEBHOOKS/EmberQA/${TOKEN}/`, 'https://hooks.example.com/prefix/WEBHOOKS/EmberQA/…/'],
    [`https://user:${TOKEN}@hooks.example.com/in/${TOKEN}?t=${TOKEN}`, 'https://hooks.example.com/in/…?…'],
    ['http://127.0.0.1:3000/webhooks/emberqa', 'http://127.0.0.1:3000/webhooks/emberqa'],
  ];
  for (const [raw, shown] of cases) {
    const r = redactUrl(raw);
    assert.equal(r.shown, shown);
    if (raw.includes(TOKEN)) assert.ok(!r.scrub(`error at ${raw}: ${TOKEN}`).includes(TOKEN));
  }
});
