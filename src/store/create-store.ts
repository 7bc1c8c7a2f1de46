import { createEventLog } from './event-log.js';
import { migrate } from './migrations.js';
import { openDb, type Db } from './open-db.js';
import { createProjection } from './projection.js';
import { createSyncState } from './sync-state.js';
import { createViewRows } from './view-rows.js';

/** What the running server records for other processes: its public URL, and a fingerprint (never the value) of its webhook token. */
export type MetaKey = 'public_url' | 'webhook_token_sha256';

export interface StoreOptions {
  dbPath: string;
  busyTimeoutMs?: number;
  /** MAX_DYNAMIC_COLUMNS (see projection.ts). */
  maxDynamicColumns?: number;
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
  const probe = db.prepare<[string]>('INSERT INTO health_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at');
  const getMeta = db.prepare<[string], string>('SELECT value FROM app_meta WHERE key = ?').pluck();
  const putMeta = db.prepare<[string, string, string]>('INSERT INTO app_meta (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at');
  const projection = createProjection(db, options.maxDynamicColumns === undefined ? {} : { maxDynamicColumns: options.maxDynamicColumns });
  return {
    db,
    path: options.dbPath,
    events: createEventLog(db),
    projection,
    views: createViewRows(db, () => projection.columns()),
    sync: createSyncState(db),
    /** What the server announced (public_url): status run from another shell shows the server's URL, not its own guess. */
    meta: {
      get: (key: MetaKey): string | undefined => getMeta.get(key),
      set: (key: MetaKey, value: string, now = new Date()): void => void putMeta.run(key, value, now.toISOString()),
    },
    /** A tiny write for /healthz, committed with the webhooks of the same turn (group commit). */
    probe(now = new Date()): void {
      probe.run(now.toISOString());
    },
    close(): void {
      if (db.open) db.close();
    },
  };
}
export type Store = ReturnType<typeof createStore>;
