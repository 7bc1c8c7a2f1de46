import type { Cell } from '../model/cells.js';
import type { DynamicKey } from '../model/columns.js';
import type { ScoreDetails } from '../model/payload-types.js';
import { VIEW_OF_TYPE, type ViewRow, type WideViewName } from '../model/views.js';
import { toUtcIso } from '../model/time.js';
import type { TypedPayload } from '../model/webhooks.js';

/** A value for a dynamic column of a wide view, named by the payload key it came from. */
export interface DynamicCell extends DynamicKey {
  value: Cell;
}
export type ScoreRow = ViewRow<'scores'>;
export type FieldRow = ViewRow<'workflow_fields'>;

/** The fixed columns of one wide view's row, with the view they belong to. */
export type WideRow = { [V in WideViewName]: { view: V; row: ViewRow<V> } }[WideViewName];

/** Everything one webhook contributes to the views, except webhook_id/received_at (from the log). */
export type FlatEvent = WideRow & {
  contentId: string;
  agentName: Cell;
  dynamic: DynamicCell[];
  scores: ScoreRow[];
  fields: FieldRow[];
};

const SCORE_SUFFIX = '_score';
const JUSTIFICATION_SUFFIX = '_justification';

/**
 * Text as UTF-8 can hold it: a lone surrogate (valid in JSON as `\ud800`, not
 * encodable in UTF-8) becomes U+FFFD. SQLite would store it as invalid UTF-8
 * bytes and hand back three U+FFFD instead, so a key read back from the
 * column registry would no longer equal the key in the payload: the next
 * projection batch saw a new key, planned its column again and broke
 * UNIQUE (view, kind, key), parking the event. Every key and text cell leaves
 * flatten well-formed, so what it hands out is what every store and target
 * holds. (ES2024 `toWellFormed`; Node 20 has it, the ES2023 lib does not type it.)
 */
export function wellFormed(s: string): string {
  return (s as string & { toWellFormed(): string }).toWellFormed();
}

/** Only strings and (finite) numbers are cells; anything else a schema let through is absent. */
export function cell(v: unknown): Cell {
  if (typeof v === 'string') return wellFormed(v);
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * A vendor time in the shape of received_at (UTC, milliseconds): EmberQA sends
 * `2026-11-29T19:30:00-05:00` and `…Z` side by side, which no tool reads as one
 * column. Text that is not a full ISO date-time stays as sent (the raw log
 * keeps the original either way).
 */
export function vendorTime(v: unknown): Cell {
  const c = cell(v);
  return typeof c === 'string' ? (toUtcIso(c) ?? c) : c;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * An object's entries with well-formed keys. Keys that only differed by their
 * lone surrogates become the same key: they merge as duplicate keys do in
 * JSON.parse (the place of the first, the value of the last), so one event
 * never wants two columns, metrics or fields of the same name.
 */
function entries(o: Record<string, unknown>): Array<[string, unknown]> {
  const list = Object.entries(o);
  // Keys already well-formed (nearly always) are distinct as they are: nothing to merge.
  if (list.every(([key]) => (key as string & { isWellFormed(): boolean }).isWellFormed())) return list;
  const merged = new Map<string, unknown>();
  for (const [key, value] of list) merged.set(wellFormed(key), value);
  return [...merged];
}

/** One metric of score_details before it is placed in a view. */
export interface Metric {
  metric: string;
  score: Cell;
  justification: Cell;
}

/**
 * `{m}_score` and `{m}_justification` pair up into one metric `m`, in the order
 * the metric first appears; any other key is a metric of its own (a number goes
 * to `score`, a string to `justification`).
 */
export function metrics(details: ScoreDetails | undefined): Metric[] {
  if (!isRecord(details)) return [];
  const rows: Metric[] = [];
  const paired = new Map<string, Metric>();
  for (const [key, value] of entries(details)) {
    const suffix = key.endsWith(SCORE_SUFFIX) && key.length > SCORE_SUFFIX.length ? SCORE_SUFFIX : key.endsWith(JUSTIFICATION_SUFFIX) && key.length > JUSTIFICATION_SUFFIX.length ? JUSTIFICATION_SUFFIX : undefined;
    if (suffix === undefined) {
      rows.push(typeof value === 'number' ? { metric: key, score: cell(value), justification: null } : { metric: key, score: null, justification: cell(value) });
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
  return isRecord(details) ? entries(details).map(([key, value]) => ({ kind: 'score_detail' as const, key, value: cell(value) })) : [];
}

/**
 * Pure: a validated payload in, the rows of every view it feeds out. It never
 * throws on a payload its schema accepted, and is defensive about shapes an
 * edited schema might let through (a non-object is absent, a non-scalar is null).
 */
export function flattenPayload(input: TypedPayload): FlatEvent {
  const view = VIEW_OF_TYPE[input.type];
  const scored = (contentId: string, agentName: Cell, details: ScoreDetails | undefined) => ({
    contentId,
    agentName,
    dynamic: detailCells(details),
    scores: metrics(details).map((m): ScoreRow => ({ source: view, content_id: contentId, agent_name: agentName, metric: m.metric, score: m.score, justification: m.justification })),
  });
  switch (input.type) {
    case 'red_flag': {
      const p = input.payload;
      const contentId = wellFormed(String(p.content_id));
      return {
        view: 'red_flags',
        row: { timestamp: vendorTime(p.timestamp), content_id: contentId, content_type: cell(p.content_type), file_name: cell(p.file_name), agent_name: cell(p.agent_name), red_flag_reason: cell(p.red_flag_reason), total_score: cell(p.total_score) },
        ...scored(contentId, cell(p.agent_name), p.score_details),
        fields: [],
      };
    }
    case 'low_score': {
      const p = input.payload;
      const contentId = wellFormed(String(p.content_id));
      return {
        view: 'low_scores',
        row: {
          timestamp: vendorTime(p.timestamp),
          content_id: contentId,
          content_type: cell(p.content_type),
          file_name: cell(p.file_name),
          agent_name: cell(p.agent_name),
          total_score: cell(p.total_score),
          total_score_threshold: cell(p.total_score_threshold),
          summary: cell(p.summary),
        },
        ...scored(contentId, cell(p.agent_name), p.score_details),
        fields: [],
      };
    }
    case 'completion': {
      const p = input.payload;
      const d: Partial<typeof p.data> = isRecord(p.data) ? p.data : {};
      const contentId = wellFormed(String(p.content_id));
      return {
        view: 'completions',
        row: { content_id: contentId, original_filename: cell(d.original_filename), score_uuid: cell(d.score_uuid), created_time: vendorTime(d.created_time), agent_name: cell(d.agent_name), reason_for_call: cell(d.reason_for_call) },
        ...scored(contentId, cell(d.agent_name), d.score_details),
        fields: [],
      };
    }
    case 'workflow': {
      const p = input.payload;
      const d: Partial<typeof p.data> = isRecord(p.data) ? p.data : {};
      const contentId = wellFormed(String(p.content_id));
      const outputs = isRecord(d.output_schema) ? entries(d.output_schema) : [];
      const fields = outputs.map(([field, out]) => {
        const o: Record<string, unknown> = isRecord(out) ? out : {};
        return { content_id: contentId, field, value: cell(o['value']), reasoning: cell(o['reasoning']) } satisfies FieldRow;
      });
      return {
        view: 'workflows',
        row: { content_id: contentId, status: cell(d.status), cost: cell(d.cost) },
        // A workflow may carry score_details too: its metrics still reach `scores`.
        ...scored(contentId, cell(d.agent_name), d.score_details),
        dynamic: fields.flatMap((f) => [
          { kind: 'field_value' as const, key: f.field, value: f.value },
          { kind: 'field_reasoning' as const, key: f.field, value: f.reasoning },
        ]),
        fields,
      };
    }
  }
}
