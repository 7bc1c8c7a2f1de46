import type { EmberQAWebhook } from '../model/payload-types.js';

/** Small seeded PRNG (mulberry32): the same index and seed always give the same webhook. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const AGENTS = ['John Doe', 'Jane Smith', 'Amara Okafor', 'Lukas Müller', 'Sofía Hernández', 'Wei Zhang', 'Priya Patel', 'Tom O’Brien'];
export const METRICS = ['greeting_quality', 'empathy', 'problem_resolution', 'compliance', 'professionalism', 'call_control'];
export const JUSTIFICATIONS = [
  'Agent provided a friendly greeting and stated their name',
  'Customer concern acknowledged, with a short pause before answering',
  'Failed to resolve billing issue; escalated without a ticket number',
  'Read the required disclosure, "recorded line" wording verbatim',
  'Stayed calm, polite and on topic throughout the call',
  'Let the customer talk over the agent twice, then summarised, next steps clear',
];
export const REASONS = ['Inappropriate language detected', 'Customer threatened to cancel', 'Missing compliance disclosure', 'Escalation requested by customer'];
export const CALL_REASONS = ['Customer support inquiry', 'Billing dispute', 'Address change', 'Cancellation request'];

function uuid(r: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(r() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${'89ab'[Math.floor(r() * 4)]}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function scoreDetails(r: () => number, metrics: readonly string[]): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const m of metrics) {
    out[`${m}_score`] = Math.round(r() * 100) / 10;
    out[`${m}_justification`] = JUSTIFICATIONS[Math.floor(r() * JUSTIFICATIONS.length)]!;
  }
  return out;
}

export type SimulatedKind = 'red_flag' | 'low_score' | 'completion' | 'workflow';

export interface GenerateOptions {
  seed?: number;
  /** Metrics per scored webhook (default the six above). */
  metrics?: readonly string[];
  /** Force one kind; otherwise a realistic mix (20% red flag, 30% low score, 30% call completion, 20% workflow). */
  kind?: SimulatedKind;
  /** Prefix of webhook_id, so several runs do not collide. */
  idPrefix?: string;
  now?: Date;
}

/**
 * One realistic EmberQA webhook, shaped like the vendor's examples, on its own:
 * each index is a new, unrelated content_id. Kept as is for the tests and
 * bench/ scripts that build fixtures from it; for webhooks that tell coherent
 * stories about calls (alerts, then the completion of the same call; re-scores;
 * days of history), see generateWebhooks / generateCallWebhooks in calls.ts.
 */
export function generateWebhook(index: number, options: GenerateOptions = {}): EmberQAWebhook {
  const r = rng((options.seed ?? 1) * 1_000_003 + index);
  const metrics = options.metrics ?? METRICS;
  const roll = r();
  const kind: SimulatedKind = options.kind ?? (roll < 0.2 ? 'red_flag' : roll < 0.5 ? 'low_score' : roll < 0.8 ? 'completion' : 'workflow');
  const webhook_id = `${options.idPrefix ?? ''}${uuid(r)}`;
  const content_id = uuid(r);
  const agent = AGENTS[Math.floor(r() * AGENTS.length)]!;
  const timestamp = new Date((options.now ?? new Date()).getTime() - Math.floor(r() * 60_000)).toISOString();
  const details = scoreDetails(r, metrics);
  const total = Math.round(r() * 100);
  switch (kind) {
    case 'red_flag':
      return {
        webhook_id,
        content_id,
        alert_type: 'red_flag',
        content_type: r() < 0.8 ? 'Call' : 'Document',
        file_name: `call_${index}.wav`,
        agent_name: agent,
        red_flag_reason: REASONS[Math.floor(r() * REASONS.length)]!,
        total_score: total,
        score_details: details,
        timestamp,
      };
    case 'low_score':
      return {
        webhook_id,
        content_id,
        alert_type: 'low_score',
        content_type: 'Call',
        total_score: Math.min(total, 69),
        total_score_threshold: 70,
        file_name: `sales_call_${index}.wav`,
        agent_name: agent,
        summary: r() < 0.1 ? null : 'Customer billing inquiry',
        score_details: details,
        timestamp,
      };
    case 'completion':
      return {
        webhook_id,
        trigger_reason: 'completed_action',
        content_id,
        data: {
          score_details: details,
          original_filename: `support_call_${index}.wav`,
          score_uuid: uuid(r),
          created_time: timestamp,
          agent_name: agent,
          reason_for_call: CALL_REASONS[Math.floor(r() * CALL_REASONS.length)]!,
        },
      };
    case 'workflow':
      return {
        webhook_id,
        trigger_reason: 'completed_action',
        content_id,
        data: {
          output_schema: {
            customer_name: { value: agent === 'John Doe' ? 'John Smith' : 'Maria Garcia', reasoning: 'Found in header section' },
            policy_number: { value: `POL-2025-${String(index).padStart(6, '0')}`, reasoning: 'Extracted from policy ID field' },
            renewal_date: { value: r() < 0.2 ? null : '2026-03-01', reasoning: r() < 0.2 ? null : 'Stated on page 2' },
          },
          status: 'complete',
          cost: Math.round(r() * 100) / 100,
        },
      };
  }
}
