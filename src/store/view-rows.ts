import type { Statement } from 'better-sqlite3';
import type { Cell } from '../model/cells.js';
import { viewHeader, type ColumnRegistry, type DynamicColumn } from '../model/columns.js';
import type { KeyedRowSource, RowSlice, RowSource } from '../model/sync.js';
import { hasDynamicColumns, isKeyedView, isWideView, LOG_VIEWS, rowColumns, VIEW_DEFS, type LogViewName, type ViewName } from '../model/views.js';
import { createKeyedRows } from './keyed-rows.js';
import type { Db } from './open-db.js';

/** The rows of the events with fromSeq < seq <= toSeq, optionally within a received_at window. */
export interface SliceOptions extends RowSlice {
  /** Inclusive lower bound on received_at (ISO 8601 UTC). */
  since?: string | undefined;
  /** Exclusive upper bound on received_at. */
  until?: string | undefined;
  pageSize?: number;
}

const WINDOW = '(@since IS NULL OR e.received_at >= @since) AND (@until IS NULL OR e.received_at < @until)';

/** `SELECT e.webhook_id, e.received_at, r.<row columns>…` from the view definitions, keyset columns last. */
function pageSql(view: LogViewName): string {
  const def = VIEW_DEFS[view];
  const cols = ['e.webhook_id', 'e.received_at', ...rowColumns(view).map((c) => `r.${c}`)];
  if (def.shape === 'wide') {
    return `SELECT ${cols.join(', ')}, r.dyn, r.seq FROM ${def.table} r JOIN events e ON e.seq = r.seq
            WHERE r.seq > @after AND r.seq <= @to AND ${WINDOW} ORDER BY r.seq LIMIT @limit`;
  }
  return `SELECT ${cols.join(', ')}, r.seq, r.ord FROM ${def.table} r JOIN events e ON e.seq = r.seq
          WHERE (r.seq, r.ord) > (@after, @afterOrd) AND r.seq <= @to AND ${WINDOW} ORDER BY r.seq, r.ord LIMIT @limit`;
}

/**
 * Reads view rows in seq order (the order ember-sync accepted the webhooks), a
 * page at a time with keyset pagination: memory stays constant whatever the
 * view size and no read transaction stays open between pages. Wide rows get
 * their dynamic cells from `dyn`, aligned to the column list the caller took
 * (padded with nulls, never wider), so header and rows always agree.
 */
export function createViewRows(db: Db, registry: () => ColumnRegistry) {
  const keyed = createKeyedRows(db);
  const page = {} as Record<LogViewName, Statement<[Record<string, unknown>], unknown[]>>;
  const windowCount = {} as Record<LogViewName, Statement<[Record<string, unknown>], number>>;
  const plainCount = {} as Record<LogViewName, Statement<[number, number], number>>;
  for (const view of LOG_VIEWS) {
    const { table } = VIEW_DEFS[view];
    page[view] = db.prepare<[Record<string, unknown>], unknown[]>(pageSql(view)).raw();
    windowCount[view] = db.prepare<[Record<string, unknown>], number>(`SELECT count(*) FROM ${table} r JOIN events e ON e.seq = r.seq WHERE r.seq > @after AND r.seq <= @to AND ${WINDOW}`).pluck();
    // Without a received_at window no join is needed: a range scan of the table's own key.
    plainCount[view] = db.prepare<[number, number], number>(`SELECT count(*) FROM ${table} WHERE seq > ? AND seq <= ?`).pluck();
  }

  function params(o: SliceOptions, after: number, afterOrd: number) {
    return { after, afterOrd, to: o.toSeq, since: o.since ?? null, until: o.until ?? null, limit: o.pageSize ?? 500 };
  }

  /**
   * Pages of rows aligned to `viewHeader(view, dynamic)`. The keyset columns
   * come last in each SQL row and are cut off in place (no copy per row:
   * exports run through millions of them).
   */
  function* pages(view: LogViewName, o: SliceOptions, dynamic: readonly DynamicColumn[]): Generator<Cell[][]> {
    let after = o.fromSeq ?? 0;
    if (isWideView(view)) {
      const width = dynamic.reduce((max, c) => Math.max(max, c.position + 1), 0);
      for (;;) {
        const rows = page[view].all(params(o, after, 0)) as Cell[][];
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
    // Keyset (seq, ord): start after every row of event `after`.
    let afterOrd = Number.MAX_SAFE_INTEGER;
    for (;;) {
      const rows = page[view].all(params(o, after, afterOrd)) as Cell[][];
      if (rows.length === 0) return;
      const last = rows[rows.length - 1]!;
      after = last[last.length - 2] as number;
      afterOrd = last[last.length - 1] as number;
      for (const r of rows) r.length -= 2;
      yield rows;
    }
  }

  /** How many rows the slice holds. */
  function count(view: LogViewName, o: SliceOptions): number {
    if (o.since === undefined && o.until === undefined) return plainCount[view].get(o.fromSeq ?? 0, o.toSeq)!;
    return windowCount[view].get(params(o, o.fromSeq ?? 0, -1))!;
  }

  return {
    pages,
    count,
    /**
     * One view's header and rows bound to one column list: what a delivery or
     * an export reads from start to end, whatever columns are added meanwhile.
     * A keyed view's rows are its rows as of this call (positions 1..total),
     * in position order; seq bounds do not apply to them (they are the
     * current truth), a received_at window does (see keyed-rows.ts).
     */
    snapshot(view: ViewName, reg: ColumnRegistry = registry()): { header: string[]; rows: RowSource & { pages(slice: SliceOptions): Iterable<Cell[][]>; count(slice: SliceOptions): number }; keyed?: KeyedRowSource } {
      const dynamic = hasDynamicColumns(view) ? [...reg[view]] : [];
      const header = viewHeader(view, dynamic);
      if (isKeyedView(view)) {
        const source = keyed.source(view, dynamic);
        return {
          header,
          rows: { pages: (slice: SliceOptions) => source.windowPages(slice), count: (slice: SliceOptions) => source.windowCount(slice) },
          keyed: source,
        };
      }
      return {
        header,
        rows: {
          pages: (slice: SliceOptions) => pages(view, slice, dynamic),
          count: (slice: SliceOptions) => count(view, slice),
        },
      };
    },
  };
}
export type ViewRows = ReturnType<typeof createViewRows>;
