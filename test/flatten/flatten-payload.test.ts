import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flattenPayload, metrics as scoreRows, type FlatEvent } from '../../src/flatten/flatten-payload.js';
import type { CompletionWebhook, LowScoreWebhook, RedFlagWebhook, WorkflowCompletionWebhook } from '../../src/model/payload-types.js';
import { FIXED_COLUMNS, type WideViewName } from '../../src/model/views.js';
import type { TypedPayload } from '../../src/model/webhooks.js';
import { vendorJson } from '../helpers/fixtures.js';

const redFlag = () => vendorJson('red-flag') as unknown as RedFlagWebhook;
const lowScore = () => vendorJson('low-score') as unknown as LowScoreWebhook;
const callCompletion = () => vendorJson('completion-call') as unknown as CompletionWebhook;
const workflow = () => vendorJson('completion-workflow') as unknown as WorkflowCompletionWebhook;

/** The fixed columns flattenPayload fills: the view's fixed columns without webhook_id and received_at. */
const fixedAfterLog = (view: WideViewName): string[] => {
  const all = [...FIXED_COLUMNS[view]] as string[];
  assert.deepEqual(all.slice(0, 2), ['webhook_id', 'received_at']);
  return all.slice(2);
};

/** Pairs each fixed column name with its cell, so a failure shows which column is wrong. */
const named = (view: WideViewName, cells: unknown[]) => {
  const names = fixedAfterLog(view);
  assert.equal(cells.length, names.length, `${view}: one fixed cell per fixed column`);
  return Object.fromEntries(names.map((n, i) => [n, cells[i]]));
};

/** The fixed cells of a flattened event in the order of its view's fixed columns (after webhook_id, received_at). */
const fixedOf = (flat: FlatEvent): unknown[] => fixedAfterLog(flat.view).map((c) => (flat.row as Record<string, unknown>)[c]);
/** Score rows without the columns every row of one event shares (checked once in their own test). */
const metricsOf = (flat: FlatEvent) => flat.scores.map(({ metric, score, justification }) => ({ metric, score, justification }));
/** Field rows without content_id. */
const fieldsOf = (flat: FlatEvent) => flat.fields.map(({ field, value, reasoning }) => ({ field, value, reasoning }));

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

test('red flag (vendor example): fixed cells in the order of FIXED_COLUMNS.red_flags', () => {
  const flat = flattenPayload({ type: 'red_flag', payload: redFlag() });
  assert.equal(flat.view, 'red_flags');
  assert.deepEqual(fixedOf(flat), ['2025-01-16T15:30:45.123Z', 'a8f5f167-aa8a-4f1e-85c7-1b9c8d6e7f23', 'Call', 'customer_support_call.wav', 'John Doe', 'Inappropriate language detected', 42]);
  assert.deepEqual(named('red_flags', fixedOf(flat)), {
    timestamp: '2025-01-16T15:30:45.123Z',
    content_id: 'a8f5f167-aa8a-4f1e-85c7-1b9c8d6e7f23',
    content_type: 'Call',
    file_name: 'customer_support_call.wav',
    agent_name: 'John Doe',
    red_flag_reason: 'Inappropriate language detected',
    total_score: 42,
  });
  assert.equal(flat.contentId, 'a8f5f167-aa8a-4f1e-85c7-1b9c8d6e7f23');
  assert.equal(flat.agentName, 'John Doe');
  assert.deepEqual(flat.dynamic, [
    { kind: 'score_detail', key: 'professionalism_score', value: 2 },
    { kind: 'score_detail', key: 'professionalism_justification', value: 'Agent used inappropriate language' },
  ]);
  assert.deepEqual(metricsOf(flat), [{ metric: 'professionalism', score: 2, justification: 'Agent used inappropriate language' }]);
  assert.deepEqual(flat.fields, []);
});

test('red flag without its optional fields: agent_name and total_score are null cells, no dynamic cells, no scores', () => {
  const p = redFlag() as unknown as Record<string, unknown>;
  delete p['agent_name'];
  delete p['total_score'];
  delete p['score_details'];
  const flat = flattenPayload({ type: 'red_flag', payload: p as unknown as RedFlagWebhook });
  assert.deepEqual(named('red_flags', fixedOf(flat)), {
    timestamp: '2025-01-16T15:30:45.123Z',
    content_id: 'a8f5f167-aa8a-4f1e-85c7-1b9c8d6e7f23',
    content_type: 'Call',
    file_name: 'customer_support_call.wav',
    agent_name: null,
    red_flag_reason: 'Inappropriate language detected',
    total_score: null,
  });
  assert.equal(flat.agentName, null);
  assert.deepEqual(flat.dynamic, []);
  assert.deepEqual(metricsOf(flat), []);
});

test('low score (vendor example): fixed cells, dynamic cells in payload order, two paired metrics', () => {
  const flat = flattenPayload({ type: 'low_score', payload: lowScore() });
  assert.equal(flat.view, 'low_scores');
  assert.deepEqual(fixedOf(flat), ['2025-01-16T15:30:45.123Z', 'c9e2a3b7-4d5f-6789-a012-3456789bcdef', 'Call', 'sales_call.wav', 'John Doe', 45, 70, 'Customer billing inquiry']);
  assert.deepEqual(named('low_scores', fixedOf(flat)), {
    timestamp: '2025-01-16T15:30:45.123Z',
    content_id: 'c9e2a3b7-4d5f-6789-a012-3456789bcdef',
    content_type: 'Call',
    file_name: 'sales_call.wav',
    agent_name: 'John Doe',
    total_score: 45,
    total_score_threshold: 70,
    summary: 'Customer billing inquiry',
  });
  assert.equal(flat.contentId, 'c9e2a3b7-4d5f-6789-a012-3456789bcdef');
  assert.equal(flat.agentName, 'John Doe');
  assert.deepEqual(flat.dynamic, [
    { kind: 'score_detail', key: 'greeting_quality_score', value: 8 },
    { kind: 'score_detail', key: 'greeting_quality_justification', value: 'Agent provided friendly greeting' },
    { kind: 'score_detail', key: 'problem_resolution_score', value: 3 },
    { kind: 'score_detail', key: 'problem_resolution_justification', value: 'Failed to resolve billing issue' },
  ]);
  assert.deepEqual(metricsOf(flat), [
    { metric: 'greeting_quality', score: 8, justification: 'Agent provided friendly greeting' },
    { metric: 'problem_resolution', score: 3, justification: 'Failed to resolve billing issue' },
  ]);
  assert.deepEqual(flat.fields, []);
});

test('low score with summary null: the summary cell is null', () => {
  const p = { ...lowScore(), summary: null };
  const flat = flattenPayload({ type: 'low_score', payload: p });
  assert.equal(named('low_scores', fixedOf(flat))['summary'], null);
  assert.equal(fixedOf(flat).at(-1), null);
});

test('call completion (vendor example): fixed cells from data, absent score_uuid/created_time are null', () => {
  const flat = flattenPayload({ type: 'completion', payload: callCompletion() });
  assert.equal(flat.view, 'completions');
  assert.deepEqual(fixedOf(flat), ['g67b8c9d-0e1f-2a3b-4c5d-6789abcdef12', 'support_call_001.wav', null, null, 'Jane Smith', 'Customer support inquiry']);
  assert.deepEqual(named('completions', fixedOf(flat)), {
    content_id: 'g67b8c9d-0e1f-2a3b-4c5d-6789abcdef12',
    original_filename: 'support_call_001.wav',
    score_uuid: null,
    created_time: null,
    agent_name: 'Jane Smith',
    reason_for_call: 'Customer support inquiry',
  });
  assert.equal(flat.contentId, 'g67b8c9d-0e1f-2a3b-4c5d-6789abcdef12');
  assert.equal(flat.agentName, 'Jane Smith');
  assert.deepEqual(flat.dynamic, [
    { kind: 'score_detail', key: 'greeting_quality_score', value: 9 },
    { kind: 'score_detail', key: 'greeting_quality_justification', value: 'Professional greeting' },
  ]);
  assert.deepEqual(metricsOf(flat), [{ metric: 'greeting_quality', score: 9, justification: 'Professional greeting' }]);
  assert.deepEqual(flat.fields, []);
});

test('completion with every data field: each lands in its fixed column', () => {
  const p: CompletionWebhook = {
    webhook_id: 'w',
    trigger_reason: 'completed_action',
    content_id: 'c',
    data: { original_filename: 'f.pdf', score_uuid: 'su', created_time: '2025-01-16T15:30:45.123Z', agent_name: 'A', reason_for_call: 'R' },
  };
  const flat = flattenPayload({ type: 'completion', payload: p });
  assert.deepEqual(named('completions', fixedOf(flat)), {
    content_id: 'c',
    original_filename: 'f.pdf',
    score_uuid: 'su',
    created_time: '2025-01-16T15:30:45.123Z',
    agent_name: 'A',
    reason_for_call: 'R',
  });
  assert.deepEqual(flat.dynamic, []);
  assert.deepEqual(metricsOf(flat), []);
});

test('workflow completion (vendor example): fixed cells, value/reasoning dynamic pairs, field rows', () => {
  const flat = flattenPayload({ type: 'workflow', payload: workflow() });
  assert.equal(flat.view, 'workflows');
  assert.deepEqual(fixedOf(flat), ['e45f6a7b-8c9d-0e1f-2a34-56789abcdef0', 'complete', 0.45]);
  assert.deepEqual(named('workflows', fixedOf(flat)), { content_id: 'e45f6a7b-8c9d-0e1f-2a34-56789abcdef0', status: 'complete', cost: 0.45 });
  assert.equal(flat.contentId, 'e45f6a7b-8c9d-0e1f-2a34-56789abcdef0');
  assert.equal(flat.agentName, null);
  assert.deepEqual(flat.dynamic, [
    { kind: 'field_value', key: 'customer_name', value: 'John Smith' },
    { kind: 'field_reasoning', key: 'customer_name', value: 'Found in header section' },
    { kind: 'field_value', key: 'policy_number', value: 'POL-2025-001234' },
    { kind: 'field_reasoning', key: 'policy_number', value: 'Extracted from policy ID field' },
  ]);
  assert.deepEqual(fieldsOf(flat), [
    { field: 'customer_name', value: 'John Smith', reasoning: 'Found in header section' },
    { field: 'policy_number', value: 'POL-2025-001234', reasoning: 'Extracted from policy ID field' },
  ]);
  assert.deepEqual(metricsOf(flat), []);
});

test('workflow: null value / null reasoning are kept as null cells; absent status and cost are null', () => {
  const p: WorkflowCompletionWebhook = {
    webhook_id: 'w',
    trigger_reason: 'completed_action',
    content_id: 'c',
    data: {
      output_schema: {
        renewal_date: { value: null, reasoning: null },
        claim_id: { value: 'CL-1', reasoning: null },
        notes: { value: null, reasoning: 'not in the document' },
      },
    },
  };
  const flat = flattenPayload({ type: 'workflow', payload: p });
  assert.deepEqual(named('workflows', fixedOf(flat)), { content_id: 'c', status: null, cost: null });
  assert.deepEqual(fieldsOf(flat), [
    { field: 'renewal_date', value: null, reasoning: null },
    { field: 'claim_id', value: 'CL-1', reasoning: null },
    { field: 'notes', value: null, reasoning: 'not in the document' },
  ]);
  assert.deepEqual(flat.dynamic, [
    { kind: 'field_value', key: 'renewal_date', value: null },
    { kind: 'field_reasoning', key: 'renewal_date', value: null },
    { kind: 'field_value', key: 'claim_id', value: 'CL-1' },
    { kind: 'field_reasoning', key: 'claim_id', value: null },
    { kind: 'field_value', key: 'notes', value: null },
    { kind: 'field_reasoning', key: 'notes', value: 'not in the document' },
  ]);
});

test('workflow with score_details: its metrics reach scores, and agent_name is taken from data', () => {
  const p: WorkflowCompletionWebhook = {
    webhook_id: 'w',
    trigger_reason: 'completed_action',
    content_id: 'c',
    data: { output_schema: {}, agent_name: 'Wei Zhang', score_details: { accuracy_score: 7, accuracy_justification: 'ok' } },
  };
  const flat = flattenPayload({ type: 'workflow', payload: p });
  assert.equal(flat.agentName, 'Wei Zhang');
  assert.deepEqual(metricsOf(flat), [{ metric: 'accuracy', score: 7, justification: 'ok' }]);
  assert.deepEqual(flat.fields, []);
  assert.deepEqual(flat.dynamic, []);
});

test('scoreRows: pairs grouped by metric in first-appearance order, whichever suffix comes first', () => {
  assert.deepEqual(
    scoreRows({
      empathy_justification: 'warm',
      greeting_score: 9,
      empathy_score: 6,
      compliance_score: 0,
      greeting_justification: 'fine',
    }),
    [
      { metric: 'empathy', score: 6, justification: 'warm' },
      { metric: 'greeting', score: 9, justification: 'fine' },
      { metric: 'compliance', score: 0, justification: null },
    ],
  );
});

test('scoreRows: a key with neither suffix is its own metric (number → score, string → justification)', () => {
  assert.deepEqual(scoreRows({ overall: 7.5, notes: 'escalated', tone_score: 4, sentiment: 'positive', tone_justification: 'flat' }), [
    { metric: 'overall', score: 7.5, justification: null },
    { metric: 'notes', score: null, justification: 'escalated' },
    { metric: 'tone', score: 4, justification: 'flat' },
    { metric: 'sentiment', score: null, justification: 'positive' },
  ]);
});

test('scoreRows: a justification without a score, and bare suffixes, are kept', () => {
  assert.deepEqual(scoreRows({ hold_time_justification: 'no hold' }), [{ metric: 'hold_time', score: null, justification: 'no hold' }]);
  // A key that is only the suffix has no metric name before it: it stays a metric of its own.
  assert.deepEqual(scoreRows({ _score: 3, _justification: 'j' }), [
    { metric: '_score', score: 3, justification: null },
    { metric: '_justification', score: null, justification: 'j' },
  ]);
  // Only the last suffix counts.
  assert.deepEqual(scoreRows({ total_score_justification: 'sum of all' }), [{ metric: 'total_score', score: null, justification: 'sum of all' }]);
});

test('scoreRows: no or empty score_details gives no rows', () => {
  assert.deepEqual(scoreRows(undefined), []);
  assert.deepEqual(scoreRows({}), []);
});

test('purity: the input is not mutated (deep-frozen input works) and the same input gives deep-equal output', () => {
  const inputs: TypedPayload[] = [
    { type: 'red_flag', payload: redFlag() },
    { type: 'low_score', payload: lowScore() },
    { type: 'completion', payload: callCompletion() },
    { type: 'workflow', payload: workflow() },
  ];
  for (const input of inputs) {
    const before = structuredClone(input);
    deepFreeze(input);
    const first = flattenPayload(input);
    const second = flattenPayload(input);
    assert.deepEqual(input, before, `${input.type}: input unchanged`);
    assert.deepEqual(second, first, `${input.type}: deterministic`);
    assert.notEqual(second, first, 'a fresh result each time');
    // Mutating a result must not leak into the next one (no shared state).
    (first.row as Record<string, unknown>)['content_id'] = 'x';
    first.scores.push({ source: first.view, content_id: 'c', agent_name: null, metric: 'm', score: 1, justification: null });
    first.dynamic.length = 0;
    assert.deepEqual(flattenPayload(input), second, `${input.type}: results do not share arrays`);
  }
  const details = deepFreeze({ a_score: 1, a_justification: 'x', b: 2 });
  assert.deepEqual(scoreRows(details), scoreRows(details));
});

test('score and field rows carry the source view, content_id and agent_name of their event', () => {
  const low = flattenPayload({ type: 'low_score', payload: lowScore() });
  for (const s of low.scores) assert.deepEqual([s.source, s.content_id, s.agent_name], ['low_scores', 'c9e2a3b7-4d5f-6789-a012-3456789bcdef', 'John Doe']);
  const wf = flattenPayload({ type: 'workflow', payload: workflow() });
  for (const f of wf.fields) assert.equal(f.content_id, 'e45f6a7b-8c9d-0e1f-2a34-56789abcdef0');
});
