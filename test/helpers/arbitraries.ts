/**
 * fast-check generators of EmberQA webhook payloads, shared by the property
 * and fuzz tests. Valid payloads follow schemas/*.json (required vs optional
 * fields, `*_score` numbers 0-10, `*_justification` strings, ISO 8601
 * timestamps with a timezone, output_schema entries {value, reasoning} string
 * or null, unknown extra fields) but carry hostile content: line breaks,
 * quotes, delimiters, BOM, NUL, lone surrogates, formula starts, RTL marks,
 * non-characters, very long strings, keys that collide with fixed column
 * names or already carry the `score_details.` / `output_schema.` prefixes or a
 * ` (2)` suffix, and many keys. Invalid variants say which error code they
 * must get.
 *
 * Everything here is written from the README and the schema files, not from
 * src/ (no src helper decides what a generated payload looks like).
 */
import fc from 'fast-check';

export type PayloadType = 'red_flag' | 'low_score' | 'completion' | 'workflow';
export const PAYLOAD_TYPES: readonly PayloadType[] = ['red_flag', 'low_score', 'completion', 'workflow'];

/** A schema-valid payload and the type it must be classified as. */
export interface ValidCase {
  type: PayloadType;
  payload: Record<string, unknown>;
}

/** A payload that must be refused with 422 and this code. */
export interface InvalidCase {
  payload: Record<string, unknown>;
  code: 'schema_validation_failed' | 'unknown_webhook_type';
  /** What was broken (for failure messages). */
  why: string;
}

/** Every fixed column of every view (README "Views"): the names a dynamic key may collide with. */
export const FIXED_COLUMN_NAMES = [
  'webhook_id', 'received_at', 'timestamp', 'content_id', 'content_type', 'file_name', 'agent_name', 'red_flag_reason', 'total_score',
  'total_score_threshold', 'summary', 'original_filename', 'score_uuid', 'created_time', 'reason_for_call', 'status', 'cost',
  'source', 'metric', 'score', 'justification', 'field', 'value', 'reasoning',
] as const;

// ---------------------------------------------------------------- text

/** Pieces that break naive parsers, CSV writers, spreadsheets and UTF-8 encoders, mixed with ordinary text. */
export const PIECES = [
  '\r', '\n', '\r\n', '"', '""', "'", ',', ';', '\t', '|', '\\', '/', '\uFEFF', '\u0000', '\u0001', '\u001F', '\u007F',
  '\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uD83D', '\uDE00', // lone surrogates (high, low, half of an emoji)
  '\u202E', '\u200F', '\u200E', '\u2066', '\u2069', '\u200D', '\u0301', '\u2028', '\u2029', '\u00A0', // RTL/LTR marks, joiners, separators
  '\uFFFE', '\uFFFF', '\uFDD0', '\u{10FFFF}', '\u{1FFFE}', '\uFFFD', // non-characters and the replacement character
  '=', '+', '-', '@', '%', '$', '{', '}', '[', ']', ':', '.', '~',
  ' ', '🔥', 'é', '中', 'ß', 'a', 'Z', '0', '9', 'x y', '_', '_score', '_justification', '_reasoning', ' (2)',
];
const unit = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...PIECES) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) });
/** Starts that matter on their own: formula guard, BOM, quote, line break, tab. */
const START = fc.constantFrom('', '', '', '', '=', '+', '-', '@', '\t', '\r', '\n', '\r\n', '\uFEFF', '"', "'", '\uDC00', '\u202E');

export const shortText = fc.tuple(START, fc.string({ unit, maxLength: 14 })).map(([start, rest]) => start + rest);
/** 1,000 to 60,000 characters, cut anywhere (a surrogate pair may be split). */
export const longText = fc
  .tuple(START, fc.string({ unit, minLength: 1, maxLength: 16 }), fc.integer({ min: 1_000, max: 60_000 }))
  .map(([start, s, n]) => start + s.repeat(Math.ceil(n / s.length)).slice(0, n));
export const text = fc.oneof({ weight: 20, arbitrary: shortText }, { weight: 1, arbitrary: longText });

/** Any finite JSON number (JSON has no NaN or Infinity), including -0 and extremes. */
export const jsonNumber = fc.oneof(
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, Number.MAX_SAFE_INTEGER + 2, 1e21, 5e-324),
);
/** A `*_score` value: a number 0-10 (0, -0 and 10 included). */
export const score = fc.oneof(fc.integer({ min: 0, max: 10 }), fc.double({ min: 0, max: 10, noNaN: true }), fc.constantFrom(0, -0, 10, 9.999999999999998, 5e-324));

/** Arbitrary JSON for unknown extra fields (hostile strings, a little nesting). */
export const jsonish: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    jsonNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.array(fc.tuple(shortText, tie('v')), { maxLength: 3 }).map((e) => Object.fromEntries(e)),
  ),
})).v;

// ---------------------------------------------------------------- keys

/** Key stems: fixed column names, names that already carry a prefix or a ` (n)` suffix, prototype names, hostile text. */
export const keyStem: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...FIXED_COLUMN_NAMES) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('score_details.', 'output_schema.', ''), fc.constantFrom(...FIXED_COLUMN_NAMES, 'x', 'greeting_quality'), fc.constantFrom('', ' (2)', ' (3)', '_reasoning', '_reasoning (2)'))
      .map(([p, k, s]) => p + k + s),
  },
  { weight: 2, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '', '_score', '_justification', '_reasoning', 'a_score_justification', 'greeting_quality', 'empathy') },
  { weight: 2, arbitrary: fc.constantFrom(...PIECES) },
  { weight: 5, arbitrary: fc.string({ unit, minLength: 1, maxLength: 4 }) },
  { weight: 1, arbitrary: longText.map((s) => s.slice(0, 2_000)) },
);
/** A score_details key: a stem, often with a metric suffix. */
export const detailKey = fc.tuple(keyStem, fc.constantFrom('', '', '_score', '_justification')).map(([k, s]) => k + s);

// ---------------------------------------------------------------- fields

/** ISO 8601 date-time with a timezone in the shapes RFC 3339 (ajv-formats "date-time") accepts. */
export const timestamp: fc.Arbitrary<string> = fc
  .tuple(
    fc.date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
    fc.constantFrom('T', 'T', 't', ' ', '\t', '\n'),
    fc.constantFrom('', '.1', '.123', '.123456', '.000000001'),
    fc.constantFrom('Z', 'Z', 'z', '+00:00', '-00:00', '+05:30', '-12:00', '+14:00', '+0100', '-03', '+23:59'),
    fc.boolean(),
  )
  .map(([d, sep, frac, tz, leap]) => {
    const iso = d.toISOString(); // yyyy-mm-ddThh:mm:ss.sssZ
    const date = iso.slice(0, 10);
    const time = leap ? '23:59:60' : iso.slice(11, 19);
    return `${date}${sep}${time}${frac}${leap ? 'Z' : tz}`;
  });

/** 1 to 1000 characters (the schema's nonEmptyString), hostile. */
export const nonEmptyText = fc.oneof(
  { weight: 10, arbitrary: shortText.filter((s) => s.length > 0) },
  { weight: 1, arbitrary: fc.constantFrom('x'.repeat(999) + '🔥', '\uD800'.repeat(1000), '=cmd|" /C calc"!A0', '-1', '@SUM(1+1)') },
);
/** A webhook_id: any non-empty text UTF-8 can hold (one with a lone surrogate is a schema failure: see badWebhookId). */
export const webhookId = nonEmptyText.map((t) => (t as string & { toWellFormed(): string }).toWellFormed());
export const contentType = fc.constantFrom('Call', 'Document');

/** Builds an object whose own keys are exactly these (later duplicates win, as in JSON.parse); `__proto__` stays an own key. */
export function objectOf(entries: ReadonlyArray<readonly [string, unknown]>): Record<string, unknown> {
  return Object.fromEntries(entries);
}

/** score_details per the schema: `*_score` a number 0-10, `*_justification` a string, any other key a number or a string. */
export function scoreDetailsArb(options: { maxKeys?: number } = {}): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .array(fc.tuple(detailKey, text, score, fc.oneof(text, jsonNumber)), { maxLength: options.maxKeys ?? 12 })
    .map((entries) => objectOf(entries.map(([k, t, s, other]) => [k, k.endsWith('_score') ? s : k.endsWith('_justification') ? t : other])));
}
/** Mostly small, sometimes a few hundred keys. */
export const scoreDetails = fc.oneof({ weight: 12, arbitrary: scoreDetailsArb() }, { weight: 1, arbitrary: scoreDetailsArb({ maxKeys: 300 }) });

/** Extra keys of an output field entry besides value and reasoning. */
const entryExtras = fc.array(fc.tuple(keyStem, jsonish), { maxLength: 2 }).map((e) => e.filter(([k]) => k !== 'value' && k !== 'reasoning'));
export function outputSchemaArb(options: { maxKeys?: number } = {}): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .array(fc.tuple(keyStem, fc.option(text, { nil: null }), fc.option(text, { nil: null }), entryExtras, fc.boolean()), { maxLength: options.maxKeys ?? 8 })
    .map((fields) =>
      objectOf(fields.map(([k, value, reasoning, extras, first]) => [k, objectOf(first ? [...extras, ['value', value], ['reasoning', reasoning]] : [['reasoning', reasoning], ['value', value], ...extras])])),
    );
}
export const outputSchema = fc.oneof({ weight: 12, arbitrary: outputSchemaArb() }, { weight: 1, arbitrary: outputSchemaArb({ maxKeys: 150 }) });

/** Unknown extra fields, without the given (known) names and never alert_type/trigger_reason (they decide the type). */
function extrasArb(exclude: readonly string[], keys: fc.Arbitrary<string> = keyStem): fc.Arbitrary<Array<[string, unknown]>> {
  const skip = new Set([...exclude, 'alert_type', 'trigger_reason']);
  return fc.array(fc.tuple(keys, jsonish), { maxLength: 4 }).map((e) => e.filter(([k]) => !skip.has(k)));
}
/** Extras first or last: key order must not matter. */
function withExtras(known: Record<string, unknown>, extras: Array<[string, unknown]>, first: boolean): Record<string, unknown> {
  return first ? objectOf([...extras, ...Object.entries(known)]) : objectOf([...Object.entries(known), ...extras]);
}

const RED_FLAG_PROPS = ['webhook_id', 'content_id', 'alert_type', 'content_type', 'file_name', 'agent_name', 'red_flag_reason', 'total_score', 'score_details', 'timestamp'];
const LOW_SCORE_PROPS = ['webhook_id', 'content_id', 'alert_type', 'content_type', 'total_score', 'total_score_threshold', 'file_name', 'agent_name', 'summary', 'score_details', 'timestamp'];
const COMPLETION_PROPS = ['webhook_id', 'trigger_reason', 'content_id', 'data'];
const DATA_PROPS = ['score_details', 'original_filename', 'score_uuid', 'created_time', 'agent_name', 'reason_for_call', 'status', 'cost'];
/** Names of other types' fields: as unknown extras they must be ignored (a completion's top-level agent_name is not its agent). */
const DECOY_KEYS = fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...RED_FLAG_PROPS, ...LOW_SCORE_PROPS, ...DATA_PROPS, 'data', 'output_schema') }, { weight: 3, arbitrary: keyStem });

export const REQUIRED: Record<PayloadType, readonly string[]> = {
  red_flag: ['webhook_id', 'content_id', 'alert_type', 'content_type', 'file_name', 'red_flag_reason', 'timestamp'],
  low_score: LOW_SCORE_PROPS,
  completion: COMPLETION_PROPS,
  workflow: COMPLETION_PROPS,
};

export const redFlag: fc.Arbitrary<ValidCase> = fc
  .tuple(
    fc.record(
      {
        webhook_id: webhookId,
        content_id: nonEmptyText,
        alert_type: fc.constant('red_flag'),
        content_type: contentType,
        file_name: text,
        agent_name: text,
        red_flag_reason: text,
        total_score: jsonNumber,
        score_details: scoreDetails,
        timestamp,
      },
      { requiredKeys: ['webhook_id', 'content_id', 'alert_type', 'content_type', 'file_name', 'red_flag_reason', 'timestamp'] },
    ),
    extrasArb(RED_FLAG_PROPS, DECOY_KEYS),
    fc.boolean(),
  )
  .map(([known, extras, first]) => ({ type: 'red_flag' as const, payload: withExtras(known, extras, first) }));

export const lowScore: fc.Arbitrary<ValidCase> = fc
  .tuple(
    fc.record({
      webhook_id: webhookId,
      content_id: nonEmptyText,
      alert_type: fc.constant('low_score'),
      content_type: contentType,
      total_score: jsonNumber,
      total_score_threshold: jsonNumber,
      file_name: text,
      agent_name: text,
      summary: fc.option(text, { nil: null }),
      score_details: scoreDetails,
      timestamp,
    }),
    extrasArb(LOW_SCORE_PROPS, DECOY_KEYS),
    fc.boolean(),
  )
  .map(([known, extras, first]) => ({ type: 'low_score' as const, payload: withExtras(known, extras, first) }));

const dataFields = {
  score_details: scoreDetails,
  original_filename: text,
  score_uuid: text,
  created_time: timestamp,
  agent_name: text,
  reason_for_call: text,
  status: text,
  cost: jsonNumber,
};

export const completion: fc.Arbitrary<ValidCase> = fc
  .tuple(
    webhookId,
    nonEmptyText,
    fc.record(dataFields, { requiredKeys: [] }),
    extrasArb([...DATA_PROPS, 'output_schema'], DECOY_KEYS),
    extrasArb(COMPLETION_PROPS, DECOY_KEYS),
    fc.boolean(),
  )
  .map(([webhook_id, content_id, data, dataExtras, extras, first]) => ({
    type: 'completion' as const,
    payload: withExtras({ webhook_id, trigger_reason: 'completed_action', content_id, data: withExtras(data, dataExtras, !first) }, extras, first),
  }));

export const workflow: fc.Arbitrary<ValidCase> = fc
  .tuple(
    webhookId,
    nonEmptyText,
    outputSchema,
    fc.record(dataFields, { requiredKeys: [] }),
    extrasArb([...DATA_PROPS, 'output_schema'], DECOY_KEYS),
    extrasArb(COMPLETION_PROPS, DECOY_KEYS),
    fc.boolean(),
  )
  .map(([webhook_id, content_id, output_schema, data, dataExtras, extras, first]) => ({
    type: 'workflow' as const,
    payload: withExtras({ webhook_id, trigger_reason: 'completed_action', content_id, data: withExtras({ output_schema, ...data }, dataExtras, first) }, extras, !first),
  }));

export const validPayload: fc.Arbitrary<ValidCase> = fc.oneof(redFlag, lowScore, completion, workflow);

// ---------------------------------------------------------------- invalid variants

const badString = fc.constantFrom<unknown>(42, null, true, {}, [], ['x']);
const badNonEmpty = fc.constantFrom<unknown>('', 'x'.repeat(1001), 42, null, {}, []);
/** A lone surrogate cannot survive UTF-8, so it cannot be a dedupe key. */
const badWebhookId = fc.oneof(badNonEmpty, fc.constantFrom<unknown>('\uD800', 'id-\uDC00-x', '\uDBFF'));
const badNumber = fc.constantFrom<unknown>('42', null, true, {}, [], '');
const badTimestamp = fc.constantFrom<unknown>('2025-01-16T15:30:45', '2025-01-16T15:30:45.123', '2025-02-30T10:00:00Z', '2025-13-01T00:00:00Z', '2025-01-16', 'yesterday', '', 0, null, '2025-01-16T24:00:00Z', '2025-01-16T15:30:45+24:00', '2025-01-16T15:30:45Z ');
const badObject = fc.constantFrom<unknown>([], 'x', 1, true, null);
const badScoreEntry = fc.oneof(
  fc.tuple(fc.constant('_score'), fc.constantFrom<unknown>(11, -0.5, 10.000001, '5', null, true, [], {})),
  fc.tuple(fc.constant('_justification'), fc.constantFrom<unknown>(1, null, true, [], {})),
  fc.tuple(fc.constant(''), fc.constantFrom<unknown>(null, true, false, [], {}, [1])),
);
const badOutputEntry = fc.constantFrom<unknown>({ value: 1, reasoning: null }, { value: 'a' }, { reasoning: 'a' }, { value: null, reasoning: 2 }, { value: ['a'], reasoning: 'b' }, 'str', null, [], 3);

/** Which fixed fields may carry which wrong value, per type (paths into the payload). */
const WRONG: Record<PayloadType, Array<[string[], fc.Arbitrary<unknown>]>> = {
  red_flag: [
    [['webhook_id'], badWebhookId], [['content_id'], badNonEmpty], [['content_type'], fc.constantFrom<unknown>('Video', 'call', 'CALL', '', null, 1)],
    [['file_name'], badString], [['agent_name'], badString], [['red_flag_reason'], badString], [['total_score'], badNumber],
    [['score_details'], badObject], [['timestamp'], badTimestamp],
  ],
  low_score: [
    [['webhook_id'], badWebhookId], [['content_id'], badNonEmpty], [['content_type'], fc.constantFrom<unknown>('Video', 'document', null)],
    [['total_score'], badNumber], [['total_score_threshold'], badNumber], [['file_name'], badString], [['agent_name'], badString],
    [['summary'], fc.constantFrom<unknown>(1, true, {}, [])], [['score_details'], badObject], [['timestamp'], badTimestamp],
  ],
  completion: [
    [['webhook_id'], badWebhookId], [['content_id'], badNonEmpty], [['data'], badObject], [['data', 'created_time'], badTimestamp],
    [['data', 'cost'], badNumber], [['data', 'status'], badString], [['data', 'agent_name'], badString], [['data', 'score_details'], badObject],
    [['data', 'original_filename'], badString], [['data', 'score_uuid'], badString], [['data', 'reason_for_call'], badString],
  ],
  workflow: [
    [['webhook_id'], badWebhookId], [['content_id'], badNonEmpty], [['data'], badObject], [['data', 'output_schema'], badObject],
    [['data', 'created_time'], badTimestamp], [['data', 'cost'], badNumber], [['data', 'status'], badString], [['data', 'score_details'], badObject],
  ],
};

const clone = <T>(v: T): T => structuredClone(v);
function setPath(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    const next = o[k];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) return;
    o = next as Record<string, unknown>;
  }
  o[path.at(-1)!] = value;
}

/** A key for a bad entry: not `__proto__`, which safe parsing drops (README), taking the flaw with it. */
const badEntryKey = keyStem.filter((k) => k !== '__proto__');

/** A valid payload broken in exactly one way. */
export const invalidPayload: fc.Arbitrary<InvalidCase> = validPayload.chain(({ type, payload }) => {
  const scoreHolder = type === 'red_flag' || type === 'low_score' ? [] : ['data'];
  const variants: Array<fc.Arbitrary<InvalidCase>> = [
    // A required field missing (removing data.output_schema would only make a valid call completion).
    fc.constantFrom(...REQUIRED[type]).map((k) => {
      const p = clone(payload);
      delete p[k];
      return { payload: p, code: k === 'alert_type' || k === 'trigger_reason' ? ('unknown_webhook_type' as const) : ('schema_validation_failed' as const), why: `missing ${k}` };
    }),
    // A known field with the wrong type or format.
    fc.constantFrom(...WRONG[type]).chain(([path, bad]) =>
      bad.map((v) => {
        const p = clone(payload);
        setPath(p, path, v);
        return { payload: p, code: 'schema_validation_failed' as const, why: `${path.join('.')} = ${JSON.stringify(v)}` };
      }),
    ),
    // A score_details entry the schema refuses.
    fc.tuple(badEntryKey, badScoreEntry).map(([stem, [suffix, v]]) => {
      const p = clone(payload);
      const holder = (scoreHolder.length ? p['data'] : p) as Record<string, unknown>;
      const details = typeof holder['score_details'] === 'object' && holder['score_details'] !== null ? (holder['score_details'] as Record<string, unknown>) : {};
      // A key whose suffix decides its rule: a stem ending in _score/_justification would change it.
      const key = suffix === '' ? `${stem}_other` : stem + suffix;
      holder['score_details'] = objectOf([...Object.entries(details), [key, v]]);
      return { payload: p, code: 'schema_validation_failed' as const, why: `score_details[${JSON.stringify(key)}] = ${JSON.stringify(v)}` };
    }),
    // An unknown type.
    fc.constantFrom<unknown>('RED_FLAG', 'red-flag', 'lowscore', 'completed_action', '', 1, null, [], ['red_flag'], { red_flag: true }).map((v) => {
      const p = clone(payload);
      if (type === 'red_flag' || type === 'low_score') p['alert_type'] = v;
      else p['trigger_reason'] = v === 'completed_action' ? 'completed' : v;
      return { payload: p, code: 'unknown_webhook_type' as const, why: `type field = ${JSON.stringify(v)}` };
    }),
    fc.constant(null).map(() => {
      const p = clone(payload);
      delete p['alert_type'];
      delete p['trigger_reason'];
      return { payload: p, code: 'unknown_webhook_type' as const, why: 'neither alert_type nor trigger_reason' };
    }),
  ];
  if (type === 'workflow') {
    variants.push(
      fc.tuple(badEntryKey, badOutputEntry).map(([k, v]) => {
        const p = clone(payload);
        const data = p['data'] as Record<string, unknown>;
        data['output_schema'] = objectOf([...Object.entries(data['output_schema'] as Record<string, unknown>), [k, v]]);
        return { payload: p, code: 'schema_validation_failed' as const, why: `output_schema[${JSON.stringify(k)}] = ${JSON.stringify(v)}` };
      }),
    );
  }
  return fc.oneof(...variants);
});

/** The payload with another webhook_id (test runs make ids unique this way). */
export function withWebhookId(payload: Record<string, unknown>, id: string): Record<string, unknown> {
  return objectOf(Object.entries(payload).map(([k, v]) => [k, k === 'webhook_id' ? id : v]));
}
