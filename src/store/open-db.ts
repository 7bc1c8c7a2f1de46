import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, openSync, readSync, renameSync, statSync } from 'node:fs';
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
/**
 * A database file in rollback-journal mode (what `ember-sync backup` writes)
 * with a `-wal` beside it: that WAL was the old database's (a restore that
 * left the crashed database's -wal/-shm in place). SQLite would replay it onto
 * the restored file and corrupt it, so it is set aside (renamed, never
 * deleted) before the file is opened. Returns the names it moved.
 */
export function setAsideForeignWal(path: string, now = new Date()): string[] {
  const wal = `${path}-wal`;
  if (!existsSync(path) || !existsSync(wal) || statSync(wal).size === 0) return [];
  const header = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  try {
    if (readSync(fd, header, 0, 20, 0) < 20) return [];
  } finally {
    closeSync(fd);
  }
  // Bytes 18-19 of the header: file format write/read version, 1 = rollback journal, 2 = WAL.
  if (header.toString('latin1', 0, 15) !== 'SQLite format 3' || header[18] !== 1 || header[19] !== 1) return [];
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const moved: string[] = [];
  for (const side of [wal, `${path}-shm`]) {
    if (!existsSync(side)) continue;
    const to = `${side}.set-aside-${stamp}`;
    renameSync(side, to);
    moved.push(to);
  }
  return moved;
}

export function openDb(path: string, options: OpenDbOptions & { onSetAside?: (moved: string[]) => void } = {}): Db {
  // Step by step, not mkdir -p: that loops forever under /proc.
  if (!options.readonly) ensureWritableDir(dirname(path));
  if (!options.readonly) {
    const moved = setAsideForeignWal(path);
    if (moved.length > 0) {
      const say = options.onSetAside ?? ((m: string[]) => process.stderr.write(`ember-sync: ${path} is a copy in rollback-journal mode (a restored backup) with the old database's -wal beside it; moved ${m.join(' and ')} aside so that SQLite does not replay it onto the copy\n`));
      say(moved);
    }
  }
  const created = !existsSync(path);
  const db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false, timeout: options.busyTimeoutMs ?? 2000 });
  // Raw webhooks quote customers: a new database is owner-only, like the token files. SQLite gives the
  // -wal and -shm files the database file's mode, so this comes before WAL is switched on.
  if (created && !options.readonly) chmodSync(path, 0o600);
  // RETENTION_DAYS gives space back to the file system step by step (PRAGMA incremental_vacuum): the mode
  // can only be chosen before the first table exists; an older database needs one VACUUM (backup --compact).
  if (created && !options.readonly) db.pragma('auto_vacuum = INCREMENTAL');
  if (!options.readonly) db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  return db;
}
