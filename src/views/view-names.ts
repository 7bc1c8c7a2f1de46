/** The six views of PRODUCT.md and the webhook types that feed them. */
export const WEBHOOK_TYPES = ['red_flag', 'low_score', 'completion', 'workflow'] as const;
export type WebhookType = (typeof WEBHOOK_TYPES)[number];

export const WIDE_VIEWS = ['red_flags', 'low_scores', 'completions', 'workflows'] as const;
export type WideViewName = (typeof WIDE_VIEWS)[number];
export const LONG_VIEWS = ['scores', 'workflow_fields'] as const;
export type LongViewName = (typeof LONG_VIEWS)[number];
export const VIEW_NAMES = [...WIDE_VIEWS, ...LONG_VIEWS] as const;
export type ViewName = WideViewName | LongViewName;

/** The wide view each webhook type lands in (also `scores.source`). */
export const VIEW_OF_TYPE: Record<WebhookType, WideViewName> = {
  red_flag: 'red_flags',
  low_score: 'low_scores',
  completion: 'completions',
  workflow: 'workflows',
};

export function isViewName(name: string): name is ViewName {
  return (VIEW_NAMES as readonly string[]).includes(name);
}
export function isWideView(name: ViewName): name is WideViewName {
  return (WIDE_VIEWS as readonly string[]).includes(name);
}

/** A cell as every target sees it: numbers stay numbers, absent is null. */
export type Cell = string | number | null;

/** The fixed columns of PRODUCT.md, in order. This is the contract. */
export const FIXED_COLUMNS = {
  red_flags: ['webhook_id', 'received_at', 'timestamp', 'content_id', 'content_type', 'file_name', 'agent_name', 'red_flag_reason', 'total_score'],
  low_scores: ['webhook_id', 'received_at', 'timestamp', 'content_id', 'content_type', 'file_name', 'agent_name', 'total_score', 'total_score_threshold', 'summary'],
  completions: ['webhook_id', 'received_at', 'content_id', 'original_filename', 'score_uuid', 'created_time', 'agent_name', 'reason_for_call'],
  workflows: ['webhook_id', 'received_at', 'content_id', 'status', 'cost'],
  scores: ['webhook_id', 'received_at', 'source', 'content_id', 'agent_name', 'metric', 'score', 'justification'],
  workflow_fields: ['webhook_id', 'received_at', 'content_id', 'field', 'value', 'reasoning'],
} as const satisfies Record<ViewName, readonly string[]>;

/** Columns whose cells are ISO 8601 date-times (targets may type them as dates). */
export const TIME_COLUMNS: ReadonlySet<string> = new Set(['received_at', 'timestamp', 'created_time']);
