import type { SyncTargetName } from '../model/sync.js';
import type { MetaKey } from '../store/store.js';
import type { CheckResult } from './check.js';

/**
 * The database as doctor sees it: opened read-only (never migrated, no meta
 * written), so doctor reports on the database as it is and cannot pass its
 * own checks. One implementation per backend: the SQLite file
 * (database.ts), PostgreSQL (pg-database.ts).
 */
export interface DoctorDb {
  /** The database's own checks (integrity, durability, schema version). */
  checks(): Promise<CheckResult[]>;
  /** What the running server recorded (undefined when it never did, or the table is missing). */
  meta(key: MetaKey): Promise<string | undefined>;
  /** RETENTION_DAYS as this database can do it. */
  retention(days: number | undefined): Promise<CheckResult>;
  /** The targets the server synced lately. */
  recentTargets(now: Date): Promise<SyncTargetName[]>;
  close(): Promise<void>;
}
