import type { SyncTargetName } from '../config/settings.js';
import type { ViewCursor } from '../store/sync-state.js';
import type { ViewName } from '../views/view-names.js';
import type { ViewReader } from '../views/view-reader.js';

/** What a target gets for one view in one sync. */
export interface ViewDelivery {
  view: ViewName;
  /** The view's columns now (fixed, then dynamic in registry order). */
  header: string[];
  /** What this target confirmed last time, with its own state. */
  cursor: ViewCursor;
  /** Deliver the rows of events with cursor.deliveredSeq < seq <= toSeq. */
  toSeq: number;
  /** How many rows that is. */
  pending: number;
  reader: ViewReader;
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

/**
 * A place rows go to. `deliver` returns once the target has the rows durably;
 * the engine moves a view's cursor only for an `ok` outcome. Delivering the same
 * rows again after a crash must not duplicate them (the target makes it idempotent).
 */
export interface SyncTarget {
  readonly name: SyncTargetName;
  deliver(views: ViewDelivery[]): Promise<ViewOutcome[]>;
}
