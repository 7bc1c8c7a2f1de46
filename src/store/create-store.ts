import type { Cell } from '../model/cells.js';
import type { ColumnRegistry } from '../model/columns.js';
import type { KeyedRows } from '../model/sync.js';
import { sameZone, zoneKey } from '../model/time.js';
import type { ViewName } from '../model/views.js';
import { createConsoleSessions } from './console-sessions.js';
import { createEventLog } from './event-log.js';
import { createWebhookWriter } from './group-commit.js';
import type { SyncKeyedRows, SyncKeyedRowSource } from './keyed-rows.js';
import { migrate } from './migrations.js';
import { openDb, type Db } from './open-db.js';
import { createProjection } from './projection.js';
import { createQuarantineList } from './quarantine-list.js';
import { createRetentionStore } from './retention.js';
import type { MetaKey, QuarantineSettlement, SliceOptions, Store, ViewSnapshot, WebhookWriterOptions } from './store.js';
import { createSyncState } from './sync-state.js';
import { createViewRows } from './view-rows.js';
import { createWebhookHours } from './webhook-hours.js';

/**
 * The keyed views' derivation: positions of rows in targets are valid only
 * within one epoch. A new REPORT_TIMEZONE re-groups the daily rows, so it
 * makes a new epoch (and so would a change of the merge rules: bump v1).
 */
const KEYED_EPOCH_VERSION = 'keyed-v1';

export interface StoreOptions {
  dbPath: string;
  busyTimeoutMs?: number;
  /** MAX_DYNAMIC_COLUMNS (see projection.ts). */
  maxDynamicColumns?: number;
  /** Adopt this REPORT_TIMEZONE at open (see adoptReportTimezone); otherwise the zone the database records. */
  reportTimezone?: string;
}

/** The zone the keyed views are derived in: the one recorded by the server (REPORT_TIMEZONE), UTC until one is. */
const DEFAULT_ZONE = 'UTC';

/**
 * The synchronous repositories on the store's one connection: the engine
 * behind the async `Store` methods. SQLite-only code (the group commit,
 * tests that set up state inside `db.transaction`, benches) uses them
 * directly; everything else goes through `Store`.
 */
function createEngine(db: Db, options: StoreOptions) {
  const probe = db.prepare<[string]>('INSERT INTO health_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at');
  const readProbe = db.prepare<[], string>('SELECT at FROM health_probe WHERE id = 1').pluck();
  const getMeta = db.prepare<[string], string>('SELECT value FROM app_meta WHERE key = ?').pluck();
  const putMeta = db.prepare<[string, string, string]>('INSERT INTO app_meta (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at');
  // Every process derives days in the zone the database records, whatever its own environment says:
  // only the server (adoptReportTimezone) changes it, so a CLI command never re-groups the rows.
  const zone = (): string => getMeta.get('report_timezone') ?? DEFAULT_ZONE;
  // Derivations that kept closed daily rows (RETENTION_DAYS, see keyed-projection wipe): each is a new epoch.
  const keyedGeneration = db.prepare<[], number>('SELECT keyed_generation FROM retention_state WHERE id = 1').pluck();
  const projection = createProjection(db, { ...(options.maxDynamicColumns === undefined ? {} : { maxDynamicColumns: options.maxDynamicColumns }), reportTimezone: zone });
  return {
    events: createEventLog(db),
    projection,
    views: createViewRows(db, () => projection.columns()),
    sync: createSyncState(db),
    /** RETENTION_DAYS: what was deleted, and the steps that delete (jobs/retention.ts runs them). */
    retention: createRetentionStore(db),
    sessions: createConsoleSessions(db),
    hours: createWebhookHours(db),
    quarantine: createQuarantineList(db),
    reportTimezone: zone,
    /** See KEYED_EPOCH_VERSION. */
    keyedEpoch: (): string => {
      const generation = keyedGeneration.get()!;
      return `${KEYED_EPOCH_VERSION}:${zoneKey(zone())}${generation > 0 ? `:g${generation}` : ''}`;
    },
    /**
     * Makes `zone` the zone of the keyed views. When it differs from the one
     * the rows were derived in, the keyed views' rows are dropped and the
     * projector derives them again from the raw log (in the background, batch
     * by batch; the append-only views stay as they are);
     * targets see a new epoch and rewrite the keyed views. Returns true then.
     */
    adoptReportTimezone(next: string, now = new Date()): boolean {
      return db
        .transaction(() => {
          const current = getMeta.get('report_timezone');
          if (current === next) return false;
          putMeta.run('report_timezone', next, now.toISOString());
          // Another spelling of the same zone (utc, Etc/UTC) is not a new zone: the rows and their epoch stay.
          if (current !== undefined && sameZone(current, next)) return false;
          // A database from before the setting was derived in UTC: nothing to redo when that stays; nor when
          // nothing was derived yet (a new database).
          if (sameZone(current ?? DEFAULT_ZONE, next) || projection.keyedCursor() === 0) return false;
          projection.resetKeyed();
          return true;
        })
        .immediate();
    },
    /** What the server announced (public_url): status run from another shell shows the server's URL, not its own guess. */
    meta: {
      get: (key: MetaKey): string | undefined => getMeta.get(key),
      set: (key: MetaKey, value: string, now = new Date()): void => void putMeta.run(key, value, now.toISOString()),
    },
    /** A tiny write for /healthz, committed with the webhooks of the same turn (group commit). */
    probe(now = new Date()): void {
      probe.run(now.toISOString());
    },
    /** The probe written and read back in one transaction: the file takes writes and answers. */
    ping(now = new Date()): void {
      const at = now.toISOString();
      const read = db
        .transaction(() => {
          probe.run(at);
          return readProbe.get();
        })
        .immediate();
      if (read !== at) throw new Error(`the health probe read back ${String(read)} instead of ${at}`);
    },
  };
}
export type SqliteEngine = ReturnType<typeof createEngine>;

/** The store on SQLite: the async `Store`, plus the connection and the engine for SQLite-only code. */
export interface SqliteStore extends Store {
  readonly kind: 'sqlite';
  /** The better-sqlite3 connection (backup, tests that inspect tables, benches). */
  readonly db: Db;
  /** The database file. */
  readonly path: string;
  /** The synchronous repositories behind the async methods (see createEngine). */
  readonly sqlite: SqliteEngine;
}

/** A store that is the SQLite one (backup needs its connection). */
export function isSqliteStore(store: Store): store is SqliteStore {
  return store.kind === 'sqlite' && 'db' in store;
}

/** Pages of the engine's synchronous generator, one page per step (the reads stay page by page, the same size). */
async function* eachPage<T>(pages: Iterable<T>): AsyncGenerator<T> {
  for (const page of pages) yield page;
}

function asyncKeyedRows(rows: SyncKeyedRows): KeyedRows {
  return {
    total: rows.total,
    pages: () => eachPage(rows.pages()),
    changed: (sinceSeq, known) => eachPage(rows.changed(sinceSeq, known)),
    countChanged: async (sinceSeq, known) => rows.countChanged(sinceSeq, known),
  };
}

function asyncKeyedSource(source: SyncKeyedRowSource): NonNullable<ViewSnapshot['keyed']> {
  const months = source.months;
  return {
    ...asyncKeyedRows(source),
    ...(months
      ? {
          months: {
            list: months.list,
            changedSince: async (sinceSeq: number) => months.changedSince(sinceSeq),
            rows: (month: string) => asyncKeyedRows(months.rows(month)),
          },
        }
      : {}),
  };
}

/**
 * The database (migrated) and its repositories on one connection, as the
 * async `Store` every caller awaits. Each method runs its statements
 * synchronously on the connection (one method, one transaction where it
 * must be one): SQLite keeps its speed, the promise only carries the result.
 * The server adds the group-commit writer (createWriter); CLI commands use
 * the store alone, beside a running server.
 */
export function createStore(options: StoreOptions): SqliteStore {
  const db: Db = openDb(options.dbPath, options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs });
  try {
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  const engine = createEngine(db, options);
  const { events, projection, views, sync, retention } = engine;

  const store: SqliteStore = {
    kind: 'sqlite',
    location: options.dbPath,
    db,
    path: options.dbPath,
    sqlite: engine,
    events: {
      counts: async () => events.counts(),
      quarantineHeld: async () => events.quarantineHeld(),
      heldQuarantine: async (afterId, limit) => events.heldQuarantine(afterId, limit),
      heldQuarantineFor: async (webhookId) => events.heldQuarantineFor(webhookId),
      async settleQuarantine(id: number, how: QuarantineSettlement) {
        if (how.kind === 'still-held') {
          events.updateQuarantineErrors(id, how.reason, how.errors);
          return { status: 'held' as const };
        }
        // The event and the payload's new status in one transaction: never released without its event, nor logged twice.
        return db
          .transaction(() => {
            const appended = events.append(how.event);
            const status = appended.duplicate ? ('duplicate' as const) : ('released' as const);
            events.resolveQuarantine(id, status, appended.seq, how.at);
            return appended.seq === undefined ? { status } : { status, seq: appended.seq };
          })
          .immediate();
      },
      eventsAfter: async (afterSeq, limit) => events.eventsAfter(afterSeq, limit),
    },
    projection: {
      columns: async () => projection.columns(),
      cursor: async () => projection.cursor(),
      keyedCursor: async () => projection.keyedCursor(),
      snapshot: async () => projection.snapshot(),
      lag: async () => projection.lag(),
      projectBatch: async (limit) => projection.projectBatch(limit),
      // A batch per turn of the event loop: webhooks keep being answered while a large backlog is derived.
      async catchUp(chunk = 500) {
        let total = 0;
        for (let n = projection.projectBatch(chunk); n > 0; n = projection.projectBatch(chunk)) {
          total += n;
          await new Promise((resolve) => setImmediate(resolve));
        }
        return total;
      },
      parked: async (limit) => projection.parked(limit),
      parkedCount: async () => projection.parkedCount(),
      overflow: async () => projection.overflow(),
      retryParked: async () => projection.retryParked(),
      resetKeyed: async () => projection.resetKeyed(),
      rebuildKeyed: async (chunk) => projection.rebuildKeyed(chunk),
      rebuild: async (chunk) => projection.rebuild(chunk),
      startRebuild: async () => projection.startRebuild(),
      bulk: <T>(work: () => Promise<T>): Promise<T> => projection.bulk(work),
    },
    views: {
      async snapshot(view: ViewName, registry?: ColumnRegistry): Promise<ViewSnapshot> {
        const snap = views.snapshot(view, registry);
        return {
          header: snap.header,
          rows: {
            pages: (slice: SliceOptions): AsyncIterable<Cell[][]> => eachPage(snap.rows.pages(slice)),
            count: async (slice: SliceOptions) => snap.rows.count(slice),
          },
          ...(snap.keyed ? { keyed: asyncKeyedSource(snap.keyed) } : {}),
        };
      },
    },
    sync: {
      cursor: async (target, view) => sync.cursor(target, view),
      commitRun: async (ticket, toSeq, confirmed, now) => sync.commitRun(ticket, toSeq, confirmed, now),
      startRun: async (target, now) => sync.startRun(target, now),
      finishRun: async (id, target, result, now) => sync.finishRun(id, target, result, now),
      lastRun: async (target) => sync.lastRun(target),
      latestRun: async (target) => sync.latestRun(target),
      lastSuccess: async (target) => sync.lastSuccess(target),
      totalRows: async (target) => sync.totalRows(target),
      viewErrors: async (target) => sync.viewErrors(target),
      newOwner: () => sync.newOwner(),
      tryLock: async (target, owner, now) => sync.tryLock(target, owner, now),
      heartbeat: async (ticket, now) => sync.heartbeat(ticket, now),
      assertHolds: async (ticket) => sync.assertHolds(ticket),
      unlock: async (ticket) => sync.unlock(ticket),
      lockHolder: async (target) => sync.lockHolder(target),
      liveHolder: async (target, now) => sync.liveHolder(target, now),
      repairFrom: async (target, view) => sync.repairFrom(target, view),
    },
    retention: {
      state: async () => retention.state(),
      close: async (keptFromDay, cutoff) => retention.close(keptFromDay, cutoff),
      enterOldEvents: async (limit) => retention.enterOldEvents(limit),
      deleteEvents: async (cutoff, limit) => retention.deleteEvents(cutoff, limit),
      deleteQuarantine: async (cutoff, limit) => retention.deleteQuarantine(cutoff, limit),
      activeCallsBefore: async (month, keep) => retention.activeCallsBefore(month, keep),
      moveCalls: async (month, rids) => retention.moveCalls(month, rids),
      deleteMonths: async (month, limit, keep) => retention.deleteMonths(month, limit, keep),
      leftBefore: async (month) => retention.leftBefore(month),
      deleteHours: async (cutoff) => retention.deleteHours(cutoff),
      finish: async (at, result) => retention.finish(at, result),
      fail: async (result) => retention.fail(result),
      oldestEvent: async () => retention.oldestEvent(),
      space: {
        vacuumStep: async (pages) => retention.vacuumStep(pages),
        autoVacuum: async () => retention.autoVacuum(),
        freePages: async () => retention.freePages(),
        pageSize: async () => retention.pageSize(),
        walBacklog: async () => retention.walBacklog(),
      },
    },
    console: {
      sessions: {
        create: async (key, expiresAt, now) => engine.sessions.create(key, expiresAt, now),
        find: async (key, now) => engine.sessions.find(key, now),
        delete: async (key) => engine.sessions.delete(key),
        setFlash: async (key, message) => engine.sessions.setFlash(key, message),
        takeFlash: async (key) => engine.sessions.takeFlash(key),
      },
      hoursSince: async (fromHour) => engine.hours.since(fromHour),
      quarantine: {
        page: async (beforeId, limit) => engine.quarantine.page(beforeId, limit),
        held: async () => engine.quarantine.held(),
        payload: async (id) => engine.quarantine.payload(id),
      },
    },
    meta: {
      get: async (key) => engine.meta.get(key),
      set: async (key, value, now) => engine.meta.set(key, value, now),
    },
    reportTimezone: async () => engine.reportTimezone(),
    keyedEpoch: async () => engine.keyedEpoch(),
    adoptReportTimezone: async (zone, now) => engine.adoptReportTimezone(zone, now),
    createWriter: (writerOptions: WebhookWriterOptions = {}) => createWebhookWriter(store, writerOptions),
    ping: async () => engine.ping(),
    async close() {
      if (db.open) db.close();
    },
  };
  if (options.reportTimezone !== undefined) {
    try {
      engine.adoptReportTimezone(options.reportTimezone);
    } catch (err) {
      db.close();
      throw err;
    }
  }
  return store;
}
