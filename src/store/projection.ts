import type { Statement } from 'better-sqlite3';
import { flattenPayload, type FlatEvent } from '../flatten/flatten-payload.js';
import { payloadFacts, type ContentFacts } from '../flatten/merge-content.js';
import { parseLoggedObject as parseLogged } from '../lib/json-object.js';
import type { Cell } from '../model/cells.js';
import { DEFAULT_MAX_DYNAMIC_COLUMNS, dynamicCells, dynamicKey, planNewColumns, type ColumnRegistry, type DynamicColumn } from '../model/columns.js';
import { COLUMN_VIEWS, LOG_VIEWS, rowColumns, VIEW_DEFS, type ColumnViewName, type LogViewName, type WideViewName } from '../model/views.js';
import type { TypedPayload } from '../model/webhooks.js';
import { KeyedApplyError } from './keyed-apply-error.js';
import { createKeyedProjection } from './keyed-projection.js';
import type { Db } from './open-db.js';
import type { ParkedEvent, StoredEvent } from './store.js';

/** `INSERT INTO <table> (seq, [ord,] <row columns>, [dyn])`, from the view definitions. */
function insertSql(view: LogViewName): string {
  const def = VIEW_DEFS[view];
  const cols = ['seq', ...(def.shape === 'long' ? ['ord'] : []), ...rowColumns(view), ...(def.shape === 'wide' ? ['dyn'] : [])];
  return `INSERT INTO ${def.table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`;
}

/**
 * SQLite errors that say nothing about the event being projected (a busy or
 * full database, an I/O error): the batch is retried later. Anything else
 * raised while projecting one event (flatten, a constraint) is that event's
 * own problem: it is parked and the others go on.
 */
const EVENT_SPECIFIC_SQLITE = /^SQLITE_(CONSTRAINT|TOOBIG|MISMATCH)/;
export function isEventSpecific(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  const sqlite = (err as { name?: unknown })?.name === 'SqliteError' || (typeof code === 'string' && code.startsWith('SQLITE_'));
  return !sqlite || (typeof code === 'string' && EVENT_SPECIFIC_SQLITE.test(code));
}

export interface ProjectionOptions {
  /** MAX_DYNAMIC_COLUMNS: a wide view never gets more dynamic columns than this. */
  maxDynamicColumns?: number;
  /** The IANA zone of the keyed views' days (REPORT_TIMEZONE); read when a batch starts. */
  reportTimezone?: () => string;
  now?: () => Date;
}

const MAX_ERROR_CHARS = 2000;
/** SQLite's page cache of a connection that rebuilds (KiB, see bulk). */
const BULK_CACHE_KIB = 64 * 1024;
/** WAL pages between automatic checkpoints while a connection rebuilds (SQLite's default is 1,000). */
const BULK_CHECKPOINT_PAGES = 50_000;

/**
 * Turns logged events into view rows. The projector cursor moves in the same
 * transaction as the rows it covers, so rows are never lost nor doubled, and
 * whichever process projects (server or CLI) works from the same state. An
 * event that cannot be projected is parked with its error (and counted in
 * status) instead of stopping every event behind it.
 */
export function createProjection(db: Db, options: ProjectionOptions = {}) {
  const maxColumns = options.maxDynamicColumns ?? DEFAULT_MAX_DYNAMIC_COLUMNS;
  const now = options.now ?? (() => new Date());
  const cursor = db.prepare<[], { seq: number }>('SELECT seq FROM projector_state WHERE id = 1');
  const setCursor = db.prepare<[number]>('UPDATE projector_state SET seq = ? WHERE id = 1');
  const keyedCursor = db.prepare<[], number>('SELECT keyed_seq FROM projector_state WHERE id = 1').pluck();
  const setKeyedCursor = db.prepare<[number]>('UPDATE projector_state SET keyed_seq = ? WHERE id = 1');
  const parkedIn = db.prepare<[number, number], number>('SELECT seq FROM parked_events WHERE seq > ? AND seq <= ?').pluck();
  const eventsAfter = db.prepare<[number, number], StoredEvent>('SELECT seq, webhook_id, type, received_at, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?');
  const keyed = createKeyedProjection(db, options.reportTimezone ?? (() => 'UTC'));
  const loadColumns = db.prepare<[], DynamicColumn & { view: ColumnViewName }>('SELECT view, position, name, kind, key FROM view_columns ORDER BY view, position');
  const insertColumn = db.prepare<[string, number, string, string, string, number]>('INSERT INTO view_columns (view, position, name, kind, key, added_seq) VALUES (?, ?, ?, ?, ?, ?)');
  const insertOverflow = db.prepare<[string, string, string, number]>('INSERT OR IGNORE INTO column_overflow (view, kind, key, first_seq) VALUES (?, ?, ?, ?)');
  // A key that overflowed under a lower MAX_DYNAMIC_COLUMNS and now got its column is no longer over the cap.
  const clearOverflow = db.prepare<[string, string, string]>('DELETE FROM column_overflow WHERE view = ? AND kind = ? AND key = ?');
  const overflowCounts = db.prepare<[], { view: ColumnViewName; n: number }>('SELECT view, count(*) AS n FROM column_overflow GROUP BY view');
  const insertRow = Object.fromEntries(LOG_VIEWS.map((v) => [v, db.prepare<unknown[]>(insertSql(v))])) as Record<LogViewName, Statement<unknown[]>>;
  const lastSeq = db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM events');
  // The highest seq RETENTION_DAYS deleted: never given again (migration 7).
  const seqFloor = db.prepare<[], number>('SELECT seq_floor FROM retention_state WHERE id = 1').pluck();
  const park = db.prepare<[number, string, string]>('INSERT INTO parked_events (seq, error, parked_at) VALUES (?, ?, ?) ON CONFLICT (seq) DO UPDATE SET error = excluded.error, parked_at = excluded.parked_at');
  const parked = db.prepare<[number], ParkedEvent>(
    'SELECT p.seq, e.webhook_id, e.type, p.error, p.parked_at FROM parked_events p JOIN events e ON e.seq = p.seq ORDER BY p.seq LIMIT ?',
  );
  const parkedCount = db.prepare<[], number>('SELECT count(*) FROM parked_events').pluck();
  const eventAt = db.prepare<[number], StoredEvent>('SELECT seq, webhook_id, type, received_at, body FROM events WHERE seq = ?');
  const unpark = db.prepare<[number]>('DELETE FROM parked_events WHERE seq = ?');
  const moveEvent = db.prepare<[number, number]>('UPDATE events SET seq = ? WHERE seq = ?');
  const moveRelease = db.prepare<[number, number]>('UPDATE quarantine SET released_seq = ? WHERE released_seq = ?');

  function columns(): ColumnRegistry {
    const reg = Object.fromEntries(COLUMN_VIEWS.map((v) => [v, [] as DynamicColumn[]])) as ColumnRegistry;
    for (const { view, ...col } of loadColumns.all()) reg[view].push(col);
    return reg;
  }

  function flatten(event: StoredEvent): FlatEvent {
    // The log only holds payloads that passed this type's schema at ingest.
    const payload = parseLogged(event.body);
    return flattenPayload({ type: event.type, payload } as TypedPayload);
  }

  /** Column positions by dynamic key, per view; rebuilt only when a view gains columns. */
  type Positions = Map<WideViewName, Map<string, number>>;

  /** Writes one event's rows; returns the columns it added (the caller adopts them once the write stuck). */
  type KeyedBatch = ReturnType<typeof keyed.batch>;
  /**
   * The keyed views hold a batch's contents in memory until it commits: an
   * event that fails half-way through them would leave that memory ahead of
   * the database. So such a failure aborts the whole batch (KeyedApplyError);
   * the event is then parked on its own and the batch runs again without it.
   */
  function applyKeyed(keyedBatch: KeyedBatch | undefined, flat: FlatEvent | ContentFacts | undefined, event: StoredEvent): void {
    try {
      if (flat === undefined || keyedBatch === undefined) return;
      if ('view' in flat) keyedBatch.apply(flat, event.seq, event.received_at);
      else keyedBatch.applyFacts(flat, event.seq, event.received_at);
    } catch (err) {
      throw isEventSpecific(err) ? new KeyedApplyError(event.seq, err) : err;
    }
  }
  /** What an event tells the keyed views, without its append-only rows (a workflow tells them nothing: its body is not even read). */
  function keyedFacts(event: StoredEvent): ContentFacts | undefined {
    if (event.type === 'workflow') return undefined;
    return payloadFacts({ type: event.type, payload: parseLogged(event.body) } as TypedPayload);
  }
  const writeEvent = db.transaction((event: StoredEvent, flat: FlatEvent, reg: ColumnRegistry, positions: Positions, keyedBatch: KeyedBatch | undefined): DynamicColumn[] => {
    const view = flat.view;
    const plan = planNewColumns(view, reg[view], flat.dynamic, maxColumns);
    for (const c of plan.added) {
      insertColumn.run(view, c.position, c.name, c.kind, c.key, event.seq);
      clearOverflow.run(view, c.kind, c.key);
    }
    for (const k of plan.overflow) insertOverflow.run(view, k.kind, k.key, event.seq);
    let positionOf = plan.added.length === 0 ? positions.get(view) : undefined;
    if (!positionOf) positionOf = new Map([...reg[view], ...plan.added].map((c) => [dynamicKey(c.kind, c.key), c.position]));
    const dyn = dynamicCells(flat.dynamic, positionOf);
    const row = flat.row as Record<string, Cell>;
    insertRow[view].run([event.seq, ...rowColumns(view).map((c) => row[c] ?? null), JSON.stringify(dyn)]);
    flat.scores.forEach((s, i) => insertRow.scores.run([event.seq, i, ...rowColumns('scores').map((c) => s[c])]));
    flat.fields.forEach((f, i) => insertRow.workflow_fields.run([event.seq, i, ...rowColumns('workflow_fields').map((c) => f[c])]));
    if (plan.added.length === 0 && !positions.has(view)) positions.set(view, positionOf);
    applyKeyed(keyedBatch, flat, event);
    return plan.added;
  });

  function describe(err: unknown): string {
    const e = err as { name?: unknown; code?: unknown; message?: unknown };
    const text = `${typeof e?.name === 'string' ? e.name : 'Error'}${typeof e?.code === 'string' ? ` ${e.code}` : ''}: ${typeof e?.message === 'string' ? e.message : String(err)}`;
    return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
  }

  /**
   * Projects up to `limit` events past the cursors in one transaction; returns
   * how many were taken. Events past the log cursor get their append-only
   * rows (or are parked) and feed the keyed views; events the append-only
   * views already have but the keyed views do not (after a new
   * REPORT_TIMEZONE) feed the keyed views only, parked ones excepted.
   */
  const projectBatch = db.transaction((limit: number): number => {
    const logFrom = cursor.get()!.seq;
    const keyedFrom = keyedCursor.get()!;
    const events = eventsAfter.all(Math.min(logFrom, keyedFrom), limit);
    if (events.length === 0) return 0;
    const reg = columns();
    const positions: Positions = new Map();
    const keyedBatch = keyed.batch(reg, maxColumns);
    const last = events.at(-1)!.seq;
    const parkedSeqs = new Set(parkedIn.all(Math.min(logFrom, keyedFrom), last));
    for (const event of events) {
      if (parkedSeqs.has(event.seq)) continue;
      if (event.seq <= logFrom) {
        // Already in the append-only views: the keyed views catch up.
        if (event.seq > keyedFrom) applyKeyed(keyedBatch, keyedFacts(event), event);
        continue;
      }
      try {
        const flat = flatten(event);
        // A savepoint per event: a failure leaves nothing of this event behind.
        const added = writeEvent(event, flat, reg, positions, event.seq > keyedFrom ? keyedBatch : undefined);
        if (added.length > 0) {
          reg[flat.view] = [...reg[flat.view], ...added];
          positions.delete(flat.view);
        }
      } catch (err) {
        if (err instanceof KeyedApplyError || !isEventSpecific(err)) throw err;
        park.run(event.seq, describe(err), now().toISOString());
      }
    }
    keyedBatch.flush(Math.max(keyedFrom, last));
    if (last > logFrom) setCursor.run(last);
    if (last > keyedFrom) setKeyedCursor.run(last);
    return events.length;
  });

  /** Thrown to roll back a trial write that succeeded. */
  const TRIAL_OK = Symbol('trial write succeeded');
  /** Writes the event's rows in a savepoint that is always rolled back: does it project now? */
  const tryWrite = db.transaction((event: StoredEvent) => {
    const reg = columns();
    const trial = keyed.batch(reg, maxColumns);
    writeEvent(event, flatten(event), reg, new Map(), trial);
    trial.flush();
    throw TRIAL_OK;
  });

  /**
   * Parked events that project now are moved to the end of the log (a new seq,
   * the same bytes and received_at) and projected there, like a payload
   * released from quarantine: targets whose cursors went past their old place
   * receive them as new rows. Those that still fail stay parked with their
   * new error.
   */
  const retryOne = db.transaction((seq: number): 'moved' | 'still' => {
    const event = eventAt.get(seq);
    if (!event) {
      unpark.run(seq);
      return 'moved';
    }
    try {
      tryWrite(event);
    } catch (err) {
      if (err !== TRIAL_OK) {
        if (!isEventSpecific(err)) throw err;
        park.run(seq, describe(err), now().toISOString());
        return 'still';
      }
    }
    const to = Math.max(lastSeq.get()!.seq ?? 0, seqFloor.get()!) + 1;
    // quarantine.released_seq points at the event: both move in this transaction.
    db.pragma('defer_foreign_keys = ON');
    unpark.run(seq);
    moveEvent.run(to, seq);
    moveRelease.run(to, seq);
    return 'moved';
  });

  // Closed daily rows kept through a new derivation: targets must write the keyed views whole (a new epoch).
  const nextGeneration = db.prepare('UPDATE retention_state SET keyed_generation = keyed_generation + 1 WHERE id = 1');
  const wipeKeyedRows = () => {
    if (keyed.wipe()) nextGeneration.run();
  };
  const wipe = db.transaction(() => {
    for (const v of LOG_VIEWS) db.prepare(`DELETE FROM ${VIEW_DEFS[v].table}`).run();
    wipeKeyedRows();
    db.prepare('DELETE FROM parked_events').run();
    setCursor.run(0);
    setKeyedCursor.run(0);
  });
  const wipeKeyed = db.transaction(() => {
    wipeKeyedRows();
    setKeyedCursor.run(0);
  });

  /**
   * A rebuild writes only derived rows: its commits need not reach the disk
   * one by one (WAL with synchronous=NORMAL never corrupts; a power cut loses
   * the last batches, which the projector simply derives again). For as long
   * as it runs, this connection also keeps more pages in memory (contents are
   * inserted at random places of their content_id index, which outgrows
   * SQLite's default 2 MB at a few hundred thousand calls) and checkpoints
   * less often (each checkpoint syncs the WAL and the database file, and a
   * page rewritten by several commits is copied once). Both are settings of
   * this connection only, given back when the work is done.
   */
  function bulk<T>(work: () => T): T {
    const was = {
      synchronous: Number(db.pragma('synchronous', { simple: true })),
      cache: Number(db.pragma('cache_size', { simple: true })),
      checkpoint: Number(db.pragma('wal_autocheckpoint', { simple: true })),
    };
    db.pragma('synchronous = NORMAL');
    // cache_size counts KiB when negative, pages when positive.
    const cacheKib = was.cache < 0 ? -was.cache : (was.cache * Number(db.pragma('page_size', { simple: true }))) / 1024;
    if (cacheKib < BULK_CACHE_KIB) db.pragma(`cache_size = ${-BULK_CACHE_KIB}`);
    if (was.checkpoint > 0 && was.checkpoint < BULK_CHECKPOINT_PAGES) db.pragma(`wal_autocheckpoint = ${BULK_CHECKPOINT_PAGES}`);
    const restore = () => {
      db.pragma(`synchronous = ${was.synchronous}`);
      db.pragma(`cache_size = ${was.cache}`);
      db.pragma(`wal_autocheckpoint = ${was.checkpoint}`);
    };
    let result: T;
    try {
      result = work();
    } catch (err) {
      restore();
      throw err;
    }
    // Work done in steps (a promise): the settings hold until it settles.
    if (result instanceof Promise) return result.finally(restore) as T;
    restore();
    return result;
  }

  const api = {
    columns,
    cursor: () => cursor.get()!.seq,
    /** How far the keyed views have followed the log (0: nothing derived yet). */
    keyedCursor: () => keyedCursor.get()!,
    /** The cursor and the column registry in one read: rows up to the cursor fit those columns exactly. */
    snapshot: (): { toSeq: number; registry: ColumnRegistry } => db.transaction(() => ({ toSeq: cursor.get()!.seq, registry: columns() }))(),
    /** How many logged events are not projected yet (into every view). */
    // Never below 0: RETENTION_DAYS may move the cursors past the last event (store/retention.ts) or delete every event.
    lag: () => Math.max(0, (lastSeq.get()!.seq ?? 0) - Math.min(cursor.get()!.seq, keyedCursor.get()!)),
    // Nothing pending (the common case for an export or a sync): no write lock is taken at all, so they
    // work while another process holds it.
    projectBatch(limit: number): number {
      if (api.lag() <= 0) return 0;
      try {
        return projectBatch.immediate(limit);
      } catch (err) {
        if (!(err instanceof KeyedApplyError)) throw err;
        // The batch rolled back whole; park the event alone (the next batch skips it) and count it as taken.
        db.transaction(() => park.run(err.seq, describe(err.cause), now().toISOString())).immediate();
        return 1;
      }
    },
    /** Projects everything that is pending, in chunks that keep each write lock short. */
    catchUp(chunk = 500): number {
      let total = 0;
      for (let n = api.projectBatch(chunk); n > 0; n = api.projectBatch(chunk)) total += n;
      return total;
    },
    parked: (limit = 100): ParkedEvent[] => parked.all(limit),
    parkedCount: (): number => parkedCount.get()!,
    /** Keys that got no column because of MAX_DYNAMIC_COLUMNS, per wide view. */
    overflow(): Partial<Record<ColumnViewName, number>> {
      return Object.fromEntries(overflowCounts.all().map((r) => [r.view, r.n]));
    },
    /** Re-tries every parked event (replay and rebuild call this); returns how many left the parking. */
    retryParked(): { moved: number; still: number } {
      const out = { moved: 0, still: 0 };
      for (const p of parked.all(-1)) out[retryOne.immediate(p.seq)]++;
      if (out.moved > 0) api.catchUp();
      return out;
    },
    /** Drops the keyed views' rows; the projector derives them again from the raw log, batch by batch (a new REPORT_TIMEZONE). */
    resetKeyed(): void {
      wipeKeyed();
    },
    /** Derives the keyed views again from the whole log, now (bench, tests); 5,000 events hold the write lock some 0.15 s at a time. */
    rebuildKeyed(chunk = 5_000): number {
      wipeKeyed.immediate();
      return bulk(() => api.catchUp(chunk));
    },
    /**
     * Derived rows are disposable: drop them and project the whole log again.
     * The column registry is kept (it is a contract with the targets) and only
     * grows. Parked events are retried first, so one that projects now is
     * delivered as a new row rather than slipped in behind the targets' cursors.
     */
    rebuild(chunk = 500): number {
      api.startRebuild();
      return bulk(() => api.catchUp(chunk));
    },
    /** The first step of a rebuild done in steps (jobs/rebuild.ts): parked events retried, derived rows dropped; projectBatch then derives them again. */
    startRebuild(): void {
      api.retryParked();
      wipe.immediate();
    },
    bulk,
  };
  return api;
}
export type Projection = ReturnType<typeof createProjection>;
