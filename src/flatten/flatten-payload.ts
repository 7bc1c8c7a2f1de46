import type { CompletionWebhook, LowScoreWebhook, RedFlagWebhook, ScoreDetails, WorkflowCompletionWebhook } from '../ingest/payload-types.js';
import type { Cell, WideViewName } from '../views/view-names.js';
import { VIEW_OF_TYPE } from '../views/view-names.js';

export type DynamicKind = 'score_detail' | 'field_value' | 'field_reasoning';

/** A value for a dynamic column of a wide view, named by the payload key it came from. */
export interface DynamicCell {
  kind: DynamicKind;
  key: string;
  value: Cell;
}
export interface ScoreRow {
  metric: string;
  score: Cell;
  justification: Cell;
}
export interface FieldRow {
  field: string;
  value: Cell;
  reasoning: Cell;
}

/** Everything one webhook contributes to the views, except webhook_id/received_at (from the log). */
export interface FlatEvent {
  view: WideViewName;
  /** Fixed columns of the wide view after webhook_id and received_at, in order. */
  fixed: Cell[];
  contentId: string;
  agentName: Cell;
  dynamic: DynamicCell[];
  scores: ScoreRow[];
  fields: FieldRow[];
}

export type TypedPayload =
  | { type: 'red_flag'; payload: RedFlagWebhook }
  | { type: 'low_score'; payload: LowScoreWebhook }
  | { type: 'completion'; payload: CompletionWebhook }
  | { type: 'workflow'; payload: WorkflowCompletionWebhook };

const SCORE_SUFFIX = '_score';
const JUSTIFICATION_SUFFIX = '_justification';

function cell(v: unknown): Cell {
  return typeof v === 'string' || typeof v === 'number' ? v : null;
}

/**
 * `{m}_score` and `{m}_justification` pair up into one metric `m`, in the order
 * the metric first appears; any other key is a metric of its own (a number goes
 * to `score`, a string to `justification`).
 */
export function scoreRows(details: ScoreDetails | undefined): ScoreRow[] {
  if (!details) return [];
  const rows: ScoreRow[] = [];
  const paired = new Map<string, ScoreRow>();
  for (const [key, value] of Object.entries(details)) {
    const suffix = key.endsWith(SCORE_SUFFIX) && key.length > SCORE_SUFFIX.length ? SCORE_SUFFIX : key.endsWith(JUSTIFICATION_SUFFIX) && key.length > JUSTIFICATION_SUFFIX.length ? JUSTIFICATION_SUFFIX : undefined;
    if (suffix === undefined) {
      rows.push(typeof value === 'number' ? { metric: key, score: value, justification: null } : { metric: key, score: null, justification: cell(value) });
      continue;
    }
    const metric = key.slice(0, -suffix.length);
    let row = paired.get(metric);
    if (!row) {
      row = { metric, score: null, justification: null };
      paired.set(metric, row);
      rows.push(row);
    }
    if (suffix === SCORE_SUFFIX) row.score = cell(value);
    else row.justification = cell(value);
  }
  return rows;
}

function detailCells(details: ScoreDetails | undefined): DynamicCell[] {
  return Object.entries(details ?? {}).map(([key, value]) => ({ kind: 'score_detail' as const, key, value: cell(value) }));
}

/** Pure: a validated payload in, the rows of every view it feeds out. */
export function flattenPayload(input: TypedPayload): FlatEvent {
  const view = VIEW_OF_TYPE[input.type];
  switch (input.type) {
    case 'red_flag': {
      const p = input.payload;
      return {
        view,
        fixed: [p.timestamp, p.content_id, p.content_type, p.file_name, cell(p.agent_name), p.red_flag_reason, cell(p.total_score)],
        contentId: p.content_id,
        agentName: cell(p.agent_name),
        dynamic: detailCells(p.score_details),
        scores: scoreRows(p.score_details),
        fields: [],
      };
    }
    case 'low_score': {
      const p = input.payload;
      return {
        view,
        fixed: [p.timestamp, p.content_id, p.content_type, p.file_name, p.agent_name, p.total_score, p.total_score_threshold, cell(p.summary)],
        contentId: p.content_id,
        agentName: p.agent_name,
        dynamic: detailCells(p.score_details),
        scores: scoreRows(p.score_details),
        fields: [],
      };
    }
    case 'completion': {
      const p = input.payload;
      const d = p.data;
      return {
        view,
        fixed: [p.content_id, cell(d.original_filename), cell(d.score_uuid), cell(d.created_time), cell(d.agent_name), cell(d.reason_for_call)],
        contentId: p.content_id,
        agentName: cell(d.agent_name),
        dynamic: detailCells(d.score_details),
        scores: scoreRows(d.score_details),
        fields: [],
      };
    }
    case 'workflow': {
      const p = input.payload;
      const d = p.data;
      const fields = Object.entries(d.output_schema).map(([field, out]) => ({ field, value: cell(out.value), reasoning: cell(out.reasoning) }));
      return {
        view,
        fixed: [p.content_id, cell(d.status), cell(d.cost)],
        contentId: p.content_id,
        agentName: cell(d.agent_name),
        dynamic: fields.flatMap((f) => [
          { kind: 'field_value' as const, key: f.field, value: f.value },
          { kind: 'field_reasoning' as const, key: f.field, value: f.reasoning },
        ]),
        // A workflow may carry score_details too: its metrics still reach `scores`.
        scores: scoreRows(d.score_details),
        fields,
      };
    }
  }
}

