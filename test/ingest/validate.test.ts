import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { classify, createValidator, DEFAULT_SCHEMAS_DIR, type ValidationOutcome } from '../../src/ingest/validate.js';
import { SchemaValidationError, UnknownWebhookTypeError, type ErrorDetail } from '../../src/errors.js';
import type { WebhookType } from '../../src/model/webhooks.js';
import { VENDOR_EXAMPLES, vendorJson, type VendorExample } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/temp-dir.js';

const validator = createValidator();
type Json = Record<string, unknown>;

const EXPECTED_TYPE: Record<VendorExample, WebhookType> = {
  'red-flag': 'red_flag',
  'low-score': 'low_score',
  'completion-workflow': 'workflow',
  'completion-call': 'completion',
};

function ok(payload: Json, label = ''): void {
  const r = validator.validate(payload);
  assert.ok(r.ok, `${label}: expected valid, got ${r.ok ? '' : JSON.stringify(r.error.details)}`);
}

/** Fails with schema_validation_failed and returns the details after checking their shape. */
function invalid(payload: Json, label = ''): ErrorDetail[] {
  const r: ValidationOutcome = validator.validate(payload);
  assert.equal(r.ok, false, `${label}: expected invalid`);
  if (r.ok) throw new Error('unreachable');
  assert.ok(r.error instanceof SchemaValidationError, `${label}: ${r.error.name}`);
  assert.equal(r.error.code, 'schema_validation_failed');
  assert.equal(r.error.status, 422);
  const details = r.error.details ?? [];
  assert.ok(details.length > 0, `${label}: at least one detail`);
  for (const d of details) {
    assert.equal(typeof d.path, 'string');
    assert.ok(d.path.startsWith('/'), `${label}: path ${d.path} is a JSON pointer`);
    assert.equal(typeof d.message, 'string');
    assert.ok(d.message.length > 0);
  }
  return details;
}
const paths = (details: ErrorDetail[]) => details.map((d) => d.path);

function without(payload: Json, path: string[]): Json {
  const copy = structuredClone(payload);
  let at: Json = copy;
  for (const k of path.slice(0, -1)) at = at[k] as Json;
  delete at[path.at(-1)!];
  return copy;
}
function withValue(payload: Json, path: string[], value: unknown): Json {
  const copy = structuredClone(payload);
  let at: Json = copy;
  for (const k of path.slice(0, -1)) at = at[k] as Json;
  at[path.at(-1)!] = value;
  return copy;
}

test('every vendor example passes and is classified right; the typed payload is the input', () => {
  for (const name of VENDOR_EXAMPLES) {
    const payload = vendorJson(name);
    const r = validator.validate(payload);
    assert.ok(r.ok, `${name}: ${r.ok ? '' : JSON.stringify(r.error.details)}`);
    assert.equal(r.typed.type, EXPECTED_TYPE[name], name);
    assert.deepEqual(r.typed.payload, vendorJson(name), name);
    assert.equal(classify(payload), EXPECTED_TYPE[name]);
  }
});

test('the vendor call completion has a non-UUID content_id and passes', () => {
  const p = vendorJson('completion-call');
  assert.equal(p['content_id'], 'g67b8c9d-0e1f-2a3b-4c5d-6789abcdef12');
  ok(p, 'completion-call');
  ok({ ...vendorJson('red-flag'), content_id: 'call-42' }, 'any non-empty content_id');
  ok({ ...vendorJson('red-flag'), webhook_id: 'not-a-uuid' }, 'any non-empty webhook_id');
});

test('classification: alert_type decides; completed_action is a workflow only with data.output_schema', () => {
  assert.equal(classify({ alert_type: 'red_flag' }), 'red_flag');
  assert.equal(classify({ alert_type: 'low_score' }), 'low_score');
  assert.equal(classify({ trigger_reason: 'completed_action', data: { output_schema: {} } }), 'workflow');
  assert.equal(classify({ trigger_reason: 'completed_action', data: { status: 'complete', cost: 1 } }), 'completion');
  assert.equal(classify({ trigger_reason: 'completed_action', data: {} }), 'completion');
  assert.equal(classify({ trigger_reason: 'completed_action' }), 'completion');
  assert.equal(classify({ trigger_reason: 'completed_action', data: [{ output_schema: {} }] }), 'completion');
  assert.equal(classify({ alert_type: 'sentiment_drop' }), undefined);
  assert.equal(classify({}), undefined);
  // A workflow completion without output_schema is a call/document completion, and valid as one.
  const r = validator.validate(without(vendorJson('completion-workflow'), ['data', 'output_schema']));
  assert.ok(r.ok);
  assert.equal(r.typed.type, 'completion');
});

test('required fields per type, as in the vendor interfaces', () => {
  const required: Array<[VendorExample, string[][]]> = [
    ['red-flag', [['webhook_id'], ['content_id'], ['content_type'], ['file_name'], ['red_flag_reason'], ['timestamp']]],
    ['low-score', [['webhook_id'], ['content_id'], ['content_type'], ['total_score'], ['total_score_threshold'], ['file_name'], ['agent_name'], ['summary'], ['score_details'], ['timestamp']]],
    ['completion-call', [['webhook_id'], ['content_id'], ['data']]],
    ['completion-workflow', [['webhook_id'], ['content_id'], ['data', 'output_schema', 'customer_name', 'value'], ['data', 'output_schema', 'customer_name', 'reasoning']]],
  ];
  for (const [name, fields] of required) {
    for (const f of fields) {
      const details = invalid(without(vendorJson(name), f), `${name} without ${f.join('.')}`);
      assert.ok(
        details.some((d) => d.path === '/' + f.join('/') && /required/.test(d.message)),
        `${name} without ${f.join('.')}: ${JSON.stringify(details)}`,
      );
    }
  }
});

test('optional fields per type may be left out', () => {
  const optional: Array<[VendorExample, string[][]]> = [
    ['red-flag', [['agent_name'], ['total_score'], ['score_details']]],
    ['completion-call', [['data', 'score_details'], ['data', 'original_filename'], ['data', 'agent_name'], ['data', 'reason_for_call']]],
    ['completion-workflow', [['data', 'status'], ['data', 'cost']]],
  ];
  for (const [name, fields] of optional) {
    for (const f of fields) ok(without(vendorJson(name), f), `${name} without ${f.join('.')}`);
  }
  ok({ webhook_id: 'w', trigger_reason: 'completed_action', content_id: 'c', data: {} }, 'completion with empty data');
  ok({ webhook_id: 'w', trigger_reason: 'completed_action', content_id: 'c', data: { output_schema: {} } }, 'workflow with no fields');
});

test('wrong types and values of fixed fields fail at their path', () => {
  const cases: Array<[VendorExample, string[], unknown]> = [
    ['red-flag', ['content_type'], 'Email'],
    ['red-flag', ['total_score'], 'forty-two'],
    ['red-flag', ['file_name'], 42],
    ['red-flag', ['agent_name'], null],
    ['red-flag', ['webhook_id'], ''],
    ['red-flag', ['content_id'], ''],
    ['low-score', ['total_score_threshold'], '70'],
    ['low-score', ['summary'], 5],
    ['low-score', ['score_details'], 'none'],
    ['completion-call', ['data'], 'none'],
    ['completion-call', ['data', 'agent_name'], 7],
    ['completion-workflow', ['data', 'cost'], '0.45'],
    ['completion-workflow', ['data', 'status'], 1],
  ];
  for (const [name, path, value] of cases) {
    const details = invalid(withValue(vendorJson(name), path, value), `${name} ${path.join('.')}=${JSON.stringify(value)}`);
    assert.ok(paths(details).includes('/' + path.join('/')), `${path.join('.')}: ${JSON.stringify(details)}`);
  }
});

test('*_score must be a number from 0 to 10', () => {
  for (const good of [0, 10, 7.5, 3]) ok(withValue(vendorJson('low-score'), ['score_details', 'greeting_quality_score'], good), `score ${good}`);
  for (const bad of [11, 10.01, -1, '8', null, true]) {
    const details = invalid(withValue(vendorJson('low-score'), ['score_details', 'greeting_quality_score'], bad), `score ${JSON.stringify(bad)}`);
    assert.deepEqual(paths(details), ['/score_details/greeting_quality_score'], JSON.stringify(bad));
  }
  // Inside a completion's data, the path says so.
  const details = invalid(withValue(vendorJson('completion-call'), ['data', 'score_details', 'greeting_quality_score'], 12));
  assert.deepEqual(paths(details), ['/data/score_details/greeting_quality_score']);
  assert.match(details[0]!.message, /10/);
});

test('*_justification must be a string; any other score_details key a number or a string', () => {
  for (const bad of [3, null, true, ['x']]) {
    const details = invalid(withValue(vendorJson('red-flag'), ['score_details', 'professionalism_justification'], bad), JSON.stringify(bad));
    assert.deepEqual(paths(details), ['/score_details/professionalism_justification']);
  }
  ok(withValue(vendorJson('red-flag'), ['score_details', 'overall'], 77), 'other key, number (not limited to 0-10)');
  ok(withValue(vendorJson('red-flag'), ['score_details', 'notes'], 'text'), 'other key, string');
  for (const bad of [null, true, { a: 1 }]) invalid(withValue(vendorJson('red-flag'), ['score_details', 'notes'], bad), `other key ${JSON.stringify(bad)}`);
});

test('timestamps must be ISO 8601 date-times with a timezone', () => {
  for (const good of ['2025-01-16T15:30:45.123Z', '2025-01-16T15:30:45Z', '2025-01-16T15:30:45+02:00', '2025-01-16T15:30:45.5-05:30']) {
    ok(withValue(vendorJson('red-flag'), ['timestamp'], good), good);
    ok(withValue(vendorJson('low-score'), ['timestamp'], good), good);
    ok(withValue(vendorJson('completion-call'), ['data', 'created_time'], good), `created_time ${good}`);
  }
  for (const bad of ['2025-01-16T15:30:45', '2025-01-16T15:30:45.123', '2025-01-16', '16/01/2025 15:30', 'yesterday', '', '2025-13-45T10:00:00Z', 1737041445123]) {
    assert.deepEqual(paths(invalid(withValue(vendorJson('red-flag'), ['timestamp'], bad), `timestamp ${bad}`)), ['/timestamp'], String(bad));
    assert.deepEqual(paths(invalid(withValue(vendorJson('completion-call'), ['data', 'created_time'], bad), `created_time ${bad}`)), ['/data/created_time'], String(bad));
  }
});

test('summary may be null, but must be present', () => {
  ok(withValue(vendorJson('low-score'), ['summary'], null), 'summary null');
  ok(withValue(vendorJson('low-score'), ['summary'], ''), 'summary empty string');
  assert.deepEqual(paths(invalid(without(vendorJson('low-score'), ['summary']))), ['/summary']);
});

test('output_schema entries need value and reasoning, each a string or null', () => {
  const wf = (entry: unknown) => withValue(vendorJson('completion-workflow'), ['data', 'output_schema', 'renewal_date'], entry);
  ok(wf({ value: null, reasoning: null }), 'both null');
  ok(wf({ value: '2026-03-01', reasoning: null }), 'reasoning null');
  ok(wf({ value: null, reasoning: 'not found' }), 'value null');
  ok(wf({ value: 'x', reasoning: 'y', confidence: 0.9 }), 'extra keys in an entry');
  const cases: Array<[unknown, string]> = [
    [{ value: 'x' }, '/data/output_schema/renewal_date/reasoning'],
    [{ reasoning: 'y' }, '/data/output_schema/renewal_date/value'],
    [{ value: 5, reasoning: 'y' }, '/data/output_schema/renewal_date/value'],
    [{ value: 'x', reasoning: false }, '/data/output_schema/renewal_date/reasoning'],
    ['2026-03-01', '/data/output_schema/renewal_date'],
    [null, '/data/output_schema/renewal_date'],
  ];
  for (const [entry, path] of cases) assert.deepEqual(paths(invalid(wf(entry), JSON.stringify(entry))), [path], JSON.stringify(entry));
  assert.deepEqual(paths(invalid(withValue(vendorJson('completion-workflow'), ['data', 'output_schema'], 'x'))), ['/data/output_schema']);
});

test('unknown extra fields are allowed at every level', () => {
  ok({ ...vendorJson('red-flag'), sentiment: 'negative', tags: ['a'], nested: { deep: [1, { x: null }] } }, 'top level');
  ok(withValue(vendorJson('completion-call'), ['data', 'duration_seconds'], 312), 'in data');
  ok(withValue(vendorJson('completion-workflow'), ['data', 'model'], { name: 'x' }), 'in workflow data');
  ok({ ...vendorJson('low-score'), trigger_reason: 'threshold' }, 'even a trigger_reason beside alert_type');
});

test('unknown alert_type or trigger_reason: unknown_webhook_type with details', () => {
  const r = validator.validate({ webhook_id: 'u-1', alert_type: 'sentiment_drop', content_id: 'c' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.type, undefined);
  assert.ok(r.error instanceof UnknownWebhookTypeError);
  assert.equal(r.error.code, 'unknown_webhook_type');
  assert.equal(r.error.status, 422);
  assert.equal(r.error.details?.length, 1);
  assert.equal(r.error.details![0]!.path, '/alert_type');
  assert.match(r.error.details![0]!.message, /sentiment_drop/);

  const tr = validator.validate({ webhook_id: 'u-2', trigger_reason: 'started_action' });
  assert.ok(!tr.ok && tr.error.code === 'unknown_webhook_type');
  assert.deepEqual(!tr.ok && tr.error.details!.map((d) => d.path), ['/trigger_reason']);

  const both = validator.validate({ alert_type: 7, trigger_reason: null });
  assert.deepEqual(!both.ok && both.error.details!.map((d) => d.path), ['/alert_type', '/trigger_reason']);

  const neither = validator.validate({ webhook_id: 'u-3' });
  assert.ok(!neither.ok && neither.error.code === 'unknown_webhook_type');
  assert.deepEqual(!neither.ok && neither.error.details!.map((d) => d.path), ['/']);
  for (const d of !neither.ok ? neither.error.details! : []) assert.ok(d.message.length > 0);
});

test('a failing payload reports its type and the first problem of every branch', () => {
  const bad = { ...vendorJson('low-score'), total_score: 'forty', score_details: { greeting_quality_score: 11 } } as Json;
  delete bad['agent_name'];
  const r = validator.validate(bad);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.type, 'low_score');
  assert.match(r.error.message, /low-score\.json/);
  assert.deepEqual(
    r.error.details!.map((d) => ({ path: d.path, message: d.message })),
    [
      { path: '/agent_name', message: 'is required' },
      { path: '/total_score', message: 'must be number' },
      { path: '/score_details/greeting_quality_score', message: 'must be <= 10' },
    ],
  );
});

test('a key with "/" or "~" is escaped in the JSON pointer', () => {
  const details = invalid(withValue(vendorJson('low-score'), ['score_details', 'a/b~c_score'], 99));
  assert.deepEqual(paths(details), ['/score_details/a~1b~0c_score']);
});

test('details are capped at 50, even for hostile payloads', () => {
  const many = withValue(vendorJson('low-score'), ['score_details'], Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`m${i}_score`, 20])));
  assert.ok(invalid(many).length <= 50);
  // Every top-level field wrong at once.
  const allWrong = Object.fromEntries(Object.keys(vendorJson('low-score')).map((k) => [k, k === 'alert_type' ? 'low_score' : { wrong: true }]));
  assert.ok(invalid(allWrong).length <= 50);
});

/** A copy of the real schemas where red-flag.json has `extra` more properties. */
function schemasWithManyFields(t: Parameters<typeof tempDir>[0], extra: number, requireThem: boolean): string {
  const dir = tempDir(t);
  cpSync(DEFAULT_SCHEMAS_DIR, dir, { recursive: true });
  const file = join(dir, 'red-flag.json');
  const schema = JSON.parse(readFileSync(file, 'utf8')) as { properties: Json; required: string[] };
  for (let i = 0; i < extra; i++) schema.properties[`f${i}`] = { type: 'string' };
  if (requireThem) schema.required.push(...Array.from({ length: extra }, (_, i) => `f${i}`));
  writeFileSync(file, JSON.stringify(schema));
  return dir;
}

test('details are capped at 50 when more than 50 properties are wrong (custom schemas dir)', (t) => {
  const v = createValidator({ schemasDir: schemasWithManyFields(t, 80, false) });
  assert.ok(v.validate(vendorJson('red-flag')).ok, 'the extra properties are optional here');
  const payload = { ...vendorJson('red-flag'), ...Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`f${i}`, i])) };
  const r = v.validate(payload);
  assert.ok(!r.ok);
  assert.equal(r.error.details!.length, 50);
});

test('details are capped at 50 when more than 50 required properties are missing (custom schemas dir)', (t) => {
  const v = createValidator({ schemasDir: schemasWithManyFields(t, 80, true) });
  const r = v.validate(vendorJson('red-flag'));
  assert.ok(!r.ok);
  assert.ok(r.error.details!.every((d) => d.message === 'is required'));
  assert.equal(r.error.details!.length, 50);
});

test('regression: a webhook_id holding a lone surrogate is a schema failure (it could not be told apart once stored)', () => {
  const v = createValidator();
  for (const id of ['u2\ud800', 'u2\udc00', '\ud83d']) {
    const out = v.validate({ ...vendorJson('red-flag'), webhook_id: id });
    assert.equal(out.ok, false);
    assert.ok(!out.ok && out.error instanceof SchemaValidationError);
    assert.deepEqual(!out.ok && out.error.details?.map((d) => d.path), ['/webhook_id']);
  }
  assert.equal(v.validate({ ...vendorJson('red-flag'), webhook_id: 'ok-\ud83d\ude00' }).ok, true, 'a surrogate pair is fine');
});
