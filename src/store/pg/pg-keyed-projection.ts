import type { PoolClient } from 'pg';
import { payloadFacts, type ContentFacts, type ContentState } from '../../flatten/merge-content.js';
import type { Cell } from '../../model/cells.js';
import { DEFAULT_MAX_DYNAMIC_COLUMNS, type ColumnPlan, type DynamicColumn, type DynamicKey } from '../../model/columns.js';
import { dayFormatter, perZone } from '../../model/time.js';
import type { TypedPayload, WebhookType } from '../../model/webhooks.js';
import { LoadedContent, LoadedMetric, MAX_AVERAGED, type AgentGroup, type MetricGroup } from '../keyed-batch.js';
import { agentsChanged, fillDyn, KeyedMerge, metricChanged, metricColumns, movedExtremes, MONTH_VIEWS, type MonthView } from '../keyed-merge.js';
import { fromPgText, toPgText } from './pg-text.js';

/*
 * The keyed views on PostgreSQL: store/keyed-projection.ts (SQLite) ported
 * to a batch that costs a fixed number of round trips. A batch reads the
 * contents its events name with one query (their metrics with them), merges
 * every event in memory with the same merge as SQLite (keyed-merge.ts over
 * keyed-batch.ts; the pure rules of flatten/merge-content.ts), then writes
 * each table once with a multi-row statement over arrays. Daily groups whose row
 * SQLite creates the moment a content first enters them are created here at
 * the end of the batch, with the rid and changed_seq of that moment: the rows
 * and positions come out the same.
 *
 * Text from payloads (ids, names, cells) is stored through toPgText
 * (pg-text.ts): PostgreSQL cannot hold U+0000, which SQLite keeps; the
 * mapping is reversible and keeps equality, so keys still match.
 *
 * Nothing here builds SQL from payload keys: every value goes as a parameter.
 */

export interface PgKeyedItem {
  seq: number;
  type: WebhookType;
  receivedAt: string;
  /** The logged body, parsed. */
  payload: unknown;
}

/** An event could not feed the keyed views: the caller parks it and runs the batch again without it (as SQLite's KeyedApplyError). */
export class PgKeyedApplyError extends Error {
  override name = 'PgKeyedApplyError';
  constructor(
    readonly seq: number,
    override readonly cause: unknown,
  ) {
    super(`event ${seq} could not feed the keyed views: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

const average = (sum: number, n: number): number | null => (n > 0 ? sum / 1000000 / n : null);
const int = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const dayFormatterOf = perZone(dayFormatter);

/** A cell as a jsonb parameter (SQL NULL for null), its text as PostgreSQL can hold it. */
const jsonCell = (c: Cell): string | null => (c === null ? null : JSON.stringify(typeof c === 'string' ? toPgText(c) : c));
/** A cell as stored → as sent. */
export const cellFromPg = (c: Cell): Cell => (typeof c === 'string' ? fromPgText(c) : c);
const textOrNull = (s: string | null): string | null => (s === null ? null : toPgText(s));

/** Rows of content_rows as loaded: the state as stored (text through toPgText), with the content's metrics (json: [rid, metric, score, justification, updated_at, changed_seq, part_pos]). */
type ContentRow = ContentState & {
  rid: string;
  changed_seq: string;
  part: string;
  part_pos: number;
  metrics: Array<[number, string, Cell, Cell, string, number, number]>;
};

// Prepared once per connection (named at their call): a batch of 100 events spends a good share of its time in
// fixed costs, parsing and planning among them.
const SQL = {
  // Where every table ends, the months' totals, contents' dynamic columns (view_columns) and the first day kept (RETENTION_DAYS), in one round trip.
  state: `SELECT (SELECT coalesce(max(rid), 0) FROM content_rows) AS contents,
                 (SELECT coalesce(max(rid), 0) FROM content_score_rows) AS metrics,
                 (SELECT coalesce(max(rid), 0) FROM daily_agent_rows) AS agents,
                 (SELECT coalesce(max(rid), 0) FROM daily_metric_rows) AS daily_metrics,
                 (SELECT coalesce(json_agg(json_build_array(view, part, total)), '[]') FROM keyed_parts) AS parts,
                 (SELECT coalesce(json_agg(json_build_array(position, name, kind, key) ORDER BY position), '[]') FROM view_columns WHERE view = 'contents') AS columns,
                 (SELECT kept_from_day FROM retention_state WHERE id) AS kept_from_day`,
  // A lookup per id on the hash index of content_id (OFFSET 0 keeps the subquery a subquery): joined, the planner
  // chose to hash the ids and scan the whole table, a cost that grows with the table.
  contents: `SELECT c.rid, c.content_id, c.content_type, c.file_name, c.agent_name, c.scored_at, c.first_received_at, c.last_received_at, c.webhooks,
                    c.completed, c.red_flag, c.low_score, c.total_score, c.total_score_threshold, c.red_flag_reason, c.summary, c.vendor_time,
                    c.changed_seq, c.part, c.part_pos,
                    coalesce((SELECT json_agg(json_build_array(s.rid, s.metric, s.score, s.justification, s.updated_at, s.changed_seq, s.part_pos) ORDER BY s.rid)
                              FROM content_score_rows s WHERE s.content_rid = c.rid), '[]') AS metrics
             FROM unnest($1::text[]) AS k (id) CROSS JOIN LATERAL (SELECT * FROM content_rows c WHERE c.content_id = k.id OFFSET 0) c`,
  agents: `SELECT d.rid, d.day, d.agent_key, d.contents, d.completed, d.red_flags, d.low_scores, d.sum_total, d.n_total
           FROM unnest($1::text[], $2::text[]) AS k (day, agent) JOIN daily_agent_rows d ON (d.day || '|' || d.agent_key) = (k.day || '|' || k.agent)`,
  metrics: `SELECT d.rid, d.day, d.agent_key, d.metric, d.contents, d.min_score, d.max_score, d.sum_score, d.n_score
            FROM unnest($1::text[], $2::text[], $3::text[]) AS k (day, agent, metric)
            JOIN daily_metric_rows d ON (d.day || '|' || length(d.agent_key)::text || '|' || d.agent_key || d.metric) = (k.day || '|' || length(k.agent)::text || '|' || k.agent || k.metric)`,
  insertColumns: `INSERT INTO view_columns (view, position, name, kind, key, added_seq)
                  SELECT 'contents', * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::bigint[])`,
  clearOverflow: `DELETE FROM column_overflow o USING unnest($1::text[], $2::text[]) AS k (kind, key) WHERE o.view = 'contents' AND o.kind = k.kind AND o.key = k.key`,
  insertOverflow: `INSERT INTO column_overflow (view, kind, key, first_seq) SELECT 'contents', * FROM unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING`,
  upsertContents: `INSERT INTO content_rows (rid, content_id, content_type, file_name, agent_name, scored_at, first_received_at, last_received_at, webhooks, completed, red_flag, low_score,
                     total_score, total_score_threshold, red_flag_reason, summary, dyn, vendor_time, agent_key, day, changed_seq, part, part_pos)
                   SELECT * FROM unnest($1::bigint[], $2::text[], $3::jsonb[], $4::jsonb[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[], $10::bool[], $11::bool[], $12::bool[],
                     $13::jsonb[], $14::jsonb[], $15::jsonb[], $16::jsonb[], $17::jsonb[], $18::bool[], $19::text[], $20::text[], $21::bigint[], $22::text[], $23::int[])
                   ON CONFLICT (rid) DO UPDATE SET content_type = excluded.content_type, file_name = excluded.file_name, agent_name = excluded.agent_name, scored_at = excluded.scored_at,
                     first_received_at = excluded.first_received_at, last_received_at = excluded.last_received_at, webhooks = excluded.webhooks, completed = excluded.completed,
                     red_flag = excluded.red_flag, low_score = excluded.low_score, total_score = excluded.total_score, total_score_threshold = excluded.total_score_threshold,
                     red_flag_reason = excluded.red_flag_reason, summary = excluded.summary, dyn = excluded.dyn, vendor_time = excluded.vendor_time, agent_key = excluded.agent_key,
                     day = excluded.day, changed_seq = excluded.changed_seq, part = excluded.part, part_pos = excluded.part_pos`,
  // A content that changed month takes its metric rows along (their places are given again by the renumbering).
  moveMetrics: `UPDATE content_score_rows s SET part = k.part, part_pos = 0 FROM unnest($1::bigint[], $2::text[]) AS k (rid, part) WHERE s.content_rid = k.rid`,
  upsertMetrics: `INSERT INTO content_score_rows (rid, content_rid, content_id, metric, agent_name, scored_at, score, justification, updated_at, changed_seq, part, part_pos)
                  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[], $9::text[], $10::bigint[], $11::text[], $12::int[])
                  ON CONFLICT (rid) DO UPDATE SET agent_name = excluded.agent_name, scored_at = excluded.scored_at, score = excluded.score, justification = excluded.justification,
                    updated_at = excluded.updated_at, changed_seq = excluded.changed_seq, part = excluded.part, part_pos = excluded.part_pos`,
  // The rows of these months in rid order get places 1..n; answers each month's count.
  renumber: (table: 'content_rows' | 'content_score_rows') => `WITH r AS (SELECT rid, row_number() OVER (PARTITION BY part ORDER BY rid) AS pos FROM ${table} WHERE part = ANY ($1::text[])),
                   u AS (UPDATE ${table} t SET part_pos = r.pos FROM r WHERE t.rid = r.rid RETURNING t.part)
              SELECT part, count(*)::int AS n FROM u GROUP BY part`,
  setParts: `INSERT INTO keyed_parts (view, part, total, reset_seq) SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[])
             ON CONFLICT (view, part) DO UPDATE SET total = excluded.total, reset_seq = greatest(keyed_parts.reset_seq, excluded.reset_seq)`,
  upsertAgents: `INSERT INTO daily_agent_rows (rid, day, agent_key, contents, completed, red_flags, low_scores, avg_total_score, sum_total, n_total, changed_seq)
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::int[], $6::int[], $7::int[], $8::float8[], $9::bigint[], $10::int[], $11::bigint[])
                 ON CONFLICT (rid) DO UPDATE SET contents = excluded.contents, completed = excluded.completed, red_flags = excluded.red_flags, low_scores = excluded.low_scores,
                   avg_total_score = excluded.avg_total_score, sum_total = excluded.sum_total, n_total = excluded.n_total, changed_seq = excluded.changed_seq`,
  // min/max of a metric's numeric scores among the calls now in each group (the score rows are written already).
  extremes: `SELECT k.i::int AS i, min(x.v) AS lo, max(x.v) AS hi
             FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k (day, agent, metric, i)
             JOIN content_rows c ON c.day = k.day AND md5(c.agent_key) = md5(k.agent) AND c.agent_key = k.agent
             JOIN content_score_rows s ON s.content_rid = c.rid AND s.metric = k.metric
             CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(s.score) = 'number' THEN s.score::float8 END AS v) x
             WHERE abs(x.v) <= ${MAX_AVERAGED}
             GROUP BY k.i`,
  upsertMetricGroups: `INSERT INTO daily_metric_rows (rid, day, agent_key, metric, contents, avg_score, min_score, max_score, sum_score, n_score, changed_seq)
                       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int[], $6::float8[], $7::float8[], $8::float8[], $9::bigint[], $10::int[], $11::bigint[])
                       ON CONFLICT (rid) DO UPDATE SET contents = excluded.contents, avg_score = excluded.avg_score, min_score = excluded.min_score, max_score = excluded.max_score,
                         sum_score = excluded.sum_score, n_score = excluded.n_score, changed_seq = excluded.changed_seq`,
} as const;

/** Column-wise arrays for one multi-row statement: `push(a, b, c…)` per row. */
function columnsOf(width: number) {
  const cols: unknown[][] = Array.from({ length: width }, () => []);
  return {
    cols,
    push(...row: unknown[]): void {
      for (let i = 0; i < width; i++) cols[i]!.push(row[i]);
    },
    get rows(): number {
      return cols[0]!.length;
    },
  };
}

export interface PgKeyedProjectionOptions {
  /** REPORT_TIMEZONE: the zone of the days and months; read once per batch, on the batch's connection. */
  zone: (client: PoolClient) => Promise<string>;
  /** MAX_DYNAMIC_COLUMNS for contents' metric columns. */
  maxDynamicColumns?: number;
}

/**
 * The keyed views on PostgreSQL, fed by the projector inside its own
 * transaction (it holds the projector's lock: one batch at a time).
 */
export function createPgKeyedProjection(options: PgKeyedProjectionOptions) {
  const maxColumns = options.maxDynamicColumns ?? DEFAULT_MAX_DYNAMIC_COLUMNS;

  /**
   * `readsDone`: called once the batch's reads are answered (see PgKeyedProjection in pg-projection.ts): the
   * projector sends its log write then, and the server runs it while the events merge here.
   */
  async function applyBatch(client: PoolClient, items: ReadonlyArray<PgKeyedItem>, readsDone?: () => Promise<void>): Promise<void> {
    const events: Array<{ seq: number; receivedAt: string; facts: ContentFacts }> = [];
    for (const item of items) {
      if (item.type === 'workflow') continue;
      try {
        const facts = payloadFacts({ type: item.type, payload: item.payload } as TypedPayload);
        if (facts === undefined) continue;
        events.push({ seq: item.seq, receivedAt: item.receivedAt, facts });
      } catch (err) {
        throw new PgKeyedApplyError(item.seq, err);
      }
    }
    if (events.length === 0) return;

    // On the batch's own connection (queued behind the next statement, no extra wait): read on another one, it could
    // wait for the connection this transaction holds (PgBouncer with one server connection: a deadlock until timeout).
    const zoneRead = options.zone(client);
    zoneRead.catch(() => undefined); // awaited below; never an unheard rejection
    const st = (
      await client.query<{ contents: string; metrics: string; agents: string; daily_metrics: string; parts: Array<[MonthView, string, number]>; columns: Array<[number, string, DynamicColumn['kind'], string]>; kept_from_day: string | null }>({
        name: 'ember_keyed_batch_state', text: SQL.state,
      })
    ).rows[0]!;
    const ids = [...new Set(events.map((e) => e.facts.contentId))];
    const loaded = (await client.query<ContentRow>({ name: 'ember_keyed_batch_contents', text: SQL.contents, values: [ids.map(toPgText)] })).rows;
    // The caller's write runs on the server while the events merge here; awaited before the next statement
    // (one statement at a time on a connection).
    const behind = readsDone?.();
    const formatDay = dayFormatterOf(await zoneRead);
    const dayOf = (iso: string): string => formatDay(iso) ?? iso.slice(0, 10);
    let nextDailyAgentRid = int(st.agents) + 1;
    let nextDailyMetricRid = int(st.daily_metrics) + 1;
    const stored: Record<MonthView, Map<string, number>> = { contents: new Map(), content_scores: new Map() };
    for (const [view, part, total] of st.parts) stored[view].set(part, total);
    const registry: DynamicColumn[] = st.columns.map(([position, name, kind, key]) => ({ position, name: fromPgText(name), kind, key: fromPgText(key) }));

    /** Groups whose row this batch creates, in the order SQLite would insert them (their rids follow it). */
    const newAgents: AgentGroup[] = [];
    const newMetricGroups: MetricGroup[] = [];
    const addedColumns: Array<DynamicColumn & { seq: number }> = [];
    const overflow: Array<DynamicKey & { seq: number }> = [];
    // Every content the batch names is read above: none is looked for while merging. Whether a group's row is
    // stored is known only after the merge (one query for all): until then a group entered for the first time
    // is listed as new; those found stored are dropped from the list.
    const merge = new KeyedMerge(
      {
        load: () => undefined,
        agentsEntered(g: AgentGroup, seq: number): void {
          g.createdSeq = seq;
          newAgents.push(g);
        },
        metricEntered(mg: MetricGroup, seq: number): void {
          mg.createdSeq = seq;
          newMetricGroups.push(mg);
        },
        columnsPlanned(plan: ColumnPlan, seq: number): void {
          for (const c of plan.added) addedColumns.push({ ...c, seq });
          for (const k of plan.overflow) overflow.push({ ...k, seq });
        },
      },
      // RETENTION_DAYS (see KeyedMerge): a closed day's daily rows stay as they are; a call's month is never a deleted one (pg-retention.ts).
      { dayOf, closedBefore: st.kept_from_day ?? undefined, columns: registry, maxColumns, nextContentRid: int(st.contents) + 1, nextMetricRid: int(st.metrics) + 1 },
    );
    const { contents } = merge;

    for (const row of loaded) {
      const state: ContentState = {
        content_id: fromPgText(row.content_id),
        content_type: cellFromPg(row.content_type),
        file_name: cellFromPg(row.file_name),
        agent_name: row.agent_name === null ? null : fromPgText(row.agent_name),
        scored_at: row.scored_at,
        first_received_at: row.first_received_at,
        last_received_at: row.last_received_at,
        webhooks: row.webhooks,
        completed: row.completed,
        red_flag: row.red_flag,
        low_score: row.low_score,
        total_score: cellFromPg(row.total_score),
        total_score_threshold: cellFromPg(row.total_score_threshold),
        red_flag_reason: cellFromPg(row.red_flag_reason),
        summary: cellFromPg(row.summary),
        vendor_time: row.vendor_time,
      };
      const metrics = new Map<string, LoadedMetric>();
      for (const [rid, stored, storedScore, justification, updatedAt, changedSeq, partPos] of row.metrics) {
        const metric = fromPgText(stored);
        const score = cellFromPg(storedScore);
        metrics.set(metric, new LoadedMetric(metric, score, cellFromPg(justification), updatedAt, rid, partPos, changedSeq, false, score, true));
      }
      contents.set(state.content_id, new LoadedContent(int(row.rid), row.part, row.part_pos, state, state, metrics, int(row.changed_seq), false));
    }

    for (const e of events) {
      try {
        merge.apply(e.facts, e.seq, e.receivedAt);
      } catch (err) {
        throw new PgKeyedApplyError(e.seq, err);
      }
    }

    // ---------------------------------------------------------------- net changes of the daily rows (pure)
    const { agents: deltaAgents, metrics: deltaMetrics } = merge.deltas();

    // ---------------------------------------------------------------- the stored daily rows the batch touches
    const touchedAgents = [...new Set([...newAgents, ...deltaAgents])];
    const touchedMetrics = [...new Set([...newMetricGroups, ...deltaMetrics])];
    await behind;
    const agentRows = new Map<AgentGroup, { rid: number; contents: number; completed: number; red_flags: number; low_scores: number; sum: number; n: number }>();
    if (touchedAgents.length > 0) {
      const res = await client.query<{ rid: string; day: string; agent_key: string; contents: number; completed: number; red_flags: number; low_scores: number; sum_total: string; n_total: number }>({
        name: 'ember_keyed_batch_agents', text: SQL.agents,
        values: [touchedAgents.map((g) => g.day), touchedAgents.map((g) => toPgText(g.agent))],
      });
      for (const r of res.rows) {
        agentRows.set(merge.groupOf(r.day, fromPgText(r.agent_key)), { rid: int(r.rid), contents: r.contents, completed: r.completed, red_flags: r.red_flags, low_scores: r.low_scores, sum: int(r.sum_total), n: r.n_total });
      }
    }
    const metricRows = new Map<MetricGroup, { rid: number; contents: number; lo: number | null; hi: number | null; sum: number; n: number }>();
    if (touchedMetrics.length > 0) {
      const res = await client.query<{ rid: string; day: string; agent_key: string; metric: string; contents: number; min_score: number | null; max_score: number | null; sum_score: string; n_score: number }>({
        name: 'ember_keyed_batch_metrics', text: SQL.metrics,
        values: [touchedMetrics.map((g) => g.parent.day), touchedMetrics.map((g) => toPgText(g.parent.agent)), touchedMetrics.map((g) => toPgText(g.metric))],
      });
      for (const r of res.rows) {
        metricRows.set(merge.metricGroupOf(merge.groupOf(r.day, fromPgText(r.agent_key)), fromPgText(r.metric)), { rid: int(r.rid), contents: r.contents, lo: r.min_score, hi: r.max_score, sum: int(r.sum_score), n: r.n_score });
      }
    }
    // Rows SQLite would have inserted when the group was first entered, in that order.
    for (const g of newAgents) {
      if (!agentRows.has(g)) agentRows.set(g, { rid: nextDailyAgentRid++, contents: 0, completed: 0, red_flags: 0, low_scores: 0, sum: 0, n: 0 });
      else g.createdSeq = 0;
    }
    for (const g of newMetricGroups) {
      if (!metricRows.has(g)) metricRows.set(g, { rid: nextDailyMetricRid++, contents: 0, lo: null, hi: null, sum: 0, n: 0 });
      else g.createdSeq = 0;
    }

    // ---------------------------------------------------------------- months (KeyedMerge.monthPlaces)
    const { totals, resets } = merge.monthPlaces((view, part) => stored[view].get(part));

    // ---------------------------------------------------------------- writes
    if (addedColumns.length > 0) {
      await client.query({ name: 'ember_keyed_batch_insertColumns', text: SQL.insertColumns, values: [addedColumns.map((c) => c.position), addedColumns.map((c) => toPgText(c.name)), addedColumns.map((c) => c.kind), addedColumns.map((c) => toPgText(c.key)), addedColumns.map((c) => c.seq)] });
      await client.query({ name: 'ember_keyed_batch_clearOverflow', text: SQL.clearOverflow, values: [addedColumns.map((c) => c.kind), addedColumns.map((c) => toPgText(c.key))] });
    }
    if (overflow.length > 0) await client.query({ name: 'ember_keyed_batch_insertOverflow', text: SQL.insertOverflow, values: [overflow.map((k) => k.kind), overflow.map((k) => toPgText(k.key)), overflow.map((k) => k.seq)] });

    // The metrics' cells at their columns in contents, from the registry as it is now.
    const columns = metricColumns(merge.columns);
    const contentCols = columnsOf(23);
    const metricCols = columnsOf(12);
    const moves = columnsOf(2);
    for (const c of contents.values()) {
      if (!c.dirty) continue;
      const s = c.state!;
      const dyn = fillDyn([], c, columns);
      contentCols.push(
        c.rid, toPgText(s.content_id), jsonCell(s.content_type), jsonCell(s.file_name), textOrNull(s.agent_name), s.scored_at, s.first_received_at, s.last_received_at, s.webhooks, s.completed, s.red_flag, s.low_score,
        jsonCell(s.total_score), jsonCell(s.total_score_threshold), jsonCell(s.red_flag_reason), jsonCell(s.summary), JSON.stringify(dyn.map((d) => (typeof d === 'string' ? toPgText(d) : d))), s.vendor_time, toPgText(s.agent_name ?? ''), c.day, c.changedSeq, c.part, c.partPos,
      );
      if (c.partAtLoad !== undefined && c.partAtLoad !== c.part) moves.push(c.rid, c.part);
      for (const m of c.metrics.values()) {
        if (!m.dirty) continue;
        metricCols.push(m.rid, c.rid, toPgText(s.content_id), toPgText(m.metric), textOrNull(s.agent_name), s.scored_at, jsonCell(m.score), jsonCell(m.justification), m.updated_at, m.changedSeq, c.part, m.partPos);
      }
    }
    if (contentCols.rows > 0) await client.query({ name: 'ember_keyed_batch_upsertContents', text: SQL.upsertContents, values: contentCols.cols });
    if (moves.rows > 0) await client.query({ name: 'ember_keyed_batch_moveMetrics', text: SQL.moveMetrics, values: moves.cols });
    if (metricCols.rows > 0) await client.query({ name: 'ember_keyed_batch_upsertMetrics', text: SQL.upsertMetrics, values: metricCols.cols });

    // Months a row left or joined are numbered again by rid; the others keep their places and get their totals.
    const parts = columnsOf(4);
    if (resets.size > 0) {
      const resetParts = [...resets.keys()];
      for (const [view, table] of [['contents', 'content_rows'], ['content_scores', 'content_score_rows']] as const) {
        const counts = new Map((await client.query<{ part: string; n: number }>({ name: `ember_keyed_batch_renumber_${table}`, text: SQL.renumber(table), values: [resetParts] })).rows.map((r) => [r.part, r.n]));
        for (const [part, seq] of resets) parts.push(view, part, counts.get(part) ?? 0, seq);
      }
    }
    for (const view of MONTH_VIEWS) for (const [part, total] of totals[view]) parts.push(view, part, total, 0);
    if (parts.rows > 0) await client.query({ name: 'ember_keyed_batch_setParts', text: SQL.setParts, values: parts.cols });

    // Daily rows: created ones, and those whose net change is not nil.
    const agentCols = columnsOf(11);
    for (const d of touchedAgents) {
      const row = agentRows.get(d);
      if (row === undefined) continue;
      const changed = d.inDelta && agentsChanged(d);
      if (!changed && d.createdSeq === 0) continue;
      const next = changed
        ? { contents: row.contents + d.contents, completed: row.completed + d.completed, red_flags: row.red_flags + d.red_flags, low_scores: row.low_scores + d.low_scores, sum: row.sum + d.sum, n: row.n + d.n }
        : row;
      agentCols.push(row.rid, d.day, toPgText(d.agent), next.contents, next.completed, next.red_flags, next.low_scores, average(next.sum, next.n), next.sum, next.n, changed ? d.seq : d.createdSeq);
    }
    if (agentCols.rows > 0) await client.query({ name: 'ember_keyed_batch_upsertAgents', text: SQL.upsertAgents, values: agentCols.cols });

    const metricWrites: Array<{ d: MetricGroup; changed: boolean; lo: number | null; hi: number | null; readAgain: boolean }> = [];
    for (const d of touchedMetrics) {
      const was = metricRows.get(d);
      if (was === undefined) continue;
      const changed = d.inDelta && metricChanged(d);
      if (!changed) {
        if (d.createdSeq !== 0) metricWrites.push({ d, changed, lo: was.lo, hi: was.hi, readAgain: false });
        continue;
      }
      // A score that left may have been the extreme: read the extremes again from the rows (written above).
      const moved = movedExtremes(d, was.lo, was.hi, was.n);
      metricWrites.push({ d, changed, lo: moved?.lo ?? null, hi: moved?.hi ?? null, readAgain: moved === undefined });
    }
    const again = metricWrites.filter((w) => w.readAgain);
    if (again.length > 0) {
      const res = await client.query<{ i: number; lo: number | null; hi: number | null }>({
        name: 'ember_keyed_batch_extremes', text: SQL.extremes,
        values: [again.map((w) => w.d.parent.day), again.map((w) => toPgText(w.d.parent.agent)), again.map((w) => toPgText(w.d.metric))],
      });
      const found = new Map(res.rows.map((r) => [r.i, r]));
      again.forEach((w, i) => {
        const e = found.get(i + 1);
        w.lo = e?.lo ?? null;
        w.hi = e?.hi ?? null;
      });
    }
    const metricGroupCols = columnsOf(11);
    for (const { d, changed, lo, hi } of metricWrites) {
      const row = metricRows.get(d)!;
      const contentsNow = changed ? row.contents + d.contents : row.contents;
      const sum = changed ? row.sum + d.sum : row.sum;
      const n = changed ? row.n + d.n : row.n;
      metricGroupCols.push(row.rid, d.parent.day, toPgText(d.parent.agent), toPgText(d.metric), contentsNow, average(sum, n), lo, hi, sum, n, changed ? d.seq : d.createdSeq);
    }
    if (metricGroupCols.rows > 0) await client.query({ name: 'ember_keyed_batch_upsertMetricGroups', text: SQL.upsertMetricGroups, values: metricGroupCols.cols });
  }

  return {
    /** Applies the keyed effects of these events (seq order) in the caller's open transaction. */
    applyBatch,
    /**
     * Drops the keyed rows for a derivation from the start (a new
     * REPORT_TIMEZONE, a rebuild); positions start again from 1. Contents'
     * dynamic columns stay (the registry only grows). The daily rows of days
     * RETENTION_DAYS closed are kept, renumbered 1..n in their order, and the
     * new derivation's rows come after them (the log no longer holds what they
     * were summed from); their positions then differ from the last
     * derivation's, so the keyed generation moves (a new keyed epoch: targets
     * write the views whole). Returns true then, as keyed-projection.ts wipe().
     */
    async wipe(client: PoolClient): Promise<boolean> {
      await client.query('DELETE FROM content_score_rows');
      await client.query('DELETE FROM content_rows');
      await client.query('DELETE FROM keyed_parts');
      const closed = (await client.query<{ day: string | null }>({ text: 'SELECT kept_from_day AS day FROM retention_state WHERE id' })).rows[0]?.day ?? null;
      if (closed === null) {
        await client.query('DELETE FROM daily_metric_rows');
        await client.query('DELETE FROM daily_agent_rows');
        return false;
      }
      for (const table of ['daily_agent_rows', 'daily_metric_rows'] as const) {
        await client.query({ text: `DELETE FROM ${table} WHERE day >= $1`, values: [closed] });
        // Dense again in two steps: first past every rid in use, then 1..n (a rid still taken would clash).
        await client.query(`UPDATE ${table} SET rid = rid + (SELECT max(rid) FROM ${table})`);
        await client.query(`UPDATE ${table} t SET rid = r.pos FROM (SELECT rid, row_number() OVER (ORDER BY rid) AS pos FROM ${table}) AS r WHERE t.rid = r.rid`);
      }
      await client.query('UPDATE retention_state SET keyed_generation = keyed_generation + 1 WHERE id');
      return true;
    },
  };
}
export type PgKeyedProjection = ReturnType<typeof createPgKeyedProjection>;
