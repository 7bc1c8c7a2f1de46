import { SYNC_TARGET_NAMES, type SyncTargetName } from '../model/sync.js';
import { openDb, type Db } from '../store/open-db.js';
import { RECENT_TARGET_MS } from '../store/status.js';
import type { MetaKey } from '../store/store.js';
import { fail, oneLine, pass, type CheckResult } from './check.js';
import type { DoctorDb } from './doctor-db.js';

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

/**
 * RETENTION_DAYS as this database can do it: the deletions need nothing, but
 * giving the space back needs incremental auto_vacuum, which SQLite can only
 * switch on with a full VACUUM in a database created before ember-sync had
 * retention. A last run that failed is a failure too. Reads only.
 */
export function checkRetention(db: Db, days: number | undefined): CheckResult {
  if (days === undefined) return pass('retention', 'RETENTION_DAYS unset: every webhook is kept');
  let state: { kept_from_day: string | null; last_result: string | null } | undefined;
  try {
    state = db.prepare<[], { kept_from_day: string | null; last_result: string | null }>('SELECT kept_from_day, last_result FROM retention_state WHERE id = 1').get();
  } catch {
    return pass('retention', `RETENTION_DAYS=${days}: the server prepares the database for it at its next start`);
  }
  if (state?.last_result?.startsWith('failed')) {
    return fail('retention', `the last retention run ${state.last_result}`, 'look at the server log (`retention failed`); the server tries again every hour');
  }
  const where = state?.kept_from_day ? `oldest kept day ${state.kept_from_day}` : 'no run yet (the server runs it a minute after it starts, then daily)';
  if (Number(db.pragma('auto_vacuum', { simple: true })) !== 2) {
    return fail(
      'retention',
      `RETENTION_DAYS=${days} deletes old data (${where}), but this database was created before ember-sync had retention: freed space is reused, the file never shrinks`,
      'once: `ember-sync backup --out data/compact.db --compact`, stop the server, put that copy at DB_PATH (README: Restore a backup), start it',
    );
  }
  return pass('retention', `RETENTION_DAYS=${days}: ${where}; freed space goes back to the disk`);
}

/**
 * The targets the server synced in the last RECENT_TARGET_MS (as status'
 * recentTargets), read from the file doctor opened read-only: doctor opens
 * no store, which would migrate the database it reports on.
 */
export function recentTargetsIn(db: Db, now: Date): SyncTargetName[] {
  const since = new Date(now.getTime() - RECENT_TARGET_MS).toISOString();
  const names = db.prepare<[string], string>('SELECT DISTINCT target FROM sync_runs WHERE started_at >= ?').pluck().all(since);
  return SYNC_TARGET_NAMES.filter((t) => names.includes(t));
}

/** The SQLite file, opened read-only (no migration, no WAL switch, no meta written). Throws when it cannot be opened. */
export function sqliteDoctorDb(path: string): DoctorDb {
  const db = openDb(path, { readonly: true });
  return {
    checks: async () => checkDatabase(db, path),
    async meta(key: MetaKey) {
      try {
        return db.prepare<[string], string>('SELECT value FROM app_meta WHERE key = ?').pluck().get(key) ?? undefined;
      } catch {
        // A database from before a key (or the table) existed.
        return undefined;
      }
    },
    retention: async (days) => checkRetention(db, days),
    recentTargets: async (now) => recentTargetsIn(db, now),
    async close() {
      if (db.open) db.close();
    },
  };
}
