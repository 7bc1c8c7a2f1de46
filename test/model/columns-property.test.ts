/**
 * planNewColumns fed generated key sequences step by step, as the projector
 * does (each plan's columns appended to the registry that the next step
 * sees). Invariants checked on every step, plus a reference model of the
 * README's collision rule ("Column names").
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_MAX_DYNAMIC_COLUMNS, MAX_VIEW_COLUMNS, planNewColumns, type DynamicColumn, type DynamicKey, type DynamicKind } from '../../src/model/columns.js';
import type { WideViewName } from '../../src/model/views.js';
import { FIXED_COLUMN_NAMES, keyStem } from '../helpers/arbitraries.js';

/** README "Views": the fixed columns of each wide view. */
const FIXED: Record<WideViewName, readonly string[]> = {
  red_flags: ['webhook_id', 'received_at', 'timestamp', 'content_id', 'content_type', 'file_name', 'agent_name', 'red_flag_reason', 'total_score'],
  low_scores: ['webhook_id', 'received_at', 'timestamp', 'content_id', 'content_type', 'file_name', 'agent_name', 'total_score', 'total_score_threshold', 'summary'],
  completions: ['webhook_id', 'received_at', 'content_id', 'original_filename', 'score_uuid', 'created_time', 'agent_name', 'reason_for_call'],
  workflows: ['webhook_id', 'received_at', 'content_id', 'status', 'cost'],
};
const VIEWS = Object.keys(FIXED) as WideViewName[];
const PREFIX: Record<DynamicKind, string> = { score_detail: 'score_details.', field_value: 'output_schema.', field_reasoning: 'output_schema.', metric_score: 'metrics.', metric_justification: 'metrics.' };
const SUFFIX: Partial<Record<DynamicKind, string>> = { field_reasoning: '_reasoning', metric_score: '_score', metric_justification: '_justification' };
const plain = (kind: DynamicKind, key: string) => `${key}${SUFFIX[kind] ?? ''}`;
const id = (k: DynamicKey) => `${k.kind}\u0000${k.key}`;

/**
 * Keys that collide a lot: fixed names, names already carrying a prefix or a
 * ` (n)` suffix, `x` next to `x_reasoning`, and hostile generated stems.
 */
const collidingKey = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.constantFrom('', '', '', 'score_details.', 'output_schema.'), fc.constantFrom(...FIXED_COLUMN_NAMES, 'x', 'y', ''), fc.constantFrom('', '', '_reasoning', ' (2)', ' (3)', '_reasoning (2)'))
      .map(([p, k, s]) => p + k + s),
  },
  { weight: 1, arbitrary: keyStem },
);
/** What a step wants: flatten emits a field's value then its reasoning, or score_details keys; sometimes anything in any order. */
const wantedOf = (view: WideViewName): fc.Arbitrary<DynamicKey[]> =>
  fc.oneof(
    view === 'workflows'
      ? fc.array(collidingKey, { maxLength: 8 }).map((keys) => keys.flatMap((key): DynamicKey[] => [{ kind: 'field_value', key }, { kind: 'field_reasoning', key }]))
      : fc.array(collidingKey.map((key): DynamicKey => ({ kind: 'score_detail', key })), { maxLength: 12 }),
    fc.array(fc.record({ kind: fc.constantFrom<DynamicKind>('score_detail', 'field_value', 'field_reasoning'), key: collidingKey }, { noNullPrototype: true }), { maxLength: 12 }),
  );

const scenario = fc.constantFrom(...VIEWS).chain((view) =>
  fc.record({
    view: fc.constant(view),
    maxColumns: fc.option(fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 13, max: 60 })), { nil: undefined }),
    steps: fc.array(wantedOf(view), { minLength: 1, maxLength: 10 }),
  }),
);

/** The README's naming rule and cap, step by step: the reference the plan must equal. */
function model(view: WideViewName, existing: readonly DynamicColumn[], wanted: readonly DynamicKey[], cap: number) {
  const taken = new Set([...FIXED[view], ...existing.map((c) => c.name)]);
  const known = new Set(existing.map(id));
  const added: DynamicColumn[] = [];
  const overflow: DynamicKey[] = [];
  let position = existing.length;
  for (const w of wanted) {
    // A field's two columns move together: wanting one of them wants the pair.
    const group: DynamicKey[] = w.kind === 'score_detail' ? [w] : (['field_value', 'field_reasoning'] as const).map((kind) => ({ kind, key: w.key }));
    const need = group.filter((k) => !known.has(id(k)));
    if (need.length === 0) continue;
    if (existing.length + added.length + need.length > cap) {
      for (const k of need) if (!overflow.some((o) => id(o) === id(k))) overflow.push({ kind: k.kind, key: k.key });
      continue;
    }
    const plainNames = need.map((k) => plain(k.kind, k.key));
    let names = plainNames;
    for (let i = 1; names.some((n) => taken.has(n)); i++) names = need.map((k) => `${PREFIX[k.kind]}${plain(k.kind, k.key)}${i === 1 ? '' : ` (${i})`}`);
    need.forEach((k, i) => {
      taken.add(names[i]!);
      known.add(id(k));
      added.push({ position: position++, name: names[i]!, kind: k.kind, key: k.key });
    });
  }
  return { added, overflow };
}

function checkStep(view: WideViewName, before: readonly DynamicColumn[], wanted: readonly DynamicKey[], maxColumns: number | undefined, label: string): DynamicColumn[] {
  const snapshot = structuredClone(before);
  const frozen = Object.freeze(before.map((c) => Object.freeze({ ...c })));
  const plan = planNewColumns(view, frozen, Object.freeze(wanted.map((w) => Object.freeze({ ...w }))), maxColumns);
  const after = [...frozen, ...plan.added];
  const cap = Math.min(maxColumns ?? DEFAULT_MAX_DYNAMIC_COLUMNS, MAX_VIEW_COLUMNS - FIXED[view].length);

  // Existing columns never change; new ones come after them.
  assert.deepEqual(after.slice(0, before.length), snapshot, `${label}: existing columns unchanged`);
  // Positions 0..n-1 in order.
  assert.deepEqual(after.map((c) => c.position), after.map((_, i) => i), `${label}: positions`);
  // Names unique, never a fixed column; one column per key.
  const names = after.map((c) => c.name);
  assert.equal(new Set(names).size, names.length, `${label}: unique names ${JSON.stringify(names)}`);
  for (const n of names) assert.ok(!FIXED[view].includes(n), `${label}: ${JSON.stringify(n)} is a fixed column`);
  assert.equal(new Set(after.map(id)).size, after.length, `${label}: one column per key`);
  // A workflow field's two columns stay together: value, then reasoning, same key, same naming variant.
  for (const [i, c] of after.entries()) {
    if (c.kind === 'field_value') {
      const r = after[i + 1];
      assert.ok(r && r.kind === 'field_reasoning' && r.key === c.key, `${label}: ${JSON.stringify(c)} is followed by its reasoning`);
      // Both plain, or both with the prefix and the same " (n)".
      const suffix = c.name === c.key ? undefined : c.name.slice(PREFIX.field_value.length + c.key.length);
      assert.equal(r.name, suffix === undefined ? `${c.key}_reasoning` : `${PREFIX.field_reasoning}${c.key}_reasoning${suffix}`, `${label}: the pair is named alike`);
    }
    if (c.kind === 'field_reasoning') {
      const v = after[i - 1];
      assert.ok(v && v.kind === 'field_value' && v.key === c.key, `${label}: ${JSON.stringify(c)} follows its value`);
    }
  }
  // Every name is the key, or the key with its origin prefix, or that with " (n)".
  for (const c of plan.added) {
    const base = plain(c.kind, c.key);
    const ok = c.name === base || c.name === PREFIX[c.kind] + base || (c.name.startsWith(PREFIX[c.kind] + base + ' (') && /^ \(\d+\)$/.test(c.name.slice(PREFIX[c.kind].length + base.length)));
    assert.ok(ok, `${label}: ${JSON.stringify(c)} is named by the collision rule`);
  }
  // The cap is never passed.
  if (before.length <= cap) assert.ok(after.length <= cap, `${label}: ${after.length} columns > cap ${cap}`);
  else assert.equal(plan.added.length, 0, `${label}: already past the cap`);
  // The overflow lists exactly the wanted keys (a field counting as its pair) that have no column, once each.
  const has = new Set(after.map(id));
  const missing = new Map<string, DynamicKey>();
  for (const w of wanted) {
    const group: DynamicKey[] = w.kind === 'score_detail' ? [w] : [{ kind: 'field_value', key: w.key }, { kind: 'field_reasoning', key: w.key }];
    for (const k of group) if (!has.has(id(k))) missing.set(id(k), k);
  }
  assert.equal(new Set(plan.overflow.map(id)).size, plan.overflow.length, `${label}: overflow lists each key once`);
  assert.deepEqual(new Set(plan.overflow.map(id)), new Set(missing.keys()), `${label}: overflow = wanted keys without a column`);
  // And the whole plan is what the README's rule gives.
  assert.deepEqual(plan, model(view, before, wanted, cap), `${label}: plan follows the collision rule`);
  return after;
}

test('property: step by step, columns stay unique, never fixed, in position order, append-only, paired, capped; overflow is exactly what got no column', () => {
  const seen = { prefixed: 0, numbered: 0, overflow: 0, pairs: 0 };
  fc.assert(
    fc.property(scenario, ({ view, maxColumns, steps }) => {
      let reg: DynamicColumn[] = [];
      steps.forEach((wanted, i) => {
        const before = reg;
        reg = checkStep(view, reg, wanted, maxColumns, `${view} step ${i}`);
        if (planNewColumns(view, before, wanted, maxColumns).overflow.length > 0) seen.overflow++;
      });
      for (const c of reg) {
        if (c.name !== c.key && c.name !== `${c.key}_reasoning`) seen.prefixed++;
        if (/ \(\d+\)$/.test(c.name) && !/ \(\d+\)(_reasoning)?$/.test(c.key)) seen.numbered++;
        if (c.kind === 'field_value') seen.pairs++;
      }
      // The same keys again add nothing.
      for (const wanted of steps) assert.deepEqual(planNewColumns(view, reg, wanted, maxColumns).added, []);
    }),
    { numRuns: 2_000 },
  );
  // The generator does reach the interesting cases.
  for (const [what, n] of Object.entries(seen)) assert.ok(n > 20, `only ${n} runs with ${what} columns`);
});

test('the Sheets width bounds the cap whatever maxColumns says; a field pair that does not fit whole is refused whole', () => {
  for (const view of VIEWS) {
    const room = MAX_VIEW_COLUMNS - FIXED[view].length;
    const reg: DynamicColumn[] = Array.from({ length: room - 1 }, (_, i) => ({ position: i, name: `k${i}`, kind: 'score_detail', key: `k${i}` }));
    const pair: DynamicKey[] = [{ kind: 'field_value', key: 'f' }, { kind: 'field_reasoning', key: 'f' }];
    const after = checkStep(view, reg, [...pair, { kind: 'score_detail', key: 'a' }, { kind: 'score_detail', key: 'b' }], 1_000_000, `${view} at the Sheets width`);
    assert.equal(after.length, room);
    assert.deepEqual(after.at(-1), { position: room - 1, name: 'a', kind: 'score_detail', key: 'a' });
  }
});
