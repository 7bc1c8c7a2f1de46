import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/open-db.js';
import type { ColumnRegistry } from '../store/projection.js';
import type { DynamicColumn } from './column-registry.js';
import { viewHeader } from './column-registry.js';
import { isWideView, type Cell, type ViewName, type WideViewName } from './view-names.js';

/** The rows of the events with fromSeq < seq <= toSeq, optionally within a received_at window. */
export interface SliceOptions {
  fromSeq?: number;
  toSeq: number;
  /** Inclusive lower bound on received_at (ISO 8601 UTC). */
  since?: string | undefined;
  /** Exclusive upper bound on received_at. */
  until?: string | undefined;
  pageSize?: number;
}

/** Fixed columns after webhook_id and received_at, and the table that holds them. */
const WIDE_SOURCE: Record<WideViewName, { columns: string; table: string }> = {
  red_flags: { columns: 'r.timestamp, r.content_id, r.content_type, r.file_name, r.agent_name, r.red_flag_reason, r.total_score', table: 'red_flag_rows' },
  low_scores: { columns: 'r.timestamp, r.content_id, r.content_type, r.file_name, r.agent_name, r.total_score, r.total_score_threshold, r.summary', table: 'low_score_rows' },
  completions: { columns: 'r.content_id, r.original_filename, r.score_uuid, r.created_time, r.agent_name, r.reason_for_call', table: 'completion_rows' },
  workflows: { columns: 'r.content_id, r.status, r.cost', table: 'workflow_rows' },
};
const WINDOW = '(@since IS NULL OR e.received_at >= @since) AND (@until IS NULL OR e.received_at < @until)';

/**
 * Reads view rows in seq order (the order ember-sync accepted the webhooks), a
 * page at a time with keyset pagination: memory stays constant whatever the
 * view size and no read transaction stays open between pages. Wide rows get
 * their dynamic cells from `dyn` and the column registry, padded with nulls up
 * to the view's current width.
 */
export function createViewReader(db: Db, registry: () => ColumnRegistry) {
  const widePage = {} as Record<WideViewName, Statement<[Record<string, unknown>], unknown[]>>;
  const wideCount = {} as Record<WideViewName, Statement<[Record<string, unknown>], number>>;
  for (const [view, src] of Object.entries(WIDE_SOURCE) as [WideViewName, (typeof WIDE_SOURCE)[WideViewName]][]) {
    widePage[view] = db
      .prepare<[Record<string, unknown>], unknown[]>(
        `SELECT e.webhook_id, e.received_at, ${src.columns}, r.dyn, r.seq FROM ${src.table} r JOIN events e ON e.seq = r.seq
         WHERE r.seq > @after AND r.seq <= @to AND ${WINDOW} ORDER BY r.seq LIMIT @limit`,
      )
      .raw();
    wideCount[view] = db.prepare<[Record<string, unknown>], number>(`SELECT count(*) FROM ${src.table} r JOIN events e ON e.seq = r.seq WHERE r.seq > @after AND r.seq <= @to AND ${WINDOW}`).pluck();
  }
  const scoresPage = db
    .prepare<[Record<string, unknown>], unknown[]>(
      `SELECT e.webhook_id, e.received_at, s.source, s.content_id, s.agent_name, s.metric, s.score, s.justification, s.seq, s.ord
       FROM score_rows s JOIN events e ON e.seq = s.seq
       WHERE (s.seq, s.ord) > (@after, @afterOrd) AND s.seq <= @to AND ${WINDOW} ORDER BY s.seq, s.ord LIMIT @limit`,
    )
    .raw();
  const fieldsPage = db
    .prepare<[Record<string, unknown>], unknown[]>(
      `SELECT e.webhook_id, e.received_at, f.content_id, f.field, f.value, f.reasoning, f.seq, f.ord
       FROM workflow_field_rows f JOIN events e ON e.seq = f.seq
       WHERE (f.seq, f.ord) > (@after, @afterOrd) AND f.seq <= @to AND ${WINDOW} ORDER BY f.seq, f.ord LIMIT @limit`,
    )
    .raw();
  // Without a received_at window no join is needed: a range scan of the table's own key.
  const plainCount = Object.fromEntries(
    [...Object.values(WIDE_SOURCE).map((w) => w.table), 'score_rows', 'workflow_field_rows'].map((table) => [table, db.prepare<[number, number], number>(`SELECT count(*) FROM ${table} WHERE seq > ? AND seq <= ?`).pluck()]),
  ) as Record<string, Statement<[number, number], number>>;
  const longCount = {
    scores: db.prepare<[Record<string, unknown>], number>(`SELECT count(*) FROM score_rows s JOIN events e ON e.seq = s.seq WHERE s.seq > @after AND s.seq <= @to AND ${WINDOW}`).pluck(),
    workflow_fields: db.prepare<[Record<string, unknown>], number>(`SELECT count(*) FROM workflow_field_rows s JOIN events e ON e.seq = s.seq WHERE s.seq > @after AND s.seq <= @to AND ${WINDOW}`).pluck(),
  };

  function header(view: ViewName, reg: ColumnRegistry = registry()): string[] {
    return viewHeader(view, isWideView(view) ? reg[view] : []);
  }

  function params(o: SliceOptions, after: number, afterOrd: number) {
    return { after, afterOrd, to: o.toSeq, since: o.since ?? null, until: o.until ?? null, limit: o.pageSize ?? 500 };
  }

  /**
   * Pages of rows, each row aligned to `header(view)` as read at the start.
   * The keyset columns come last in each SQL row and are cut off in place (no
   * copy per row: exports run through millions of them).
   */
  function* pages(view: ViewName, o: SliceOptions): Generator<Cell[][]> {
    let after = o.fromSeq ?? 0;
    if (isWideView(view)) {
      const dynamic: DynamicColumn[] = registry()[view];
      const width = dynamic.reduce((max, c) => Math.max(max, c.position + 1), 0);
      for (;;) {
        const rows = widePage[view].all(params(o, after, 0)) as Cell[][];
        if (rows.length === 0) return;
        after = rows[rows.length - 1]![rows[0]!.length - 1] as number;
        for (const r of rows) {
          r.pop(); // seq
          const dyn = JSON.parse(r.pop() as string) as Cell[];
          for (let i = 0; i < width; i++) r.push(dyn[i] ?? null);
        }
        yield rows;
      }
    }
    const stmt = view === 'scores' ? scoresPage : fieldsPage;
    // Keyset (seq, ord): start after every row of event `after`.
    let afterOrd = Number.MAX_SAFE_INTEGER;
    for (;;) {
      const rows = stmt.all(params(o, after, afterOrd)) as Cell[][];
      if (rows.length === 0) return;
      const last = rows[rows.length - 1]!;
      after = last[last.length - 2] as number;
      afterOrd = last[last.length - 1] as number;
      for (const r of rows) r.length -= 2;
      yield rows;
    }
  }

  return {
    header,
    pages,
    /** How many rows the slice holds. */
    count(view: ViewName, o: SliceOptions): number {
      if (o.since === undefined && o.until === undefined) {
        const table = isWideView(view) ? WIDE_SOURCE[view].table : view === 'scores' ? 'score_rows' : 'workflow_field_rows';
        return plainCount[table]!.get(o.fromSeq ?? 0, o.toSeq)!;
      }
      const p = params(o, o.fromSeq ?? 0, -1);
      return isWideView(view) ? wideCount[view].get(p)! : longCount[view].get(p)!;
    },
  };
}
export type ViewReader = ReturnType<typeof createViewReader>;
