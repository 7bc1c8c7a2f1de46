import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flattenPayload } from '../../src/flatten/flatten-payload.js';
import { contentFacts, mergeContent, mergeMetric, normalizeAgent } from '../../src/flatten/merge-content.js';
import type { TypedPayload } from '../../src/model/webhooks.js';

const redFlag = (over: Record<string, unknown> = {}) =>
  ({ type: 'red_flag', payload: { webhook_id: 'w1', content_id: 'c1', alert_type: 'red_flag', content_type: 'Call', file_name: 'a.wav', agent_name: 'John Doe', red_flag_reason: 'rude', total_score: 4, timestamp: '2026-11-29T19:30:00-05:00', score_details: { empathy_score: 3, empathy_justification: 'cold' }, ...over } }) as TypedPayload;
const completion = (data: Record<string, unknown> = {}) =>
  ({ type: 'completion', payload: { webhook_id: 'w2', trigger_reason: 'completed_action', content_id: 'c1', data: { original_filename: 'a-final.wav', agent_name: '  john   Doe ', score_details: { empathy_score: 5 }, ...data } } }) as TypedPayload;

const facts = (p: TypedPayload) => contentFacts(flattenPayload(p))!;

test('normalizeAgent trims and collapses inner whitespace (any \\s), keeps case; blank is no agent', () => {
  assert.equal(normalizeAgent('  john \t\n doe  '), 'john doe');
  assert.equal(normalizeAgent('John\u00a0Doe'), 'John Doe');
  assert.equal(normalizeAgent('   '), null);
  assert.equal(normalizeAgent(null), null);
});

test('an alert then a completion: latest carrying value wins per field; flags are sticky; vendor time in UTC', () => {
  const a = mergeContent(undefined, facts(redFlag()), '2026-11-30T01:00:00.000Z');
  assert.equal(a.scored_at, '2026-11-30T00:30:00.000Z');
  assert.equal(a.red_flag, true);
  assert.equal(a.completed, false);
  const b = mergeContent(a, facts(completion({ created_time: '2026-11-30T02:00:00Z' })), '2026-11-30T02:00:01.000Z');
  assert.deepEqual(
    { ...b },
    {
      content_id: 'c1',
      content_type: 'Call', // completions carry none: the alert's stays
      file_name: 'a-final.wav',
      agent_name: 'john Doe',
      scored_at: '2026-11-30T02:00:00.000Z',
      first_received_at: '2026-11-30T01:00:00.000Z',
      last_received_at: '2026-11-30T02:00:01.000Z',
      webhooks: 2,
      completed: true,
      red_flag: true,
      low_score: false,
      total_score: 4, // the completion carries none
      total_score_threshold: null,
      red_flag_reason: 'rude',
      summary: null,
      vendor_time: true,
    },
  );
});

test('scored_at: a webhook without a vendor time does not move a vendor time; without any, the latest received_at', () => {
  const a = mergeContent(undefined, facts(completion()), '2026-11-30T01:00:00.000Z');
  assert.equal(a.scored_at, '2026-11-30T01:00:00.000Z');
  const b = mergeContent(a, facts(completion()), '2026-11-30T03:00:00.000Z');
  assert.equal(b.scored_at, '2026-11-30T03:00:00.000Z');
  const c = mergeContent(b, facts(redFlag()), '2026-11-30T04:00:00.000Z');
  assert.equal(c.scored_at, '2026-11-30T00:30:00.000Z');
  const d = mergeContent(c, facts(completion()), '2026-11-30T05:00:00.000Z');
  assert.equal(d.scored_at, '2026-11-30T00:30:00.000Z');
});

test('first/last received_at are the min/max, whatever the log order', () => {
  const a = mergeContent(undefined, facts(redFlag()), '2026-11-30T05:00:00.000Z');
  const b = mergeContent(a, facts(completion()), '2026-11-30T04:00:00.000Z');
  assert.equal(b.first_received_at, '2026-11-30T04:00:00.000Z');
  assert.equal(b.last_received_at, '2026-11-30T05:00:00.000Z');
});

test('mergeMetric: each half keeps its latest value; a webhook carrying neither changes nothing', () => {
  const a = mergeMetric(undefined, { metric: 'm', score: 3, justification: 'x' }, 't1')!;
  const b = mergeMetric(a, { metric: 'm', score: 5, justification: null }, 't2')!;
  assert.deepEqual(b, { metric: 'm', score: 5, justification: 'x', updated_at: 't2' });
  assert.equal(mergeMetric(b, { metric: 'm', score: null, justification: null }, 't3'), undefined);
});

test('workflow completions are not calls or documents', () => {
  const wf = { type: 'workflow', payload: { webhook_id: 'w', trigger_reason: 'completed_action', content_id: 'c1', data: { output_schema: { a: { value: 1 } } } } } as unknown as TypedPayload;
  assert.equal(contentFacts(flattenPayload(wf)), undefined);
});
