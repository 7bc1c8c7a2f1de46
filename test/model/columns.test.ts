import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dynamicKey, planNewColumns, viewHeader, type DynamicColumn, type DynamicKind } from '../../src/model/columns.js';
import { FIXED_COLUMNS, LONG_VIEWS, WIDE_VIEWS, type WideViewName } from '../../src/model/views.js';

/** The columns a plan adds (what most tests look at). */
const added = (...a: Parameters<typeof planNewColumns>) => planNewColumns(...a).added;
const sd = (...keys: string[]) => keys.map((key) => ({ kind: 'score_detail' as const, key }));
/** The dynamic cells a workflow field produces (value then reasoning), as flattenPayload emits them. */
const fields = (...keys: string[]) => keys.flatMap((key) => [{ kind: 'field_value' as const, key }, { kind: 'field_reasoning' as const, key }]);

/** Plans in steps, feeding each result back in as the registry (as the projector does). */
function planAll(view: WideViewName, steps: Array<ReadonlyArray<{ kind: DynamicKind; key: string }>>): DynamicColumn[] {
  let reg: DynamicColumn[] = [];
  for (const wanted of steps) reg = [...reg, ...added(view, reg, wanted)];
  return reg;
}

test('new score_details keys get columns named as the key, positions 0.. in the order wanted', () => {
  assert.deepEqual(added('low_scores', [], sd('greeting_quality_score', 'greeting_quality_justification', 'problem_resolution_score')), [
    { position: 0, name: 'greeting_quality_score', kind: 'score_detail', key: 'greeting_quality_score' },
    { position: 1, name: 'greeting_quality_justification', kind: 'score_detail', key: 'greeting_quality_justification' },
    { position: 2, name: 'problem_resolution_score', kind: 'score_detail', key: 'problem_resolution_score' },
  ]);
});

test('append-only: existing keys are not re-added, new ones go after the highest position', () => {
  const existing: DynamicColumn[] = [
    { position: 0, name: 'a_score', kind: 'score_detail', key: 'a_score' },
    { position: 1, name: 'a_justification', kind: 'score_detail', key: 'a_justification' },
  ];
  assert.deepEqual(added('red_flags', existing, sd('a_score', 'a_justification')), [], 'nothing new');
  assert.deepEqual(added('red_flags', existing, sd('b_score', 'a_score', 'b_justification', 'a_justification')), [
    { position: 2, name: 'b_score', kind: 'score_detail', key: 'b_score' },
    { position: 3, name: 'b_justification', kind: 'score_detail', key: 'b_justification' },
  ]);
  // The same key wanted twice in one call is added once.
  assert.deepEqual(added('red_flags', existing, sd('c', 'c')), [{ position: 2, name: 'c', kind: 'score_detail', key: 'c' }]);
  // Registry passed out of order: still after the highest position.
  const shuffled = [existing[1]!, existing[0]!];
  assert.equal(added('red_flags', shuffled, sd('z'))[0]!.position, 2);
});

test('positions and names of earlier columns never change as keys come and go', () => {
  const reg = planAll('completions', [sd('a_score', 'a_justification'), sd('b_score'), sd('a_score'), sd('c_score', 'b_score', 'a_score'), []]);
  assert.deepEqual(
    reg.map((c) => [c.position, c.name]),
    [
      [0, 'a_score'],
      [1, 'a_justification'],
      [2, 'b_score'],
      [3, 'c_score'],
    ],
  );
  assert.deepEqual(viewHeader('completions', reg), [...FIXED_COLUMNS.completions, 'a_score', 'a_justification', 'b_score', 'c_score']);
});

test('collision: a score_details key equal to a fixed column becomes score_details.<key>', () => {
  assert.deepEqual(added('red_flags', [], sd('agent_name', 'total_score', 'empathy_score')), [
    { position: 0, name: 'score_details.agent_name', kind: 'score_detail', key: 'agent_name' },
    { position: 1, name: 'score_details.total_score', kind: 'score_detail', key: 'total_score' },
    { position: 2, name: 'empathy_score', kind: 'score_detail', key: 'empathy_score' },
  ]);
  // total_score is not a fixed column of completions: no prefix there.
  assert.deepEqual(added('completions', [], sd('total_score', 'agent_name')), [
    { position: 0, name: 'total_score', kind: 'score_detail', key: 'total_score' },
    { position: 1, name: 'score_details.agent_name', kind: 'score_detail', key: 'agent_name' },
  ]);
  // Even the log columns are protected.
  assert.deepEqual(
    added('low_scores', [], sd('webhook_id', 'received_at', 'summary')).map((c) => c.name),
    ['score_details.webhook_id', 'score_details.received_at', 'score_details.summary'],
  );
});

test('collision: a further collision adds " (2)", " (3)"', () => {
  // A key literally named "score_details.agent_name" takes that name first.
  const reg = planAll('red_flags', [sd('score_details.agent_name'), sd('agent_name')]);
  assert.deepEqual(reg, [
    { position: 0, name: 'score_details.agent_name', kind: 'score_detail', key: 'score_details.agent_name' },
    { position: 1, name: 'score_details.agent_name (2)', kind: 'score_detail', key: 'agent_name' },
  ]);
  const three = added('red_flags', [], sd('score_details.total_score', 'score_details.total_score (2)', 'total_score'));
  assert.deepEqual(
    three.map((c) => [c.key, c.name]),
    [
      ['score_details.total_score', 'score_details.total_score'],
      ['score_details.total_score (2)', 'score_details.total_score (2)'],
      ['total_score', 'score_details.total_score (3)'],
    ],
  );
});

test('workflow fields: <field> and <field>_reasoning, planned together', () => {
  assert.deepEqual(added('workflows', [], fields('customer_name', 'policy_number')), [
    { position: 0, name: 'customer_name', kind: 'field_value', key: 'customer_name' },
    { position: 1, name: 'customer_name_reasoning', kind: 'field_reasoning', key: 'customer_name' },
    { position: 2, name: 'policy_number', kind: 'field_value', key: 'policy_number' },
    { position: 3, name: 'policy_number_reasoning', kind: 'field_reasoning', key: 'policy_number' },
  ]);
});

test('workflow field "status" (a fixed column) gives output_schema.status and output_schema.status_reasoning together', () => {
  assert.deepEqual(added('workflows', [], fields('status', 'cost', 'content_id')), [
    { position: 0, name: 'output_schema.status', kind: 'field_value', key: 'status' },
    { position: 1, name: 'output_schema.status_reasoning', kind: 'field_reasoning', key: 'status' },
    { position: 2, name: 'output_schema.cost', kind: 'field_value', key: 'cost' },
    { position: 3, name: 'output_schema.cost_reasoning', kind: 'field_reasoning', key: 'cost' },
    { position: 4, name: 'output_schema.content_id', kind: 'field_value', key: 'content_id' },
    { position: 5, name: 'output_schema.content_id_reasoning', kind: 'field_reasoning', key: 'content_id' },
  ]);
});

test('workflow field whose reasoning name is taken moves both columns (they stay a pair)', () => {
  // Field "a_reasoning" registers "a_reasoning"; a later field "a" would want "a" + "a_reasoning".
  const reg = planAll('workflows', [fields('a_reasoning'), fields('a')]);
  assert.deepEqual(
    reg.map((c) => [c.position, c.kind, c.key, c.name]),
    [
      [0, 'field_value', 'a_reasoning', 'a_reasoning'],
      [1, 'field_reasoning', 'a_reasoning', 'a_reasoning_reasoning'],
      [2, 'field_value', 'a', 'output_schema.a'],
      [3, 'field_reasoning', 'a', 'output_schema.a_reasoning'],
    ],
  );
});

test('workflow field: a further collision adds " (2)" to both columns', () => {
  const reg = planAll('workflows', [fields('output_schema.status'), fields('status')]);
  assert.deepEqual(
    reg.map((c) => c.name),
    ['output_schema.status', 'output_schema.status_reasoning', 'output_schema.status (2)', 'output_schema.status_reasoning (2)'],
  );
});

test('workflow field half-registered: only the missing column is added', () => {
  const existing: DynamicColumn[] = [{ position: 0, name: 'x', kind: 'field_value', key: 'x' }];
  assert.deepEqual(added('workflows', existing, fields('x')), [{ position: 1, name: 'x_reasoning', kind: 'field_reasoning', key: 'x' }]);
});

test('fixed columns never change and are never reused as dynamic names, for every wide view', () => {
  for (const view of WIDE_VIEWS) {
    const fixed = [...FIXED_COLUMNS[view]] as string[];
    const wanted = [...sd(...fixed), ...fields(...fixed), ...sd(...fixed.map((f) => `${f}_reasoning`))];
    const reg = planAll(view, [wanted, wanted]);
    const names = reg.map((c) => c.name);
    assert.equal(new Set(names).size, names.length, `${view}: names are unique`);
    for (const n of names) assert.ok(!fixed.includes(n), `${view}: ${n} is not a fixed column`);
    assert.deepEqual(
      reg.map((c) => c.position),
      reg.map((_, i) => i),
      `${view}: positions 0..n-1`,
    );
    assert.equal(new Set(reg.map((c) => dynamicKey(c.kind, c.key))).size, reg.length, `${view}: one column per (kind, key)`);
    const header = viewHeader(view, reg);
    assert.deepEqual(header.slice(0, fixed.length), fixed, `${view}: fixed columns first, unchanged`);
    assert.deepEqual(FIXED_COLUMNS[view], fixed, 'FIXED_COLUMNS itself is untouched');
  }
});

test('viewHeader: fixed columns then dynamic ones by position, whatever order they are given in', () => {
  const cols: DynamicColumn[] = [
    { position: 2, name: 'c', kind: 'score_detail', key: 'c' },
    { position: 0, name: 'a', kind: 'score_detail', key: 'a' },
    { position: 1, name: 'b', kind: 'score_detail', key: 'b' },
  ];
  const copy = structuredClone(cols);
  assert.deepEqual(viewHeader('red_flags', cols), [...FIXED_COLUMNS.red_flags, 'a', 'b', 'c']);
  assert.deepEqual(cols, copy, 'the given array is not sorted in place');
  assert.deepEqual(viewHeader('workflows'), [...FIXED_COLUMNS.workflows]);
  for (const v of LONG_VIEWS) assert.deepEqual(viewHeader(v), [...FIXED_COLUMNS[v]]);
  assert.deepEqual(viewHeader('scores'), ['webhook_id', 'received_at', 'source', 'content_id', 'agent_name', 'metric', 'score', 'justification']);
  assert.deepEqual(viewHeader('workflow_fields'), ['webhook_id', 'received_at', 'content_id', 'field', 'value', 'reasoning']);
});

test('planNewColumns does not modify the registry it is given', () => {
  const existing: DynamicColumn[] = [{ position: 0, name: 'a', kind: 'score_detail', key: 'a' }];
  const before = structuredClone(existing);
  added('red_flags', existing, sd('b', 'agent_name'));
  assert.deepEqual(existing, before);
});
