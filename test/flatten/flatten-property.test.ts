/**
 * Generated payloads against flattenPayload: every schema-valid payload (the
 * real validator says so) flattens without throwing, purely, into rows that
 * hold exactly the payload's values. The oracle below is written from the
 * README ("Views", the scores rules), not from src helpers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { flattenPayload, type FlatEvent } from '../../src/flatten/flatten-payload.js';
import { createValidator } from '../../src/ingest/validate.js';
import type { TypedPayload } from '../../src/model/webhooks.js';
import { invalidPayload, validPayload, type PayloadType, type ValidCase } from '../helpers/arbitraries.js';

const validator = createValidator();

type Cell = string | number | null;
/**
 * Text as UTF-8 (SQLite, CSV, Sheets) can hold it: a lone surrogate is one
 * U+FFFD. A view cannot hold anything else, so flatten hands out exactly this.
 */
const wellFormed = (s: string): string => (s as string & { toWellFormed(): string }).toWellFormed();
const isWellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

/** README: numbers stay numbers, text is text, a field the webhook did not have is null. */
function cellOf(v: unknown): Cell {
  if (typeof v === 'string') return wellFormed(v);
  if (typeof v === 'number') return v;
  return null;
}
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: Record<string, unknown>, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);
/** An object's entries by well-formed key; keys that become the same merge like duplicate JSON keys (first place, last value). */
function entriesOf(o: unknown): Array<[string, unknown]> {
  if (!isObj(o)) return [];
  const out: Array<[string, unknown]> = [];
  const at = new Map<string, number>();
  for (const [k0, v] of Object.entries(o)) {
    const k = wellFormed(k0);
    const i = at.get(k);
    if (i === undefined) {
      at.set(k, out.length);
      out.push([k, v]);
    } else out[i]![1] = v;
  }
  return out;
}

const VIEW: Record<PayloadType, FlatEvent['view']> = { red_flag: 'red_flags', low_score: 'low_scores', completion: 'completions', workflow: 'workflows' };
/** README "Views": fixed columns after webhook_id and received_at, and where each comes from. */
const FIXED: Record<PayloadType, { top: string[]; data: string[] }> = {
  red_flag: { top: ['timestamp', 'content_id', 'content_type', 'file_name', 'agent_name', 'red_flag_reason', 'total_score'], data: [] },
  low_score: { top: ['timestamp', 'content_id', 'content_type', 'file_name', 'agent_name', 'total_score', 'total_score_threshold', 'summary'], data: [] },
  completion: { top: ['content_id'], data: ['original_filename', 'score_uuid', 'created_time', 'agent_name', 'reason_for_call'] },
  workflow: { top: ['content_id'], data: ['status', 'cost'] },
};

/**
 * README "scores": one row per metric; `{m}_score` and `{m}_justification`
 * are metric `m` (in the order the metric first appears); a key with neither
 * suffix (or that is only the suffix) is a metric of its own: a number goes to
 * score, text to justification.
 */
function metricsOf(details: unknown): Array<{ metric: string; score: Cell; justification: Cell }> {
  const rows: Array<{ metric: string; score: Cell; justification: Cell }> = [];
  const pairs = new Map<string, { metric: string; score: Cell; justification: Cell }>();
  for (const [key, value] of entriesOf(details)) {
    const m = /^([\s\S]+)_(score|justification)$/.exec(key);
    if (!m) {
      rows.push({ metric: key, score: typeof value === 'number' ? value : null, justification: typeof value === 'string' ? wellFormed(value) : null });
      continue;
    }
    const metric = m[1]!;
    let row = pairs.get(metric);
    if (!row) {
      row = { metric, score: null, justification: null };
      pairs.set(metric, row);
      rows.push(row);
    }
    if (m[2] === 'score') row.score = cellOf(value);
    else row.justification = cellOf(value);
  }
  return rows;
}

/** An ISO 8601 date-time with a zone, in UTC with milliseconds (Date does the arithmetic here, not src/model/time.ts). */
function asUtc(text: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|([+-])(\d{2}):?(\d{2})?)$/i.exec(text);
  if (!m) return text;
  // A leap second (hh:mm:60) is the last millisecond of its minute.
  const leap = m[2]!.endsWith(':60');
  const clock = leap ? `${m[2]!.slice(0, 6)}59` : m[2]!;
  const ms = Date.parse(`${m[1]}T${clock}${leap ? '.999' : m[3] ? m[3].slice(0, 4) : ''}Z`);
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 19) !== `${m[1]}T${clock}`) return text;
  const offset = m[5] ? (m[5] === '-' ? -1 : 1) * (Number(m[6]) * 60 + Number(m[7] ?? 0)) * 60_000 : 0;
  const iso = new Date(ms - offset).toISOString();
  return iso.length === 24 ? iso : text;
}

/** What the README says one webhook contributes to the views. */
function expected({ type, payload }: ValidCase) {
  const data = type === 'completion' || type === 'workflow' ? (payload['data'] as Record<string, unknown>) : {};
  const row: Record<string, Cell> = {};
  for (const c of FIXED[type].top) row[c] = cellOf(own(payload, c));
  for (const c of FIXED[type].data) row[c] = cellOf(own(data, c));
  // README: the vendor's times are given in UTC like received_at (text that is no date-time stays as sent).
  for (const c of ['timestamp', 'created_time']) if (typeof row[c] === 'string') row[c] = asUtc(row[c] as string);
  const contentId = wellFormed(payload['content_id'] as string);
  const agentName = cellOf(type === 'red_flag' || type === 'low_score' ? own(payload, 'agent_name') : own(data, 'agent_name'));
  const details = type === 'red_flag' || type === 'low_score' ? own(payload, 'score_details') : own(data, 'score_details');
  const view = VIEW[type];
  const outputs = type === 'workflow' ? entriesOf(data['output_schema']) : [];
  const fields = outputs.map(([field, o]) => ({ content_id: contentId, field, value: cellOf((o as Record<string, unknown>)['value']), reasoning: cellOf((o as Record<string, unknown>)['reasoning']) }));
  return {
    view,
    row,
    contentId,
    agentName,
    // Wide views: one column per score_details key; workflows: <field> and <field>_reasoning per output field.
    dynamic:
      type === 'workflow'
        ? fields.flatMap((f) => [
            { kind: 'field_value', key: f.field, value: f.value },
            { kind: 'field_reasoning', key: f.field, value: f.reasoning },
          ])
        : entriesOf(details).map(([key, value]) => ({ kind: 'score_detail', key, value: cellOf(value) })),
    // A workflow that carries score_details has its metrics in scores too (source workflows).
    scores: metricsOf(details).map((m) => ({ source: view, content_id: contentId, agent_name: agentName, ...m })),
    fields,
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const k of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[k]);
  }
  return value;
}

/** Every string a flattened event hands out (keys, names, cells). */
function stringsOf(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) stringsOf(x, out);
  else if (isObj(v)) for (const [k, x] of Object.entries(v)) stringsOf(x, out.concat(k));
  return out;
}

const show = (c: ValidCase) => JSON.stringify(c.payload).slice(0, 600);

test('property: every generated valid payload passes the real validator as its type; every invalid variant is refused with its code', () => {
  fc.assert(
    fc.property(validPayload, (c) => {
      const outcome = validator.validate(c.payload);
      assert.ok(outcome.ok, `refused: ${outcome.ok ? '' : JSON.stringify(outcome.error.details)} ${show(c)}`);
      assert.equal(outcome.typed.type, c.type);
    }),
    { numRuns: 400 },
  );
  fc.assert(
    fc.property(invalidPayload, (c) => {
      const outcome = validator.validate(c.payload);
      assert.ok(!outcome.ok, `accepted although ${c.why}`);
      assert.equal(outcome.error.code, c.code, c.why);
      const details = outcome.error.details ?? [];
      assert.ok(details.length >= 1 && details.length <= 50, `${details.length} details`);
    }),
    { numRuns: 400 },
  );
});

test('property: a valid payload flattens without throwing into exactly its values (README oracle)', () => {
  fc.assert(
    fc.property(validPayload, (c) => {
      const flat = flattenPayload({ type: c.type, payload: c.payload } as TypedPayload);
      const want = expected(c);
      assert.equal(flat.view, want.view);
      assert.deepEqual(flat.row, want.row, 'fixed columns');
      assert.equal(flat.contentId, want.contentId);
      assert.deepEqual(flat.agentName, want.agentName);
      assert.deepEqual(flat.dynamic, want.dynamic, 'dynamic cells');
      assert.deepEqual(flat.scores, want.scores, 'scores rows');
      assert.deepEqual(flat.fields, want.fields, 'workflow_fields rows');
      for (const s of stringsOf(flat)) assert.ok(isWellFormed(s), `not well-formed: ${JSON.stringify(s.slice(0, 40))}`);
      // No two dynamic cells of one event compete for the same column.
      const keys = flat.dynamic.map((d) => `${d.kind}\u0000${d.key}`);
      assert.equal(new Set(keys).size, keys.length, 'dynamic keys are unique');
    }),
    { numRuns: 1_000 },
  );
});

test('property: flatten is pure: a deep-frozen payload is fine, the result is deterministic and does not alias the input', () => {
  fc.assert(
    fc.property(validPayload, (c) => {
      const copy = structuredClone(c.payload);
      const frozen = deepFreeze(structuredClone(c.payload));
      const a = flattenPayload({ type: c.type, payload: frozen } as TypedPayload);
      const b = flattenPayload({ type: c.type, payload: frozen } as TypedPayload);
      const d = flattenPayload({ type: c.type, payload: copy } as TypedPayload);
      assert.deepEqual(a, b);
      assert.deepEqual(a, d);
      assert.deepEqual(frozen, c.payload, 'input unchanged');
      // Mutating one result changes neither the input nor the next result.
      for (const s of a.scores) s.metric = 'mutated';
      for (const x of a.dynamic) x.value = 'mutated';
      assert.deepEqual(flattenPayload({ type: c.type, payload: copy } as TypedPayload), d);
    }),
    { numRuns: 200 },
  );
});

// Found by the HTTP fuzz (test/http/webhooks-fuzz.test.ts): a key with a lone
// surrogate got a column whose name SQLite stored as WTF-8 bytes and read back
// as U+FFFD×3, so the next batch no longer knew the key, tried to add it again
// and hit UNIQUE (view, name): the event was parked. Flatten now hands out
// well-formed keys and text only.
test('regression: lone surrogates in keys and values come out as U+FFFD; keys that become equal merge like duplicate JSON keys', () => {
  const flat = flattenPayload({
    type: 'red_flag',
    payload: {
      webhook_id: 'w',
      content_id: 'c\uD800',
      alert_type: 'red_flag',
      content_type: 'Call',
      file_name: 'f',
      red_flag_reason: '\uDFFFx',
      timestamp: '2025-01-16T15:30:45.123Z',
      agent_name: 'a\uD83D',
      score_details: { '\uD800_score': 1, 'b': 'j\uDC00', '\uDC00_score': 2, '\uFFFD_justification': 'k' },
    },
  } as unknown as TypedPayload);
  assert.equal(flat.contentId, 'c\uFFFD');
  assert.equal((flat.row as Record<string, Cell>)['agent_name'], 'a\uFFFD');
  assert.equal((flat.row as Record<string, Cell>)['red_flag_reason'], '\uFFFDx');
  assert.deepEqual(flat.dynamic, [
    { kind: 'score_detail', key: '\uFFFD_score', value: 2 },
    { kind: 'score_detail', key: 'b', value: 'j\uFFFD' },
    { kind: 'score_detail', key: '\uFFFD_justification', value: 'k' },
  ]);
  assert.deepEqual(
    flat.scores.map(({ metric, score, justification }) => ({ metric, score, justification })),
    [
      { metric: '\uFFFD', score: 2, justification: 'k' },
      { metric: 'b', score: null, justification: 'j\uFFFD' },
    ],
  );

  const wf = flattenPayload({
    type: 'workflow',
    payload: { webhook_id: 'w', trigger_reason: 'completed_action', content_id: 'c', data: { output_schema: { '\uD800': { value: 'v1', reasoning: null }, '\uDBFF': { value: 'v2\uD800', reasoning: 'r' } } } },
  } as unknown as TypedPayload);
  assert.deepEqual(wf.fields.map(({ field, value, reasoning }) => ({ field, value, reasoning })), [{ field: '\uFFFD', value: 'v2\uFFFD', reasoning: 'r' }]);
  assert.deepEqual(wf.dynamic, [
    { kind: 'field_value', key: '\uFFFD', value: 'v2\uFFFD' },
    { kind: 'field_reasoning', key: '\uFFFD', value: 'r' },
  ]);
});
