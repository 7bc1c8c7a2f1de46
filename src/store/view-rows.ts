import type { Statement } from 'better-sqlite3';
import type { Cell } from '../model/cells.js';
import { viewHeader, type ColumnRegistry, type DynamicColumn } from '../model/columns.js';
import { hasDynamicColumns, isKeyedView, isWideView, LOG_VIEWS, rowColumns, VIEW_DEFS, type LogViewName, type ViewName } from '../model/views.js';
import { createKeyedRows, type SyncKeyedRowSource } from './keyed-rows.js';
import type { Db } from './open-db.js';
import type { SliceOptions } from './store.js';

/** One view's rows as the engine reads them (synchronously; create-store.ts hands them out as model/sync.ts's async RowSource). */
export interface SyncRowSource {
  pages(slice: SliceOptions): Iterable<Cell[][]>;
  count(slice: SliceOptions): number;
}
export interface SyncViewSnapshot {
  header: string[];
  rows: SyncRowSource;
  keyed?: SyncKeyedRowSource;
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
 * A long view's rows without the join, keyset columns first: `seq, ord, <row
 * columns>`. A page's webhook_id and received_at are read once per event
 * (eventsIn) and put in the two keyset slots, which are exactly where the view
 * wants them: a metric row no longer makes its own copies of both strings
 * (5-6 per webhook in `scores`), and SQLite walks one table instead of
 * looking each row's event up.
 */
function longPageSql(view: LogViewName): string {
  const def = VIEW_DEFS[view];
  return `SELECT r.seq, r.ord, ${rowColumns(view).map((c) => `r.${c}`).join(', ')} FROM ${def.table} r
          WHERE (r.seq, r.ord) > (@after, @afterOrd) AND r.seq <= @to ORDER BY r.seq, r.ord LIMIT @limit`;
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
  const longPage = {} as Record<LogViewName, Statement<[Record<string, unknown>], unknown[]>>;
  const eventsIn = db.prepare<[number, number], unknown[]>('SELECT seq, webhook_id, received_at FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq').raw();
  // For a page whose events are sparse in their seq range (workflow fields among every other webhook).
  const eventsAt = db.prepare<[string], unknown[]>('SELECT seq, webhook_id, received_at FROM events WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq').raw();
  for (const view of LOG_VIEWS) {
    const { table } = VIEW_DEFS[view];
    page[view] = db.prepare<[Record<string, unknown>], unknown[]>(pageSql(view)).raw();
    if (!isWideView(view)) longPage[view] = db.prepare<[Record<string, unknown>], unknown[]>(longPageSql(view)).raw();
    windowCount[view] = db.prepare<[Record<string, unknown>], number>(`SELECT count(*) FROM ${table} r JOIN events e ON e.seq = r.seq WHERE r.seq > @after AND r.seq <= @to AND ${WINDOW}`).pluck();
    // Without a received_at window no join is needed: a range scan of the table's own key.
    plainCount[view] = db.prepare<[number, number], number>(`SELECT count(*) FROM ${table} WHERE seq > ? AND seq <= ?`).pluck();
  }

  function params(o: SliceOptions, after: number, afterOrd: number) {
    return { after, afterOrd, to: o.toSeq, since: o.since ?? null, until: o.until ?? null, limit: o.pageSize ?? 500 };
  }

  /**
   * Pages of rows aligned to `viewHeader(view, dynamic)`, made in place from
   * the SQL rows (no copy per row: exports run through millions of them): the
   * keyset columns come last and are cut off, or, in a long view read without
   * a window, come first and are replaced by webhook_id and received_at.
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
    // A received_at window filters on the event: the join does it in SQLite.
    if (o.since !== undefined || o.until !== undefined) {
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
    for (;;) {
      const rows = longPage[view].all(params(o, after, afterOrd)) as Cell[][];
      if (rows.length === 0) return;
      const last = rows[rows.length - 1]!;
      after = last[0] as number;
      afterOrd = last[1] as number;
      const rowsWithEvents = withEvents(rows, pageEvents(rows));
      if (rowsWithEvents.length > 0) yield rowsWithEvents;
    }
  }

  /** The events of a page's rows: their seq range when the rows cover most of it, else exactly their seqs. */
  function pageEvents(rows: Cell[][]): Cell[][] {
    const seqs: number[] = [];
    for (const r of rows) if (r[0] !== seqs[seqs.length - 1]) seqs.push(r[0] as number);
    const first = seqs[0]!;
    const last = seqs[seqs.length - 1]!;
    if (last - first < 2 * seqs.length) return eventsIn.all(first, last) as Cell[][];
    return eventsAt.all(JSON.stringify(seqs)) as Cell[][];
  }

  /**
   * Puts each row's webhook_id and received_at in its seq and ord slots, from
   * the events of the page's seq range (both in seq order: one merge walk).
   * A row whose event is missing is dropped, as the join would drop it.
   */
  function withEvents(rows: Cell[][], events: Cell[][]): Cell[][] {
    let e = 0;
    let kept = 0;
    for (const r of rows) {
      const seq = r[0] as number;
      while (e < events.length && (events[e]![0] as number) < seq) e++;
      const event = events[e];
      if (event === undefined || event[0] !== seq) continue;
      r[0] = event[1]!;
      r[1] = event[2]!;
      rows[kept++] = r;
    }
    rows.length = kept;
    return rows;
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
    snapshot(view: ViewName, reg: ColumnRegistry = registry()): SyncViewSnapshot {
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
