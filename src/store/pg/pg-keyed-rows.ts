import type { Cell } from '../../model/cells.js';
import type { DynamicColumn } from '../../model/columns.js';
import type { KeyedMonth, KeyedMonths, KeyedRows as MonthRows, KeyedRowSource, PositionedRow } from '../../model/sync.js';
import { untilDay } from '../../model/time.js';
import { BOOLEAN_COLUMNS, VIEW_DEFS, type KeyedViewName } from '../../model/views.js';
import type { PgPool } from './pg-pool.js';
import { fromPgText } from './pg-text.js';

/** A received_at window over a keyed view (export --since/--until), as store/keyed-rows.ts takes it. */
export interface PgKeyedWindow {
  since?: string | undefined;
  until?: string | undefined;
  pageSize?: number;
}

const PAGE = 500;

const MONTH_VIEWS = new Set<KeyedViewName>(['contents', 'content_scores']);

/** The visible columns from the stored ones (agent_key → agent_name for daily rows), then dyn (contents), then the position. */
function selectList(view: KeyedViewName, position: 'rid' | 'part_pos'): string {
  const daily = view === 'daily_agents' || view === 'daily_metrics';
  const cols = VIEW_DEFS[view].columns.map((c: string) => (daily && c === 'agent_name' ? "nullif(agent_key, '') AS agent_name" : c));
  return [...cols, ...(view === 'contents' ? ['dyn'] : []), `${position}::float8 AS pos`].join(', ');
}

/**
 * The export window, as keyed-rows.ts windowSql, its two bounds the
 * parameters `$first` and `$first + 1` (windowOf): received_at for contents
 * (content_scores: their content's), days for the daily views.
 */
function windowSql(view: KeyedViewName, first: number): string {
  const [from, to] = [`$${first}::text`, `$${first + 1}::text`];
  switch (view) {
    case 'contents':
      return `(${from} IS NULL OR first_received_at >= ${from}) AND (${to} IS NULL OR first_received_at < ${to})`;
    case 'content_scores':
      return `((${from} IS NULL AND ${to} IS NULL) OR content_id IN (SELECT c.content_id FROM content_rows c
                WHERE (${from} IS NULL OR c.first_received_at >= ${from}) AND (${to} IS NULL OR c.first_received_at < ${to})))`;
    default:
      return `(${from} IS NULL OR day >= ${from}) AND (${to} IS NULL OR day < ${to})`;
  }
}

/** The statements of one keyed view (names: prepared once per connection). */
function statements(view: KeyedViewName) {
  const { table } = VIEW_DEFS[view];
  const select = selectList(view, 'rid');
  const monthSelect = selectList(view, 'part_pos');
  const name = (what: string) => `ember_keyed_${view}_${what}`;
  return {
    total: { name: name('total'), text: `SELECT coalesce(max(rid), 0)::float8 AS n FROM ${table}` },
    // $1 after, $2 total, $3 limit, then the window.
    page: { name: name('page'), text: `SELECT ${select} FROM ${table} WHERE rid > $1 AND rid <= $2 AND ${windowSql(view, 4)} ORDER BY rid LIMIT $3` },
    // $1 total, then the window.
    count: { name: name('count'), text: `SELECT count(*)::float8 AS n FROM ${table} WHERE rid <= $1 AND ${windowSql(view, 2)}` },
    changedRids: { name: name('changed_rids'), text: `SELECT rid::float8 AS r FROM ${table} WHERE changed_seq > $1 AND rid <= $2 ORDER BY rid` },
    countChanged: { name: name('count_changed'), text: `SELECT count(*)::float8 AS n FROM ${table} WHERE changed_seq > $1 AND rid <= $2` },
    byRids: { name: name('by_rids'), text: `SELECT ${select} FROM ${table} WHERE rid = ANY ($1::bigint[]) ORDER BY rid` },
    // Split by month: the row's place in its month stands where rid stands in the reads above.
    months: { name: name('months'), text: 'SELECT part AS month, total, reset_seq::float8 AS "resetSeq" FROM keyed_parts WHERE view = $1 ORDER BY part' },
    changedMonths: { name: name('changed_months'), text: `SELECT DISTINCT part FROM ${table} WHERE changed_seq > $1` },
    monthPage: { name: name('month_page'), text: `SELECT ${monthSelect} FROM ${table} WHERE part = $1 AND part_pos > $2 AND part_pos <= $3 ORDER BY part_pos LIMIT $4` },
    monthChanged: { name: name('month_changed'), text: `SELECT ${monthSelect} FROM ${table} WHERE changed_seq > $1 AND part = $2 AND part_pos <= $3 ORDER BY part_pos` },
    monthCountChanged: { name: name('month_count_changed'), text: `SELECT count(*)::float8 AS n FROM ${table} WHERE changed_seq > $1 AND part = $2 AND part_pos <= $3` },
    // The pending rows of a view split by month (see keyed-rows.ts monthPending).
    changedAll: { name: name('changed_all'), text: `SELECT count(*)::float8 AS n FROM ${table} WHERE changed_seq > $1` },
    held: { name: name('held'), text: 'SELECT coalesce(sum(total), 0)::float8 AS n FROM keyed_parts WHERE view = $1' },
  };
}
type Statements = ReturnType<typeof statements>;

/**
 * Reads the keyed views on PostgreSQL in position order, a page at a time,
 * as store/keyed-rows.ts reads them from SQLite: the same rows, positions,
 * months and pending counts, contents' metric cells aligned to the caller's
 * column list, text as it was sent (see toPgText).
 */
export function createPgKeyedRows(pool: PgPool) {
  const stmts = new Map<KeyedViewName, Statements>();
  const stmtsOf = (view: KeyedViewName): Statements => {
    let s = stmts.get(view);
    if (s === undefined) stmts.set(view, (s = statements(view)));
    return s;
  };
  async function rows(q: { name: string; text: string }, values: unknown[]): Promise<Array<Record<string, unknown>>> {
    return (await pool.query<Record<string, unknown>>({ ...q, values })).rows;
  }
  async function one(q: { name: string; text: string }, values: unknown[]): Promise<number> {
    return Number((await rows(q, values))[0]!['n']);
  }

  /** A stored row → its cells (booleans as booleans, contents' metric cells aligned to `dynamic`) and its position. */
  function shaper(view: KeyedViewName, dynamic: readonly DynamicColumn[]): (r: Record<string, unknown>) => { pos: number; cells: Cell[] } {
    const fixed = VIEW_DEFS[view].columns as readonly string[];
    const booleans = BOOLEAN_COLUMNS[view];
    const width = dynamic.reduce((max, c) => Math.max(max, c.position + 1), 0);
    const withDyn = view === 'contents';
    return (r) => {
      const cells: Cell[] = fixed.map((c) => {
        const v = r[c] as Cell | undefined;
        if (v === undefined || v === null) return null;
        if (booleans?.has(c)) return v === true;
        return typeof v === 'string' ? fromPgText(v) : v;
      });
      const dyn = withDyn ? (r['dyn'] as Cell[]) : [];
      for (let i = 0; i < width; i++) {
        const v = dyn[i] ?? null;
        cells.push(typeof v === 'string' ? fromPgText(v) : v);
      }
      return { pos: Number(r['pos']), cells };
    };
  }

  const windowOf = (view: KeyedViewName, w: PgKeyedWindow): unknown[] =>
    MONTH_VIEWS.has(view) ? [w.since ?? null, w.until ?? null] : [w.since === undefined ? null : w.since.slice(0, 10), w.until === undefined ? null : untilDay(w.until)];

  async function monthsOf(view: KeyedViewName, s: Statements, shape: ReturnType<typeof shaper>): Promise<KeyedMonths> {
    const list = (await rows(s.months, [view])).map((r): KeyedMonth => ({ month: String(r['month']), total: Number(r['total']), resetSeq: Number(r['resetSeq']) }));
    const totals = new Map(list.map((x) => [x.month, x.total]));
    const positioned = (r: Record<string, unknown>): PositionedRow => {
      const { pos, cells } = shape(r);
      return { position: pos, cells };
    };
    return {
      list,
      changedSince: async (sinceSeq) => new Set((await rows(s.changedMonths, [sinceSeq])).map((r) => String(r['part']))),
      rows(month): MonthRows {
        const total = totals.get(month) ?? 0;
        async function* after(from: number): AsyncGenerator<PositionedRow[]> {
          for (let pos = from; ; ) {
            const page = (await rows(s.monthPage, [month, pos, total, PAGE])).map(positioned);
            if (page.length === 0) return;
            pos = page[page.length - 1]!.position;
            yield page;
          }
        }
        return {
          total,
          async *pages() {
            for await (const page of after(0)) yield page.map((p) => p.cells);
          },
          async *changed(sinceSeq, known) {
            const held = Math.min(Math.max(known, 0), total);
            const changed = (await rows(s.monthChanged, [sinceSeq, month, held])).map(positioned);
            for (let i = 0; i < changed.length; i += PAGE) yield changed.slice(i, i + PAGE);
            yield* after(Math.max(known, 0));
          },
          countChanged: async (sinceSeq, known) => (await one(s.monthCountChanged, [sinceSeq, month, Math.min(Math.max(known, 0), total)])) + Math.max(0, total - Math.max(known, 0)),
        };
      },
    };
  }

  return {
    /** One keyed view bound to a column list and to its rows as of now (rows 1..total; the months as listed now). */
    async source(view: KeyedViewName, dynamic: readonly DynamicColumn[]): Promise<KeyedRowSource & { windowPages(w: PgKeyedWindow): AsyncIterable<Cell[][]>; windowCount(w: PgKeyedWindow): Promise<number> }> {
      const s = stmtsOf(view);
      const shape = shaper(view, dynamic);
      const total = await one(s.total, []);
      const pageValues = (w: PgKeyedWindow, after: number): unknown[] => [after, total, w.pageSize ?? PAGE, ...windowOf(view, w)];
      async function* windowPages(w: PgKeyedWindow): AsyncGenerator<Cell[][]> {
        let after = 0;
        for (;;) {
          const page = (await rows(s.page, pageValues(w, after))).map(shape);
          if (page.length === 0) return;
          after = page[page.length - 1]!.pos;
          yield page.map((p) => p.cells);
        }
      }
      const countChanged = MONTH_VIEWS.has(view)
        ? async (sinceSeq: number, known: number) => Math.max(await one(s.changedAll, [sinceSeq]), (await one(s.held, [view])) - Math.max(known, 0))
        : async (sinceSeq: number, known: number) => (await one(s.countChanged, [sinceSeq, Math.min(known, total)])) + Math.max(0, total - Math.max(known, 0));
      return {
        total,
        windowPages,
        windowCount: async (w) => one(s.count, [total, ...windowOf(view, w)]),
        pages: () => windowPages({}),
        async *changed(sinceSeq: number, known: number): AsyncGenerator<PositionedRow[]> {
          // Changed rows among those the target holds, by position…
          const rids = (await rows(s.changedRids, [sinceSeq, Math.min(known, total)])).map((r) => Number(r['r']));
          for (let i = 0; i < rids.length; i += PAGE) {
            yield (await rows(s.byRids, [rids.slice(i, i + PAGE)])).map((r) => {
              const { pos, cells } = shape(r);
              return { position: pos, cells };
            });
          }
          // …then every row it does not hold yet.
          let after = Math.max(known, 0);
          for (;;) {
            const page = (await rows(s.page, pageValues({}, after))).map(shape);
            if (page.length === 0) return;
            after = page[page.length - 1]!.pos;
            yield page.map(({ pos, cells }) => ({ position: pos, cells }));
          }
        },
        countChanged,
        ...(MONTH_VIEWS.has(view) ? { months: await monthsOf(view, s, shape) } : {}),
      };
    },
  };
}
export type PgKeyedRows = ReturnType<typeof createPgKeyedRows>;
