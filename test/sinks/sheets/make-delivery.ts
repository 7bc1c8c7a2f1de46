/** Hand-made deliveries for the pure planning tests: no store, no server. */
import type { Cell } from '../../../src/model/cells.js';
import type { RowSlice, ViewDelivery } from '../../../src/model/sync.js';
import type { ViewName } from '../../../src/model/views.js';
import type { SheetViewState } from '../../../src/sinks/sheets/plan-views.js';

export interface MadeDelivery extends ViewDelivery {
  /** How many rows the packer or verifier has read from `rows` so far. */
  readonly reads: { rows: number };
}

/**
 * A view whose rows are events 1..rows.length (row i has seq i + 1); the target
 * confirmed the first `delivered` of them, with `state`.
 */
export function makeDelivery(o: { view: ViewName; header: string[]; rows?: Cell[][]; delivered?: number; state?: SheetViewState; pageSize?: number }): MadeDelivery {
  const rows = o.rows ?? [];
  const delivered = o.delivered ?? 0;
  const pageSize = o.pageSize ?? 3;
  const reads = { rows: 0 };
  const select = (s: RowSlice) => rows.slice(s.fromSeq ?? 0, s.toSeq);
  return {
    view: o.view,
    header: o.header,
    cursor: { deliveredSeq: delivered, deliveredRows: delivered, state: o.state, lastError: null, lastErrorAt: null },
    toSeq: rows.length,
    pending: rows.length - delivered,
    rows: {
      count: (s) => select(s).length,
      *pages(s) {
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
