import type { Settings } from '../config/settings.js';
import { fail, oneLine, pass, type CheckResult } from './check.js';
import { checkCsvDir } from './csv-dir.js';
import type { DoctorDb } from './doctor-db.js';
import { checkDisk } from './disk.js';
import { checkPublicUrl, reachableFromEmberQa } from './public-url.js';
import { checkSchedule } from './schedule.js';
import { checkSecrets } from './secrets.js';
import { checkSheets } from './sheets.js';

/** The settings an operator can set (names only: values may be secrets). */
const SETTING_NAMES = [
  'PORT', 'HOST', 'PUBLIC_URL', 'DATA_DIR', 'DB_PATH', 'WEBHOOK_TOKEN', 'WEBHOOK_SIGNING_SECRET', 'ADMIN_TOKEN', 'MAX_BODY_BYTES',
  'SYNC_SCHEDULE', 'SYNC_TIMEZONE', 'SYNC_TARGETS', 'CSV_DIR', 'CSV_DELIMITER', 'CSV_BOM', 'REPORT_TIMEZONE', 'CSV_TIME_FORMAT',
  'CSV_DECIMAL', 'CSV_FORMULA_GUARD', 'CSV_PARTITION', 'SHEETS_SPREADSHEET_ID', 'SHEETS_VIEWS', 'SHEETS_PARTITION', 'SHEETS_KEEP_MONTHS',
  'SHEETS_ON_CONFLICT', 'GOOGLE_APPLICATION_CREDENTIALS', 'SHEETS_ACCESS_TOKEN', 'SHEETS_API_ROOT_URL', 'GOOGLE_OAUTH_TOKEN_URL',
  'LOG_LEVEL', 'MAX_DYNAMIC_COLUMNS', 'RETENTION_DAYS', 'DATABASE_URL', 'DATABASE_POOL_SIZE', 'DATABASE_STATEMENT_TIMEOUT_MS',
];

export interface DoctorDeps {
  settings: Settings;
  env: NodeJS.ProcessEnv;
  /**
   * Opens the existing database read-only (the command made sure there is one):
   * doctor must not migrate it, switch its journal to WAL or write its meta, or it
   * would change the database it reports on (and pass its own checks).
   */
  openDb: () => Promise<DoctorDb>;
  /** Where the database is, for people (the SQLite file, or the PostgreSQL URL without its password). */
  location: string;
  /** Each result as soon as it is known (slow checks come last). */
  onResult?: (r: CheckResult) => void;
  now?: () => Date;
  timeoutMs?: number;
}

/**
 * Every check, in order: settings, database, disk, secrets, schedule, public
 * URL, then each target. A check that cannot run says why; none writes data
 * (the probes create and remove a file, or send a write that changes no cell).
 */
export async function runDoctor(d: DoctorDeps): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (...rs: CheckResult[]) => {
    for (const r of rs) {
      results.push(r);
      d.onResult?.(r);
    }
  };
  const { settings } = d;
  const set = SETTING_NAMES.filter((n) => (d.env[n] ?? '').trim() !== '');
  const targets = settings.syncTargets.length ? settings.syncTargets.join(', ') : 'none (with DATABASE_URL the CSV target is on only when SYNC_TARGETS names it)';
  add(pass('settings', `valid; targets ${targets}; ${set.length ? `set here: ${set.join(', ')}` : 'all defaults'}`));

  let db: DoctorDb | undefined;
  try {
    db = await d.openDb();
  } catch (err) {
    const todo =
      settings.databaseUrl === undefined
        ? 'stop the server, keep the file aside and restore the latest `ember-sync backup` (README: Restore a backup)'
        : 'check DATABASE_URL (host, database, user, password) and that PostgreSQL is up and reachable from here';
    add(fail('database', `cannot open ${d.location}: ${oneLine(err)}`, todo));
  }
  // What the server recorded (app_meta); a database from before a key existed has none.
  const recordedMeta = async (key: 'public_url' | 'webhook_token_sha256' | 'admin_token_sha256' | 'report_timezone' | 'retention_days'): Promise<string | undefined> => db?.meta(key);
  try {
    // RETENTION_DAYS as the running server recorded it at start (its unit file may set it, this shell not).
    const recorded = await recordedMeta('retention_days');
    const retentionDays = recorded === undefined ? settings.retentionDays : recorded === 'unset' ? undefined : Number(recorded);
    if (db) add(...(await db.checks()), await db.retention(retentionDays));
    // A target the server syncs that this shell does not set would go unchecked: say so rather than pass without it.
    let missing: string[] = [];
    try {
      missing = db ? (await db.recentTargets(d.now?.() ?? new Date())).filter((t) => !settings.syncTargets.includes(t)) : [];
    } catch {
      // A database without sync_runs has no runs to tell of.
    }
    if (missing.length) {
      add(fail('targets', `the server synced ${missing.join(', ')} in the last 7 days, but this shell's settings have no ${missing.join(', ')} target, so ${missing.length === 1 ? 'it is' : 'they are'} not checked here`, "run doctor with the server's environment (the variables of its systemd unit, container or .env file)"));
    }
    // On PostgreSQL the database's disk is the server's: DB_PATH is not used.
    const dbDisk = settings.databaseUrl === undefined ? [{ label: 'DB_PATH', path: settings.dbPath }] : [];
    add(...checkDisk([{ label: 'DATA_DIR', path: settings.dataDir }, ...dbDisk, ...(settings.syncTargets.includes('csv') ? [{ label: 'CSV_DIR', path: settings.csvDir }] : [])]));
    add(...checkSecrets(settings, { webhook: await recordedMeta('webhook_token_sha256'), admin: await recordedMeta('admin_token_sha256') }));
    add(checkSchedule(settings.syncSchedule, settings.syncTimezone, d.now?.() ?? new Date()));

    // The base the running server announced is the one pasted into EmberQA; this shell may lack its PUBLIC_URL.
    const announced = await recordedMeta('public_url');
    const base = announced ?? settings.publicUrl;
    const note = announced !== undefined && announced !== settings.publicUrl ? ` (the URL the server announced; PUBLIC_URL here would give ${settings.publicUrl})` : '';
    add(reachableFromEmberQa(await checkPublicUrl(base, note, Math.min(d.timeoutMs ?? 5000, 5000)), base));

    // The zone the views are derived in is the server's (recorded in the database), not this shell's.
    const reportTimezone = (await recordedMeta('report_timezone')) ?? settings.reportTimezone;
    for (const target of settings.syncTargets) {
      if (target === 'csv') add(checkCsvDir(settings.csvDir));
      else add(...(await checkSheets({ settings, reportTimezone, ...(d.timeoutMs !== undefined ? { timeoutMs: d.timeoutMs } : {}) })));
    }
  } finally {
    await db?.close();
  }
  return results;
}
