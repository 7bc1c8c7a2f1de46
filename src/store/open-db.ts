import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

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
  if (!options.readonly) mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false, timeout: options.busyTimeoutMs ?? 2000 });
  if (!options.readonly) db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  return db;
}
