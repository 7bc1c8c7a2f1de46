import { sameZone, zoneKey } from '../model/time.js';
import { createEventLog } from './event-log.js';
import { migrate } from './migrations.js';
import { openDb, type Db } from './open-db.js';
import { createProjection } from './projection.js';
import { createRetentionStore } from './retention.js';
import { createSyncState } from './sync-state.js';
import { createViewRows } from './view-rows.js';

/** What the running server records for other processes: its public URL, and a fingerprint (never the value) of its webhook token. */
export type MetaKey = 'public_url' | 'webhook_token_sha256' | 'report_timezone' | 'sync_schedule' | 'sync_timezone' | 'retention_days' | 'admin_token_sha256';

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
  // Every process derives days in the zone the database records, whatever its own environment says:
  // only the server (adoptReportTimezone) changes it, so a CLI command never re-groups the rows.
  const zone = () => getMeta.get('report_timezone') ?? DEFAULT_ZONE;
  // Derivations that kept closed daily rows (RETENTION_DAYS, see keyed-projection wipe): each is a new epoch.
  const keyedGeneration = db.prepare<[], number>('SELECT keyed_generation FROM retention_state WHERE id = 1').pluck();
  const projection = createProjection(db, { ...(options.maxDynamicColumns === undefined ? {} : { maxDynamicColumns: options.maxDynamicColumns }), reportTimezone: zone });
  const store = {
    db,
    path: options.dbPath,
    events: createEventLog(db),
    projection,
    views: createViewRows(db, () => projection.columns()),
    reportTimezone: zone,
    /** See KEYED_EPOCH_VERSION. */
    keyedEpoch: () => {
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
    sync: createSyncState(db),
    /** RETENTION_DAYS: what was deleted, and the steps that delete (jobs/retention.ts runs them). */
    retention: createRetentionStore(db),
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
  if (options.reportTimezone !== undefined) {
    try {
      store.adoptReportTimezone(options.reportTimezone);
    } catch (err) {
      db.close();
      throw err;
    }
  }
  return store;
}
export type Store = ReturnType<typeof createStore>;
