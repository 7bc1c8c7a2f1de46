import { randomBytes } from 'node:crypto';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fail, oneLine, pass, type CheckResult } from './check.js';

/**
 * CSV_DIR can be written: a file is created and removed in it (or, when it
 * does not exist yet, in the folder the first sync will create it under).
 * Nothing else is touched; no folder is created.
 */
export function checkCsvDir(dir: string): CheckResult {
  const name = 'csv target';
  let at = resolve(dir);
  let missing = false;
  for (;;) {
    let st;
    try {
      st = statSync(at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: a parent is a file; walking up finds it and says so.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return fail(name, `cannot use CSV_DIR ${dir}: ${oneLine(err)}`, 'set CSV_DIR to a folder this user can write');
      missing = true;
      const up = dirname(at);
      if (up === at) return fail(name, `no part of CSV_DIR ${dir} exists`, 'set CSV_DIR to a folder this user can write');
      at = up;
      continue;
    }
    if (!st.isDirectory()) return fail(name, `${at} is not a folder (CSV_DIR ${dir})`, 'set CSV_DIR to a folder this user can write');
    break;
  }
  const probe = join(at, `.ember-sync-doctor-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    writeFileSync(probe, '', { flag: 'wx' });
  } catch (err) {
    return fail(name, `cannot write in ${at}${missing ? ` (where CSV_DIR ${dir} would be created)` : ''}: ${oneLine(err)}`, `give the user that runs ember-sync write access (chown -R or chmod u+w ${at}), or set CSV_DIR to another folder`);
  } finally {
    rmSync(probe, { force: true });
  }
  return pass(name, missing ? `CSV_DIR ${dir} does not exist yet; the first sync creates it in ${at}, which is writable` : `CSV_DIR ${dir} is writable`);
}
