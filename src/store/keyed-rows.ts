import type { Statement } from 'better-sqlite3';
import type { Cell } from '../model/cells.js';
import type { DynamicColumn } from '../model/columns.js';
import type { KeyedMonth, PositionedRow } from '../model/sync.js';
import { untilDay } from '../model/time.js';
import { BOOLEAN_COLUMNS, KEYED_VIEWS, VIEW_DEFS, type KeyedViewName } from '../model/views.js';
import type { Db } from './open-db.js';

/**
 * The engine's shapes of model/sync.ts's keyed rows: the same reads, as
 * synchronous generators and numbers (create-store.ts hands them out as
 * async iterables and promises; SQLite-only code may use them directly).
 */
export interface SyncKeyedRows {
  total: number;
  pages(): Iterable<Cell[][]>;
  changed(sinceSeq: number, known: number): Iterable<PositionedRow[]>;
  countChanged(sinceSeq: number, known: number): number;
}
export interface SyncKeyedMonths {
  list: KeyedMonth[];
  changedSince(sinceSeq: number): Set<string>;
  rows(month: string): SyncKeyedRows;
}
export interface SyncKeyedRowSource extends SyncKeyedRows {
  months?: SyncKeyedMonths;
}

/** A received_at window over a keyed view (export --since/--until). */
export interface KeyedWindow {
  since?: string | undefined;
  until?: string | undefined;
  pageSize?: number;
}

/** How each keyed view's rows are selected: the visible columns from the stored ones (agent_key → agent_name for daily rows). */
function selectList(view: KeyedViewName, position = 'rid'): string {
  const daily = view === 'daily_agents' || view === 'daily_metrics';
  const cols = VIEW_DEFS[view].columns.map((c: string) => (daily && c === 'agent_name' ? "nullif(agent_key, '') AS agent_name" : c));
  return [...cols, ...(view === 'contents' ? ['dyn'] : []), position].join(', ');
}

/** The keyed views split by month (model/partition.ts) and the month statements over their tables. */
const MONTH_VIEWS = new Set<KeyedViewName>(['contents', 'content_scores']);
/**
 * Reads of what changed since a cursor go through the changed_seq index: they
 * cost what changed. Without statistics SQLite prefers the rid range or the
 * month index for them, which reads every row the target holds (a full scan of
 * millions of metric rows per sync), so the index is named.
 */
const byChange = (table: string) => `${table} INDEXED BY ${table}_changed`;

function monthStatements(db: Db, view: KeyedViewName) {
  const { table } = VIEW_DEFS[view];
  const changedRows = byChange(table);
  // The row's place in its month stands where rid stands in the other reads.
  const select = selectList(view, 'part_pos');
  return {
    list: db.prepare<[string], { month: string; total: number; resetSeq: number }>('SELECT part AS month, total, reset_seq AS resetSeq FROM keyed_parts WHERE view = ? ORDER BY part'),
    // Through the changed_seq index: costs the rows changed, whatever the history.
    changedMonths: db.prepare<[number], string>(`SELECT DISTINCT part FROM ${changedRows} WHERE changed_seq > ?`).pluck(),
    page: db.prepare<[string, number, number, number], unknown[]>(`SELECT ${select} FROM ${table} WHERE part = ? AND part_pos > ? AND part_pos <= ? ORDER BY part_pos LIMIT ?`).raw(),
    changed: db.prepare<[number, string, number], unknown[]>(`SELECT ${select} FROM ${changedRows} WHERE changed_seq > ? AND part = ? AND part_pos <= ? ORDER BY part_pos`).raw(),
    countChanged: db.prepare<[number, string, number], number>(`SELECT count(*) FROM ${changedRows} WHERE changed_seq > ? AND part = ? AND part_pos <= ?`).pluck(),
  };
}

/**
 * The window of an export: contents by first_received_at, content_scores by
 * their content's first_received_at (the month rule of the CSV files), daily
 * rows by day (in REPORT_TIMEZONE).
 */
function windowSql(view: KeyedViewName): string {
  switch (view) {
    case 'contents':
      return '(@since IS NULL OR first_received_at >= @since) AND (@until IS NULL OR first_received_at < @until)';
    case 'content_scores':
      return `(@since IS NULL AND @until IS NULL OR content_id IN (SELECT c.content_id FROM content_rows c
                WHERE (@since IS NULL OR c.first_received_at >= @since) AND (@until IS NULL OR c.first_received_at < @until)))`;
    default:
      return '(@sinceDay IS NULL OR day >= @sinceDay) AND (@untilDay IS NULL OR day < @untilDay)';
  }
}

/**
 * Reads keyed views in position order, a page at a time (keyset on rid), with
 * their booleans as booleans and contents' metric cells aligned to the
 * caller's column list.
 */
export function createKeyedRows(db: Db) {
  const stmts = Object.fromEntries(
    KEYED_VIEWS.map((view) => {
      const { table } = VIEW_DEFS[view];
      const select = selectList(view);
      return [
        view,
        {
          page: db.prepare<[Record<string, unknown>], unknown[]>(`SELECT ${select} FROM ${table} WHERE rid > @after AND rid <= @total AND ${windowSql(view)} ORDER BY rid LIMIT @limit`).raw(),
          count: db.prepare<[Record<string, unknown>], number>(`SELECT count(*) FROM ${table} WHERE rid <= @total AND ${windowSql(view)}`).pluck(),
          total: db.prepare<[], number>(`SELECT coalesce(max(rid), 0) FROM ${table}`).pluck(),
          changedRids: db.prepare<[number, number], number>(`SELECT rid FROM ${byChange(table)} WHERE changed_seq > ? AND rid <= ? ORDER BY rid`).pluck(),
          countChanged: db.prepare<[number, number], number>(`SELECT count(*) FROM ${byChange(table)} WHERE changed_seq > ? AND rid <= ?`).pluck(),
          byRids: db.prepare<[string], unknown[]>(`SELECT ${select} FROM ${table} WHERE rid IN (SELECT value FROM json_each(?)) ORDER BY rid`).raw(),
        },
      ];
    }),
  ) as Record<KeyedViewName, { page: Statement<[Record<string, unknown>], unknown[]>; count: Statement<[Record<string, unknown>], number>; total: Statement<[], number>; changedRids: Statement<[number, number], number>; countChanged: Statement<[number, number], number>; byRids: Statement<[string], unknown[]> }>;

  const months = Object.fromEntries([...MONTH_VIEWS].map((v) => [v, monthStatements(db, v)])) as Partial<Record<KeyedViewName, ReturnType<typeof monthStatements>>>;
  /**
   * The pending rows of a view split by month: the rows changed after the
   * cursor (new ones included) or, when more, the rows the months hold beyond
   * what the target holds. Not max(rid) minus what the target holds: the rows
   * of months RETENTION_DAYS deleted left gaps in rid, and they are pending for
   * no one.
   */
  const monthPending = Object.fromEntries(
    [...MONTH_VIEWS].map((view) => {
      const changed = db.prepare<[number], number>(`SELECT count(*) FROM ${byChange(VIEW_DEFS[view].table)} WHERE changed_seq > ?`).pluck();
      const held = db.prepare<[string], number>('SELECT coalesce(sum(total), 0) FROM keyed_parts WHERE view = ?').pluck();
      return [view, (sinceSeq: number, known: number) => Math.max(changed.get(sinceSeq)!, held.get(view)! - Math.max(known, 0))];
    }),
  ) as Partial<Record<KeyedViewName, (sinceSeq: number, known: number) => number>>;

  /** A keyed view split by month, as of now: each month's rows 1..total (its total now). */
  function monthsOf(view: KeyedViewName, shape: (r: unknown[]) => { rid: number; cells: Cell[] }): SyncKeyedMonths | undefined {
    const m = months[view];
    if (!m) return undefined;
    const list: KeyedMonth[] = m.list.all(view);
    const totals = new Map(list.map((x) => [x.month, x.total]));
    const PAGE = 500;
    return {
      list,
      changedSince: (sinceSeq) => new Set(m.changedMonths.all(sinceSeq)),
      rows(month): SyncKeyedRows {
        const total = totals.get(month) ?? 0;
        function* after(from: number): Generator<PositionedRow[]> {
          for (let pos = from; ; ) {
            const rows = m!.page.all(month, pos, total, PAGE);
            if (rows.length === 0) return;
            const page = rows.map((r) => {
              const { rid, cells } = shape(r);
              return { position: rid, cells };
            });
            pos = page[page.length - 1]!.position;
            yield page;
          }
        }
        return {
          total,
          *pages() {
            for (const page of after(0)) yield page.map((p) => p.cells);
          },
          *changed(sinceSeq, known) {
            const held = Math.min(Math.max(known, 0), total);
            const rows = m!.changed.all(sinceSeq, month, held);
            for (let i = 0; i < rows.length; i += PAGE) {
              yield rows.slice(i, i + PAGE).map((r) => {
                const { rid, cells } = shape(r);
                return { position: rid, cells };
              });
            }
            yield* after(Math.max(known, 0));
          },
          countChanged: (sinceSeq, known) => m!.countChanged.get(sinceSeq, month, Math.min(Math.max(known, 0), total))! + Math.max(0, total - Math.max(known, 0)),
        };
      },
    };
  }

  function shaper(view: KeyedViewName, dynamic: readonly DynamicColumn[]): (r: unknown[]) => { rid: number; cells: Cell[] } {
    const fixed = VIEW_DEFS[view].columns as readonly string[];
    const booleans = fixed.flatMap((c, i) => (BOOLEAN_COLUMNS[view]?.has(c) ? [i] : []));
    const width = dynamic.reduce((max, c) => Math.max(max, c.position + 1), 0);
    const withDyn = view === 'contents';
    return (r) => {
      const rid = r.pop() as number;
      const dyn = withDyn ? (JSON.parse(r.pop() as string) as Cell[]) : [];
      for (const i of booleans) r[i] = r[i] === null ? null : r[i] === 1;
      for (let i = 0; i < width; i++) r.push(dyn[i] ?? null);
      return { rid, cells: r as Cell[] };
    };
  }

  function params(w: KeyedWindow, total: number, after: number) {
    return {
      after,
      total,
      limit: w.pageSize ?? 500,
      since: w.since ?? null,
      until: w.until ?? null,
      sinceDay: w.since === undefined ? null : w.since.slice(0, 10),
      untilDay: w.until === undefined ? null : untilDay(w.until),
    };
  }

  return {
    /** One keyed view bound to a column list and to its rows as of now (rows 1..total). */
    source(view: KeyedViewName, dynamic: readonly DynamicColumn[]): SyncKeyedRowSource & { windowPages(w: KeyedWindow): Iterable<Cell[][]>; windowCount(w: KeyedWindow): number } {
      const s = stmts[view];
      const shape = shaper(view, dynamic);
      const total = s.total.get()!;
      function* windowPages(w: KeyedWindow): Generator<Cell[][]> {
        let after = 0;
        for (;;) {
          const rows = s.page.all(params(w, total, after));
          if (rows.length === 0) return;
          const page = rows.map(shape);
          after = page[page.length - 1]!.rid;
          yield page.map((p) => p.cells);
        }
      }
      return {
        total,
        windowPages,
        windowCount: (w) => s.count.get(params(w, total, 0))!,
        pages: () => windowPages({}),
        *changed(sinceSeq: number, known: number): Generator<PositionedRow[]> {
          // Changed rows among those the target holds (found through the changed_seq index), by position…
          const rids = s.changedRids.all(sinceSeq, Math.min(known, total));
          for (let i = 0; i < rids.length; i += 500) {
            yield s.byRids.all(JSON.stringify(rids.slice(i, i + 500))).map((r) => {
              const { rid, cells } = shape(r);
              return { position: rid, cells };
            });
          }
          // …then every row it does not hold yet.
          let after = Math.max(known, 0);
          for (;;) {
            const rows = s.page.all(params({}, total, after));
            if (rows.length === 0) return;
            const page = rows.map(shape);
            after = page[page.length - 1]!.rid;
            yield page.map(({ rid, cells }) => ({ position: rid, cells }));
          }
        },
        countChanged: monthPending[view] ?? ((sinceSeq: number, known: number) => s.countChanged.get(sinceSeq, Math.min(known, total))! + Math.max(0, total - Math.max(known, 0))),
        ...(MONTH_VIEWS.has(view) ? { months: monthsOf(view, shape)! } : {}),
      };
    },
  };
}
export type KeyedRows = ReturnType<typeof createKeyedRows>;
