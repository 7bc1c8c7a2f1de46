import type { Db } from '../store/open-db.js';
import { fail, oneLine, pass, type CheckResult } from './check.js';

/** SQLite's synchronous levels: FULL (2) or EXTRA (3) sync the WAL at every commit. */
const SYNCHRONOUS = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];

/**
 * The database as the server needs it: pages intact (quick_check), WAL
 * journal (readers beside the writer), synchronous=FULL (an acknowledged
 * webhook survives a power cut). Reads only.
 */
export function checkDatabase(db: Db, path: string): CheckResult[] {
  const out: CheckResult[] = [];
  try {
    const rows = db.pragma('quick_check(20)') as Array<Record<string, unknown>>;
    const problems = rows.map((r) => String(Object.values(r)[0])).filter((m) => m !== 'ok');
    out.push(
      problems.length === 0
        ? pass('database integrity', `quick_check ok (${path})`)
        : fail('database integrity', `quick_check found damage in ${path}: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''}`, 'stop the server, keep the damaged file aside and restore the latest `ember-sync backup` (README: Restore a backup)'),
    );
  } catch (err) {
    out.push(fail('database integrity', `quick_check could not read ${path}: ${oneLine(err)}`, 'stop the server, keep the damaged file aside and restore the latest `ember-sync backup` (README: Restore a backup)'));
  }
  let journal: string;
  let level: number;
  try {
    journal = String(db.pragma('journal_mode', { simple: true })).toLowerCase();
    level = Number(db.pragma('synchronous', { simple: true }));
  } catch (err) {
    out.push(fail('database settings', `cannot read the journal mode of ${path}: ${oneLine(err)}`, 'stop the server, keep the damaged file aside and restore the latest `ember-sync backup` (README: Restore a backup)'));
    return out;
  }
  out.push(
    journal === 'wal'
      ? pass('database journal', 'WAL (the CLI reads beside the running server)')
      : fail('database journal', `journal_mode is ${journal}, not wal: the file system may not support WAL's shared memory (a network share?)`, 'put DB_PATH on a local disk and restart ember-sync serve'),
  );
  out.push(
    level >= 2
      ? pass('database durability', `synchronous=${SYNCHRONOUS[level] ?? level} (every acknowledged webhook is on disk)`)
      : fail('database durability', `synchronous=${SYNCHRONOUS[level] ?? level}: a power cut can lose acknowledged webhooks`, 'run a current ember-sync (it sets synchronous=FULL on every open)'),
  );
  return out;
}
