import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** A folder that cannot be created or written, worded for the operator. */
export class UnusableDirError extends Error {
  override name = 'UnusableDirError';
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Creates `path` and its missing parents one level at a time, then proves it
 * is writable by creating and removing a file in it. Node's recursive mkdir
 * loops forever on some pseudo filesystems (`/proc/x`: mkdir says ENOENT, the
 * parent exists, so it tries again); one step at a time fails instead.
 */
export function ensureWritableDir(path: string): void {
  const target = resolve(path);
  const missing: string[] = [];
  let p = target;
  for (;;) {
    let st;
    try {
      st = statSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: a parent is a file; walking up finds it and says so.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UnusableDirError(`cannot use ${p} (${describe(err)})`);
      missing.unshift(p);
      const parent = dirname(p);
      if (parent === p) throw new UnusableDirError(`cannot use ${target}: no part of it exists`);
      p = parent;
      continue;
    }
    if (!st.isDirectory()) throw new UnusableDirError(`${p} is not a folder`);
    break;
  }
  for (const m of missing) {
    try {
      mkdirSync(m);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statSync(m).isDirectory()) continue;
      throw new UnusableDirError(`cannot create ${m} (${describe(err)})`);
    }
  }
  const probe = join(target, `.ember-sync-write-test-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    writeFileSync(probe, '', { flag: 'wx' });
  } catch (err) {
    throw new UnusableDirError(`cannot write in ${target} (${describe(err)})`);
  } finally {
    rmSync(probe, { force: true });
  }
}
