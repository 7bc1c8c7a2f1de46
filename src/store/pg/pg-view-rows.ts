import type { Cell } from '../../model/cells.js';
import { viewHeader, type ColumnRegistry, type DynamicColumn } from '../../model/columns.js';
import { hasDynamicColumns, isKeyedView, isWideView, LOG_VIEWS, rowColumns, VIEW_DEFS, type LogViewName, type ViewName } from '../../model/views.js';
import type { SliceOptions, ViewRowsStore, ViewSnapshot } from '../store.js';
import { createPgKeyedRows } from './pg-keyed-rows.js';
import { decodeCells } from './pg-projection.js';
import type { PgPool } from './pg-pool.js';
import { fromPgText } from './pg-text.js';

/**
 * received_at compared as bytes: the database's collation could order text
 * another way than SQLite (and the ISO strings) do.
 */
const WINDOW = `($3::text IS NULL OR e.received_at COLLATE "C" >= $3::text) AND ($4::text IS NULL OR e.received_at COLLATE "C" < $4::text)`;

/**
 * A page of one view: `e.webhook_id, e.received_at, r.<row columns>, r.cells,
 * [r.dyn,] r.seq[, r.ord]`, the keyset columns last. $1 after (seq), $3 since,
 * $4 until; wide views: $2 to, $5 limit; long views: $2 after ord, $5 to, $6 limit.
 */
export function pageSql(view: LogViewName): string {
  const def = VIEW_DEFS[view];
  const cols = ['e.webhook_id', 'e.received_at', ...rowColumns(view).map((c) => `r.${c}`), 'r.cells'];
  if (def.shape === 'wide') {
    return `SELECT ${cols.join(', ')}, r.dyn, r.seq FROM ${def.table} r JOIN events e ON e.seq = r.seq
            WHERE r.seq > $1 AND r.seq <= $2 AND e.seq > $1 AND e.seq <= $2 AND ${WINDOW} ORDER BY r.seq LIMIT $5`;
  }
  // The same bounds on events too: after five runs PostgreSQL may cache a generic plan that merge-joins the
  // log from its start on every page (an export then slows down as the square of the log).
  return `SELECT ${cols.join(', ')}, r.seq, r.ord FROM ${def.table} r JOIN events e ON e.seq = r.seq
          WHERE (r.seq, r.ord) > ($1::bigint, $2::bigint) AND r.seq <= $5 AND e.seq >= $1 AND e.seq <= $5 AND ${WINDOW} ORDER BY r.seq, r.ord LIMIT $6`;
}

/** bigint columns come from node-postgres as text. */
function toInt(value: unknown): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`${String(value)} is not a safe integer`);
  return n;
}

/**
 * Reads view rows on PostgreSQL as view-rows.ts does on SQLite: in seq order,
 * a page at a time with keyset pagination (memory constant, no transaction
 * between pages), wide rows' dynamic cells from `dyn` aligned to the column
 * list the caller took. The cells are SQLite's: numbers as numbers, text as
 * text, null (a row whose cells did not fit their typed columns reads `cells`).
 */
export function createPgViewRows(pool: PgPool, registry: () => Promise<ColumnRegistry>): ViewRowsStore {
  const page = Object.fromEntries(LOG_VIEWS.map((v) => [v, pageSql(v)])) as Record<LogViewName, string>;
  const keyed = createPgKeyedRows(pool);

  async function query(name: string, text: string, values: unknown[]): Promise<unknown[][]> {
    // Rows as arrays (no object per row): through a client, which takes rowMode; failures classified by the pool.
    return pool.withClient(async (client) => (await client.query<unknown[]>({ name, text, values, rowMode: 'array' })).rows);
  }

  /**
   * Pages of rows aligned to `viewHeader(view, dynamic)`, made in place from
   * the SQL rows: the keyset columns come last and are cut off, `cells`
   * replaces the typed cells when present, `dyn` becomes the dynamic cells.
   */
  async function* pages(view: LogViewName, o: SliceOptions, dynamic: readonly DynamicColumn[]): AsyncGenerator<Cell[][]> {
    const wide = isWideView(view);
    const fixed = rowColumns(view).length;
    const width = dynamic.reduce((max, c) => Math.max(max, c.position + 1), 0);
    const limit = o.pageSize ?? 500;
    let after = o.fromSeq ?? 0;
    // Keyset (seq, ord): start after every row of event `after`.
    let afterOrd = Number.MAX_SAFE_INTEGER;
    for (;;) {
      const window = [o.since ?? null, o.until ?? null];
      const values = wide ? [after, o.toSeq, ...window, limit] : [after, afterOrd, ...window, o.toSeq, limit];
      const rows = (await query(`ember_page_${view}`, page[view], values)) as Cell[][];
      if (rows.length === 0) return;
      const last = rows[rows.length - 1]!;
      if (wide) {
        after = toInt(last[last.length - 1]);
      } else {
        after = toInt(last[last.length - 2]);
        afterOrd = last[last.length - 1] as number;
      }
      for (const r of rows) {
        r.length -= wide ? 1 : 2; // seq[, ord]
        r[0] = fromPgText(r[0] as string); // events.webhook_id is stored through toPgText (pg-event-log.ts)
        const dyn = wide ? (JSON.parse(r.pop() as string) as Cell[]) : undefined;
        const cells = r.pop() as string | null;
        if (cells !== null) {
          const exact = decodeCells(cells);
          for (let i = 0; i < fixed; i++) r[2 + i] = exact[i] ?? null;
        }
        if (dyn) for (let i = 0; i < width; i++) r.push(dyn[i] ?? null);
      }
      yield rows;
    }
  }

  /** How many rows the slice holds. */
  async function count(view: LogViewName, o: SliceOptions): Promise<number> {
    const table = VIEW_DEFS[view].table;
    if (o.since === undefined && o.until === undefined) {
      // Without a received_at window no join is needed: a range scan of the table's own key.
      const rows = await query(`ember_count_${view}`, `SELECT count(*) FROM ${table} WHERE seq > $1 AND seq <= $2`, [o.fromSeq ?? 0, o.toSeq]);
      return toInt(rows[0]![0]);
    }
    const rows = await query(`ember_window_count_${view}`, `SELECT count(*) FROM ${table} r JOIN events e ON e.seq = r.seq WHERE r.seq > $1 AND r.seq <= $2 AND e.seq > $1 AND e.seq <= $2 AND ${WINDOW}`, [
      o.fromSeq ?? 0,
      o.toSeq,
      o.since ?? null,
      o.until ?? null,
    ]);
    return toInt(rows[0]![0]);
  }

  return {
    /**
     * One view's header and rows bound to one column list: what a delivery or
     * an export reads from start to end, whatever columns are added meanwhile.
     * A keyed view's rows are its rows as of this call (pg-keyed-rows.ts).
     */
    async snapshot(view: ViewName, reg?: ColumnRegistry): Promise<ViewSnapshot> {
      const columns = reg ?? (hasDynamicColumns(view) ? await registry() : undefined);
      const dynamic = hasDynamicColumns(view) ? [...columns![view]] : [];
      const header = viewHeader(view, dynamic);
      if (isKeyedView(view)) {
        const source = await keyed.source(view, dynamic);
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
