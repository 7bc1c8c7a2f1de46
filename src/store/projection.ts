import type { Statement } from 'better-sqlite3';
import { flattenPayload, type FlatEvent } from '../flatten/flatten-payload.js';
import { parseJsonObject } from '../lib/json-object.js';
import type { Cell } from '../model/cells.js';
import { DEFAULT_MAX_DYNAMIC_COLUMNS, dynamicKey, planNewColumns, type ColumnRegistry, type DynamicColumn } from '../model/columns.js';
import { LONG_VIEWS, rowColumns, VIEW_DEFS, WIDE_VIEWS, type ViewName, type WideViewName } from '../model/views.js';
import type { TypedPayload } from '../model/webhooks.js';
import type { StoredEvent } from './event-log.js';
import type { Db } from './open-db.js';

/** `INSERT INTO <table> (seq, [ord,] <row columns>, [dyn])`, from the view definitions. */
function insertSql(view: ViewName): string {
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

export interface ParkedEvent {
  seq: number;
  webhook_id: string;
  type: string;
  error: string;
  parked_at: string;
}

export interface ProjectionOptions {
  /** MAX_DYNAMIC_COLUMNS: a wide view never gets more dynamic columns than this. */
  maxDynamicColumns?: number;
  now?: () => Date;
}

const MAX_ERROR_CHARS = 2000;

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
  const eventsAfter = db.prepare<[number, number], StoredEvent>('SELECT seq, webhook_id, type, received_at, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?');
  const loadColumns = db.prepare<[], DynamicColumn & { view: WideViewName }>('SELECT view, position, name, kind, key FROM view_columns ORDER BY view, position');
  const insertColumn = db.prepare<[string, number, string, string, string, number]>('INSERT INTO view_columns (view, position, name, kind, key, added_seq) VALUES (?, ?, ?, ?, ?, ?)');
  const insertOverflow = db.prepare<[string, string, string, number]>('INSERT OR IGNORE INTO column_overflow (view, kind, key, first_seq) VALUES (?, ?, ?, ?)');
  // A key that overflowed under a lower MAX_DYNAMIC_COLUMNS and now got its column is no longer over the cap.
  const clearOverflow = db.prepare<[string, string, string]>('DELETE FROM column_overflow WHERE view = ? AND kind = ? AND key = ?');
  const overflowCounts = db.prepare<[], { view: WideViewName; n: number }>('SELECT view, count(*) AS n FROM column_overflow GROUP BY view');
  const insertRow = Object.fromEntries([...WIDE_VIEWS, ...LONG_VIEWS].map((v) => [v, db.prepare<unknown[]>(insertSql(v))])) as Record<ViewName, Statement<unknown[]>>;
  const lastSeq = db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM events');
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
    const reg = Object.fromEntries(WIDE_VIEWS.map((v) => [v, [] as DynamicColumn[]])) as ColumnRegistry;
    for (const { view, ...col } of loadColumns.all()) reg[view].push(col);
    return reg;
  }

  function flatten(event: StoredEvent): FlatEvent {
    // The log only holds payloads that passed this type's schema at ingest.
    const payload = parseJsonObject(event.body);
    return flattenPayload({ type: event.type, payload } as TypedPayload);
  }

  /** Column positions by dynamic key, per view; rebuilt only when a view gains columns. */
  type Positions = Map<WideViewName, Map<string, number>>;

  /** Writes one event's rows; returns the columns it added (the caller adopts them once the write stuck). */
  const writeEvent = db.transaction((event: StoredEvent, flat: FlatEvent, reg: ColumnRegistry, positions: Positions): DynamicColumn[] => {
    const view = flat.view;
    const plan = planNewColumns(view, reg[view], flat.dynamic, maxColumns);
    for (const c of plan.added) {
      insertColumn.run(view, c.position, c.name, c.kind, c.key, event.seq);
      clearOverflow.run(view, c.kind, c.key);
    }
    for (const k of plan.overflow) insertOverflow.run(view, k.kind, k.key, event.seq);
    let positionOf = plan.added.length === 0 ? positions.get(view) : undefined;
    if (!positionOf) positionOf = new Map([...reg[view], ...plan.added].map((c) => [dynamicKey(c.kind, c.key), c.position]));
    const dyn: Cell[] = [];
    for (const d of flat.dynamic) {
      const pos = positionOf.get(dynamicKey(d.kind, d.key));
      if (pos === undefined) continue; // past MAX_DYNAMIC_COLUMNS: the long views keep the value
      while (dyn.length < pos) dyn.push(null);
      dyn[pos] = d.value;
    }
    const row = flat.row as Record<string, Cell>;
    insertRow[view].run([event.seq, ...rowColumns(view).map((c) => row[c] ?? null), JSON.stringify(dyn)]);
    flat.scores.forEach((s, i) => insertRow.scores.run([event.seq, i, ...rowColumns('scores').map((c) => s[c])]));
    flat.fields.forEach((f, i) => insertRow.workflow_fields.run([event.seq, i, ...rowColumns('workflow_fields').map((c) => f[c])]));
    if (plan.added.length === 0 && !positions.has(view)) positions.set(view, positionOf);
    return plan.added;
  });

  function describe(err: unknown): string {
    const e = err as { name?: unknown; code?: unknown; message?: unknown };
    const text = `${typeof e?.name === 'string' ? e.name : 'Error'}${typeof e?.code === 'string' ? ` ${e.code}` : ''}: ${typeof e?.message === 'string' ? e.message : String(err)}`;
    return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
  }

  /** Projects up to `limit` events past the cursor in one transaction; returns how many were taken (projected or parked). */
  const projectBatch = db.transaction((limit: number): number => {
    const from = cursor.get()!.seq;
    const events = eventsAfter.all(from, limit);
    if (events.length === 0) return 0;
    const reg = columns();
    const positions: Positions = new Map();
    for (const event of events) {
      try {
        const flat = flatten(event);
        // A savepoint per event: a failure leaves nothing of this event behind.
        const added = writeEvent(event, flat, reg, positions);
        if (added.length > 0) {
          reg[flat.view] = [...reg[flat.view], ...added];
          positions.delete(flat.view);
        }
      } catch (err) {
        if (!isEventSpecific(err)) throw err;
        park.run(event.seq, describe(err), now().toISOString());
      }
    }
    setCursor.run(events.at(-1)!.seq);
    return events.length;
  });

  /** Thrown to roll back a trial write that succeeded. */
  const TRIAL_OK = Symbol('trial write succeeded');
  /** Writes the event's rows in a savepoint that is always rolled back: does it project now? */
  const tryWrite = db.transaction((event: StoredEvent) => {
    writeEvent(event, flatten(event), columns(), new Map());
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
    const to = (lastSeq.get()!.seq ?? 0) + 1;
    // quarantine.released_seq points at the event: both move in this transaction.
    db.pragma('defer_foreign_keys = ON');
    unpark.run(seq);
    moveEvent.run(to, seq);
    moveRelease.run(to, seq);
    return 'moved';
  });

  const wipe = db.transaction(() => {
    for (const v of [...WIDE_VIEWS, ...LONG_VIEWS]) db.prepare(`DELETE FROM ${VIEW_DEFS[v].table}`).run();
    db.prepare('DELETE FROM parked_events').run();
    setCursor.run(0);
  });

  const api = {
    columns,
    cursor: () => cursor.get()!.seq,
    /** The cursor and the column registry in one read: rows up to the cursor fit those columns exactly. */
    snapshot: (): { toSeq: number; registry: ColumnRegistry } => db.transaction(() => ({ toSeq: cursor.get()!.seq, registry: columns() }))(),
    /** How many logged events are not projected yet. */
    lag: () => (lastSeq.get()!.seq ?? 0) - cursor.get()!.seq,
    // Nothing pending (the common case for an export or a sync): no write lock is taken at all, so they
    // work while another process holds it.
    projectBatch: (limit: number): number => (api.lag() <= 0 ? 0 : projectBatch.immediate(limit)),
    /** Projects everything that is pending, in chunks that keep each write lock short. */
    catchUp(chunk = 500): number {
      let total = 0;
      for (let n = api.projectBatch(chunk); n > 0; n = api.projectBatch(chunk)) total += n;
      return total;
    },
    parked: (limit = 100): ParkedEvent[] => parked.all(limit),
    parkedCount: (): number => parkedCount.get()!,
    /** Keys that got no column because of MAX_DYNAMIC_COLUMNS, per wide view. */
    overflow(): Partial<Record<WideViewName, number>> {
      return Object.fromEntries(overflowCounts.all().map((r) => [r.view, r.n]));
    },
    /** Re-tries every parked event (replay and rebuild call this); returns how many left the parking. */
    retryParked(): { moved: number; still: number } {
      const out = { moved: 0, still: 0 };
      for (const p of parked.all(-1)) out[retryOne.immediate(p.seq)]++;
      if (out.moved > 0) api.catchUp();
      return out;
    },
    /**
     * Derived rows are disposable: drop them and project the whole log again.
     * The column registry is kept (it is a contract with the targets) and only
     * grows. Parked events are retried first, so one that projects now is
     * delivered as a new row rather than slipped in behind the targets' cursors.
     */
    rebuild(chunk = 500): number {
      api.retryParked();
      wipe.immediate();
      return api.catchUp(chunk);
    },
  };
  return api;
}
export type Projection = ReturnType<typeof createProjection>;
