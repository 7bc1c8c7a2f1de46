import type { Cell } from './cells.js';
import type { ViewName } from './views.js';

export type SyncTargetName = 'csv' | 'sheets';
export const SYNC_TARGET_NAMES: readonly SyncTargetName[] = ['csv', 'sheets'];

/** What a target confirmed for one view, with its own bookkeeping. */
export interface ViewCursor {
  deliveredSeq: number;
  deliveredRows: number;
  /** The target's own bookkeeping for this view (JSON). */
  state: unknown;
  lastError: string | null;
  lastErrorAt: string | null;
}

/** The rows of the events with fromSeq < seq <= toSeq. */
export interface RowSlice {
  fromSeq?: number;
  toSeq: number;
}

/**
 * The rows of one view as one delivery sees them: every row is aligned to the
 * delivery's header (the column list taken once, when the sync started), so a
 * column added meanwhile can never make a row wider than its header.
 */
export interface RowSource {
  pages(slice: RowSlice): Iterable<Cell[][]>;
  count(slice: RowSlice): number;
}

/** What a target gets for one view in one sync. */
export interface ViewDelivery {
  view: ViewName;
  /** The view's columns for this delivery (fixed, then dynamic in registry order). */
  header: string[];
  /** What this target confirmed last time, with its own state. */
  cursor: ViewCursor;
  /** Deliver the rows of events with cursor.deliveredSeq < seq <= toSeq. */
  toSeq: number;
  /** How many rows that is. */
  pending: number;
  /** The view's rows, aligned to `header`. */
  rows: RowSource;
}

export interface DeliveryReceipt {
  /** New rows delivered by this sync. */
  rows: number;
  /** Rows the target holds for the view now. */
  totalRows: number;
  /** The target's bookkeeping, stored with the cursor in the same transaction. */
  state: unknown;
}

export type ViewOutcome = { view: ViewName; ok: true; receipt: DeliveryReceipt } | { view: ViewName; ok: false; error: string };

/** How the engine keeps a delivery in check. */
export interface DeliveryControl {
  /** Aborted when the run must stop (its heartbeat found the lock taken over, or failed): send nothing more. */
  signal?: AbortSignal;
  /**
   * Throws when the run no longer holds its target's lock. A target calls it
   * right before each write it cannot take back (a rename over a file, a
   * request to an API), so a run that was taken over never overwrites what
   * the new holder delivered.
   */
  fence?: () => void;
}

/**
 * A place rows go to. `deliver` returns once the target has the rows durably;
 * the engine moves a view's cursor only for an `ok` outcome. Delivering the same
 * rows again after a crash must not duplicate them (the target makes it
 * idempotent). One view that fails never stops the others: the target returns
 * an outcome per view.
 */
export interface SyncTarget {
  readonly name: SyncTargetName;
  deliver(views: ViewDelivery[], control?: DeliveryControl): Promise<ViewOutcome[]>;
}
