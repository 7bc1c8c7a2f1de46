import type { PoolClient } from 'pg';
import { flattenPayload, type FlatEvent } from '../../flatten/flatten-payload.js';
import { parseLoggedObject as parseLogged } from '../../lib/json-object.js';
import type { Cell } from '../../model/cells.js';
import { DEFAULT_MAX_DYNAMIC_COLUMNS, dynamicCells, dynamicKey, planNewColumns, type ColumnRegistry, type DynamicColumn, type DynamicKey } from '../../model/columns.js';
import { COLUMN_VIEWS, LOG_VIEWS, rowColumns, VIEW_DEFS, type ColumnViewName, type LogViewName, type WideViewName } from '../../model/views.js';
import type { TypedPayload, WebhookType } from '../../model/webhooks.js';
import { KeyedApplyError } from '../keyed-apply-error.js';
import type { ParkedEvent, ProjectionStore } from '../store.js';
import { createPgKeyedProjection } from './pg-keyed-projection.js';
import { PG_APPEND_LOCK } from './pg-migrations.js';
import { unavailableReason, type PgPool } from './pg-pool.js';
import { fromPgText, toPgText } from './pg-text.js';
import { inTransaction } from './pg-unit-of-work.js';

// ---------------------------------------------------------------- text and cells as PostgreSQL holds them

// The registry's text (names, keys) goes through these (pg-text.ts). Re-exported while pg-keyed-projection.ts and
// pg-keyed-rows.ts import them from here: that import makes a cycle until they import pg-text.ts.
export { fromPgText, toPgText };

/** How a fixed column of a log view is typed in PostgreSQL (migration 3): what the schemas send there. */
export type PgCellType = 'text' | 'float8';
const FLOAT_COLUMNS: ReadonlySet<string> = new Set(['total_score', 'total_score_threshold', 'cost', 'score']);
export function pgCellType(column: string): PgCellType {
  return FLOAT_COLUMNS.has(column) ? 'float8' : 'text';
}

/** JSON cannot write -0 (SQLite's untyped columns keep it): `cells` writes it as this object, which no cell ever is. */
const NEGATIVE_ZERO = { n: '-0' };
/** The exact fixed cells of a row that does not fit its typed columns (see migration 3). */
export function encodeCells(cells: readonly Cell[]): string {
  return JSON.stringify(cells, (_key, value: unknown) => (Object.is(value, -0) ? NEGATIVE_ZERO : value));
}
export function decodeCells(text: string): Cell[] {
  return JSON.parse(text, (_key, value: unknown) => (value !== null && typeof value === 'object' && !Array.isArray(value) ? -0 : value)) as Cell[];
}

/** A float8 parameter as text: node-postgres would write -0 as "0". */
function floatText(n: number): string {
  return Object.is(n, -0) ? '-0' : String(n);
}

/**
 * One row's fixed cells as their typed columns take them, plus `cells` (JSON)
 * when one does not fit: a string where a number is expected or the reverse, a
 * string with U+0000. Like SQLite, a cell that is no cell (a boolean, an
 * object) is refused: the event is parked.
 */
function typedCells(columns: readonly string[], values: readonly Cell[]): { typed: Array<string | null>; cells: string | null } {
  let fits = true;
  const typed = values.map((v, i): string | null => {
    if (v === null) return null;
    if (typeof v !== 'string' && typeof v !== 'number') throw new TypeError(`a cell of ${columns[i]} is a ${typeof v}, not text, a number or null`);
    if (pgCellType(columns[i]!) === 'float8') {
      if (typeof v === 'number') return floatText(v);
      fits = false;
      return null;
    }
    if (typeof v === 'number') {
      fits = false;
      return String(v);
    }
    if (v.includes('\u0000')) {
      fits = false;
      return v.replace(/\u0000/g, '\ufffd');
    }
    return v;
  });
  return { typed, cells: fits ? null : encodeCells(values) };
}

// ---------------------------------------------------------------- the keyed views (pg-keyed-projection.ts)

/** What the keyed views get of one event: its parsed body. */
export interface PgKeyedItem {
  seq: number;
  type: WebhookType;
  receivedAt: string;
  payload: unknown;
}

/** The keyed views' derivation, in the projector's transaction (pg-keyed-projection.ts). */
export interface PgKeyedProjection {
  /**
   * Applies the events in seq order; throws an Error with a numeric `seq` for an event it cannot apply.
   * `readsDone`, when given, may be called (once) when its reads are answered: it sends the caller's own write
   * on the connection, and the server runs it while the merge runs in JavaScript; the promise it returns must
   * be awaited before the next statement (one statement at a time on a connection).
   */
  applyBatch(client: PoolClient, items: PgKeyedItem[], readsDone?: () => Promise<void>): Promise<void>;
  /**
   * Drops the keyed rows (closed daily rows of RETENTION_DAYS stay); true when
   * it kept some: it then made a new keyed generation itself (a new epoch).
   */
  wipe(client: PoolClient): Promise<boolean>;
}

// ---------------------------------------------------------------- errors

/** The batch's one write was refused because of one of its events: the batch runs again event by event. */
class BatchWriteError extends Error {
  override name = 'BatchWriteError';
  constructor(override readonly cause: unknown) {
    super('the batch write was refused');
  }
}

/**
 * Errors that say nothing about the event being projected (the database is
 * unavailable, a lock or a serialization failure, a bug in a statement): the
 * batch is retried later. Data exceptions (22), integrity violations (23) and
 * limits (54), and anything not from the database (flatten, a cell that is no
 * cell) are the event's own problem: it is parked and the others go on.
 */
export function isEventSpecific(err: unknown): boolean {
  if (unavailableReason(err) !== undefined) return false;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return /^(22|23|54)/.test(code);
  return true;
}

const MAX_ERROR_CHARS = 2000;
function describe(err: unknown): string {
  const e = err as { name?: unknown; code?: unknown; message?: unknown };
  const text = `${typeof e?.name === 'string' ? e.name : 'Error'}${typeof e?.code === 'string' ? ` ${e.code}` : ''}: ${typeof e?.message === 'string' ? e.message : String(err)}`;
  // Text in PostgreSQL: no U+0000.
  const clean = text.replace(/\u0000/g, '\ufffd');
  return clean.length > MAX_ERROR_CHARS ? `${clean.slice(0, MAX_ERROR_CHARS)}…` : clean;
}

// ---------------------------------------------------------------- the batch write

/** The columns of a log view's table after seq (and ord), in insert order: row columns, then cells, then dyn. */
function tableColumns(view: LogViewName): string[] {
  const def = VIEW_DEFS[view];
  return [...(def.shape === 'long' ? ['ord'] : []), ...rowColumns(view), 'cells', ...(def.shape === 'wide' ? ['dyn'] : [])];
}
function arrayType(column: string): string {
  if (column === 'ord') return 'integer[]';
  if (column === 'cells' || column === 'dyn') return 'text[]';
  return pgCellType(column) === 'float8' ? 'float8[]' : 'text[]';
}

const NO_NEW_COLUMNS: ReturnType<typeof planNewColumns> = { added: [], overflow: [] };

/** Column arrays of everything one write inserts (unnest takes them as parameters: payload keys are values, never SQL). */
interface WriteSet {
  rows: Record<LogViewName, { seq: string[]; columns: Array<Array<string | number | null>> }>;
  registry: { view: string[]; position: number[]; name: string[]; kind: string[]; key: string[]; addedSeq: string[] };
  overflow: { view: string[]; kind: string[]; key: string[]; firstSeq: string[] };
  parked: { seq: string[]; error: string[]; at: string[] };
}
function emptyWriteSet(): WriteSet {
  return {
    rows: Object.fromEntries(LOG_VIEWS.map((v) => [v, { seq: [], columns: tableColumns(v).map(() => []) }])) as unknown as WriteSet['rows'],
    registry: { view: [], position: [], name: [], kind: [], key: [], addedSeq: [] },
    overflow: { view: [], kind: [], key: [], firstSeq: [] },
    parked: { seq: [], error: [], at: [] },
  };
}

/**
 * The one statement a batch writes with: each table's rows from unnest of
 * column arrays, the registry's new columns, the overflow (keys that got a
 * column leave it), parked events. Its text depends on the view definitions
 * only, so it is prepared once per connection.
 */
function writeSql(): string {
  let n = 0;
  const p = (type: string) => `$${++n}::${type}`;
  const parts: string[] = [];
  for (const view of LOG_VIEWS) {
    const cols = tableColumns(view);
    const args = [p('bigint[]'), ...cols.map((c) => p(arrayType(c)))];
    parts.push(`r_${view} AS (INSERT INTO ${VIEW_DEFS[view].table} (seq, ${cols.join(', ')}) SELECT * FROM unnest(${args.join(', ')}))`);
  }
  const [v, pos, name, kind, key, added] = [p('text[]'), p('integer[]'), p('text[]'), p('text[]'), p('text[]'), p('bigint[]')];
  parts.push(`c AS (INSERT INTO view_columns (view, position, name, kind, key, added_seq) SELECT * FROM unnest(${v}, ${pos}, ${name}, ${kind}, ${key}, ${added}))`);
  // A key that overflowed under a lower MAX_DYNAMIC_COLUMNS and now got its column is no longer over the cap.
  parts.push(
    `oc AS (DELETE FROM column_overflow o USING unnest(${v}, ${kind}, ${key}) AS a (view, kind, key)
            WHERE o.view = a.view AND o.kind = a.kind AND md5(o.key) = md5(a.key) AND o.key = a.key)`,
  );
  parts.push(`o AS (INSERT INTO column_overflow (view, kind, key, first_seq) SELECT * FROM unnest(${p('text[]')}, ${p('text[]')}, ${p('text[]')}, ${p('bigint[]')}) ON CONFLICT DO NOTHING)`);
  const parked = `INSERT INTO parked_events (seq, error, parked_at) SELECT * FROM unnest(${p('bigint[]')}, ${p('text[]')}, ${p('text[]')})
                  ON CONFLICT (seq) DO UPDATE SET error = excluded.error, parked_at = excluded.parked_at`;
  return `WITH ${parts.join(',\n')}\n${parked}`;
}
const WRITE_SQL = writeSql();

function writeValues(w: WriteSet): unknown[] {
  const values: unknown[] = [];
  for (const view of LOG_VIEWS) values.push(w.rows[view].seq, ...w.rows[view].columns);
  const r = w.registry;
  values.push(r.view, r.position, r.name, r.kind, r.key, r.addedSeq);
  const o = w.overflow;
  values.push(o.view, o.kind, o.key, o.firstSeq);
  values.push(w.parked.seq, w.parked.error, w.parked.at);
  return values;
}

// ---------------------------------------------------------------- the projection

export interface PgProjectionOptions {
  /** MAX_DYNAMIC_COLUMNS: a wide view never gets more dynamic columns than this. */
  maxDynamicColumns?: number;
  /** The IANA zone of the keyed views' days (REPORT_TIMEZONE), as the database records it. */
  reportTimezone?: (client?: PoolClient) => Promise<string>;
  now?: () => Date;
  /**
   * The keyed views' derivation. Absent: pg-keyed-projection.ts's. null: none
   * (tests of the append-only views alone: the keyed cursor follows the log cursor).
   */
  keyed?: PgKeyedProjection | null;
}

interface LoggedEvent {
  seq: number;
  type: WebhookType;
  received_at: string;
  body: Buffer;
  parked: boolean;
}

/** bigint columns come from node-postgres as text. */
function toInt(value: string | number | null): number {
  if (value === null) return 0;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`${String(value)} is not a safe integer`);
  return n;
}

const REGISTRY_SQL = 'SELECT view, position, name, kind, key FROM view_columns ORDER BY view, position';
type RegistryRow = { view: string; position: number; name: string; kind: DynamicColumn['kind']; key: string };

export function registryOf(rows: readonly RegistryRow[]): ColumnRegistry {
  const reg = Object.fromEntries(COLUMN_VIEWS.map((v) => [v, [] as DynamicColumn[]])) as ColumnRegistry;
  for (const r of rows) reg[r.view as ColumnViewName]?.push({ position: r.position, name: fromPgText(r.name), kind: r.kind, key: fromPgText(r.key) });
  return reg;
}

/**
 * Turns logged events into view rows on PostgreSQL, as projection.ts does on
 * SQLite (same rows, same registry, same parking), with several replicas on
 * one database: one of them at a time projects (the projector_state row lock),
 * and the cursor moves in the transaction that writes the rows it covers.
 */
export function createPgProjection(pool: PgPool, options: PgProjectionOptions = {}): ProjectionStore {
  const maxColumns = options.maxDynamicColumns ?? DEFAULT_MAX_DYNAMIC_COLUMNS;
  const now = options.now ?? (() => new Date());
  const zone = options.reportTimezone ?? (async () => 'UTC');
  const keyedViews: PgKeyedProjection | null = options.keyed === undefined ? createPgKeyedProjection({ zone, maxDynamicColumns: maxColumns }) : options.keyed;
  /** Bulk derivations under way (see bulk): their commits are not waited for on disk. */
  let bulkDepth = 0;

  async function columns(client?: PoolClient): Promise<ColumnRegistry> {
    const query = { name: 'ember_registry', text: REGISTRY_SQL, values: [] };
    const res = client ? await client.query<RegistryRow>(query) : await pool.query<RegistryRow>(query);
    return registryOf(res.rows);
  }

  async function park(client: PoolClient, seq: number, error: string): Promise<void> {
    await client.query({
      name: 'ember_park',
      text: 'INSERT INTO parked_events (seq, error, parked_at) VALUES ($1, $2, $3) ON CONFLICT (seq) DO UPDATE SET error = excluded.error, parked_at = excluded.parked_at',
      values: [seq, error, now().toISOString()],
    });
  }

  function flatten(event: LoggedEvent, payload: Record<string, unknown>): FlatEvent {
    // The log only holds payloads that passed this type's schema at ingest.
    return flattenPayload({ type: event.type, payload } as TypedPayload);
  }

  /** Column positions by dynamic key, per view; rebuilt only when a view gains columns. */
  type Positions = Map<WideViewName, Map<string, number>>;

  /**
   * Adds one event's rows to `w` (and the columns it wants to the registry
   * `reg`, once its rows were made: a refused cell leaves nothing of it).
   */
  function addEvent(w: WriteSet, event: LoggedEvent, flat: FlatEvent, reg: ColumnRegistry, positions: Positions): void {
    const view = flat.view;
    // Every key already has its column (nearly always): nothing to plan.
    const known = positions.get(view);
    const plan = known !== undefined && flat.dynamic.every((d) => known.has(dynamicKey(d.kind, d.key))) ? NO_NEW_COLUMNS : planNewColumns(view, reg[view], flat.dynamic, maxColumns);
    let positionOf = plan.added.length === 0 ? positions.get(view) : undefined;
    if (!positionOf) positionOf = new Map([...reg[view], ...plan.added].map((c) => [dynamicKey(c.kind, c.key), c.position]));
    const dyn = dynamicCells(flat.dynamic, positionOf);
    // Everything this event writes is made before any of it is added: a cell that is no cell parks the event whole.
    const row = flat.row as Record<string, Cell>;
    const wideCols = rowColumns(view);
    const wide = typedCells(
      wideCols,
      wideCols.map((c) => row[c] ?? null),
    );
    const longRows = (longView: 'scores' | 'workflow_fields', list: ReadonlyArray<Record<string, Cell>>) => {
      const cols = rowColumns(longView);
      return list.map((r) =>
        typedCells(
          cols,
          cols.map((c) => r[c] ?? null),
        ),
      );
    };
    const scores = longRows('scores', flat.scores);
    const fields = longRows('workflow_fields', flat.fields);
    const seq = String(event.seq);
    const wideRows = w.rows[view];
    wideRows.seq.push(seq);
    // Wide columns: row columns, cells, dyn.
    wide.typed.forEach((v, i) => wideRows.columns[i]!.push(v));
    wideRows.columns[wide.typed.length]!.push(wide.cells);
    wideRows.columns[wide.typed.length + 1]!.push(JSON.stringify(dyn));
    for (const [longView, made] of [
      ['scores', scores],
      ['workflow_fields', fields],
    ] as const) {
      const t = w.rows[longView];
      made.forEach((m, ord) => {
        t.seq.push(seq);
        // Long columns: ord, row columns, cells.
        t.columns[0]!.push(ord);
        m.typed.forEach((v, i) => t.columns[i + 1]!.push(v));
        t.columns[m.typed.length + 1]!.push(m.cells);
      });
    }
    for (const c of plan.added) {
      w.registry.view.push(view);
      w.registry.position.push(c.position);
      w.registry.name.push(toPgText(c.name));
      w.registry.kind.push(c.kind);
      w.registry.key.push(toPgText(c.key));
      w.registry.addedSeq.push(seq);
    }
    for (const k of plan.overflow) addOverflow(w, view, k, seq);
    if (plan.added.length > 0) {
      reg[view] = [...reg[view], ...plan.added];
      positions.delete(view);
    } else if (!positions.has(view)) positions.set(view, positionOf);
  }

  /** First refusal wins (first_seq), as INSERT OR IGNORE keeps it. */
  const overflowSeen = new WeakMap<WriteSet, Set<string>>();
  function addOverflow(w: WriteSet, view: string, k: DynamicKey, seq: string): void {
    let seen = overflowSeen.get(w);
    if (!seen) overflowSeen.set(w, (seen = new Set()));
    const id = `${view}\u0000${dynamicKey(k.kind, k.key)}`;
    if (seen.has(id)) return;
    seen.add(id);
    w.overflow.view.push(view);
    w.overflow.kind.push(k.kind);
    w.overflow.key.push(toPgText(k.key));
    w.overflow.firstSeq.push(seq);
  }

  function addParked(w: WriteSet, seq: number, err: unknown): void {
    w.parked.seq.push(String(seq));
    w.parked.error.push(describe(err));
    w.parked.at.push(now().toISOString());
  }

  async function write(client: PoolClient, w: WriteSet): Promise<void> {
    await client.query({ name: 'ember_project_write', text: WRITE_SQL, values: writeValues(w) });
  }

  /**
   * One batch, in the caller's transaction. `careful`: each event written
   * under a savepoint of its own (after the one write of the whole batch was
   * refused), so that the event it was refused for is parked alone.
   */
  async function batch(client: PoolClient, limit: number, careful: boolean): Promise<number> {
    // Transaction-scoped (a row lock, released at COMMIT or ROLLBACK), unlike a session advisory lock:
    // it works behind PgBouncer's transaction pooling. SKIP LOCKED: another replica is projecting,
    // it projects these events; and nothing pending takes no lock at all.
    const state = await client.query<{ seq: string; keyed_seq: string }>({
      name: 'ember_projector_lock',
      text: `SELECT seq, keyed_seq FROM projector_state
             WHERE id = 1 AND least(seq, keyed_seq) < (SELECT coalesce(max(seq), 0) FROM events)
             FOR UPDATE SKIP LOCKED`,
      values: [],
    });
    const locked = state.rows[0];
    if (!locked) return 0;
    const keyed = keyedViews;
    const logFrom = toInt(locked.seq);
    const keyedFrom = toInt(locked.keyed_seq);
    // No JIT: the batch's statements are small lookups whose cost estimates (tables that grew since their last
    // ANALYZE, unnest of arrays) often pass jit_above_cost; compiling then took ~130 ms per statement, far more
    // than running them.
    await client.query(bulkDepth > 0 ? 'SET LOCAL jit = off; SET LOCAL synchronous_commit = off' : 'SET LOCAL jit = off');
    // A statement of its own, after the lock: its snapshot sees every batch committed before.
    const res = await client.query<{ seq: string; type: WebhookType; received_at: string; body: Buffer; parked: boolean }>({
      name: 'ember_projector_events',
      text: `SELECT e.seq, e.type, e.received_at, e.body, p.seq IS NOT NULL AS parked
             FROM events e LEFT JOIN parked_events p ON p.seq = e.seq
             WHERE e.seq > $1 ORDER BY e.seq LIMIT $2`,
      values: [Math.min(logFrom, keyedFrom), limit],
    });
    if (res.rows.length === 0) return 0;
    const events: LoggedEvent[] = res.rows.map((r) => ({ ...r, seq: toInt(r.seq) }));
    const reg = await columns(client);
    const positions: Positions = new Map();
    const items: PgKeyedItem[] = [];
    const w = emptyWriteSet();
    const last = events.at(-1)!.seq;
    for (const event of events) {
      if (event.parked) continue;
      const toKeyed = keyed !== null && event.seq > keyedFrom;
      if (event.seq <= logFrom) {
        // Already in the append-only views: the keyed views catch up (a workflow tells them nothing).
        if (toKeyed && event.type !== 'workflow') {
          let payload: Record<string, unknown>;
          try {
            payload = parseLogged(event.body);
          } catch (err) {
            throw new KeyedApplyError(event.seq, err);
          }
          items.push({ seq: event.seq, type: event.type, receivedAt: event.received_at, payload });
        }
        continue;
      }
      let payload: Record<string, unknown>;
      try {
        payload = parseLogged(event.body);
        const flat = flatten(event, payload);
        if (careful) {
          const one = emptyWriteSet();
          addEvent(one, event, flat, reg, positions);
          await client.query('SAVEPOINT ember_event');
          try {
            await write(client, one);
          } catch (err) {
            await client.query('ROLLBACK TO SAVEPOINT ember_event');
            throw err;
          }
          await client.query('RELEASE SAVEPOINT ember_event');
        } else {
          addEvent(w, event, flat, reg, positions);
        }
      } catch (err) {
        if (!isEventSpecific(err)) throw err;
        if (careful) {
          // The registry planned for this event may hold its columns: read it again.
          Object.assign(reg, await columns(client));
          positions.clear();
        }
        addParked(w, event.seq, err);
        continue;
      }
      if (toKeyed) items.push({ seq: event.seq, type: event.type, receivedAt: event.received_at, payload });
    }
    // The batch's write is sent once the keyed views read what they need (see applyBatch's readsDone): the
    // server writes while the keyed merge runs here.
    let writing: Promise<void> | undefined;
    const sendWrite = (): Promise<void> => {
      if (writing === undefined) {
        writing = write(client, w);
        writing.catch(() => undefined); // awaited below; never an unheard rejection
      }
      return writing;
    };
    const written = async (): Promise<void> => {
      try {
        await sendWrite();
      } catch (err) {
        if (!careful && isEventSpecific(err)) throw new BatchWriteError(err);
        throw err;
      }
    };
    if (keyed !== null && items.length > 0) {
      try {
        await keyed.applyBatch(client, items, sendWrite);
      } catch (err) {
        // As when the write ran first: its refusal wins (the batch runs again event by event). Not sent, and a
        // statement of the keyed views failed: the transaction is aborted, the write cannot be tried.
        const sentBefore = writing !== undefined;
        const code = (err as { code?: unknown })?.code;
        if (sentBefore || !(typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code))) await written();
        const seq = (err as { seq?: unknown })?.seq;
        if (typeof seq === 'number' && unavailableReason(err) === undefined) throw new KeyedApplyError(seq, err);
        throw err;
      }
    }
    await written();
    // Without keyed views (none wired), their cursor follows the log's.
    await client.query({
      name: 'ember_projector_move',
      text: 'UPDATE projector_state SET seq = greatest(seq, $1), keyed_seq = greatest(keyed_seq, $1) WHERE id = 1',
      values: [last],
    });
    return events.length;
  }

  /** Parks one event in a transaction of its own (holding the projector: the next batch skips it); false when another replica holds it. */
  async function parkAlone(seq: number, error: string): Promise<boolean> {
    return inTransaction(pool, async (client) => {
      const locked = await client.query({ name: 'ember_projector_lock_any', text: 'SELECT 1 FROM projector_state WHERE id = 1 FOR UPDATE SKIP LOCKED', values: [] });
      if (locked.rowCount === 0) return false;
      await park(client, seq, error);
      return true;
    });
  }

  async function projectBatch(limit: number): Promise<number> {
    try {
      try {
        return await inTransaction(pool, (client) => batch(client, limit, false));
      } catch (err) {
        if (!(err instanceof BatchWriteError)) throw err;
        // Rare: the batch's one write was refused. Again, an event at a time, to park the one refused.
        return await inTransaction(pool, (client) => batch(client, limit, true));
      }
    } catch (err) {
      if (!(err instanceof KeyedApplyError)) throw err;
      // The batch rolled back whole; park the event alone (the next batch skips it) and count it as taken.
      return (await parkAlone(err.seq, describe(err.cause))) ? 1 : 0;
    }
  }

  async function catchUp(chunk = 500): Promise<number> {
    let total = 0;
    for (let n = await projectBatch(chunk); n > 0; n = await projectBatch(chunk)) total += n;
    return total;
  }

  const parkedList = async (limit: number | null): Promise<ParkedEvent[]> => {
    const res = await pool.query<{ seq: string; webhook_id: string; type: string; error: string; parked_at: string }>({
      name: 'ember_parked',
      text: 'SELECT p.seq, e.webhook_id, e.type, p.error, p.parked_at FROM parked_events p JOIN events e ON e.seq = p.seq ORDER BY p.seq LIMIT $1',
      values: [limit],
    });
    // The log keeps webhook_id as PostgreSQL can hold it (pg-text.ts): given back as it was sent.
    return res.rows.map((r) => ({ ...r, seq: toInt(r.seq), webhook_id: fromPgText(r.webhook_id) }));
  };

  /** Thrown to roll back a trial write that succeeded. */
  const TRIAL_OK = Symbol('trial write succeeded');

  /**
   * Parked events that project now are moved to the end of the log (a new seq,
   * the same bytes and received_at) and projected there, like a payload
   * released from quarantine: targets whose cursors went past their old place
   * receive them as new rows. Those that still fail stay parked with their new
   * error. One transaction per event, holding the projector (waiting for it).
   */
  async function retryOne(seq: number): Promise<'moved' | 'still'> {
    return inTransaction(pool, async (client) => {
      await client.query({ name: 'ember_projector_wait', text: 'SELECT 1 FROM projector_state WHERE id = 1 FOR UPDATE', values: [] });
      // As in batch(): the statements prepared here may be planned now and their plans kept.
      await client.query('SET LOCAL jit = off');
      const res = await client.query<{ seq: string; type: WebhookType; received_at: string; body: Buffer }>({
        name: 'ember_event_at',
        text: 'SELECT seq, type, received_at, body FROM events WHERE seq = $1',
        values: [seq],
      });
      const row = res.rows[0];
      if (!row) {
        await client.query({ name: 'ember_unpark', text: 'DELETE FROM parked_events WHERE seq = $1', values: [seq] });
        return 'moved';
      }
      const event: LoggedEvent = { ...row, seq, parked: false };
      // A trial write under a savepoint that is always rolled back: does it project now?
      await client.query('SAVEPOINT ember_trial');
      try {
        const payload = parseLogged(event.body);
        const flat = flatten(event, payload);
        const w = emptyWriteSet();
        addEvent(w, event, flat, await columns(client), new Map());
        await write(client, w);
        const keyed = keyedViews;
        if (keyed !== null) await keyed.applyBatch(client, [{ seq, type: event.type, receivedAt: event.received_at, payload }]);
        throw TRIAL_OK;
      } catch (err) {
        await client.query('ROLLBACK TO SAVEPOINT ember_trial');
        if (err !== TRIAL_OK) {
          if (!isEventSpecific(err)) throw err;
          await park(client, seq, describe(err));
          return 'still';
        }
      }
      // A new seq as append_events gives one (pg-migrations.ts): under the append lock, above every seq
      // ever assigned, committed before the lock is released (seq order stays commit order).
      await client.query({ text: 'SELECT pg_advisory_xact_lock($1::bigint)', values: [PG_APPEND_LOCK] });
      const to = await client.query<{ seq: string }>({ name: 'ember_take_seq', text: 'UPDATE log_state SET last_seq = last_seq + 1 WHERE id RETURNING last_seq AS seq', values: [] });
      const next = toInt(to.rows[0]!.seq);
      await client.query({ name: 'ember_unpark', text: 'DELETE FROM parked_events WHERE seq = $1', values: [seq] });
      // quarantine.released_seq points at the event (not deferrable): unlinked, moved, linked again.
      const released = await client.query<{ id: string }>({
        name: 'ember_unlink_release',
        text: 'UPDATE quarantine SET released_seq = NULL WHERE released_seq = $1 RETURNING id',
        values: [seq],
      });
      await client.query({ name: 'ember_move_event', text: 'UPDATE events SET seq = $1 WHERE seq = $2', values: [next, seq] });
      if (released.rows.length > 0) {
        await client.query({ name: 'ember_relink_release', text: 'UPDATE quarantine SET released_seq = $1 WHERE id = ANY ($2::bigint[])', values: [next, released.rows.map((r) => r.id)] });
      }
      return 'moved';
    });
  }

  /** Drops derived rows under the projector's lock (waiting for a batch under way). */
  async function wipe(client: PoolClient, what: 'all' | 'keyed'): Promise<void> {
    await client.query({ name: 'ember_projector_wait', text: 'SELECT 1 FROM projector_state WHERE id = 1 FOR UPDATE', values: [] });
    const keyed = keyedViews;
    if (what === 'all') {
      // TRUNCATE: instant whatever the size, transactional; readers wait for the commit (a short one).
      await client.query(`TRUNCATE ${[...LOG_VIEWS.map((v) => VIEW_DEFS[v].table), 'parked_events'].join(', ')}`);
      await client.query('UPDATE projector_state SET seq = 0, keyed_seq = 0 WHERE id = 1');
    } else {
      // Without keyed views the keyed cursor follows the log's: nothing to derive again.
      await client.query(keyed === null ? 'UPDATE projector_state SET keyed_seq = seq WHERE id = 1' : 'UPDATE projector_state SET keyed_seq = 0 WHERE id = 1');
    }
    if (keyed !== null) await keyed.wipe(client);
  }

  async function bulk<T>(work: () => Promise<T>): Promise<T> {
    bulkDepth++;
    try {
      return await work();
    } finally {
      bulkDepth--;
    }
  }

  const api: ProjectionStore = {
    columns: () => columns(),
    async cursor() {
      const res = await pool.query<{ seq: string }>({ name: 'ember_projector_cursor', text: 'SELECT seq FROM projector_state WHERE id = 1', values: [] });
      return toInt(res.rows[0]!.seq);
    },
    async keyedCursor() {
      const res = await pool.query<{ seq: string }>({ name: 'ember_projector_keyed_cursor', text: 'SELECT keyed_seq AS seq FROM projector_state WHERE id = 1', values: [] });
      return toInt(res.rows[0]!.seq);
    },
    /** One statement, one snapshot: rows up to the cursor fit those columns exactly. */
    async snapshot() {
      const res = await pool.query<{ seq: string; reg: RegistryRow[] }>({
        name: 'ember_projector_snapshot',
        text: `SELECT p.seq, (SELECT coalesce(json_agg(json_build_object('view', c.view, 'position', c.position, 'name', c.name, 'kind', c.kind, 'key', c.key)
                                  ORDER BY c.view, c.position), '[]') FROM view_columns c) AS reg
               FROM projector_state p WHERE p.id = 1`,
        values: [],
      });
      const row = res.rows[0]!;
      return { toSeq: toInt(row.seq), registry: registryOf(row.reg) };
    },
    // Never below 0: retention may move the cursors past the last event, or delete every event.
    async lag() {
      const res = await pool.query<{ lag: string }>({
        name: 'ember_projector_lag',
        text: 'SELECT greatest(0, coalesce((SELECT max(seq) FROM events), 0) - least(seq, keyed_seq)) AS lag FROM projector_state WHERE id = 1',
        values: [],
      });
      return toInt(res.rows[0]!.lag);
    },
    projectBatch,
    catchUp,
    parked: (limit = 100) => parkedList(limit < 0 ? null : limit),
    async parkedCount() {
      const res = await pool.query<{ n: string }>({ name: 'ember_parked_count', text: 'SELECT count(*) AS n FROM parked_events', values: [] });
      return toInt(res.rows[0]!.n);
    },
    async overflow() {
      const res = await pool.query<{ view: ColumnViewName; n: string }>({ name: 'ember_overflow', text: 'SELECT view, count(*) AS n FROM column_overflow GROUP BY view', values: [] });
      return Object.fromEntries(res.rows.map((r) => [r.view, toInt(r.n)]));
    },
    async retryParked() {
      const out = { moved: 0, still: 0 };
      for (const p of await parkedList(null)) out[await retryOne(p.seq)]++;
      if (out.moved > 0) await catchUp();
      return out;
    },
    async resetKeyed() {
      await inTransaction(pool, (client) => wipe(client, 'keyed'));
    },
    async rebuildKeyed(chunk = 5_000) {
      await api.resetKeyed();
      return bulk(() => catchUp(chunk));
    },
    async rebuild(chunk = 500) {
      await api.startRebuild();
      return bulk(() => catchUp(chunk));
    },
    async startRebuild() {
      await api.retryParked();
      await inTransaction(pool, (client) => wipe(client, 'all'));
    },
    bulk,
  };
  return api;
}
