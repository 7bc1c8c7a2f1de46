import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { startTestService } from '../helpers/service.js';
import { vendorBytes, vendorJson } from '../helpers/fixtures.js';
import { ingest } from '../helpers/ingest.js';
import { generateWebhook } from '../../src/simulate/generate.js';

test('GET /api/export/<view>.csv streams the view with the admin token; 401, 404 and 400 otherwise', async (t) => {
  const s = await startTestService(t);
  for (const name of ['red-flag', 'low-score', 'completion-call', 'completion-workflow'] as const) assert.equal((await s.post(vendorBytes(name))).status, 200);
  const auth = { authorization: `Bearer ${s.adminToken}` };
  const res = await fetch(`${s.listenUrl}/api/export/scores.csv`, { headers: auth });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
  assert.match(res.headers.get('content-disposition') ?? '', /filename="scores.csv"/);
  const rows = parse(await res.text(), { columns: true }) as Array<Record<string, string>>;
  assert.equal(rows.length, 4, 'one row per metric of the three scored examples');
  assert.deepEqual(Object.keys(rows[0]!), ['webhook_id', 'received_at', 'source', 'content_id', 'agent_name', 'metric', 'score', 'justification']);

  const wide = parse(await (await fetch(`${s.listenUrl}/api/export/workflows.csv?delimiter=;`, { headers: auth })).text(), { columns: true, delimiter: ';' }) as Array<Record<string, string>>;
  assert.deepEqual(wide[0], {
    webhook_id: vendorJson('completion-workflow')['webhook_id'],
    received_at: wide[0]!['received_at'],
    content_id: 'e45f6a7b-8c9d-0e1f-2a34-56789abcdef0',
    status: 'complete',
    cost: '0.45',
    customer_name: 'John Smith',
    customer_name_reasoning: 'Found in header section',
    policy_number: 'POL-2025-001234',
    policy_number_reasoning: 'Extracted from policy ID field',
  });

  assert.equal((await fetch(`${s.listenUrl}/api/export/scores.csv`)).status, 401);
  assert.equal((await fetch(`${s.listenUrl}/api/export/scores.csv`, { headers: { authorization: `Bearer ${s.webhookToken}` } })).status, 401);
  const missing = await fetch(`${s.listenUrl}/api/export/nope.csv`, { headers: auth });
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'not_found');
  assert.equal((await fetch(`${s.listenUrl}/api/export/scores.json`, { headers: auth })).status, 404);
  const bad = await fetch(`${s.listenUrl}/api/export/scores.csv?since=soon`, { headers: auth });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'bad_request');
});

test('collision rule: dynamic keys never overwrite fixed columns', async (t) => {
  const s = await startTestService(t);
  const flag = { ...vendorJson('red-flag'), webhook_id: 'coll-1', score_details: { agent_name: 'from details', total_score: 3, professionalism_score: 4 } };
  const wf = { ...vendorJson('completion-workflow'), webhook_id: 'coll-2', data: { status: 'complete', cost: 1, output_schema: { status: { value: 'field status', reasoning: 'why' }, cost_reasoning: { value: 'v', reasoning: 'r' }, cost: { value: '9.99', reasoning: 'priced' } } } };
  assert.equal((await s.post(JSON.stringify(flag))).status, 200);
  assert.equal((await s.post(JSON.stringify(wf))).status, 200);
  const auth = { authorization: `Bearer ${s.adminToken}` };
  const flags = parse(await (await fetch(`${s.listenUrl}/api/export/red_flags.csv`, { headers: auth })).text(), { columns: true }) as Array<Record<string, string>>;
  assert.equal(flags[0]!['agent_name'], 'John Doe', 'the fixed column keeps the payload value');
  assert.equal(flags[0]!['score_details.agent_name'], 'from details');
  assert.equal(flags[0]!['total_score'], '42');
  assert.equal(flags[0]!['score_details.total_score'], '3');
  assert.equal(flags[0]!['professionalism_score'], '4');
  const text = await (await fetch(`${s.listenUrl}/api/export/workflows.csv`, { headers: auth })).text();
  assert.equal(text.split('\r\n')[0], 'webhook_id,received_at,content_id,status,cost,output_schema.status,output_schema.status_reasoning,cost_reasoning,cost_reasoning_reasoning,output_schema.cost,output_schema.cost_reasoning');
  const wfs = parse(text, { columns: true }) as Array<Record<string, string>>;
  assert.equal(wfs[0]!['status'], 'complete');
  assert.equal(wfs[0]!['output_schema.status'], 'field status');
  assert.equal(wfs[0]!['output_schema.cost'], '9.99');
});

test('query parameters: unknown, malformed or repeated names and impossible dates are a 400, never ignored', async (t) => {
  const s = await startTestService(t);
  const auth = { authorization: `Bearer ${s.adminToken}` };
  const get = (query: string) => fetch(`${s.listenUrl}/api/export/scores.csv?${query}`, { headers: auth });
  const cases: Array<[string, RegExp]> = [
    ['since=2025-01-01&since=2025-02-01', /"since" is given more than once/],
    ['raw=1&raw=1', /"raw" is given more than once/],
    ['since[x]=1', /unknown query parameter "since\[x\]"/],
    ['since%5Bx%5D=1', /unknown query parameter "since\[x\]"/],
    ['unitl=2025-01-01', /unknown query parameter "unitl" \(allowed: since, until, delimiter, bom, raw, time_format, timezone, decimal\)/],
    ['Since=2025-01-01', /unknown query parameter "Since"/],
    ['=x', /unknown query parameter ""/],
    ['since=2025-02-30', /--since "2025-02-30" is not a date: 2025-02 has no day 30/],
    ['until=2025-13-01', /--until "2025-13-01" is not a date: there is no month 13/],
    ['since=2025-02-29T10:00:00Z', /2025-02 has no day 29/],
    ['since=2025-01-01T24:00:00Z', /time of day/],
    ['bom=maybe', /bom must be true or false/],
    ['delimiter=x', /--delimiter must be/],
    // Found by the attack review: an empty value was ignored (every row exported, or the guard off).
    ['since=', /--since "" is not a date/],
    ['until=', /--until "" is not a date/],
    ['raw=', /raw must be true or false/],
    ['bom=', /bom must be true or false/],
  ];
  for (const [query, re] of cases) {
    const res = await get(query);
    assert.equal(res.status, 400, query);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'bad_request', query);
    assert.match(error.message, re, query);
  }
  // The allowed ones, each once, still work; a leap day that exists is a date.
  const ok = await get('since=2024-02-29&until=2025-01-01T00%3A00%3A00Z&delimiter=%3B&bom=false&raw=0');
  assert.equal(ok.status, 200);
  assert.equal(await ok.text(), 'webhook_id;received_at;source;content_id;agent_name;metric;score;justification\r\n');
});

test('HEAD /api/export/<view>.csv answers the headers only, starts no export and logs no error', async (t) => {
  const s = await startTestService(t);
  assert.equal((await s.post(vendorBytes('red-flag'))).status, 200);
  const auth = { authorization: `Bearer ${s.adminToken}` };
  const head = await fetch(`${s.listenUrl}/api/export/red_flags.csv?delimiter=tab`, { method: 'HEAD', headers: auth });
  assert.equal(head.status, 200);
  assert.match(head.headers.get('content-type') ?? '', /^text\/csv/);
  assert.match(head.headers.get('content-disposition') ?? '', /filename="red_flags.csv"/);
  assert.equal(await head.text(), '');
  // A GET after it still streams, and nothing at error level was logged.
  const get = await fetch(`${s.listenUrl}/api/export/red_flags.csv`, { headers: auth });
  assert.equal(get.status, 200);
  assert.equal((parse(await get.text()) as unknown[]).length, 2);
  const errors = s.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level >= 50);
  assert.deepEqual(errors, []);
  // HEAD says what GET would: the same 401, 404 and 400.
  assert.equal((await fetch(`${s.listenUrl}/api/export/red_flags.csv`, { method: 'HEAD' })).status, 401);
  assert.equal((await fetch(`${s.listenUrl}/api/export/nope.csv`, { method: 'HEAD', headers: auth })).status, 404);
  assert.equal((await fetch(`${s.listenUrl}/api/export/red_flags.csv?since=2025-02-30`, { method: 'HEAD', headers: auth })).status, 400);
  assert.ok(!s.logs.some((l) => /export failed|export stopped/.test(l)), 'no export was started for HEAD');
});

test('a client that hangs up mid-download is logged as such, not as a server error', async (t) => {
  const s = await startTestService(t);
  // ~20 MB of CSV, more than loopback socket buffers hold: the export is still writing when the client leaves.
  const details = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`metric_${i}_justification`, `${i} `.repeat(5000)]));
  await ingest(s.store, Array.from({ length: 100 }, (_, i) => ({ ...generateWebhook(i, { kind: 'low_score', idPrefix: 'hangup-' }), score_details: details })));
  const abort = new AbortController();
  const res = await fetch(`${s.listenUrl}/api/export/scores.csv`, { headers: { authorization: `Bearer ${s.adminToken}` }, signal: abort.signal });
  assert.equal(res.status, 200);
  abort.abort();
  // The export notices at its next write; wait for its log line (bounded), whatever the speed of the machine.
  for (let i = 0; i < 500 && !s.logs.some((l) => /export stopped: the client went away/.test(l)); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(s.logs.some((l) => /export stopped: the client went away/.test(l)), `logged as a client that went away:\n${s.logs.join('\n')}`);
  assert.deepEqual(s.logs.map((l) => JSON.parse(l) as { level: number }).filter((l) => l.level >= 50), [], 'nothing at error level');
});

test('regression: an export while another process holds the write lock: served when nothing is pending, else a 503, never a cut 200', async (t) => {
  const s = await startTestService(t, {}, { busyTimeoutMs: 50 });
  const auth = { authorization: `Bearer ${s.adminToken}` };
  assert.equal((await s.post(vendorBytes('low-score'))).status, 200);
  await s.store.projection.catchUp();
  const other = new Database(s.store.path, { timeout: 50 });
  t.after(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  const served = await fetch(`${s.listenUrl}/api/export/scores.csv`, { headers: auth });
  assert.equal(served.status, 200, 'nothing to project: no write lock needed');
  assert.match(await served.text(), /greeting_quality/);
  // An event logged but not projected yet (written straight to the log: nothing kicks the projector).
  other.exec('ROLLBACK');
  s.store.db.prepare("INSERT INTO events (webhook_id, type, received_at, outcome, body) VALUES ('pending-1', 'red_flag', '2025-01-01T00:00:00.000Z', 'accepted', ?)").run(vendorBytes('red-flag'));
  other.exec('BEGIN IMMEDIATE');
  const busy = await fetch(`${s.listenUrl}/api/export/scores.csv`, { headers: auth });
  assert.equal(busy.status, 503);
  assert.equal(((await busy.json()) as { error: { code: string } }).error.code, 'store_unavailable');
  other.exec('ROLLBACK');
});

test('regression: a big export to a fast reader does not hold the server: a health check is answered before the export ends', async (t) => {
  const s = await startTestService(t, { SYNC_SCHEDULE: '0 0 1 1 *' });
  // Six score rows per webhook: ~90,000 rows, a few hundred ms of rendering.
  await ingest(s.store, Array.from({ length: 15_000 }, (_, i) => generateWebhook(i, { seed: 3, idPrefix: 'big-' })));
  await s.store.projection.catchUp(5_000);
  // The reader runs in another process (in this one it would share the server's event loop, which is the point):
  // once the export's first bytes are there it asks for /healthz, and says which answer ended first.
  const client = `
    const order = [];
    const res = await fetch(process.argv[1] + '/api/export/scores.csv', { headers: { authorization: 'Bearer ' + process.argv[2] } });
    const reader = res.body.getReader();
    let bytes = (await reader.read()).value.byteLength;
    const health = fetch(process.argv[1] + '/healthz').then((r) => order.push('healthz ' + r.status));
    for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.byteLength;
    order.push(bytes > 1000000 ? 'export big' : 'export small');
    await health;
    console.log(JSON.stringify(order));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', client, s.listenUrl, s.adminToken], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  await once(child, 'close');
  assert.deepEqual(JSON.parse(out), ['healthz 200', 'export big']);
});
