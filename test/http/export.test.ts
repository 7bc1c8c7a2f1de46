import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { startTestService } from '../helpers/service.js';
import { vendorBytes, vendorJson } from '../helpers/fixtures.js';

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
