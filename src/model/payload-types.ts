// Generated from schemas/*.json by `npm run gen:types`. Do not edit by hand.

/**
 * Any webhook that EmberQA sends (one schema file per type in schemas/).
 */
export type EmberQAWebhook = RedFlagWebhook | LowScoreWebhook | CompletionWebhook | WorkflowCompletionWebhook;

/**
 * Red Flag Alert: sent when red flag criteria are detected in a call or document.
 */
export interface RedFlagWebhook {
  webhook_id: string;
  content_id: string;
  alert_type: "red_flag";
  content_type: "Call" | "Document";
  file_name: string;
  agent_name?: string;
  red_flag_reason: string;
  total_score?: number;
  score_details?: ScoreDetails;
  /**
   * ISO 8601 date-time with a timezone, as the vendor sends it (e.g. 2025-01-16T15:30:45.123Z).
   */
  timestamp: string;
  [k: string]: unknown;
}
/**
 * Metric scores and justifications: {metric}_score is a number 0-10, {metric}_justification a string; any other key is a number or a string.
 */
export interface ScoreDetails {
  [k: string]: number | string;
}
/**
 * Low Score Alert: sent when a score falls below the configured threshold.
 */
export interface LowScoreWebhook {
  webhook_id: string;
  content_id: string;
  alert_type: "low_score";
  content_type: "Call" | "Document";
  total_score: number;
  total_score_threshold: number;
  file_name: string;
  agent_name: string;
  summary: string | null;
  score_details: ScoreDetails;
  /**
   * ISO 8601 date-time with a timezone, as the vendor sends it (e.g. 2025-01-16T15:30:45.123Z).
   */
  timestamp: string;
  [k: string]: unknown;
}
/**
 * Completion Alert for a call or a document: trigger_reason completed_action without data.output_schema.
 */
export interface CompletionWebhook {
  webhook_id: string;
  trigger_reason: "completed_action";
  content_id: string;
  data: CompletionData;
  [k: string]: unknown;
}
export interface CompletionData {
  score_details?: ScoreDetails;
  original_filename?: string;
  score_uuid?: string;
  /**
   * ISO 8601 date-time with a timezone, as the vendor sends it (e.g. 2025-01-16T15:30:45.123Z).
   */
  created_time?: string;
  agent_name?: string;
  reason_for_call?: string;
  status?: string;
  cost?: number;
  [k: string]: unknown;
}
/**
 * Completion Alert for a workflow: trigger_reason completed_action with data.output_schema.
 */
export interface WorkflowCompletionWebhook {
  webhook_id: string;
  trigger_reason: "completed_action";
  content_id: string;
  data: WorkflowData;
  [k: string]: unknown;
}
export interface WorkflowData {
  output_schema: OutputSchema;
  status?: string;
  cost?: number;
  score_details?: ScoreDetails;
  original_filename?: string;
  score_uuid?: string;
  /**
   * ISO 8601 date-time with a timezone, as the vendor sends it (e.g. 2025-01-16T15:30:45.123Z).
   */
  created_time?: string;
  agent_name?: string;
  reason_for_call?: string;
  [k: string]: unknown;
}
/**
 * One entry per extracted field.
 */
export interface OutputSchema {
  [k: string]: OutputField;
}
export interface OutputField {
  value: string | null;
  reasoning: string | null;
  [k: string]: unknown;
}
