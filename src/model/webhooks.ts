import type { CompletionWebhook, LowScoreWebhook, RedFlagWebhook, WorkflowCompletionWebhook } from './payload-types.js';

/** The webhook types of EmberQA's document, one JSON Schema each. */
export const WEBHOOK_TYPES = ['red_flag', 'low_score', 'completion', 'workflow'] as const;
export type WebhookType = (typeof WEBHOOK_TYPES)[number];

/** A payload that passed the schema of its type (ajv narrowed it). */
export type TypedPayload =
  | { type: 'red_flag'; payload: RedFlagWebhook }
  | { type: 'low_score'; payload: LowScoreWebhook }
  | { type: 'completion'; payload: CompletionWebhook }
  | { type: 'workflow'; payload: WorkflowCompletionWebhook };

/** One problem with a payload, as listed in a 422 and kept with a quarantined payload. */
export interface ErrorDetail {
  path: string;
  message: string;
  keyword?: string;
}
