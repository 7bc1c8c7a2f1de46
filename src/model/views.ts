import type { Cell } from './cells.js';
import type { WebhookType } from './webhooks.js';

/** Every view starts with these two columns, taken from the raw log itself. */
export const EVENT_COLUMNS = ['webhook_id', 'received_at'] as const;
export type EventColumn = (typeof EVENT_COLUMNS)[number];

/**
 * The one definition of every view: its fixed columns in order (the contract
 * with analysts), the table that holds its projected rows and, for wide views,
 * the webhook type that feeds it. The projection's inserts, the readers'
 * selects, the headers and the flattened rows are all derived from this table;
 * a test checks that the SQL views of the migrations match it.
 *
 * Columns after the two event columns are stored under the same name in
 * `table`. Wide views continue with dynamic columns (see columns.ts).
 */
export const VIEW_DEFS = {
  red_flags: {
    shape: 'wide',
    type: 'red_flag',
    table: 'red_flag_rows',
    columns: ['webhook_id', 'received_at', 'timestamp', 'content_id', 'content_type', 'file_name', 'agent_name', 'red_flag_reason', 'total_score'],
  },
  low_scores: {
    shape: 'wide',
    type: 'low_score',
    table: 'low_score_rows',
    columns: ['webhook_id', 'received_at', 'timestamp', 'content_id', 'content_type', 'file_name', 'agent_name', 'total_score', 'total_score_threshold', 'summary'],
  },
  completions: {
    shape: 'wide',
    type: 'completion',
    table: 'completion_rows',
    columns: ['webhook_id', 'received_at', 'content_id', 'original_filename', 'score_uuid', 'created_time', 'agent_name', 'reason_for_call'],
  },
  workflows: {
    shape: 'wide',
    type: 'workflow',
    table: 'workflow_rows',
    columns: ['webhook_id', 'received_at', 'content_id', 'status', 'cost'],
  },
  scores: {
    shape: 'long',
    table: 'score_rows',
    columns: ['webhook_id', 'received_at', 'source', 'content_id', 'agent_name', 'metric', 'score', 'justification'],
  },
  workflow_fields: {
    shape: 'long',
    table: 'workflow_field_rows',
    columns: ['webhook_id', 'received_at', 'content_id', 'field', 'value', 'reasoning'],
  },
} as const satisfies Record<string, { shape: 'wide'; type: WebhookType; table: string; columns: readonly [EventColumn, EventColumn, ...string[]] } | { shape: 'long'; table: string; columns: readonly [EventColumn, EventColumn, ...string[]] }>;

type Defs = typeof VIEW_DEFS;
export type ViewName = keyof Defs;
export type WideViewName = { [V in ViewName]: Defs[V]['shape'] extends 'wide' ? V : never }[ViewName];
export type LongViewName = Exclude<ViewName, WideViewName>;

export const VIEW_NAMES = Object.keys(VIEW_DEFS) as ViewName[];
export const WIDE_VIEWS = VIEW_NAMES.filter((v): v is WideViewName => VIEW_DEFS[v].shape === 'wide');
export const LONG_VIEWS = VIEW_NAMES.filter((v): v is LongViewName => VIEW_DEFS[v].shape === 'long');

/** The columns a view's table stores, by name (everything but the event columns). */
export type RowColumn<V extends ViewName> = Exclude<Defs[V]['columns'][number], EventColumn>;
/** One projected row of a view, keyed by column: flatten fills every column of it, or the compiler says which is missing. */
export type ViewRow<V extends ViewName> = { [K in RowColumn<V>]: Cell };

/** The fixed columns of each view, in order. This is the contract. */
export const FIXED_COLUMNS = Object.fromEntries(VIEW_NAMES.map((v) => [v, VIEW_DEFS[v].columns])) as unknown as { readonly [V in ViewName]: readonly string[] };
/** The fixed columns a view's table stores itself, in order. */
export function rowColumns<V extends ViewName>(view: V): RowColumn<V>[] {
  return VIEW_DEFS[view].columns.slice(EVENT_COLUMNS.length) as RowColumn<V>[];
}

/** The wide view each webhook type lands in (also `scores.source`). */
export const VIEW_OF_TYPE = Object.fromEntries(WIDE_VIEWS.map((v) => [VIEW_DEFS[v].type, v])) as Record<WebhookType, WideViewName>;

export function isViewName(name: string): name is ViewName {
  return Object.hasOwn(VIEW_DEFS, name);
}
export function isWideView(name: ViewName): name is WideViewName {
  return VIEW_DEFS[name].shape === 'wide';
}

/** Columns whose cells are ISO 8601 date-times (targets may type them as dates). */
export const TIME_COLUMNS: ReadonlySet<string> = new Set(['received_at', 'timestamp', 'created_time']);
