/** Hand-made deliveries for the pure planning tests (and the keyed tests against the fake): no store. */
import type { Cell } from '../../../src/model/cells.js';
import type { KeyedDelivery, LogDelivery, PositionedRow, RowSlice } from '../../../src/model/sync.js';
import type { KeyedViewName, LogViewName } from '../../../src/model/views.js';
import type { SheetViewState } from '../../../src/sinks/sheets/plan-views.js';

export type MadeDelivery = LogDelivery & {
  /** How many rows the packer or verifier has read from `rows` so far. */
  readonly reads: { rows: number };
};

/**
 * A view whose rows are events 1..rows.length (row i has seq i + 1); the target
 * confirmed the first `delivered` of them, with `state`.
 */
export function makeDelivery(o: { view: LogViewName; header: string[]; rows?: Cell[][]; delivered?: number; state?: SheetViewState; pageSize?: number }): MadeDelivery {
  const rows = o.rows ?? [];
  const delivered = o.delivered ?? 0;
  const pageSize = o.pageSize ?? 3;
  const reads = { rows: 0 };
  const select = (s: RowSlice) => rows.slice(s.fromSeq ?? 0, s.toSeq);
  return {
    kind: 'log',
    zone: 'UTC',
    view: o.view,
    header: o.header,
    cursor: { deliveredSeq: delivered, deliveredRows: delivered, state: o.state, lastError: null, lastErrorAt: null },
    toSeq: rows.length,
    pending: rows.length - delivered,
    rows: {
      count: async (s) => select(s).length,
      async *pages(s) {
        const all = select(s);
        for (let i = 0; i < all.length; i += pageSize) {
          const page = all.slice(i, i + pageSize);
          reads.rows += page.length;
          yield page;
        }
      },
    },
    reads,
  };
}

/** `n` rows of a red_flags-like view: webhook_id, received_at, a number. */
export function someRows(n: number, from = 0): Cell[][] {
  return Array.from({ length: n }, (_, i) => [`w-${from + i}`, new Date(Date.UTC(2025, 0, 1, 0, 0, from + i)).toISOString(), from + i]);
}
export const HEADER = ['webhook_id', 'received_at', 'total_score'];

/**
 * A keyed view kept as a plain array, the way the store keeps one: rows at
 * positions 1..n (a key never moves), each with the seq of its last change.
 * `delivery` hands a target what changed since its cursor, as the engine does.
 */
export class KeyedModel {
  /** Position p (1-based) is rows[p - 1]. */
  rows: Cell[][] = [];
  changedSeq: number[] = [];
  seq = 0;
  epoch = 'e1';
  /** Rows read through changed() / pages(), for the "cost grows with the changes" checks. */
  reads = 0;
  constructor(
    readonly view: KeyedViewName,
    public header: string[],
  ) {}

  /** A new key at the end. */
  add(cells: Cell[]): number {
    this.seq++;
    this.rows.push(cells);
    this.changedSeq.push(this.seq);
    return this.rows.length;
  }
  /** New values for the row at `position` (its key cells stay). */
  set(position: number, cells: Cell[]): void {
    this.seq++;
    this.rows[position - 1] = cells;
    this.changedSeq[position - 1] = this.seq;
  }
  /** The rows derived again another way: new positions, a new epoch. */
  reorder(rows: Cell[][], epoch: string): void {
    this.seq++;
    this.rows = rows;
    this.changedSeq = rows.map(() => this.seq);
    this.epoch = epoch;
  }

  delivery(cursor: { deliveredSeq: number; deliveredRows: number; state: unknown }, pageSize = 250): KeyedDelivery {
    const total = this.rows.length;
    const rows = this.rows.map((r) => [...r]);
    const changedSeq = [...this.changedSeq];
    const header = [...this.header];
    const width = header.length;
    const aligned = (r: Cell[]) => [...r, ...new Array<Cell>(Math.max(0, width - r.length)).fill(null)].slice(0, width);
    const changed = (sinceSeq: number, known: number): number[] => {
      const out: number[] = [];
      for (let p = 1; p <= Math.min(known, total); p++) if (changedSeq[p - 1]! > sinceSeq) out.push(p);
      for (let p = Math.max(known, 0) + 1; p <= total; p++) out.push(p);
      return out;
    };
    const self = this;
    return {
      kind: 'keyed',
      zone: 'UTC',
      view: this.view,
      header,
      cursor: { ...cursor, lastError: null, lastErrorAt: null },
      toSeq: this.seq,
      epoch: this.epoch,
      pending: changed(cursor.deliveredSeq, cursor.deliveredRows).length,
      rows: {
        total,
        async *pages() {
          for (let i = 0; i < total; i += pageSize) {
            const page = rows.slice(i, i + pageSize).map(aligned);
            self.reads += page.length;
            yield page;
          }
        },
        async *changed(sinceSeq, known) {
          const positions = changed(sinceSeq, known);
          for (let i = 0; i < positions.length; i += pageSize) {
            const page: PositionedRow[] = positions.slice(i, i + pageSize).map((p) => ({ position: p, cells: aligned(rows[p - 1]!) }));
            self.reads += page.length;
            yield page;
          }
        },
        countChanged: async (sinceSeq, known) => changed(sinceSeq, known).length,
      },
    };
  }
}

/** Every item of an async iterable, in order (Array.fromAsync is Node 22). */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
