/**
 * The keyed-views oracle (test/helpers/keyed-oracle.ts) checked by hand on
 * small examples, and the keyed-views generators checked against the
 * project's schemas. The expectations here are worked out from the product
 * rules, not from the oracle's code.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createValidator } from '../../src/ingest/validate.js';
import { dayIn, expectedKeyedViews, metricsOf, normalizeAgent, vendorTimeToUtc, type LogEntry, type OracleRow } from '../helpers/keyed-oracle.js';
import { AGENT_SPELLINGS, keyedScenario, vendorTime } from '../helpers/keyed-arbitraries.js';

type Json = Record<string, unknown>;

let n = 0;
const id = () => `self-${n++}`;

function redFlag(contentId: string, fields: Json = {}): Json {
  return { webhook_id: id(), content_id: contentId, alert_type: 'red_flag', content_type: 'Call', file_name: 'call.wav', agent_name: 'John Doe', red_flag_reason: 'Rude', total_score: 42, timestamp: '2026-11-29T15:30:45.123Z', ...fields };
}
function lowScore(contentId: string, fields: Json = {}): Json {
  return {
    webhook_id: id(), content_id: contentId, alert_type: 'low_score', content_type: 'Call', total_score: 45, total_score_threshold: 70, file_name: 'call.wav', agent_name: 'John Doe',
    summary: 'Billing', score_details: {}, timestamp: '2026-11-29T15:30:45.123Z', ...fields,
  };
}
function completion(contentId: string, data: Json = {}): Json {
  return { webhook_id: id(), trigger_reason: 'completed_action', content_id: contentId, data };
}
function workflow(contentId: string, data: Json = {}): Json {
  return { webhook_id: id(), trigger_reason: 'completed_action', content_id: contentId, data: { output_schema: { name: { value: 'x', reasoning: null } }, ...data } };
}
/** Log entries received one minute apart from `start`. */
function logOf(payloads: Json[], start = '2026-11-29T16:00:00.000Z'): LogEntry[] {
  const t0 = Date.parse(start);
  return payloads.map((payload, i) => ({ payload, received_at: new Date(t0 + i * 60_000).toISOString() }));
}
function byKey(rows: OracleRow[], ...keys: string[]): Map<string, OracleRow> {
  return new Map(rows.map((r) => [JSON.stringify(keys.map((k) => r[k])), r]));
}
const key = (...parts: Array<string | null>) => JSON.stringify(parts);

test('vendor times become UTC with milliseconds; anything not a full ISO 8601 date-time with a zone is absent', () => {
  assert.equal(vendorTimeToUtc('2026-11-29T19:30:00-05:00'), '2026-11-30T00:30:00.000Z');
  assert.equal(vendorTimeToUtc('2026-11-30T06:15:00+05:45'), '2026-11-30T00:30:00.000Z');
  assert.equal(vendorTimeToUtc('2026-11-30T00:30:00Z'), '2026-11-30T00:30:00.000Z');
  assert.equal(vendorTimeToUtc('2025-01-16T15:30:45.123Z'), '2025-01-16T15:30:45.123Z');
  assert.equal(vendorTimeToUtc('2025-01-16T15:30:45.5+01:00'), '2025-01-16T14:30:45.500Z');
  assert.equal(vendorTimeToUtc('2025-01-16T15:30:45.123999Z'), '2025-01-16T15:30:45.123Z'); // truncated
  assert.equal(vendorTimeToUtc('2024-02-29T23:00:00-01:00'), '2024-03-01T00:00:00.000Z');
  assert.equal(vendorTimeToUtc('2026-12-31T23:59:59.999-00:30'), '2027-01-01T00:29:59.999Z');
  assert.equal(vendorTimeToUtc('0099-06-01T00:00:00Z'), '0099-06-01T00:00:00.000Z'); // not 1999
  for (const bad of ['2025-01-16T15:30:45', '2025-01-16', '2025-02-30T10:00:00Z', '2023-02-29T10:00:00Z', '2025-13-01T00:00:00Z', '2025-01-16T24:00:00Z', '2025-01-16T15:30:45+24:00', '2025-01-16T15:30Z', 'Call 12', '', ' 2025-01-16T15:30:45Z', '2025-01-16T23:59:60Z']) {
    assert.equal(vendorTimeToUtc(bad), undefined, bad);
  }
  assert.equal(vendorTimeToUtc(1737041445123), undefined);
  assert.equal(vendorTimeToUtc(null), undefined);
});

test('the generators write vendor times that read back as the instant they meant', () => {
  const instant = Date.parse('2026-03-08T06:59:59.987Z');
  assert.equal(vendorTime(instant, -300, '3', false), '2026-03-08T01:59:59.987-05:00');
  assert.equal(vendorTime(instant, 345, 'none', false), '2026-03-08T12:44:59+05:45');
  assert.equal(vendorTime(instant, 0, '6', true), '2026-03-08T06:59:59.987000Z');
  assert.equal(vendorTime(instant, 0, '1', false), '2026-03-08T06:59:59.9+00:00');
  fc.assert(
    fc.property(fc.integer({ min: Date.parse('2000-01-01T00:00:00Z'), max: Date.parse('2040-01-01T00:00:00Z') }), fc.constantFrom(0, -300, 345, 840, -720), (t, o) => {
      assert.equal(vendorTimeToUtc(vendorTime(t, o, '3', false)), new Date(t).toISOString());
    }),
  );
});

test('days are calendar days in the report zone, across DST changes', () => {
  assert.equal(dayIn('2026-11-30T04:30:00.000Z', 'America/New_York'), '2026-11-29');
  assert.equal(dayIn('2026-11-30T04:30:00.000Z', 'UTC'), '2026-11-30');
  assert.equal(dayIn('2026-11-29T23:30:00.000Z', 'Europe/Berlin'), '2026-11-30');
  // Berlin in summer time is UTC+2: 22:30Z on the night of the change back is 00:30 CEST.
  assert.equal(dayIn('2026-10-24T22:30:00.000Z', 'Europe/Berlin'), '2026-10-25');
  assert.equal(dayIn('2026-10-24T21:59:59.999Z', 'Europe/Berlin'), '2026-10-24');
  // New York: midnight after the spring change is 04:00Z (EDT), before it 05:00Z (EST).
  assert.equal(dayIn('2026-03-09T03:59:59.999Z', 'America/New_York'), '2026-03-08');
  assert.equal(dayIn('2026-03-09T04:00:00.000Z', 'America/New_York'), '2026-03-09');
  assert.equal(dayIn('2026-03-08T04:59:59.999Z', 'America/New_York'), '2026-03-07');
  assert.equal(dayIn('2026-03-08T05:00:00.000Z', 'America/New_York'), '2026-03-08');
});

test('agent names are trimmed and inner whitespace collapsed; blank is absent; case is kept', () => {
  assert.equal(normalizeAgent('  john doe '), 'john doe');
  assert.equal(normalizeAgent('john  doe'), 'john doe');
  assert.equal(normalizeAgent('John\tDoe\n'), 'John Doe');
  assert.equal(normalizeAgent('Jane\u00A0Smith'), 'Jane Smith');
  assert.equal(normalizeAgent('John Doe'), 'John Doe');
  assert.equal(normalizeAgent(' \t\n\u00A0'), undefined);
  assert.equal(normalizeAgent(''), undefined);
  assert.equal(normalizeAgent(null), undefined);
  assert.equal(normalizeAgent(undefined), undefined);
});

test('score_details keys pair into metrics; other keys are metrics of their own', () => {
  assert.deepEqual(
    metricsOf({ greeting_score: 9, talk_ratio: 0.4, greeting_justification: 'Hi', sentiment: 'positive', empathy_justification: 'kind', _score: 3, _justification: 'bare', hold_score: 2 }),
    [
      { metric: 'greeting', score: 9, justification: 'Hi' },
      { metric: 'talk_ratio', score: 0.4, justification: undefined },
      { metric: 'sentiment', score: undefined, justification: 'positive' },
      { metric: 'empathy', score: undefined, justification: 'kind' },
      { metric: '_score', score: 3, justification: undefined },
      { metric: '_justification', score: undefined, justification: 'bare' },
      { metric: 'hold', score: 2, justification: undefined },
    ],
  );
  assert.deepEqual(metricsOf(undefined), []);
  assert.deepEqual(metricsOf({ x: null, y: true, z_score: null }), []);
});

test('a call with a red flag, then its completion: one contents row merging both', () => {
  const log = logOf([
    redFlag('call-1', { agent_name: ' John  Doe', file_name: 'alert.wav', total_score: 42, timestamp: '2026-11-29T10:00:00-05:00', score_details: { professionalism_score: 2, professionalism_justification: 'Rude' } }),
    completion('call-1', {
      original_filename: 'call-1.wav', agent_name: 'John Doe', created_time: '2026-11-29T10:05:00-05:00', reason_for_call: 'Billing',
      score_details: { professionalism_score: 3, greeting_score: 9, greeting_justification: 'Warm' },
    }),
  ]);
  const v = expectedKeyedViews(log, 'UTC');
  assert.deepEqual(v.contents.header, [
    'content_id', 'content_type', 'file_name', 'agent_name', 'scored_at', 'first_received_at', 'last_received_at', 'webhooks', 'completed', 'red_flag', 'low_score',
    'total_score', 'total_score_threshold', 'red_flag_reason', 'summary', 'professionalism_score', 'professionalism_justification', 'greeting_score', 'greeting_justification',
  ]);
  assert.deepEqual(v.contents.rows, [
    {
      content_id: 'call-1', content_type: 'Call', file_name: 'call-1.wav', agent_name: 'John Doe', scored_at: '2026-11-29T15:05:00.000Z',
      first_received_at: '2026-11-29T16:00:00.000Z', last_received_at: '2026-11-29T16:01:00.000Z', webhooks: 2, completed: true, red_flag: true, low_score: false,
      total_score: 42, total_score_threshold: null, red_flag_reason: 'Rude', summary: null,
      professionalism_score: 3, professionalism_justification: 'Rude', greeting_score: 9, greeting_justification: 'Warm',
    },
  ]);
  assert.deepEqual(v.content_scores.rows, [
    { content_id: 'call-1', agent_name: 'John Doe', scored_at: '2026-11-29T15:05:00.000Z', metric: 'professionalism', score: 3, justification: 'Rude', updated_at: '2026-11-29T16:01:00.000Z' },
    { content_id: 'call-1', agent_name: 'John Doe', scored_at: '2026-11-29T15:05:00.000Z', metric: 'greeting', score: 9, justification: 'Warm', updated_at: '2026-11-29T16:01:00.000Z' },
  ]);
  assert.deepEqual(v.daily_agents.rows, [{ day: '2026-11-29', agent_name: 'John Doe', contents: 1, completed: 1, red_flags: 1, low_scores: 0, avg_total_score: 42 }]);
  assert.deepEqual(v.daily_metrics.rows, [
    { day: '2026-11-29', agent_name: 'John Doe', metric: 'professionalism', contents: 1, avg_score: 3, min_score: 3, max_score: 3 },
    { day: '2026-11-29', agent_name: 'John Doe', metric: 'greeting', contents: 1, avg_score: 9, min_score: 9, max_score: 9 },
  ]);
});

test('a re-score that moves a call to another day leaves the day it left with a zero row', () => {
  const log = logOf([
    completion('call-1', { agent_name: 'John Doe', created_time: '2026-11-29T20:00:00Z', score_details: { empathy_score: 4 } }),
    lowScore('call-2', { agent_name: 'John Doe', timestamp: '2026-11-29T21:00:00Z', total_score: 30, score_details: { empathy_score: 6 } }),
    completion('call-1', { agent_name: 'John Doe', created_time: '2026-11-30T09:00:00Z', score_details: { empathy_score: 8, greeting_score: 5 } }),
  ]);
  const v = expectedKeyedViews(log, 'UTC');
  const agents = byKey(v.daily_agents.rows, 'day', 'agent_name');
  assert.equal(agents.size, 2);
  assert.deepEqual(agents.get(key('2026-11-29', 'John Doe')), { day: '2026-11-29', agent_name: 'John Doe', contents: 1, completed: 0, red_flags: 0, low_scores: 1, avg_total_score: 30 });
  assert.deepEqual(agents.get(key('2026-11-30', 'John Doe')), { day: '2026-11-30', agent_name: 'John Doe', contents: 1, completed: 1, red_flags: 0, low_scores: 0, avg_total_score: null });
  const metrics = byKey(v.daily_metrics.rows, 'day', 'agent_name', 'metric');
  assert.equal(metrics.size, 3);
  assert.deepEqual(metrics.get(key('2026-11-29', 'John Doe', 'empathy')), { day: '2026-11-29', agent_name: 'John Doe', metric: 'empathy', contents: 1, avg_score: 6, min_score: 6, max_score: 6 });
  assert.deepEqual(metrics.get(key('2026-11-30', 'John Doe', 'empathy')), { day: '2026-11-30', agent_name: 'John Doe', metric: 'empathy', contents: 1, avg_score: 8, min_score: 8, max_score: 8 });
  assert.deepEqual(metrics.get(key('2026-11-30', 'John Doe', 'greeting')), { day: '2026-11-30', agent_name: 'John Doe', metric: 'greeting', contents: 1, avg_score: 5, min_score: 5, max_score: 5 });

  // Now the day left behind has nobody: its rows stay, at zero.
  const alone = expectedKeyedViews(logOf([log[0]!.payload as Json, log[2]!.payload as Json]), 'UTC');
  assert.deepEqual(byKey(alone.daily_agents.rows, 'day', 'agent_name').get(key('2026-11-29', 'John Doe')), {
    day: '2026-11-29', agent_name: 'John Doe', contents: 0, completed: 0, red_flags: 0, low_scores: 0, avg_total_score: null,
  });
  assert.deepEqual(byKey(alone.daily_metrics.rows, 'day', 'agent_name', 'metric').get(key('2026-11-29', 'John Doe', 'empathy')), {
    day: '2026-11-29', agent_name: 'John Doe', metric: 'empathy', contents: 0, avg_score: null, min_score: null, max_score: null,
  });
  assert.equal(byKey(alone.daily_metrics.rows, 'day', 'agent_name', 'metric').has(key('2026-11-29', 'John Doe', 'greeting')), false, 'greeting never was on the 29th');
  assert.deepEqual(alone.content_scores.rows.map((r) => [r.metric, r.score, r.scored_at]), [
    ['empathy', 8, '2026-11-30T09:00:00.000Z'],
    ['greeting', 5, '2026-11-30T09:00:00.000Z'],
  ]);
});

test('an agent renamed leaves the old agent a zero row; spellings that normalise alike are one agent', () => {
  const log = logOf([
    completion('call-1', { agent_name: '  john doe ', created_time: '2026-11-29T12:00:00Z' }),
    redFlag('call-2', { agent_name: 'john  doe', timestamp: '2026-11-29T13:00:00Z', total_score: 10 }),
    redFlag('call-1', { agent_name: 'John Doe', timestamp: '2026-11-29T12:30:00Z', total_score: 20 }),
    completion('call-3', { created_time: '2026-11-29T14:00:00Z' }),
    lowScore('call-3', { agent_name: '   ', timestamp: '2026-11-29T14:10:00Z' }),
  ]);
  const v = expectedKeyedViews(log, 'UTC');
  assert.deepEqual(v.contents.rows.map((r) => [r.content_id, r.agent_name]), [['call-1', 'John Doe'], ['call-2', 'john doe'], ['call-3', null]]);
  assert.deepEqual(
    v.daily_agents.rows.map((r) => [r.agent_name, r.contents, r.red_flags, r.low_scores, r.avg_total_score]),
    [
      ['john doe', 1, 1, 0, 10], // call-2 (call-1 left it)
      ['John Doe', 1, 1, 0, 20],
      [null, 1, 0, 1, 45],
    ],
  );
});

test('a Sunday 23:30 New York call is on Sunday in America/New_York, on Monday in UTC', () => {
  const log = logOf([lowScore('call-ny', { timestamp: '2026-11-29T23:30:00-05:00', score_details: { empathy_score: 7 } })], '2026-11-30T04:31:00.000Z');
  const ny = expectedKeyedViews(log, 'America/New_York');
  const utc = expectedKeyedViews(log, 'UTC');
  const berlin = expectedKeyedViews(log, 'Europe/Berlin');
  assert.equal(ny.contents.rows[0]!.scored_at, '2026-11-30T04:30:00.000Z');
  assert.deepEqual(ny.daily_agents.rows.map((r) => r.day), ['2026-11-29']);
  assert.deepEqual(ny.daily_metrics.rows.map((r) => r.day), ['2026-11-29']);
  assert.deepEqual(utc.daily_agents.rows.map((r) => r.day), ['2026-11-30']);
  assert.deepEqual(berlin.daily_agents.rows.map((r) => r.day), ['2026-11-30']);
});

test('scored_at falls back to the received_at of the latest webhook when none has a vendor time, and follows the latest vendor time after', () => {
  const log: LogEntry[] = [
    { received_at: '2026-11-29T23:50:00.000Z', payload: completion('doc-1', { agent_name: 'Ng' }) },
    { received_at: '2026-11-30T00:10:00.000Z', payload: completion('doc-1', { score_details: { compliance_score: 1 } }) },
  ];
  const v = expectedKeyedViews(log, 'UTC');
  assert.equal(v.contents.rows[0]!.scored_at, '2026-11-30T00:10:00.000Z');
  assert.equal(v.content_scores.rows[0]!.scored_at, '2026-11-30T00:10:00.000Z');
  // The first webhook put it on the 29th, the second moved it to the 30th.
  assert.deepEqual(
    v.daily_agents.rows.map((r) => [r.day, r.contents]),
    [['2026-11-29', 0], ['2026-11-30', 1]],
  );
  // A vendor time, then a webhook without one: the vendor time stays.
  const later = expectedKeyedViews(
    [...log, { received_at: '2026-11-30T00:20:00.000Z', payload: redFlag('doc-1', { timestamp: '2026-11-28T12:00:00Z' }) }, { received_at: '2026-11-30T00:30:00.000Z', payload: completion('doc-1', {}) }],
    'UTC',
  );
  assert.equal(later.contents.rows[0]!.scored_at, '2026-11-28T12:00:00.000Z');
  // An invalid vendor time counts as absent (an edited schema could let one through).
  const invalid = expectedKeyedViews([{ received_at: '2026-11-30T00:40:00.000Z', payload: completion('doc-2', { created_time: '2026-11-28 noon' }) }], 'UTC');
  assert.equal(invalid.contents.rows[0]!.scored_at, '2026-11-30T00:40:00.000Z');
});

test('latest means latest in log order; first/last_received_at are min/max; null and absent never overwrite', () => {
  const log: LogEntry[] = [
    { received_at: '2026-11-29T10:00:00.000Z', payload: lowScore('c', { summary: 'first', timestamp: '2026-11-29T09:00:00Z', score_details: { empathy_score: 5, empathy_justification: 'ok' } }) },
    { received_at: '2026-11-29T08:00:00.000Z', payload: redFlag('c', { timestamp: '2026-11-29T07:00:00Z', total_score: 11, file_name: 'flag.wav' }) }, // replayed: older received_at
    { received_at: '2026-11-29T11:00:00.000Z', payload: lowScore('c', { summary: null, file_name: '', total_score: 20, total_score_threshold: 50, timestamp: '2026-11-29T06:00:00Z', score_details: { empathy_justification: 'better' } }) },
    { received_at: '2026-11-29T12:00:00.000Z', payload: workflow('c', { agent_name: 'Workflow Agent', created_time: '2026-12-25T00:00:00Z', score_details: { empathy_score: 0 } }) },
  ];
  const v = expectedKeyedViews(log, 'UTC');
  assert.equal(v.contents.rows.length, 1);
  const row = v.contents.rows[0]!;
  assert.equal(row.summary, 'first');
  assert.equal(row.file_name, '', 'an empty string is carried (only a blank agent name is absent)');
  assert.equal(row.total_score, 20);
  assert.equal(row.total_score_threshold, 50);
  assert.equal(row.red_flag_reason, 'Rude');
  assert.equal(row.webhooks, 3, 'the workflow does not count');
  assert.equal(row.agent_name, 'John Doe');
  assert.equal(row.scored_at, '2026-11-29T06:00:00.000Z', 'the latest webhook in log order, not the latest vendor time');
  assert.equal(row.first_received_at, '2026-11-29T08:00:00.000Z');
  assert.equal(row.last_received_at, '2026-11-29T11:00:00.000Z');
  assert.deepEqual(v.content_scores.rows, [
    { content_id: 'c', agent_name: 'John Doe', scored_at: '2026-11-29T06:00:00.000Z', metric: 'empathy', score: 5, justification: 'better', updated_at: '2026-11-29T11:00:00.000Z' },
  ]);
  assert.equal(row['empathy_score'], 5);
  assert.equal(row['empathy_justification'], 'better');
  // A completion does not take content_type, total_score, timestamp or file_name from its top level.
  const decoy = expectedKeyedViews(logOf([{ ...completion('d', { created_time: '2026-11-29T01:00:00Z' }), content_type: 'Call', total_score: 9, timestamp: '2020-01-01T00:00:00Z', file_name: 'x', agent_name: 'Top' }]), 'UTC');
  assert.deepEqual(
    [decoy.contents.rows[0]!.content_type, decoy.contents.rows[0]!.total_score, decoy.contents.rows[0]!.scored_at, decoy.contents.rows[0]!.file_name, decoy.contents.rows[0]!.agent_name],
    [null, null, '2026-11-29T01:00:00.000Z', null, null],
  );
});

test('metric columns of contents come in global order of first appearance; a content lacking a metric is null there', () => {
  const log = logOf([
    completion('a', { score_details: { b_score: 1 } }),
    completion('b', { score_details: { a_justification: 'x', b_justification: 'y', c: 3 } }),
    completion('a', { score_details: { d: 'text' } }),
  ]);
  const v = expectedKeyedViews(log, 'UTC');
  assert.deepEqual(v.contents.header.slice(15), ['b_score', 'b_justification', 'a_score', 'a_justification', 'c_score', 'c_justification', 'd_score', 'd_justification']);
  assert.deepEqual(v.contents.rows.map((r) => [r['b_score'], r['b_justification'], r['a_score'], r['a_justification'], r['c_score'], r['d_justification']]), [
    [1, null, null, null, null, 'text'],
    [null, 'y', null, 'x', 3, null],
  ]);
  assert.deepEqual(v.content_scores.rows.map((r) => [r.content_id, r.metric]), [['a', 'b'], ['b', 'a'], ['b', 'b'], ['b', 'c'], ['a', 'd']]);
  assert.deepEqual(
    v.daily_metrics.rows.map((r) => [r.metric, r.contents, r.avg_score]),
    [['b', 2, 1], ['a', 1, null], ['c', 1, 3], ['d', 1, null]],
  );
});

test('a metric whose column would collide with a fixed column (total → total_score) does not crash, and the fixed column keeps its value', () => {
  const v = expectedKeyedViews(logOf([lowScore('c', { total_score: 33, score_details: { total_score: 7, total_justification: 'sum', empathy_score: 2 } })]), 'UTC');
  assert.equal(v.contents.rows[0]!.total_score, 33);
  assert.deepEqual(v.contents.collidingMetrics, ['total']);
  assert.deepEqual(v.contents.header.slice(15), ['empathy_score', 'empathy_justification']);
  assert.deepEqual(v.content_scores.rows.map((r) => [r.metric, r.score, r.justification]), [['total', 7, 'sum'], ['empathy', 2, null]]);
});

test('the generators: every payload valid against the schemas, webhook ids unique, the oracle consistent with itself', () => {
  const validator = createValidator();
  const spellings = new Set(AGENT_SPELLINGS.map((a) => normalizeAgent(a)));
  fc.assert(
    fc.property(keyedScenario(), fc.constantFrom('UTC', 'America/New_York', 'Europe/Berlin'), ({ webhooks }, zone) => {
      assert.ok(webhooks.length >= 1 && webhooks.length <= 40);
      const ids = webhooks.map((w) => w.payload['webhook_id']);
      assert.equal(new Set(ids).size, ids.length, 'unique webhook ids');
      for (const w of webhooks) {
        const outcome = validator.validate(JSON.parse(JSON.stringify(w.payload)) as Json);
        assert.ok(outcome.ok, `${JSON.stringify(w.payload)}: ${outcome.ok ? '' : JSON.stringify(outcome.error)}`);
        assert.match(w.receivedAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      }
      const v = expectedKeyedViews(webhooks.map((w) => ({ received_at: w.receivedAt, payload: w.payload })), zone);
      assert.deepEqual(v.contents.collidingMetrics, []);
      // Each content is counted in exactly one daily_agents row; each content score in exactly one daily_metrics row.
      assert.equal(v.daily_agents.rows.reduce((s, r) => s + (r.contents as number), 0), v.contents.rows.length);
      assert.equal(v.daily_metrics.rows.reduce((s, r) => s + (r.contents as number), 0), v.content_scores.rows.length);
      assert.equal(v.contents.rows.reduce((s, r) => s + (r.webhooks as number), 0), webhooks.filter((w) => !(w.payload['data'] as Json | undefined)?.['output_schema']).length);
      for (const r of v.contents.rows) {
        assert.ok(r.agent_name === null || spellings.has(r.agent_name as string), `agent ${String(r.agent_name)}`);
        assert.ok((r.first_received_at as string) <= (r.last_received_at as string));
      }
      for (const r of v.daily_metrics.rows) {
        if (r.min_score !== null) assert.ok((r.min_score as number) <= (r.avg_score as number) + 1e-12 && (r.avg_score as number) <= (r.max_score as number) + 1e-12);
      }
    }),
    { numRuns: 200 },
  );
});

test('the generators reach the cases the rules are about', () => {
  const seen = { rescoreMovesDay: 0, zeroAgentRow: 0, zeroMetricRow: 0, fallback: 0, nullAgent: 0, workflow: 0, summaryNull: 0, olderReceivedAt: 0, offsetTimes: 0, justificationOnly: 0, scoreOnly: 0 };
  fc.assert(
    fc.property(keyedScenario(), ({ webhooks }) => {
      const v = expectedKeyedViews(webhooks.map((w) => ({ received_at: w.receivedAt, payload: w.payload })), 'America/New_York');
      if (v.daily_agents.rows.some((r) => r.contents === 0)) seen.zeroAgentRow++;
      if (v.daily_metrics.rows.some((r) => r.contents === 0)) seen.zeroMetricRow++;
      const daysPerContent = new Map<string, Set<string>>();
      const withVendorTime = new Set<string>();
      for (const w of webhooks) {
        const data = w.payload['data'] as Json | undefined;
        if (data?.['output_schema'] !== undefined) {
          seen.workflow++;
          continue;
        }
        const contentId = String(w.payload['content_id']);
        const t = (data ? data['created_time'] : w.payload['timestamp']) as string | undefined;
        if (t !== undefined) {
          withVendorTime.add(contentId);
          if (/[+-]\d\d:\d\d$/.test(t) && !t.endsWith('+00:00')) seen.offsetTimes++;
          const days = daysPerContent.get(contentId) ?? new Set<string>();
          days.add(dayIn(vendorTimeToUtc(t)!, 'America/New_York'));
          daysPerContent.set(contentId, days);
        }
        if (w.payload['summary'] === null) seen.summaryNull++;
        const details = ((data ? data['score_details'] : w.payload['score_details']) ?? {}) as Json;
        for (const k of Object.keys(details)) {
          if (k.endsWith('_justification') && k.length > 14 && !Object.hasOwn(details, `${k.slice(0, -14)}_score`)) seen.justificationOnly++;
          if (k.endsWith('_score') && k.length > 6 && !Object.hasOwn(details, `${k.slice(0, -6)}_justification`)) seen.scoreOnly++;
        }
      }
      if ([...daysPerContent.values()].some((s) => s.size > 1)) seen.rescoreMovesDay++;
      if (v.contents.rows.some((r) => r.agent_name === null)) seen.nullAgent++;
      for (let i = 1; i < webhooks.length; i++) if (webhooks[i]!.receivedAt < webhooks[i - 1]!.receivedAt) seen.olderReceivedAt++;
      if (v.contents.rows.some((r) => !withVendorTime.has(r.content_id as string))) seen.fallback++;
    }),
    { numRuns: 200, seed: 42 },
  );
  for (const [what, count] of Object.entries(seen)) assert.ok(count >= 5, `${what}: only ${count} of 200 runs`);
});
