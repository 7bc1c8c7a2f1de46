import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { DeliveryControl } from '../../model/sync.js';
import type { ViewName } from '../../model/views.js';
import { stampOf, type CsvFileEntry } from './csv-state.js';
import type { HashedFile } from './hashed-file.js';

/** A new file being written to its temp path, renamed into place when the whole view is ready. */
export interface StagedFile {
  out: HashedFile;
  temp: string;
  /** Data rows in it. */
  rows: number;
  checkpoints?: number[];
  /** Made durable and closed already (see seal). */
  sealed?: boolean;
}

/** A folder ember-sync may not write in (chmod, a read-only mount) named as such, not as the temp file it failed to open. */
export function writeProblem(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if ((e?.code === 'EACCES' || e?.code === 'EPERM' || e?.code === 'EROFS') && typeof e.path === 'string') {
    const where = /\.tmp-\d+-[0-9a-f]{8}$/.test(e.path) ? dirname(e.path) : e.path;
    return new Error(`cannot write in ${where} (${e.code}: ${e.code === 'EROFS' ? 'read-only file system' : 'permission denied'}): let the user running ember-sync write there`);
  }
  return err;
}

/** Ignores one error code (EEXIST of a mkdir, ENOENT of a readdir…). */
const unless = (code: string) => (err: NodeJS.ErrnoException) => {
  if (err.code !== code) throw err;
};

export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Not mkdir -p (it loops under /proc): the parent was checked when the target
 * was made. A folder made here is synced into its parent, or a power cut could
 * lose it with the files renamed into it.
 */
export async function ensureDir(path: string): Promise<void> {
  const made = await mkdir(path).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
      return false;
    },
  );
  if (made) await fsyncPath(dirname(path));
}

/** Names in a folder; none when it does not exist. */
export async function namesIn(dir: string): Promise<string[]> {
  return readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
    throw err;
  });
}

/**
 * The files of one view's delivery: each written to a temp file next to its
 * place, then, once every one is complete and durable, renamed into place one
 * by one (a reader sees each file whole, old or new). Renames stop the moment
 * the run is aborted or loses its lock: what was renamed holds rows past the
 * confirmed cursor, which the next sync cuts (it keeps only the confirmed part
 * of each file, checked by its hash).
 */
export function createFileBatch(dir: string) {
  const staged = new Map<string, StagedFile>();
  const pathOf = (rel: string) => join(dir, ...rel.split('/'));
  /** Forgets a staged file and removes its temp. */
  const drop = async (rel: string): Promise<void> => {
    const f = staged.get(rel);
    if (!f) return;
    staged.delete(rel);
    await f.out.close();
    await rm(f.temp, { force: true });
  };
  /** A staged file is complete: fsync and close it now (a view of many months keeps few files open). */
  const seal = async (rel: string): Promise<void> => {
    const f = staged.get(rel);
    if (!f || f.sealed) return;
    await f.out.commit();
    f.sealed = true;
  };
  return {
    pathOf,
    /** A fresh temp path for `rel` (its folder must exist). */
    tempFor: (rel: string) => `${pathOf(rel)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
    staged: (rel: string) => staged.get(rel),
    /** Stages a file (replacing one staged before for the same path, which is dropped). */
    async add(rel: string, file: StagedFile): Promise<void> {
      await drop(rel);
      staged.set(rel, file);
    },
    drop,
    seal,
    /** After a failure: every temp removed. */
    async discard(): Promise<void> {
      for (const rel of [...staged.keys()]) await drop(rel);
    },
    /** Makes every staged file durable, renames them into place and syncs their folders; the entries to record. */
    async publish({ signal, fence }: DeliveryControl): Promise<Record<string, CsvFileEntry>> {
      for (const rel of staged.keys()) await seal(rel);
      const entries: Record<string, CsvFileEntry> = {};
      const folders = new Set<string>();
      for (const [rel, f] of [...staged]) {
        // An aborted run, or one whose lock was taken over, renames nothing more.
        signal?.throwIfAborted();
        await fence?.();
        const path = pathOf(rel);
        await rename(f.temp, path).catch((err: NodeJS.ErrnoException) => {
          // Someone made a folder where the file goes: say so (it is left as it is; its temp goes with the batch).
          if (err.code === 'EISDIR' || err.code === 'ENOTEMPTY' || err.code === 'EEXIST') throw new Error(`${path} is a folder, not a file ember-sync can replace: move it away (nothing was written over it)`);
          throw err;
        });
        staged.delete(rel);
        folders.add(dirname(path));
        entries[rel] = {
          bytes: f.out.bytes,
          sha256: f.out.digest(),
          stamp: stampOf(await stat(path, { bigint: true })),
          rows: f.rows,
          ...(f.checkpoints === undefined ? {} : { checkpoints: f.checkpoints }),
        };
      }
      for (const folder of folders) await fsyncPath(folder);
      return entries;
    },
  };
}
export type FileBatch = ReturnType<typeof createFileBatch>;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const MONTH_FILE = (view: string) => new RegExp(`^${escape(view)}-\\d{4}-\\d{2}\\.csv$`);
/** Exactly the temp names tempFor makes (`<file>.tmp-<pid>-<8 hex>`): an analyst's `scores-2026-11.csv.tmp-old` is not one. */
const TEMP_SUFFIX = '\\.tmp-\\d+-[0-9a-f]{8}$';
const WHOLE_TEMP = (view: string) => new RegExp(`^${escape(view)}\\.csv${TEMP_SUFFIX}`);
const MONTH_TEMP = (view: string) => new RegExp(`^${escape(view)}-\\d{4}-\\d{2}\\.csv${TEMP_SUFFIX}`);

/**
 * The view's month folder, checked before anything is written into it: a
 * file (or a symlink to one) where the folder goes fails the view with a
 * line that says what to do, not an ENOTDIR on a temp path. A symlink to a
 * folder is fine (the months live where it points).
 */
export async function checkViewFolder(dir: string, view: ViewName): Promise<void> {
  const folder = join(dir, view);
  const st = await stat(folder).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (st && !st.isDirectory()) throw new Error(`${folder} is not a folder: the month files of ${view} go there; move it away (nothing was written)`);
}

/**
 * Temp files a crashed or stopped run left for this view. One sync per target
 * at a time, and the caller checked it still holds the lock: any temp file
 * here is a dead run's (a run that was taken over would delete the new holder's).
 */
export async function removeStaleTemps(dir: string, view: ViewName): Promise<void> {
  const whole = WHOLE_TEMP(view);
  const month = MONTH_TEMP(view);
  const inDir = (await namesIn(dir)).filter((n) => whole.test(n)).map((n) => join(dir, n));
  const folder = join(dir, view);
  const inFolder = (await namesIn(folder)).filter((n) => month.test(n)).map((n) => join(folder, n));
  await Promise.all([...inDir, ...inFolder].map((p) => rm(p, { force: true })));
}

/**
 * Removes what the view's current layout does not hold: with months, the
 * whole file and the month files of months without rows; kept whole, the
 * month files (and the month folder, when nothing else is in it). Only files
 * ember-sync wrote go: a month file is removed only when the last confirmed
 * state lists it (`known`, in whatever layout it was): a file an analyst put
 * in the folder — even one named like a month file (`scores-2024-01.csv`
 * brought over from an old server) — is never touched, nor is a symlinked
 * folder. Called once the new layout is in place and durable, so a reader
 * always finds one complete layout, and a crash before it leaves both (the
 * state still lists the old files: the next sync ends the job). Only the
 * lock holder may delete. The same call removes the month files of months
 * RETENTION_DAYS deleted (the caller leaves them out of `keep`): a file gone
 * already (a crash after the unlink, before the cursor commit) is simply not
 * found. Returns the files removed (relative to `dir`), temp files left out.
 */
export async function removeOtherLayout(
  dir: string,
  view: ViewName,
  split: boolean,
  keep: Record<string, CsvFileEntry>,
  known: ReadonlySet<string>,
  { signal, fence }: DeliveryControl,
): Promise<string[]> {
  const folder = join(dir, view);
  const isMonthFile = MONTH_FILE(view);
  const isTemp = MONTH_TEMP(view);
  const names = await namesIn(folder);
  const doomed = names
    .filter((n) => (isMonthFile.test(n) && known.has(`${view}/${n}`) && !(`${view}/${n}` in keep)) || (!split && isTemp.test(n)))
    .map((n) => join(folder, n));
  const whole = join(dir, `${view}.csv`);
  // Only a file: a folder or a symlink someone made under that name is theirs (and rm would fail on a folder, every sync).
  if (split && (await lstat(whole).then((st) => st.isFile(), () => false))) doomed.push(whole);
  // Kept whole: the month folder goes once nothing is left in it (one that holds someone else's files stays, and a
  // symlink someone made stays: removing it is not ours to do).
  const left = names.filter((n) => !doomed.includes(join(folder, n)));
  const folderStat = !split && left.length === 0 ? await lstat(folder).catch(() => undefined) : undefined;
  const emptyFolder = folderStat?.isDirectory() === true;
  if (doomed.length === 0 && !emptyFolder) return [];
  signal?.throwIfAborted();
  await fence?.();
  const removed: string[] = [];
  for (const path of doomed) {
    await rm(path, { force: true });
    if (path === whole) removed.push(`${view}.csv`);
    else if (!isTemp.test(basename(path))) removed.push(`${view}/${basename(path)}`);
  }
  if (emptyFolder) {
    await rmdir(folder).catch((err: NodeJS.ErrnoException) => {
      // Someone put a file there meanwhile (ENOTEMPTY, EEXIST on some systems): the folder stays.
      if (err.code !== 'ENOENT' && err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST' && err.code !== 'ENOTDIR') throw err;
    });
  }
  await fsyncPath(dir);
  if (names.length > 0 && (split || !emptyFolder)) await fsyncPath(folder).catch(unless('ENOENT'));
  return removed;
}
