/**
 * The one store interface both backends implement: SQLite (one process, its
 * group commit on one connection) and PostgreSQL (several replicas on one
 * database). Everything outside `store/` talks to a `Store` and awaits it;
 * nothing outside `store/` sees a connection, a statement or SQL.
 *
 * Every method is one unit of work on the database: what must change together
 * (a run's cursors with the check of its lock, a quarantined payload with the
 * event it becomes) is one method, never a transaction the caller opens.
 */
import type { Cell } from '../model/cells.js';
import type { ColumnRegistry } from '../model/columns.js';
import type { KeyedRowSource, RowSource, RowSlice, ViewCursor } from '../model/sync.js';
import type { ColumnViewName, ViewName } from '../model/views.js';
import type { ErrorDetail, WebhookType } from '../model/webhooks.js';
import type { AppendResult, NewEvent, NewQuarantined, WriteResult } from '../model/writes.js';

export type StoreKind = 'sqlite' | 'postgres';

/** What the running server records for other processes: its public URL, fingerprints (never values) of its tokens, its settings. */
export type MetaKey = 'public_url' | 'webhook_token_sha256' | 'report_timezone' | 'sync_schedule' | 'sync_timezone' | 'retention_days' | 'admin_token_sha256';

// ---------------------------------------------------------------- raw log

export interface StoredEvent {
  seq: number;
  webhook_id: string;
  type: WebhookType;
  received_at: string;
  body: Buffer;
}

export interface QuarantinedRow {
  id: number;
  webhook_id: string | null;
  received_at: string;
  /** The latest time the same bytes came in (a retry or a resend). */
  last_received_at: string;
  attempts: number;
  reason: string;
  errors: string;
  body: Buffer;
  status: 'held' | 'released' | 'duplicate';
}

export interface LogCounts {
  events: number;
  lastSeq: number | null;
  byType: Partial<Record<WebhookType, number>>;
  quarantineHeld: number;
  quarantineAttempts: number;
}

/** How replay settles one held payload (one transaction). */
export type QuarantineSettlement =
  /** It fails its schema again: keep it held with these errors. */
  | { kind: 'still-held'; reason: string; errors: ErrorDetail[] }
  /** It passes: append it (a webhook_id already logged makes it `duplicate`) and mark it released/duplicate at `at`. */
  | { kind: 'append'; event: NewEvent; at: string };

export interface EventLogStore {
  counts(): Promise<LogCounts>;
  quarantineHeld(): Promise<number>;
  /** Held payloads with an id above `afterId`, oldest first. */
  heldQuarantine(afterId: number, limit: number): Promise<QuarantinedRow[]>;
  heldQuarantineFor(webhookId: string): Promise<QuarantinedRow[]>;
  settleQuarantine(id: number, how: QuarantineSettlement): Promise<{ status: 'held' | 'released' | 'duplicate'; seq?: number }>;
  /** The events with seq > afterSeq, in seq order (export of the raw log, tools). */
  eventsAfter(afterSeq: number, limit: number): Promise<StoredEvent[]>;
}

/** A write of the receiver: a quarantined payload may say which type's schema it failed (for the hourly counts). */
export type WebhookWriteOp = { kind: 'event'; event: NewEvent } | { kind: 'quarantine'; item: NewQuarantined & { type?: WebhookType | undefined } } | { kind: 'probe' };

export interface WebhookWriterOptions {
  /** Most ops committed in one transaction; a larger queue is committed in several. */
  maxBatch?: number;
  /** Called after each successful commit with the results it made durable (the projector is kicked from here). */
  onCommit?: (results: WriteResult[]) => void;
}

/**
 * The server's webhook writer: events, quarantine entries and the health
 * probe group-committed (the ops of one event-loop turn in one transaction),
 * each counted in the hourly counts in the same transaction. `submit`
 * resolves once the op is committed; it rejects with StoreUnavailableError
 * when the commit failed or its outcome is unknown (503; a retry of the
 * webhook then answers `duplicate` if it had been stored).
 */
export interface WebhookWriter {
  submit(op: WebhookWriteOp): Promise<WriteResult>;
  /** Ops queued for the next commit. */
  readonly pending: number;
  readonly closed: boolean;
  /** When the last commit of webhooks failed, if none succeeded after it (health). */
  readonly failingSince: number | undefined;
  /** Commits what is queued and refuses new ops (shutdown). */
  close(): Promise<void>;
}

// ---------------------------------------------------------------- projection

export interface ParkedEvent {
  seq: number;
  webhook_id: string;
  type: string;
  error: string;
  parked_at: string;
}

export interface ProjectionStore {
  /** The column registry (dynamic columns per wide view, in the order they appeared). */
  columns(): Promise<ColumnRegistry>;
  cursor(): Promise<number>;
  /** How far the keyed views have followed the log (0: nothing derived yet). */
  keyedCursor(): Promise<number>;
  /** The cursor and the column registry in one read: rows up to the cursor fit those columns exactly. */
  snapshot(): Promise<{ toSeq: number; registry: ColumnRegistry }>;
  /** Logged events not projected yet into every view (never below 0). */
  lag(): Promise<number>;
  /**
   * Projects up to `limit` pending events in one transaction; returns how
   * many were taken (0: nothing pending, or another replica holds the
   * projector: it projects them).
   */
  projectBatch(limit: number): Promise<number>;
  /** projectBatch until nothing is pending; returns the total. */
  catchUp(chunk?: number): Promise<number>;
  parked(limit?: number): Promise<ParkedEvent[]>;
  parkedCount(): Promise<number>;
  /** Keys that got no column because of MAX_DYNAMIC_COLUMNS, per wide view. */
  overflow(): Promise<Partial<Record<ColumnViewName, number>>>;
  /** Re-tries every parked event; returns how many left the parking. */
  retryParked(): Promise<{ moved: number; still: number }>;
  /** Drops the keyed views' rows; the projector derives them again (a new REPORT_TIMEZONE). */
  resetKeyed(): Promise<void>;
  /** Derives the keyed views again from the whole log, now (bench, tests). */
  rebuildKeyed(chunk?: number): Promise<number>;
  /** Drops every derived row and projects the whole log again, now. */
  rebuild(chunk?: number): Promise<number>;
  /** The first step of a rebuild done in steps: parked events retried, derived rows dropped; projectBatch derives them again. */
  startRebuild(): Promise<void>;
  /** Runs `work` with the backend tuned for bulk derivation (a rebuild); the settings hold until it settles. */
  bulk<T>(work: () => Promise<T>): Promise<T>;
}

// ---------------------------------------------------------------- view rows

/** The rows of the events with fromSeq < seq <= toSeq, optionally within a received_at window. */
export interface SliceOptions extends RowSlice {
  /** Inclusive lower bound on received_at (ISO 8601 UTC). */
  since?: string | undefined;
  /** Exclusive upper bound on received_at. */
  until?: string | undefined;
  pageSize?: number;
}

export interface ViewSnapshot {
  header: string[];
  rows: RowSource & { pages(slice: SliceOptions): AsyncIterable<Cell[][]>; count(slice: SliceOptions): Promise<number> };
  /** A keyed view's rows as of the snapshot (positions 1..total). */
  keyed?: KeyedRowSource;
}

export interface ViewRowsStore {
  /**
   * One view's header and rows bound to one column list (the registry given,
   * or the current one): what a delivery or an export reads from start to
   * end, whatever columns are added meanwhile.
   */
  snapshot(view: ViewName, registry?: ColumnRegistry): Promise<ViewSnapshot>;
}

// ---------------------------------------------------------------- sync state

/** The lock a sync run holds: its owner id and the generation it got (its fencing token). */
export interface LockTicket {
  target: string;
  owner: string;
  generation: number;
  /** The lock was taken from a run that may still be alive (it stopped beating): its last writes may land late. */
  tookOverLive: boolean;
}

export interface LockHolder {
  owner: string;
  pid: number;
  host: string;
  generation: number;
  acquired_at: string;
  heartbeat_at: string;
}

export interface SyncRunRow {
  id: number;
  target: string;
  started_at: string;
  finished_at: string | null;
  ok: number | null;
  rows: number;
  error: string | null;
  details: string | null;
}

export interface ViewErrorRow {
  view: string;
  last_error: string;
  last_error_at: string;
}

/** What one run confirms: per view, the target's receipt or its error. */
export type ViewConfirmation = { view: ViewName; ok: true; totalRows: number; rows: number; state: unknown } | { view: ViewName; ok: false; error: string };

export interface SyncStateStore {
  cursor(target: string, view: ViewName): Promise<ViewCursor>;
  /**
   * In one transaction: checks the ticket still holds its lock (LockLostError
   * otherwise, and nothing is written), then moves the cursors of the views
   * the target confirmed to `toSeq` and records the others' errors.
   */
  commitRun(ticket: LockTicket, toSeq: number, views: readonly ViewConfirmation[], now?: Date): Promise<void>;
  startRun(target: string, now?: Date): Promise<number>;
  finishRun(id: number, target: string, result: { ok: boolean; rows: number; error: string | null; details: unknown }, now?: Date): Promise<void>;
  /** The latest finished run. */
  lastRun(target: string): Promise<SyncRunRow | undefined>;
  /** The latest run, finished or not (status tells a running or crashed run from a finished one). */
  latestRun(target: string): Promise<SyncRunRow | undefined>;
  lastSuccess(target: string): Promise<SyncRunRow | undefined>;
  totalRows(target: string): Promise<number>;
  viewErrors(target: string): Promise<ViewErrorRow[]>;
  /** A new owner id for one sync run. */
  newOwner(): string;
  /** Takes the target's lock unless a live holder has it (one that stopped beating loses it); a ticket with a new generation. */
  tryLock(target: string, owner: string, now?: Date): Promise<LockTicket | undefined>;
  /** True while the ticket's run still holds the lock; false once it was taken over. */
  heartbeat(ticket: LockTicket, now?: Date): Promise<boolean>;
  /** Throws LockLostError unless the ticket still holds its lock (a fence before a write a target cannot take back). */
  assertHolds(ticket: LockTicket): Promise<void>;
  /** Releases the lock; false when the database refused (it is taken back before the next run). */
  unlock(ticket: LockTicket): Promise<boolean>;
  lockHolder(target: string): Promise<LockHolder | undefined>;
  /** The lock's holder while it has not lost it by the takeover rules. */
  liveHolder(target: string, now?: Date): Promise<LockHolder | undefined>;
  /** The seq from which a keyed view's rows are delivered again after a takeover, if any. */
  repairFrom(target: string, view: ViewName): Promise<number | undefined>;
}

// ---------------------------------------------------------------- retention

/** What RETENTION_DAYS has done to this database. */
export interface RetentionState {
  /** The oldest calendar day kept (REPORT_TIMEZONE); the daily rows of earlier days are closed. Null: retention never ran. */
  keptFromDay: string | null;
  /** Events received before this instant (ISO UTC) are deleted. */
  cutoff: string | null;
  /** The highest seq deleted: new events get higher ones. */
  seqFloor: number;
  lastRunAt: string | null;
  /** The last run's outcome in words (counts, or why it stopped). */
  lastResult: string | null;
}

/**
 * The deletions of RETENTION_DAYS, each one short transaction the job repeats
 * until it returns 0; every step idempotent (a run that stops anywhere is
 * finished by the next one).
 */
export interface RetentionStore {
  state(): Promise<RetentionState>;
  close(keptFromDay: string, cutoff: string): Promise<RetentionState>;
  enterOldEvents(limit: number): Promise<number>;
  deleteEvents(cutoff: string, limit: number): Promise<number>;
  deleteQuarantine(cutoff: string, limit: number): Promise<number>;
  activeCallsBefore(month: string, keep: { cutoff: string; day: string }): Promise<number[]>;
  moveCalls(month: string, rids: readonly number[]): Promise<number | 'behind'>;
  deleteMonths(month: string, limit: number, keep: { cutoff: string; day: string }): Promise<{ contents: number; metricRows: number }>;
  leftBefore(month: string): Promise<boolean>;
  deleteHours(cutoff: string): Promise<number>;
  finish(at: string, result: string): Promise<void>;
  fail(result: string): Promise<void>;
  /** received_at of the oldest event kept. */
  oldestEvent(): Promise<string | null>;
  /**
   * Giving space back to the file system: SQLite only (PostgreSQL's
   * autovacuum reuses the space by itself).
   */
  space?: {
    /** Frees up to `pages` pages; returns the free pages left. */
    vacuumStep(pages: number): Promise<number>;
    /** 2: incremental; 0: none (the file does not shrink). */
    autoVacuum(): Promise<number>;
    freePages(): Promise<number>;
    pageSize(): Promise<number>;
    /** Bytes of WAL no checkpoint could copy yet. */
    walBacklog(): Promise<number>;
  };
}

// ---------------------------------------------------------------- console

/** What became of a webhook that reached the store: logged, already logged, or held in quarantine. */
export type HourOutcome = 'accepted' | 'duplicate' | 'quarantined';
/** A quarantined payload that is no EmberQA type (or, counted before migration 6, whose type was not kept). */
export type HourType = WebhookType | 'unknown';

export interface HourCount {
  /** `yyyy-mm-ddThh` in UTC: the hour of received_at. */
  hour: string;
  type: HourType;
  outcome: HourOutcome;
  n: number;
}

export interface HeldPayload {
  id: number;
  webhook_id: string | null;
  received_at: string;
  last_received_at: string;
  attempts: number;
  reason: string;
  /** JSON list of {path, message}. */
  errors: string;
  /** Size of the payload (not the payload: it may be megabytes). */
  bytes: number;
}

export interface ConsoleStore {
  sessions: {
    create(key: string, expiresAt: Date, now?: Date): Promise<void>;
    find(key: string, now?: Date): Promise<{ created_at: string; expires_at: string } | undefined>;
    delete(key: string): Promise<void>;
    setFlash(key: string, message: string): Promise<void>;
    /** The message left for this session, once. */
    takeFlash(key: string): Promise<string | undefined>;
  };
  /** Webhooks per hour by type and outcome, from `fromHour` (`yyyy-mm-ddThh`) on, oldest first. */
  hoursSince(fromHour: string): Promise<HourCount[]>;
  quarantine: {
    /** Up to `limit` held payloads with an id below `beforeId`, newest first, without bodies. */
    page(beforeId: number, limit: number): Promise<HeldPayload[]>;
    held(): Promise<number>;
    /** One payload's bytes as received, by its quarantine id. */
    payload(id: number): Promise<{ body: Buffer; webhook_id: string | null; status: string } | undefined>;
  };
}

// ---------------------------------------------------------------- the store

export interface Store {
  readonly kind: StoreKind;
  /** Where the data lives, for people: the SQLite file, or the PostgreSQL URL without its password. */
  readonly location: string;
  events: EventLogStore;
  projection: ProjectionStore;
  views: ViewRowsStore;
  sync: SyncStateStore;
  retention: RetentionStore;
  console: ConsoleStore;
  meta: {
    get(key: MetaKey): Promise<string | undefined>;
    set(key: MetaKey, value: string, now?: Date): Promise<void>;
  };
  /** The zone the keyed views are derived in (the one the server recorded; UTC until one is). */
  reportTimezone(): Promise<string>;
  /** Positions of keyed rows in targets are valid only within one epoch. */
  keyedEpoch(): Promise<string>;
  /** Makes `zone` the zone of the keyed views; true when their rows must be derived again. */
  adoptReportTimezone(zone: string, now?: Date): Promise<boolean>;
  /** The server's group-commit writer (one per process). */
  createWriter(options?: WebhookWriterOptions): WebhookWriter;
  /** A round trip that proves the database answers and takes writes (/healthz, doctor). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type { AppendResult };
