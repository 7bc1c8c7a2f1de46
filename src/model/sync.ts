import type { Cell } from './cells.js';
import type { KeyedViewName, LogViewName, ViewName } from './views.js';

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
  pages(slice: RowSlice): AsyncIterable<Cell[][]>;
  count(slice: RowSlice): Promise<number>;
}

/** A row of a keyed view with its position: rows 1..total, each key at the same position for life. */
export interface PositionedRow {
  /** 1-based: the row's place among the view's rows (the header is row 0). */
  position: number;
  cells: Cell[];
}

/** The rows of one keyed view (or of one month of it), positions 1..total. */
export interface KeyedRows {
  /** How many rows (keys): positions 1..total. */
  total: number;
  /** Every row, in position order (a full rewrite). */
  pages(): AsyncIterable<Cell[][]>;
  /**
   * The rows a target holding positions 1..known, confirmed up to event
   * `sinceSeq`, must write: those at positions <= known changed by a later
   * event, then every row past `known`; in position order.
   */
  changed(sinceSeq: number, known: number): AsyncIterable<PositionedRow[]>;
  /** How many rows `changed` gives. */
  countChanged(sinceSeq: number, known: number): Promise<number>;
}

/** One month of a keyed view split by month (see model/partition.ts). */
export interface KeyedMonth {
  /** `yyyy-mm` in REPORT_TIMEZONE. */
  month: string;
  /** Rows in the month: positions 1..total, in the view's order (rid). */
  total: number;
  /**
   * The last event that renumbered the month (a row left it or joined it
   * from another month, which happens only when a clock went backwards): a
   * target that confirmed an earlier event writes the month whole.
   */
  resetSeq: number;
}

/**
 * A keyed view split by month: each month's rows have positions of their own
 * (1..total, in the view's order); new rows of a month come at its end.
 */
export interface KeyedMonths {
  /** Every month that has rows (or had: total 0 after its rows moved away), oldest first. */
  list: KeyedMonth[];
  /** The months holding a row changed after event `sinceSeq` (costs what changed, not the history). */
  changedSince(sinceSeq: number): Promise<Set<string>>;
  /** One month's rows, positions within the month. */
  rows(month: string): KeyedRows;
}

/**
 * The rows of a keyed view as one delivery sees them (aligned to its header).
 * Positions are dense and never change, so a target that holds rows 1..known
 * applies a change by writing the row at its position and adds new keys at
 * the end.
 */
export interface KeyedRowSource extends KeyedRows {
  /** The same rows split by month (`contents`, `content_scores`; undefined for the daily views, which stay whole). */
  months?: KeyedMonths;
}

interface DeliveryBase {
  /** The view's columns for this delivery (fixed, then dynamic in registry order). */
  header: string[];
  /** What this target confirmed last time, with its own state. */
  cursor: ViewCursor;
  /** The projector's position this delivery reads up to; the cursor moves there once the target confirms. */
  toSeq: number;
  /** How many rows are new or changed for this target. */
  pending: number;
  /** REPORT_TIMEZONE the rows were derived in: the months of a view split by month are months of this zone. */
  zone: string;
  /**
   * RETENTION_DAYS: the first month (`yyyy-mm` in `zone`) whose rows the store
   * still keeps; every month before it was deleted whole from the store. A
   * target deletes what it holds of those months for the views split by month
   * (model/partition.ts): month files, month tabs. The daily views are kept.
   * Absent: retention deleted nothing (RETENTION_DAYS unset, or not run yet).
   */
  retainFrom?: string;
}

/** An append-only view: deliver the rows of events with cursor.deliveredSeq < seq <= toSeq. */
export interface LogDelivery extends DeliveryBase {
  kind: 'log';
  view: LogViewName;
  /** The view's rows, aligned to `header`. */
  rows: RowSource;
}

/**
 * A keyed view: write the rows `rows.changed(cursor.deliveredSeq,
 * cursor.deliveredRows)` at their positions; the target then holds
 * `rows.total` rows. When `epoch` differs from the one the target recorded
 * (the rows were derived again another way, e.g. REPORT_TIMEZONE changed),
 * positions mean nothing any more: rewrite the whole view.
 */
export interface KeyedDelivery extends DeliveryBase {
  kind: 'keyed';
  view: KeyedViewName;
  epoch: string;
  rows: KeyedRowSource;
}

/** What a target gets for one view in one sync. */
export type ViewDelivery = LogDelivery | KeyedDelivery;

export interface DeliveryReceipt {
  /** Rows written by this sync (new, or changed rows of a keyed view). */
  rows: number;
  /** Rows the target holds for the view now. */
  totalRows: number;
  /** The target's bookkeeping, stored with the cursor in the same transaction. */
  state: unknown;
}

export type ViewOutcome = { view: ViewName; ok: true; receipt: DeliveryReceipt } | { view: ViewName; ok: false; error: string };

/** What the engine knows about the whole run, for a target that reports it where analysts look (the Sheets `ember-sync` tab). */
export interface RunFacts {
  /** When this sync started (ISO UTC). */
  startedAt: string;
  /** Payloads in quarantine (failed validation, kept for replay). */
  quarantined: number;
  /** Events that could not be projected (parked). */
  parked: number;
}

/** How the engine keeps a delivery in check. */
export interface DeliveryControl {
  /** Facts about the run (absent in tools and some tests). */
  run?: RunFacts;
  /** Aborted when the run must stop (its heartbeat found the lock taken over, or failed): send nothing more. */
  signal?: AbortSignal;
  /**
   * Throws when the run no longer holds its target's lock. A target calls it
   * right before each write it cannot take back (a rename over a file, a
   * request to an API), so a run that was taken over never overwrites what
   * the new holder delivered.
   */
  fence?: () => Promise<void>;
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
  /**
   * The views this target takes (SHEETS_VIEWS); all when absent. The engine
   * hands it no other view, and their cursors stay where they are: a view
   * chosen later gets its whole history.
   */
  readonly views?: readonly ViewName[];
  deliver(views: ViewDelivery[], control?: DeliveryControl): Promise<ViewOutcome[]>;
  /** Things the operator should know from the last `deliver`, in words (e.g. the spreadsheet's time zone differs from REPORT_TIMEZONE); kept with the run and shown by status. */
  notices?(): string[];
}
