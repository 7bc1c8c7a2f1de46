import { randomBytes } from 'node:crypto';
import { chmod, lstat, open, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { isSqliteStore } from '../store/create-store.js';
import type { Store } from '../store/store.js';

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

/** The files SQLite keeps for a database: replacing any of them under a running server loses data. */
const SIDE_FILES = ['', '-wal', '-shm', '-journal'];

/** The path with every symlink of its folder (and of itself, when it is one) resolved; as given when the folder is missing. */
async function realLocation(path: string): Promise<string> {
  const abs = resolve(path);
  const whole = await realpath(abs).catch(() => undefined);
  if (whole) return whole;
  const folder = await realpath(dirname(abs)).catch(() => dirname(abs));
  return join(folder, basename(abs));
}

const sameFile = async (a: string, b: string): Promise<boolean> => {
  const [x, y] = await Promise.all([stat(a).catch(() => undefined), stat(b).catch(() => undefined)]);
  return x !== undefined && y !== undefined && x.dev === y.dev && x.ino === y.ino;
};

/**
 * Why `out` cannot take a backup of the database at `dbPath`, or undefined.
 * The copy is renamed over `out`: were `out` the database or one of its
 * -wal/-shm/-journal files (however it is spelled: a symlink, `..`, a hard
 * link), the rename would put a copy in place of the live file and lose
 * every webhook not yet checkpointed (the server's next open finds a WAL
 * that is not one). A folder cannot be replaced by a file.
 */
export async function backupTargetProblem(dbPath: string, out: string): Promise<string | undefined> {
  const at = await lstat(out).catch(() => undefined);
  const followed = at?.isSymbolicLink() ? await stat(out).catch(() => undefined) : at;
  if (followed?.isDirectory()) return `--out ${out} is a folder; give a file name (e.g. ${join(out, 'ember-sync-backup.db')})`;
  const target = await realLocation(out);
  const dbSpellings = [resolve(dbPath), await realLocation(dbPath)];
  for (const db of dbSpellings) {
    for (const side of SIDE_FILES) {
      const file = db + side;
      if (target === file || resolve(out) === file || (at && (await sameFile(out, file)))) {
        return side === '' ? '--out is the database itself; give another file' : `--out is the database's ${side.slice(1)} file (${file}); give another file`;
      }
    }
  }
  return undefined;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Temp copies (and their -journal) that a backup to the same `out` left when it was killed: a hidden copy of the database each. */
async function removeDeadTemps(out: string): Promise<void> {
  const name = basename(out).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const temp = new RegExp(`^\\.${name}\\.tmp-(\\d+)-[0-9a-f]{8}(-journal|-wal|-shm)?$`);
  const names = await readdir(dirname(out)).catch(() => [] as string[]);
  for (const n of names) {
    const m = temp.exec(n);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) await rm(join(dirname(out), n), { force: true }).catch(() => undefined);
  }
}

/** The store is not SQLite: a PostgreSQL database is backed up with pg_dump (see README). */
export class BackupUnsupportedError extends Error {
  override name = 'BackupUnsupportedError';
}

/** --out names a file the backup must not replace (see backupTargetProblem). */
export class BackupTargetError extends Error {
  override name = 'BackupTargetError';
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
export async function backupDatabase(store: Store, out: string, onProgress?: (copied: number, total: number) => void, options: { compact?: boolean } = {}): Promise<BackupResult> {
  if (!isSqliteStore(store)) {
    throw new BackupUnsupportedError(`ember-sync backup copies a SQLite database; this store is ${store.kind} (${store.location}): back it up with pg_dump (e.g. pg_dump --format=custom --file=ember-sync.dump "$DATABASE_URL")`);
  }
  const problem = await backupTargetProblem(store.db.name, out);
  if (problem) throw new BackupTargetError(problem);
  await removeDeadTemps(out);
  const temp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    // Owner-only from its first byte: SQLite would create it (and its -journal, which takes the file's mode) 0644
    // under the usual umask, a whole readable copy of the raw webhooks until the chmod (or for good after a kill -9).
    await (await open(temp, 'wx', 0o600)).close();
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
      // --compact: the copy is rewritten without free pages and with incremental auto_vacuum, which only a VACUUM can
      // switch on in a database created before it; done on the copy, so the server never waits for it.
      if (options.compact) {
        copy.pragma('auto_vacuum = INCREMENTAL');
        copy.exec('VACUUM');
      }
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
    // (force does not cover a path below a file: ENOTDIR)
    for (const side of SIDE_FILES) await rm(temp + side, { force: true }).catch(() => undefined);
    // Name the path: "unable to open database file" alone does not say which (a folder under /proc, read-only, full).
    const folderMissing = (err as NodeJS.ErrnoException)?.code === 'ENOENT' && !(await stat(dirname(out)).then((st) => st.isDirectory(), () => false));
    const why = folderMissing ? `its directory does not exist (${dirname(out)})` : ((err as Error)?.message ?? String(err));
    throw new Error(`no backup written to ${out}: ${why}`);
  }
}
