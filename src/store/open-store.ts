import { createStore } from './create-store.js';
import { createPgStore } from './pg/create-pg-store.js';
import type { Store } from './store.js';

/** The settings that choose and tune the store (config/settings.ts Settings has them: the store does not import config). */
export interface StoreSettings {
  dbPath: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  databaseStatementTimeoutMs: number;
  maxDynamicColumns: number;
}

export interface OpenStoreOptions {
  busyTimeoutMs?: number;
  /** Shown in pg_stat_activity: which replica or command holds a connection. */
  applicationName?: string;
}

/**
 * EMBER_SYNC_LOCK_STALE_MS: a test hook (like EMBER_SYNC_FAULT), not a
 * setting: the replica tests take over a killed replica's sync lease in
 * seconds instead of LOCK_STALE_MS.
 */
function lockStaleMs(env: NodeJS.ProcessEnv): { lockStaleMs: number } | Record<string, never> {
  const raw = env['EMBER_SYNC_LOCK_STALE_MS'];
  return raw !== undefined && /^\d+$/.test(raw) ? { lockStaleMs: Number(raw) } : {};
}

/** The store the settings name: PostgreSQL when DATABASE_URL is set, else the SQLite file at DB_PATH. */
export async function openStore(settings: StoreSettings, options: OpenStoreOptions = {}): Promise<Store> {
  if (settings.databaseUrl !== undefined) {
    return createPgStore({
      connectionString: settings.databaseUrl,
      max: settings.databasePoolSize,
      statementTimeoutMs: settings.databaseStatementTimeoutMs,
      maxDynamicColumns: settings.maxDynamicColumns,
      ...(options.applicationName === undefined ? {} : { applicationName: options.applicationName }),
      ...lockStaleMs(process.env),
    });
  }
  return createStore({
    dbPath: settings.dbPath,
    maxDynamicColumns: settings.maxDynamicColumns,
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
  });
}
