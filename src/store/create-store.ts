import { createEventLog, type AppendResult, type NewEvent, type NewQuarantined } from './event-log.js';
import { createGroupCommit } from './group-commit.js';
import { migrate } from './migrations.js';
import { openDb, type Db } from './open-db.js';
import { createProjection } from './projection.js';

export type WriteOp = { kind: 'event'; event: NewEvent } | { kind: 'quarantine'; item: NewQuarantined };
export type WriteResult = ({ kind: 'event' } & AppendResult) | { kind: 'quarantine'; id: number; attempts: number };

export interface StoreOptions {
  dbPath: string;
  busyTimeoutMs?: number;
  maxBatch?: number;
}

/** The database and its repositories; one per process, passed explicitly to whoever needs it. */
export function createStore(options: StoreOptions) {
  const db: Db = openDb(options.dbPath, options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs });
  try {
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  const events = createEventLog(db);
  const projection = createProjection(db);
  const commitListeners = new Set<(results: WriteResult[]) => void>();
  const writer = createGroupCommit<WriteOp, WriteResult>(
    db,
    (op) => (op.kind === 'event' ? { kind: 'event', ...events.append(op.event) } : { kind: 'quarantine', ...events.quarantine(op.item) }),
    {
      ...(options.maxBatch === undefined ? {} : { maxBatch: options.maxBatch }),
      onCommit: (results) => {
        for (const l of commitListeners) l(results);
      },
    },
  );
  const ping = db.prepare('SELECT count(*) FROM sqlite_master').pluck();

  return {
    db,
    path: options.dbPath,
    events,
    projection,
    writer,
    /** Subscribes to successful group commits (the projector and metrics listen). */
    onCommit(listener: (results: WriteResult[]) => void): () => void {
      commitListeners.add(listener);
      return () => commitListeners.delete(listener);
    },
    /** True when the database answers a query. */
    ping(): boolean {
      try {
        if (!db.open) return false;
        ping.get();
        return true;
      } catch {
        return false;
      }
    },
    async close(): Promise<void> {
      await writer.close();
      if (db.open) db.close();
    },
  };
}
export type Store = ReturnType<typeof createStore>;
