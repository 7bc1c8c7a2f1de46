import Database from 'better-sqlite3';
import { chmodSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { ensureWritableDir } from '../lib/ensure-dir.js';

export type Db = Database.Database;

export interface OpenDbOptions {
  readonly?: boolean;
  /** How long a writer waits for another process's lock before SQLITE_BUSY. It blocks the thread: keep it short. */
  busyTimeoutMs?: number;
}

/**
 * Opens the SQLite file with the durability settings every connection needs.
 * WAL and synchronous=FULL are set on every open: better-sqlite3 defaults a
 * re-opened WAL database to NORMAL, which can lose acknowledged commits on power loss.
 */
export function openDb(path: string, options: OpenDbOptions = {}): Db {
  // Step by step, not mkdir -p: that loops forever under /proc.
  if (!options.readonly) ensureWritableDir(dirname(path));
  const created = !existsSync(path);
  const db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false, timeout: options.busyTimeoutMs ?? 2000 });
  // Raw webhooks quote customers: a new database is owner-only, like the token files. SQLite gives the
  // -wal and -shm files the database file's mode, so this comes before WAL is switched on.
  if (created && !options.readonly) chmodSync(path, 0o600);
  if (!options.readonly) db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  return db;
}
