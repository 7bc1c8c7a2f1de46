/**
 * fast-check generators of realistic webhook sequences for the keyed views:
 * a few calls and documents (content ids reused across webhooks), each with
 * red flags, low scores and completions arriving in any order; re-scores (a
 * later completion with other scores and a later vendor time, sometimes on
 * another day, sometimes with another spelling of the agent); vendor times
 * with offsets (`-05:00`, `+05:45`, `Z`…) near midnight and near the DST
 * changes of America/New_York and Europe/Berlin; completions without
 * created_time; missing, blank and differently spaced agent names; metrics
 * present in one webhook and absent in another; score-only and
 * justification-only keys; `summary: null`; workflow completions on the same
 * content ids (which the keyed views ignore); receive times that are mostly
 * increasing, sometimes earlier than the previous one (a payload released
 * from quarantine keeps its original received_at).
 *
 * Every payload follows schemas/*.json (checked in
 * test/store/keyed-oracle-self.test.ts). Metric names never collide with a
 * fixed column of `contents` (no `total`, no `low`), and a metric is never
 * named both as a plain key and as a `_score`/`_justification` stem.
 * Written from the product rules, not from src/.
 */
import fc from 'fast-check';

export interface KeyedWebhook {
  payload: Record<string, unknown>;
  /** The receive time the test hands the store for it (ISO 8601 UTC with milliseconds). */
  receivedAt: string;
}
export interface KeyedScenario {
  webhooks: KeyedWebhook[];
}

// ---------------------------------------------------------------- building blocks

/** Agents, each in several spellings (the normalised names are "John Doe", "john doe", "Jane Smith", "María José", "Ng"). */
export const AGENT_SPELLINGS: readonly string[] = [
  'John Doe', 'John Doe', '  john doe ', 'john  doe', 'John\tDoe', ' John  Doe\n',
  'Jane Smith', 'Jane Smith', 'Jane\u00A0Smith', 'Jane   Smith ',
  'María José', ' María\u2003José',
  'Ng',
];
/** Agent names that normalise to nothing (absent). */
export const BLANK_AGENTS: readonly string[] = ['', ' ', '\t \n', '\u00A0'];

/** Metrics reported as a `{m}_score` / `{m}_justification` pair (or one half of it). */
export const PAIRED_METRICS: readonly string[] = ['greeting_quality', 'problem_resolution', 'empathy', 'compliance', 'hold_time', 'professionalism', 'upsell_attempt', 'Closing Quality'];
/** Keys without a suffix: metrics of their own (number → score, text → justification); `_score`/`_justification` alone are such keys too. */
export const PLAIN_NUMBER_KEYS: readonly string[] = ['talk_ratio', 'silence_seconds', '_score'];
export const PLAIN_TEXT_KEYS: readonly string[] = ['sentiment', 'language', '_justification'];

const JUSTIFICATIONS = ['Professional greeting', 'Failed to resolve billing issue', 'ok', '', 'Said "sorry", twice', 'Line one\nline two', '=not a formula', '-3 minutes late', 'Très bien'];
const REASONS = ['Inappropriate language detected', 'Customer threatened to cancel', 'PII read aloud', '+1 escalation', ''];
const SUMMARIES = ['Customer billing inquiry', 'Refund, partial', '', '@mention follow-up'];
const CALL_REASONS = ['Customer support inquiry', 'Billing', 'Cancellation'];

/** A `*_score`: integers and quarters 0–10. */
const scoreValue = fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 40 }).map((q) => q / 4));
const totalScore = fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 1000 }).map((x) => x / 10));

/** Instants (ms) around local midnights and DST changes (2026: US Mar 8 / Nov 1; EU Mar 29 / Oct 25), plus ordinary days. */
const ANCHORS = [
  '2026-03-08T07:00:00Z', // 02:00 EST → EDT
  '2026-03-29T01:00:00Z', // 02:00 CET → CEST
  '2026-10-25T01:00:00Z', // 03:00 CEST → CET
  '2026-11-01T06:00:00Z', // 02:00 EDT → EST
  '2026-11-30T04:30:00Z', // Sunday 23:30 in New York
  '2026-11-29T23:00:00Z', // midnight in Berlin
  '2026-12-31T23:59:00Z',
  '2026-06-15T12:00:00Z',
].map((s) => Date.parse(s));

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A base instant for a content: an anchor ± up to 6 hours, at any millisecond. */
const baseInstant = fc.tuple(fc.constantFrom(...ANCHORS), fc.integer({ min: -6 * HOUR, max: 6 * HOUR })).map(([a, d]) => a + d);

/** UTC offsets the vendor may write (minutes east of UTC). */
const OFFSETS = [0, 0, -300, -240, 60, 120, 345, 330, -210, 840, -720, 0];
/** How the fraction of a second is written: none, 1, 3 or 6 digits (6 only when the last 3 are zero, so truncating and rounding agree). */
const FRACTIONS = ['none', '1', '3', '6'] as const;

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** The instant (truncated to what the chosen fraction can say) written as an ISO 8601 date-time in the offset. */
export function vendorTime(instant: number, offsetMinutes: number, fraction: (typeof FRACTIONS)[number], zulu: boolean): string {
  let t = instant;
  const msPart = ((t % 1000) + 1000) % 1000;
  if (fraction === 'none') t -= msPart;
  if (fraction === '1') t -= msPart % 100;
  const local = new Date(t + offsetMinutes * MINUTE);
  const base = `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}`;
  const m = local.getUTCMilliseconds();
  const frac = fraction === 'none' ? '' : fraction === '1' ? `.${Math.floor(m / 100)}` : fraction === '3' ? `.${pad(m, 3)}` : `.${pad(m, 3)}000`;
  const abs = Math.abs(offsetMinutes);
  const zone = offsetMinutes === 0 && zulu ? 'Z' : `${offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
  return base + frac + zone;
}

// ---------------------------------------------------------------- score_details

/** How a paired metric shows up in one webhook: both halves (in either order), or one half only. */
const PAIR_FORMS = ['both', 'both', 'both', 'score', 'justification', 'justification-first'] as const;

/** One metric as a webhook reports it: its score_details entries. */
const metricEntries: fc.Arbitrary<Array<[string, unknown]>> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.tuple(fc.constantFrom(...PAIRED_METRICS), scoreValue, fc.constantFrom(...JUSTIFICATIONS), fc.constantFrom(...PAIR_FORMS)).map(([m, s, j, form]): Array<[string, unknown]> => {
      if (form === 'score') return [[`${m}_score`, s]];
      if (form === 'justification') return [[`${m}_justification`, j]];
      if (form === 'justification-first') return [[`${m}_justification`, j], [`${m}_score`, s]];
      return [[`${m}_score`, s], [`${m}_justification`, j]];
    }),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...PLAIN_NUMBER_KEYS), scoreValue).map(([k, s]): Array<[string, unknown]> => [[k, s]]) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...PLAIN_TEXT_KEYS), fc.constantFrom(...JUSTIFICATIONS)).map(([k, j]): Array<[string, unknown]> => [[k, j]]) },
);

/** score_details with 0–5 metrics (each metric at most once). */
export const scoreDetails: fc.Arbitrary<Record<string, unknown>> = fc
  .array(metricEntries, { maxLength: 5 })
  .map((groups) => {
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    for (const g of groups) {
      const name = metricNameOfKey(g[0]![0]);
      if (seen.has(name)) continue;
      seen.add(name);
      for (const [k, v] of g) out[k] = v;
    }
    return out;
  });

function metricNameOfKey(key: string): string {
  if (key.endsWith('_score') && key.length > 6) return key.slice(0, -6);
  if (key.endsWith('_justification') && key.length > 14) return key.slice(0, -14);
  return key;
}

// ---------------------------------------------------------------- webhooks of one content

/** One webhook of a content: its kind, its vendor time relative to the content's base, and whether it re-scores later (1–50 h after). */
interface Step {
  kind: 'red_flag' | 'low_score' | 'completion' | 'workflow';
  at: number;
  rescore: boolean;
}

interface ContentPlan {
  contentId: string;
  contentType: 'Call' | 'Document';
  fileName: string;
  base: number;
  /** No vendor time at all: only completions without created_time. */
  timeless: boolean;
  steps: Step[];
}

const contentIdArb = (i: number) =>
  fc.constantFrom(`call-${i}`, `a8f5f167-aa8a-4f1e-85c7-1b9c8d6e7f${pad(i)}`, `DOC ${i}`, `c${i}`);

const stepsArb = (timeless: boolean): fc.Arbitrary<Step[]> =>
  timeless
    ? fc.array(fc.constant<Step>({ kind: 'completion', at: 0, rescore: false }), { minLength: 1, maxLength: 3 })
    : fc.array(
        fc.tuple(
          fc.constantFrom('red_flag', 'low_score', 'completion', 'completion', 'workflow'),
          fc.integer({ min: -90 * MINUTE, max: 90 * MINUTE }),
          fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1 * HOUR, max: 50 * HOUR }) }),
        ).map(([kind, delta, later]): Step => ({ kind, at: delta + later, rescore: later > 0 })),
        { minLength: 1, maxLength: 9 },
      );

const contentPlan = (i: number): fc.Arbitrary<ContentPlan> =>
  fc
    .tuple(contentIdArb(i), fc.constantFrom<'Call' | 'Document'>('Call', 'Call', 'Document'), fc.constantFrom(`support_call_${i}.wav`, `sales_${i}.mp3`, `contract-${i}.pdf`), baseInstant, fc.integer({ min: 0, max: 7 }))
    .chain(([contentId, contentType, fileName, base, t]) => stepsArb(t === 0).map((steps) => ({ contentId, contentType, fileName, base, timeless: t === 0, steps })));

/** Choices for one webhook's optional and variable fields. */
const webhookChoices = fc.record({
  agent: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...AGENT_SPELLINGS) }, { weight: 1, arbitrary: fc.constantFrom(...BLANK_AGENTS) }, { weight: 2, arbitrary: fc.constant(undefined) }),
  details: fc.option(scoreDetails, { nil: undefined, freq: 6 }),
  total: fc.option(totalScore, { nil: undefined, freq: 4 }),
  threshold: fc.integer({ min: 40, max: 80 }),
  summary: fc.option(fc.constantFrom(...SUMMARIES), { nil: null, freq: 3 }),
  reason: fc.constantFrom(...REASONS),
  fileName: fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('', '-recording.wav', '=HYPERLINK("x").wav', 'renamed final.wav') }),
  withCreatedTime: fc.integer({ min: 0, max: 5 }),
  extras: fc.integer({ min: 0, max: 7 }),
  typeChange: fc.integer({ min: 0, max: 15 }),
  time: fc.tuple(fc.constantFrom(...OFFSETS), fc.constantFrom(...FRACTIONS), fc.boolean()),
});
type Choices = typeof webhookChoices extends fc.Arbitrary<infer T> ? T : never;

function buildPayload(plan: ContentPlan, step: Step, c: Choices, webhookId: string): Record<string, unknown> {
  const at = vendorTime(plan.base + step.at, ...c.time);
  const fileName = c.fileName ?? plan.fileName;
  const contentType = c.typeChange === 0 ? (plan.contentType === 'Call' ? 'Document' : 'Call') : plan.contentType;
  switch (step.kind) {
    case 'red_flag': {
      const p: Record<string, unknown> = { webhook_id: webhookId, content_id: plan.contentId, alert_type: 'red_flag', content_type: contentType, file_name: fileName };
      if (c.agent !== undefined) p['agent_name'] = c.agent;
      p['red_flag_reason'] = c.reason;
      if (c.total !== undefined) p['total_score'] = c.total;
      if (c.details !== undefined) p['score_details'] = c.details;
      p['timestamp'] = at;
      if (c.extras === 0) p['severity'] = 'high';
      return p;
    }
    case 'low_score':
      return {
        webhook_id: webhookId,
        content_id: plan.contentId,
        alert_type: 'low_score',
        content_type: contentType,
        total_score: c.total ?? 12.5,
        total_score_threshold: c.threshold,
        file_name: fileName,
        agent_name: c.agent ?? '',
        summary: c.summary,
        score_details: c.details ?? {},
        timestamp: at,
      };
    case 'completion':
    case 'workflow': {
      const data: Record<string, unknown> = {};
      if (step.kind === 'workflow') data['output_schema'] = { customer_name: { value: 'John Smith', reasoning: 'Found in header' }, policy: { value: null, reasoning: null } };
      if (c.details !== undefined) data['score_details'] = c.details;
      if (c.fileName !== undefined || c.extras % 2 === 0) data['original_filename'] = fileName;
      if (c.agent !== undefined) data['agent_name'] = c.agent;
      if (!plan.timeless && c.withCreatedTime > 0) data['created_time'] = at;
      data['reason_for_call'] = CALL_REASONS[c.extras % CALL_REASONS.length]!;
      if (c.extras === 1) data['score_uuid'] = `su-${webhookId}`;
      if (c.extras === 2) {
        data['status'] = 'complete';
        data['cost'] = 0.45;
      }
      // Fields a completion does not take its values from (decoys): ignored by the keyed views.
      if (c.extras === 3) data['content_type'] = 'Document';
      if (c.extras === 4) data['content_id'] = plan.contentId;
      const p: Record<string, unknown> = { webhook_id: webhookId, trigger_reason: 'completed_action', content_id: plan.contentId, data };
      if (c.extras === 5) {
        p['agent_name'] = 'Top Level Decoy';
        p['total_score'] = 99;
        p['file_name'] = 'decoy.wav';
        p['timestamp'] = '2020-01-01T00:00:00Z';
      }
      return p;
    }
  }
}

/** How far apart consecutive receive times are, and whether one is set back (a replayed payload). */
const receiveStep = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 20 * MINUTE }).map((d) => ({ delta: d, back: false })) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 30 * HOUR }).map((d) => ({ delta: d, back: false })) },
  { weight: 1, arbitrary: fc.constant({ delta: 0, back: false }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 40 * HOUR }).map((d) => ({ delta: d, back: true })) },
);

/**
 * A sequence of up to `maxWebhooks` webhooks about 1–`maxContents` contents,
 * interleaved at random, with unique webhook ids and receive times.
 */
export function keyedScenario(options: { maxContents?: number; maxWebhooks?: number; idPrefix?: string } = {}): fc.Arbitrary<KeyedScenario> {
  const maxContents = options.maxContents ?? 6;
  const maxWebhooks = options.maxWebhooks ?? 40;
  const idPrefix = options.idPrefix ?? 'wh-';
  return fc
    .integer({ min: 1, max: maxContents })
    .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => contentPlan(i + 1))))
    .chain((plans) => {
      // The same content id drawn twice (e.g. both `c1`): merge them into one content.
      const total = plans.reduce((s, p) => s + p.steps.length, 0);
      const count = Math.min(total, maxWebhooks);
      return fc.tuple(
        fc.constant(plans),
        fc.array(fc.nat(), { minLength: total, maxLength: total }),
        fc.array(webhookChoices, { minLength: count, maxLength: count }),
        fc.array(receiveStep, { minLength: count, maxLength: count }),
        fc.constantFrom(...ANCHORS),
        fc.integer({ min: -8 * HOUR, max: 8 * HOUR }),
      );
    })
    .map(([plans, order, choices, steps, anchor, shift]) => {
      const all: Array<{ plan: ContentPlan; step: Step; key: number; i: number }> = [];
      // Interleave the contents at random (stable on ties), re-scores mostly late; then keep at most maxWebhooks.
      for (const plan of plans) for (const step of plan.steps) all.push({ plan, step, key: (order[all.length]! % 1000) + (step.rescore ? 600 : 0), i: all.length });
      all.sort((a, b) => a.key - b.key || a.i - b.i);
      const picked = all.slice(0, choices.length);
      // The receiver's clock moves forward; a payload released from quarantine keeps an older received_at.
      let clock = anchor + shift;
      const webhooks = picked.map(({ plan, step }, i) => {
        const r = steps[i]!;
        if (!r.back) clock += r.delta;
        const at = r.back ? clock - r.delta : clock;
        return { payload: buildPayload(plan, step, choices[i]!, `${idPrefix}${i}`), receivedAt: new Date(at).toISOString() };
      });
      return { webhooks };
    });
}
