import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { request } from 'node:http';
import Database from 'better-sqlite3';
import { Webhook } from 'standardwebhooks';
import { startTestService, type TestService } from '../helpers/service.js';
import { VENDOR_EXAMPLES, vendorBytes, vendorJson } from '../helpers/fixtures.js';
import { generateWebhook } from '../../src/simulate/generate.js';

const eventCount = (s: TestService) => s.store.db.prepare('SELECT count(*) FROM events').pluck().get() as number;
const quarantineCount = (s: TestService) => s.store.db.prepare('SELECT count(*) FROM quarantine').pluck().get() as number;
type ErrorBody = { error: { code: string; message: string; details?: Array<{ path: string; message: string }> } };

test('every vendor example is accepted, stored verbatim and flattened', async (t) => {
  const s = await startTestService(t);
  for (const name of VENDOR_EXAMPLES) {
    const bytes = vendorBytes(name);
    const res = await s.post(bytes);
    assert.equal(res.status, 200, name);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(body, { received: true, duplicate: false, webhook_id: vendorJson(name)['webhook_id'] });
    const row = s.store.db.prepare('SELECT body, received_at FROM events WHERE webhook_id = ?').get(vendorJson(name)['webhook_id']) as { body: Buffer; received_at: string };
    assert.ok(Buffer.compare(row.body, bytes) === 0, `${name}: raw body kept byte for byte`);
    assert.match(row.received_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  await s.store.projection.catchUp();
  const db = s.store.db;
  assert.deepEqual(db.prepare('SELECT metric, score, justification FROM scores WHERE webhook_id = ? ORDER BY metric').all('b23c4d5e-6f7a-8b9c-0d1e-2f3456789abc'), [
    { metric: 'greeting_quality', score: 8, justification: 'Agent provided friendly greeting' },
    { metric: 'problem_resolution', score: 3, justification: 'Failed to resolve billing issue' },
  ]);
  assert.deepEqual(db.prepare('SELECT field, value, reasoning FROM workflow_fields ORDER BY field').all(), [
    { field: 'customer_name', value: 'John Smith', reasoning: 'Found in header section' },
    { field: 'policy_number', value: 'POL-2025-001234', reasoning: 'Extracted from policy ID field' },
  ]);
  assert.equal(db.prepare('SELECT count(*) FROM red_flags').pluck().get(), 1);
  assert.equal(db.prepare('SELECT content_id FROM completions').pluck().get(), 'g67b8c9d-0e1f-2a3b-4c5d-6789abcdef12');
  assert.equal(db.prepare('SELECT cost FROM workflows').pluck().get(), 0.45);
});

test('a repeated webhook_id is answered as a duplicate and stored once', async (t) => {
  const s = await startTestService(t);
  const bytes = vendorBytes('red-flag');
  assert.deepEqual(await (await s.post(bytes)).json(), { received: true, duplicate: false, webhook_id: 'f47ac10b-58cc-4372-a567-0e02b2c3d479' });
  assert.deepEqual(await (await s.post(bytes)).json(), { received: true, duplicate: true, webhook_id: 'f47ac10b-58cc-4372-a567-0e02b2c3d479' });
  // Same id, different body (a retry that changed): still the first copy only.
  const changed = { ...vendorJson('red-flag'), red_flag_reason: 'changed' };
  assert.equal(((await (await s.post(JSON.stringify(changed))).json()) as { duplicate: boolean }).duplicate, true);
  assert.equal(eventCount(s), 1);
  assert.equal(s.store.db.prepare("SELECT json_extract(body, '$.red_flag_reason') FROM events").pluck().get(), 'Inappropriate language detected');
});

test('20 concurrent sends of one webhook_id store one copy; exactly one is not a duplicate', async (t) => {
  const s = await startTestService(t);
  const bytes = Buffer.from(JSON.stringify(generateWebhook(7, { kind: 'low_score' })));
  const answers = await Promise.all(Array.from({ length: 20 }, async () => {
    const res = await s.post(bytes);
    assert.equal(res.status, 200);
    return (await res.json()) as { duplicate: boolean };
  }));
  assert.equal(answers.filter((a) => !a.duplicate).length, 1);
  assert.equal(answers.filter((a) => a.duplicate).length, 19);
  assert.equal(eventCount(s), 1);
  await s.store.projection.catchUp();
  assert.equal(s.store.db.prepare('SELECT count(*) FROM scores').pluck().get(), 6, 'six metrics, projected once');
});

test('401: missing or wrong token, on both URL forms; nothing stored', async (t) => {
  const s = await startTestService(t);
  const base = s.listenUrl + '/webhooks/emberqa';
  const body = vendorBytes('low-score');
  const cases: Array<[string, Record<string, string>]> = [
    [`${base}/wrong-token-0000000000`, {}],
    [`${base}/${s.webhookToken}x`, {}],
    [base, {}],
    [base, { authorization: 'Bearer nope-nope-nope-nope' }],
    [base, { authorization: `Basic ${s.webhookToken}` }],
  ];
  for (const [url, headers] of cases) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    assert.equal(res.status, 401, url);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
    assert.equal(((await res.json()) as ErrorBody).error.code, 'unauthorized');
  }
  const ok = await fetch(base, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${s.webhookToken}` }, body });
  assert.equal(ok.status, 200);
  assert.equal(eventCount(s), 1);
  assert.equal(quarantineCount(s), 0);
  assert.ok(!s.logs.some((l) => l.includes(s.webhookToken)), 'the token never reaches a log line');
  assert.ok(s.logs.some((l) => l.includes('/webhooks/emberqa/[redacted]')));
});

test('415: not application/json, or compressed; nothing stored', async (t) => {
  const s = await startTestService(t);
  const body = vendorBytes('red-flag');
  for (const headers of [{ 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }, {}] as Array<Record<string, string>>) {
    const res = await fetch(s.webhookUrl, { method: 'POST', headers, body });
    assert.equal(res.status, 415, JSON.stringify(headers));
    assert.equal(((await res.json()) as ErrorBody).error.code, 'unsupported_media_type');
  }
  const gz = await fetch(s.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(body) });
  assert.equal(gz.status, 415);
  // A charset parameter is fine.
  assert.equal((await fetch(s.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body })).status, 200);
  assert.equal(eventCount(s), 1);
});

test('400: malformed JSON, empty body, not an object, bad UTF-8; nothing stored', async (t) => {
  const s = await startTestService(t);
  const cases: Array<[string | Buffer, string]> = [
    ['{"webhook_id": ', 'malformed_json'],
    ['{"a":1}{"b":2}', 'malformed_json'],
    ['', 'empty_body'],
    ['   \n', 'empty_body'],
    ['[1,2,3]', 'not_an_object'],
    ['"a string"', 'not_an_object'],
    ['42', 'not_an_object'],
    ['null', 'not_an_object'],
    [Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), 'malformed_json'],
    ['['.repeat(100_000) + ']'.repeat(100_000), 'not_an_object'],
  ];
  for (const [body, code] of cases) {
    const res = await s.post(body);
    assert.equal(res.status, 400, String(body).slice(0, 40));
    const json = (await res.json()) as ErrorBody;
    assert.equal(json.error.code, code, String(body).slice(0, 40));
    assert.ok(json.error.message.length > 0);
  }
  assert.equal(eventCount(s) + quarantineCount(s), 0);
});

function rawPost(url: string, headers: Record<string, string>, chunks: Buffer[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    for (const c of chunks) req.write(c);
    req.end();
  });
}

test('413: larger than MAX_BODY_BYTES, announced or streamed; nothing stored', async (t) => {
  const s = await startTestService(t, { MAX_BODY_BYTES: '2048' });
  const big = Buffer.from(JSON.stringify({ ...vendorJson('red-flag'), padding: 'x'.repeat(3000) }));
  const announced = await s.post(big);
  assert.equal(announced.status, 413);
  assert.equal(((await announced.json()) as ErrorBody).error.code, 'payload_too_large');
  // Chunked: no Content-Length, the limit is enforced while reading.
  const chunked = await rawPost(s.webhookUrl, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, [big.subarray(0, 1500), big.subarray(1500)]);
  assert.equal(chunked.status, 413);
  assert.equal(eventCount(s) + quarantineCount(s), 0);
  // Just under the limit passes.
  assert.equal((await s.post(vendorBytes('red-flag'))).status, 200);
});

test('422: schema failures and unknown types list {path, message} and are quarantined verbatim', async (t) => {
  const s = await startTestService(t);
  const bad = { ...vendorJson('low-score'), webhook_id: 'bad-1', total_score: 'forty', score_details: { greeting_quality_score: 11, greeting_quality_justification: 3 } };
  delete (bad as Record<string, unknown>)['agent_name'];
  const bytes = Buffer.from(JSON.stringify(bad, null, 2));
  const res = await s.post(bytes);
  assert.equal(res.status, 422);
  const json = (await res.json()) as ErrorBody;
  assert.equal(json.error.code, 'schema_validation_failed');
  // The first problem of each branch (ajv runs without allErrors on untrusted input).
  assert.deepEqual(json.error.details, [
    { path: '/agent_name', message: 'is required', keyword: 'required' },
    { path: '/total_score', message: 'must be number', keyword: 'type' },
    { path: '/score_details/greeting_quality_score', message: 'must be <= 10', keyword: 'maximum' },
  ]);
  for (const d of json.error.details!) assert.ok(typeof d.message === 'string' && d.message.length > 0);
  const row = s.store.db.prepare('SELECT webhook_id, body, attempts, status, errors FROM quarantine').get() as { webhook_id: string; body: Buffer; attempts: number; status: string; errors: string };
  assert.equal(row.webhook_id, 'bad-1');
  assert.ok(Buffer.compare(row.body, bytes) === 0, 'verbatim, whitespace included');
  assert.equal(row.status, 'held');
  assert.deepEqual(JSON.parse(row.errors), json.error.details);
  // The sender retries a 422 (it is not 2xx): the same bytes add an attempt, not a copy.
  assert.equal((await s.post(bytes)).status, 422);
  assert.equal(s.store.db.prepare('SELECT attempts FROM quarantine').pluck().get(), 2);

  const unknown = await s.post(JSON.stringify({ webhook_id: 'u-1', alert_type: 'sentiment_drop', content_id: 'c' }));
  assert.equal(unknown.status, 422);
  const uj = (await unknown.json()) as ErrorBody;
  assert.equal(uj.error.code, 'unknown_webhook_type');
  assert.deepEqual(uj.error.details!.map((d) => d.path), ['/alert_type']);
  assert.equal(quarantineCount(s), 2);
  assert.equal(eventCount(s), 0);
  // The vendor's non-UUID content_id is not a schema failure.
  assert.equal((await s.post(vendorBytes('completion-call'))).status, 200);
});

test('503 when the database cannot commit (another process holds the write lock); nothing stored; then 200', async (t) => {
  const s = await startTestService(t, {}, { busyTimeoutMs: 50 });
  const other = new Database(s.store.path, { timeout: 50 });
  t.after(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  const res = await s.post(vendorBytes('red-flag'));
  assert.equal(res.status, 503);
  const json = (await res.json()) as ErrorBody;
  assert.equal(json.error.code, 'store_unavailable');
  assert.match(json.error.message, /retry/);
  const q = await s.post(JSON.stringify({ webhook_id: 'q', alert_type: 'nope' }));
  assert.equal(q.status, 503, 'a quarantine write that cannot commit is a 503 too (never a 422 that was not stored)');
  other.exec('ROLLBACK');
  assert.equal(eventCount(s) + quarantineCount(s), 0);
  assert.equal((await s.post(vendorBytes('red-flag'))).status, 200, 'the retry succeeds');
});

test('Standard Webhooks signatures: required when a secret is set; bad, missing, expired and rotated', async (t) => {
  const oldSecret = 'whsec_' + Buffer.from('old-secret-0123456789abcdef').toString('base64');
  const newSecret = 'whsec_' + Buffer.from('new-secret-0123456789abcdef').toString('base64');
  const retired = 'whsec_' + Buffer.from('retired-secret-0123456789ab').toString('base64');
  const s = await startTestService(t, { WEBHOOK_SIGNING_SECRET: `${oldSecret} ${newSecret}` });
  const sign = (secret: string, id: string, body: string, at = new Date()) => ({
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, body),
  });
  const body = vendorBytes('red-flag').toString('utf8');
  const codeOf = async (r: Response) => ((await r.json()) as ErrorBody).error.code;

  const missing = await s.post(body);
  assert.equal(missing.status, 401);
  assert.equal(await codeOf(missing), 'invalid_signature');
  const tampered = await s.post(body.replace('John Doe', 'Jane Doe'), sign(newSecret, 'msg_1', body));
  assert.equal(tampered.status, 401);
  const expired = await s.post(body, sign(newSecret, 'msg_2', body, new Date(Date.now() - 10 * 60_000)));
  assert.equal(expired.status, 401);
  const wrongSecret = await s.post(body, sign(retired, 'msg_3', body));
  assert.equal(wrongSecret.status, 401);
  assert.equal(eventCount(s) + quarantineCount(s), 0);

  assert.equal((await s.post(body, sign(oldSecret, 'msg_4', body))).status, 200, 'old secret still accepted during rotation');
  const other = vendorBytes('low-score').toString('utf8');
  assert.equal((await s.post(other, sign(newSecret, 'msg_5', other))).status, 200, 'new secret accepted');
  // Several signatures in one header (the sender signs with both during rotation).
  const third = vendorBytes('completion-call').toString('utf8');
  const both = sign(newSecret, 'msg_6', third);
  both['webhook-signature'] = `${sign(retired, 'msg_6', third)['webhook-signature']} ${both['webhook-signature']}`;
  assert.equal((await s.post(third, both)).status, 200);
  // A correctly signed body that is not JSON is a 400, not a 401.
  const notJson = 'not json';
  const r400 = await s.post(notJson, sign(newSecret, 'msg_7', notJson));
  assert.equal(r400.status, 400);
  assert.equal(await codeOf(r400), 'malformed_json');
  // The token is still required on top of the signature.
  const noToken = await fetch(s.listenUrl + '/webhooks/emberqa', { method: 'POST', headers: { 'content-type': 'application/json', ...sign(newSecret, 'msg_8', body) }, body });
  assert.equal(noToken.status, 401);
  assert.equal(eventCount(s), 3);
});

test('no client input produces a 500', async (t) => {
  const s = await startTestService(t, { MAX_BODY_BYTES: '65536' });
  const payloads: Array<string | Buffer> = [
    '{"__proto__":{"polluted":true},"alert_type":"red_flag"}',
    '{"constructor":{"prototype":{"x":1}},"trigger_reason":"completed_action","data":[]}',
    '{"trigger_reason":"completed_action","data":null,"webhook_id":"x","content_id":"y"}',
    '{"trigger_reason":"completed_action","data":{"output_schema":null},"webhook_id":"x2","content_id":"y"}',
    '{"trigger_reason":"completed_action","data":{"output_schema":{"a":"b"}},"webhook_id":"x3","content_id":"y"}',
    '{"alert_type":"red_flag","webhook_id":{"$gt":""}}',
    '{"alert_type":"low_score","score_details":{"a_score":1e400}}',
    '{"alert_type":["red_flag"]}',
    JSON.stringify({ ...vendorJson('red-flag'), webhook_id: 'x'.repeat(5000) }),
    JSON.stringify({ ...vendorJson('red-flag'), webhook_id: 'deep', extra: JSON.parse('['.repeat(2000) + ']'.repeat(2000)) }),
    JSON.stringify({ ...vendorJson('low-score'), webhook_id: 'many', score_details: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`m${i}_score`, 20])) }),
    Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('{"alert_type":"red_flag"}')]),
    '\u0000',
  ];
  for (const p of payloads) {
    const res = await s.post(p);
    assert.ok(res.status < 500, `${res.status} for ${String(p).slice(0, 60)}`);
    const json = (await res.json()) as ErrorBody & { received?: boolean };
    if (res.status === 200) {
      assert.equal(json.received, true);
      continue;
    }
    assert.ok(json.error?.code, 'an error body');
    if (json.error.details) assert.ok(json.error.details.length <= 50, 'details are capped');
  }
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  assert.equal(eventCount(s), 1, 'only the valid red flag with a deeply nested extra field was accepted');
  for (const [method, path] of [['GET', '/webhooks/emberqa'], ['PUT', `/webhooks/emberqa/${s.webhookToken}`], ['GET', '/nope'], ['DELETE', '/healthz']] as const) {
    const res = await fetch(s.listenUrl + path, { method });
    assert.ok([404, 405].includes(res.status), `${method} ${path}: ${res.status}`);
    assert.ok(((await res.json()) as ErrorBody).error.code);
  }
});

test('GET /healthz answers 200 while the database answers, else 503', async (t) => {
  const s = await startTestService(t);
  const ok = await fetch(s.listenUrl + '/healthz');
  assert.equal(ok.status, 200);
  // The write connection is gone (as during shutdown): not healthy, and webhooks get 503 so EmberQA retries.
  await s.writer.close();
  const down = await fetch(s.listenUrl + '/healthz');
  assert.equal(down.status, 503);
  assert.equal((await s.post(vendorBytes('red-flag'))).status, 503);
  const s2 = await startTestService(t);
  s2.store.db.close();
  assert.equal((await fetch(s2.listenUrl + '/healthz')).status, 503, 'the read connection does not answer');
});

test('GET /metrics exposes webhook counters and latency; /api/status needs the admin token', async (t) => {
  const s = await startTestService(t);
  await s.post(vendorBytes('red-flag'));
  await s.post(vendorBytes('red-flag'));
  await s.post('{"alert_type":"x"}');
  await s.store.projection.catchUp();
  const text = await (await fetch(s.listenUrl + '/metrics')).text();
  assert.match(text, /ember_sync_webhooks_total\{type="red_flag",outcome="accepted"\} 1/);
  assert.match(text, /ember_sync_webhooks_total\{type="red_flag",outcome="duplicate"\} 1/);
  assert.match(text, /ember_sync_webhooks_total\{type="unknown",outcome="quarantined"\} 1/);
  // Three writes, each its own group commit here (sent one after the other); the health probe adds none.
  assert.match(text, /ember_sync_commit_batch_size_count 3\n/);
  assert.match(text, /ember_sync_commit_batch_size_sum 3\n/);
  assert.match(text, /ember_sync_ingest_duration_seconds_bucket/);
  // The red flag's rows (red_flags, scores, contents, content_scores, daily views), pending for the csv target.
  const pending = Number(/ember_sync_rows_pending\{target="csv"\} (\d+)/.exec(text)?.[1]);
  assert.ok(pending > 0, 'the pending gauge is there');
  assert.equal(pending, (await (await fetch(s.listenUrl + '/api/status', { headers: { authorization: `Bearer ${s.adminToken}` } })).json() as { targets: { csv: { rows_pending: number } } }).targets.csv.rows_pending);
  assert.equal((await fetch(s.listenUrl + '/api/status')).status, 401);
  assert.equal((await fetch(s.listenUrl + '/api/status', { headers: { authorization: `Bearer ${s.webhookToken}` } })).status, 401);
  const st = await fetch(s.listenUrl + '/api/status', { headers: { authorization: `Bearer ${s.adminToken}` } });
  assert.equal(st.status, 200);
  const status = (await st.json()) as { events: { total: number }; quarantine: { held: number } };
  assert.equal(status.events.total, 1);
  assert.equal(status.quarantine.held, 1);
});

test('regression: a 10 KB body nested 10,000 deep is a 422 kept in quarantine, not a 500; echoed values are bounded', async (t) => {
  const s = await startTestService(t, { MAX_BODY_BYTES: String(4 * 1024 * 1024) });
  const deep = `{"webhook_id":"deep-1","alert_type":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
  const res = await s.post(deep);
  assert.equal(res.status, 422);
  const json = (await res.json()) as ErrorBody;
  assert.equal(json.error.code, 'unknown_webhook_type');
  assert.ok(JSON.stringify(json).length < 2000, 'the answer does not echo the whole value');
  const kept = s.store.db.prepare("SELECT body FROM quarantine WHERE webhook_id = 'deep-1'").pluck().get() as Buffer;
  assert.equal(kept.toString('utf8'), deep, 'kept verbatim');

  // A 1 MB alert_type and a 1 MB key: the 422 stays small.
  const huge = await s.post(JSON.stringify({ webhook_id: 'huge-1', alert_type: 'x'.repeat(1_000_000) }));
  assert.equal(huge.status, 422);
  assert.ok((await huge.text()).length < 2000);
  const key = 'k'.repeat(1_000_000);
  const hugeKey = await s.post(JSON.stringify({ ...vendorJson('red-flag'), webhook_id: 'huge-2', score_details: { [key]: { nested: true } } }));
  assert.equal(hugeKey.status, 422);
  assert.ok((await hugeKey.text()).length < 4000, 'a path holding a huge key is cut');
  // Deep inside a valid webhook's extra field it is accepted (the raw log keeps it).
  const extra = await s.post(`{"webhook_id":"deep-ok","alert_type":"red_flag","content_id":"c","content_type":"Call","file_name":"f","red_flag_reason":"r","timestamp":"2025-01-01T00:00:00Z","x":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`);
  assert.equal(extra.status, 200);
  await s.store.projection.catchUp();
  assert.equal(s.store.db.prepare("SELECT count(*) FROM red_flags WHERE webhook_id = 'deep-ok'").pluck().get(), 1);
});

test('regression: 405 names the allowed methods in an Allow header (RFC 9110)', async (t) => {
  const s = await startTestService(t);
  const put = await fetch(`${s.listenUrl}/webhooks/emberqa/${s.webhookToken}`, { method: 'PUT' });
  assert.equal(put.status, 405);
  assert.equal(put.headers.get('allow'), 'POST');
  assert.equal(((await put.json()) as ErrorBody).error.code, 'method_not_allowed');
  const del = await fetch(`${s.listenUrl}/healthz`, { method: 'DELETE' });
  assert.equal(del.status, 405);
  assert.match(del.headers.get('allow') ?? '', /\bGET\b/);
  assert.equal((await fetch(`${s.listenUrl}/healthz`, { method: 'PROPFIND' })).headers.get('allow')?.includes('GET'), true);
});

test('regression: a quarantined webhook is counted under its type in /metrics, not as unknown', async (t) => {
  const s = await startTestService(t);
  const bad = { ...vendorJson('low-score'), total_score: 'high' };
  assert.equal((await s.post(JSON.stringify(bad))).status, 422);
  assert.equal((await s.post('{"alert_type":"nope"}')).status, 422);
  const text = await (await fetch(s.listenUrl + '/metrics')).text();
  assert.match(text, /ember_sync_webhooks_total\{type="low_score",outcome="quarantined"\} 1/);
  assert.match(text, /ember_sync_webhooks_total\{type="unknown",outcome="quarantined"\} 1/);
});

test('regression: bytes past a body (a wrong Content-Length, a body without one) still get the answer, then the connection closes', async (t) => {
  const s = await startTestService(t);
  const { connect } = await import('node:net');
  const url = new URL(s.listenUrl);
  const path = `/webhooks/emberqa/${s.webhookToken}`;
  const raw = (req: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => socket.write(req));
      let out = '';
      socket.on('data', (d: Buffer) => (out += d.toString()));
      socket.on('close', () => resolve(out));
      socket.on('error', reject);
      setTimeout(() => socket.destroy(new Error(`no close within 5 s; got ${JSON.stringify(out)}`)), 5000).unref();
    });
  const longer = await raw(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"a":1,"b":2,"c":3}`);
  assert.match(longer, /^HTTP\/1\.1 400 /);
  assert.match(longer, /"malformed_json"/);
  const noLength = await raw(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n{"a":1}`);
  assert.match(noLength, /^HTTP\/1\.1 400 /);
  assert.match(noLength, /"empty_body"/);
  assert.equal(eventCount(s) + quarantineCount(s), 0);
});

test('regression: a transfer coding other than chunked (gzip, chunked) is a 415, like a Content-Encoding', async (t) => {
  const s = await startTestService(t);
  const { request: rawRequest } = await import('node:http');
  const url = new URL(s.webhookUrl);
  const status = await new Promise<number>((resolve, reject) => {
    const req = rawRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'gzip, chunked' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(vendorBytes('red-flag'));
  });
  assert.equal(status, 415);
  assert.equal(eventCount(s), 0);
});
