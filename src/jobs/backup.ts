import { randomBytes } from 'node:crypto';
import { chmod, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { Store } from '../store/create-store.js';

export interface BackupResult {
  /** Events in the copy. */
  events: number;
  /** Size of the copy in bytes. */
  bytes: number;
}

async function fsyncPath(path: string, flags = 'r'): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * A consistent copy of the database while the server keeps writing to it,
 * with SQLite's online backup API. The first step copies a few pages; every
 * later step copies all that remain in one go: a step reads inside one read
 * transaction, which WAL lets writers work beside, so the copy is the
 * database as of that moment and the backup never starts over because
 * webhooks keep arriving. The copy goes to a temp file beside `out`
 * (owner-only: raw webhooks quote customers), is checked (quick_check, the
 * events counted), made durable and only then renamed to `out`: `out` is
 * never half a backup.
 */
export async function backupDatabase(store: Store, out: string, onProgress?: (copied: number, total: number) => void): Promise<BackupResult> {
  const temp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await store.db.backup(temp, {
      progress: ({ totalPages, remainingPages }) => {
        onProgress?.(totalPages - remainingPages, totalPages);
        return Math.max(remainingPages, 1);
      },
    });
    await chmod(temp, 0o600);
    const copy = new Database(temp, { fileMustExist: true });
    let events: number;
    try {
      // One self-contained file (the copy took the WAL mode along: no -wal/-shm beside it); the server sets WAL again when it opens a restored copy.
      copy.pragma('journal_mode = DELETE');
      const check = copy.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`the copy failed its check (${String(check)})`);
      events = copy.prepare<[], number>('SELECT count(*) FROM events').pluck().get()!;
    } finally {
      copy.close();
    }
    await fsyncPath(temp, 'r+');
    await rename(temp, out);
    await fsyncPath(dirname(out));
    const { size } = await stat(out);
    return { events, bytes: size };
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
