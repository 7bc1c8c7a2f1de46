import type { Cell } from './cells.js';
import type { WebhookType } from './webhooks.js';

/** Every append-only view starts with these two columns, taken from the raw log itself. */
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
  contents: {
    shape: 'keyed',
    table: 'content_rows',
    key: ['content_id'],
    columns: [
      'content_id',
      'content_type',
      'file_name',
      'agent_name',
      'scored_at',
      'first_received_at',
      'last_received_at',
      'webhooks',
      'completed',
      'red_flag',
      'low_score',
      'total_score',
      'total_score_threshold',
      'red_flag_reason',
      'summary',
    ],
  },
  content_scores: {
    shape: 'keyed',
    table: 'content_score_rows',
    key: ['content_id', 'metric'],
    columns: ['content_id', 'agent_name', 'scored_at', 'metric', 'score', 'justification', 'updated_at'],
  },
  daily_agents: {
    shape: 'keyed',
    table: 'daily_agent_rows',
    key: ['day', 'agent_name'],
    columns: ['day', 'agent_name', 'contents', 'completed', 'red_flags', 'low_scores', 'avg_total_score'],
  },
  daily_metrics: {
    shape: 'keyed',
    table: 'daily_metric_rows',
    key: ['day', 'agent_name', 'metric'],
    columns: ['day', 'agent_name', 'metric', 'contents', 'avg_score', 'min_score', 'max_score'],
  },
} as const satisfies Record<
  string,
  | { shape: 'wide'; type: WebhookType; table: string; columns: readonly [EventColumn, EventColumn, ...string[]] }
  | { shape: 'long'; table: string; columns: readonly [EventColumn, EventColumn, ...string[]] }
  | { shape: 'keyed'; table: string; key: readonly string[]; columns: readonly string[] }
>;

type Defs = typeof VIEW_DEFS;
export type ViewName = keyof Defs;
export type WideViewName = { [V in ViewName]: Defs[V]['shape'] extends 'wide' ? V : never }[ViewName];
export type LongViewName = { [V in ViewName]: Defs[V]['shape'] extends 'long' ? V : never }[ViewName];
/** Views whose rows are the current truth per key (they change as webhooks arrive). */
export type KeyedViewName = { [V in ViewName]: Defs[V]['shape'] extends 'keyed' ? V : never }[ViewName];
/** Append-only views: one row per webhook (or per metric or field of one), never changed once written. */
export type LogViewName = WideViewName | LongViewName;
/** Views that continue with dynamic columns after their fixed ones (see columns.ts). */
export type ColumnViewName = WideViewName | 'contents';

export const VIEW_NAMES = Object.keys(VIEW_DEFS) as ViewName[];
export const WIDE_VIEWS = VIEW_NAMES.filter((v): v is WideViewName => VIEW_DEFS[v].shape === 'wide');
export const LONG_VIEWS = VIEW_NAMES.filter((v): v is LongViewName => VIEW_DEFS[v].shape === 'long');
export const KEYED_VIEWS = VIEW_NAMES.filter((v): v is KeyedViewName => VIEW_DEFS[v].shape === 'keyed');
export const LOG_VIEWS: LogViewName[] = [...WIDE_VIEWS, ...LONG_VIEWS];
export const COLUMN_VIEWS: ColumnViewName[] = [...WIDE_VIEWS, 'contents'];

/** The columns a view's table stores, by name (everything but the event columns of append-only views). */
export type RowColumn<V extends ViewName> = V extends LogViewName ? Exclude<Defs[V]['columns'][number], EventColumn> : Defs[V]['columns'][number];
/** One projected row of a view, keyed by column: flatten fills every column of it, or the compiler says which is missing. */
export type ViewRow<V extends ViewName> = { [K in RowColumn<V>]: Cell };

/** The fixed columns of each view, in order. This is the contract. */
export const FIXED_COLUMNS = Object.fromEntries(VIEW_NAMES.map((v) => [v, VIEW_DEFS[v].columns])) as unknown as { readonly [V in ViewName]: readonly string[] };
/** The fixed columns a view's table stores itself, in order. */
export function rowColumns<V extends ViewName>(view: V): RowColumn<V>[] {
  const def = VIEW_DEFS[view];
  return (def.shape === 'keyed' ? [...def.columns] : def.columns.slice(EVENT_COLUMNS.length)) as RowColumn<V>[];
}

/** The wide view each webhook type lands in (also `scores.source`). */
export const VIEW_OF_TYPE = Object.fromEntries(WIDE_VIEWS.map((v) => [VIEW_DEFS[v].type, v])) as Record<WebhookType, WideViewName>;

export function isViewName(name: string): name is ViewName {
  return Object.hasOwn(VIEW_DEFS, name);
}
export function isWideView(name: ViewName): name is WideViewName {
  return VIEW_DEFS[name].shape === 'wide';
}
export function isKeyedView(name: ViewName): name is KeyedViewName {
  return VIEW_DEFS[name].shape === 'keyed';
}
export function hasDynamicColumns(name: ViewName): name is ColumnViewName {
  return VIEW_DEFS[name].shape === 'wide' || name === 'contents';
}

/** Fixed columns whose cells are ISO 8601 UTC date-times (targets may type them as dates). */
export const TIME_COLUMNS: ReadonlySet<string> = new Set(['received_at', 'timestamp', 'created_time', 'scored_at', 'first_received_at', 'last_received_at', 'updated_at']);
/** Fixed columns whose cells are calendar days `yyyy-mm-dd` in REPORT_TIMEZONE. */
export const DAY_COLUMNS: ReadonlySet<string> = new Set(['day']);
/** Fixed columns whose cells are booleans, per view (daily_agents.completed is a count). */
export const BOOLEAN_COLUMNS: { readonly [V in ViewName]?: ReadonlySet<string> } = { contents: new Set(['completed', 'red_flag', 'low_score']) };

/** How a column's cells are typed by targets: ISO 8601 UTC times, `yyyy-mm-dd` days, or anything else. */
export type ColumnKind = 'time' | 'day' | 'plain';

/**
 * How each column of a view's header is typed: its fixed time and day columns
 * only. A dynamic column may carry the same name (a score_details key
 * `timestamp` in completions) and hold any text.
 */
export function columnKinds(view: ViewName, header: readonly string[]): ColumnKind[] {
  const fixed = FIXED_COLUMNS[view];
  return header.map((name, i) => (i >= fixed.length || fixed[i] !== name ? 'plain' : TIME_COLUMNS.has(name) ? 'time' : DAY_COLUMNS.has(name) ? 'day' : 'plain'));
}

/** Which columns of a view's header hold ISO 8601 times (see columnKinds). */
export function timeColumns(view: ViewName, header: readonly string[]): boolean[] {
  return columnKinds(view, header).map((k) => k === 'time');
}
