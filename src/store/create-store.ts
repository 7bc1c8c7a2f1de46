import { createEventLog, type AppendResult, type NewEvent, type NewQuarantined } from './event-log.js';
import { migrate } from './migrations.js';
import { openDb, type Db } from './open-db.js';
import { createProjection } from './projection.js';
import { createViewReader } from '../views/view-reader.js';
import { createSyncState } from './sync-state.js';

export type WriteOp = { kind: 'event'; event: NewEvent } | { kind: 'quarantine'; item: NewQuarantined };
export type WriteResult = ({ kind: 'event' } & AppendResult) | { kind: 'quarantine'; id: number; attempts: number };

export interface StoreOptions {
  dbPath: string;
  busyTimeoutMs?: number;
}

/**
 * The database (migrated) and its repositories on one connection. The server
 * adds a group-commit writer for webhooks (group-commit.ts); CLI commands use
 * the store alone, beside a running server.
 */
export function createStore(options: StoreOptions) {
  const db: Db = openDb(options.dbPath, options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs });
  try {
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  const ping = db.prepare('SELECT count(*) FROM sqlite_master').pluck();
  const projection = createProjection(db);
  return {
    db,
    path: options.dbPath,
    events: createEventLog(db),
    projection,
    views: createViewReader(db, () => projection.columns()),
    sync: createSyncState(db),
    /** True when the database answers a query on this connection. */
    ping(): boolean {
      try {
        return db.open && ping.get() !== undefined;
      } catch {
        return false;
      }
    },
    close(): void {
      if (db.open) db.close();
    },
  };
}
export type Store = ReturnType<typeof createStore>;
