import { existsSync } from 'node:fs';
import { resolveSecrets, type Secrets } from '../config/secrets.js';
import { loadSettings, type Settings } from '../config/settings.js';
import { SettingError } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { createStore, type SqliteStore } from '../store/create-store.js';
import { openStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';

export interface CliContext {
  settings: Settings;
  logger: Logger;
  secrets(): Secrets;
  /**
   * Opens (and migrates) the database `serve` made: PostgreSQL at
   * DATABASE_URL, else the SQLite file at DB_PATH. Only `serve` creates a
   * SQLite file: a command run from the wrong folder says where it looked
   * instead of reporting on a new empty database.
   */
  openStore(): Promise<Store>;
}

/** The CLI reads the same settings as the server and works beside it on the same DATA_DIR. */
export function createCliContext(options: { server?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): CliContext {
  const settings = loadSettings(env);
  // The server logs on stdout at LOG_LEVEL. One-shot commands print their results on
  // stdout, so their logs go to stderr, and routine info is left out unless asked for.
  const logger = options.server
    ? createLogger(settings.logLevel)
    : createLogger(settings.logLevel === 'info' && env['LOG_LEVEL'] === undefined ? 'warn' : settings.logLevel, undefined, 2);
  return {
    settings,
    logger,
    secrets: () => resolveSecrets(settings),
    async openStore() {
      if (settings.databaseUrl === undefined) return openStoreOrExplain(settings.dbPath, { maxDynamicColumns: settings.maxDynamicColumns });
      // Only `serve` creates the tables: a command pointed at the wrong database says so and creates nothing.
      return openStore(settings, { applicationName: 'ember-sync cli', create: false });
    },
  };
}

export function openStoreOrExplain(dbPath: string, options: { busyTimeoutMs?: number; maxDynamicColumns?: number } = {}): SqliteStore {
  if (!existsSync(dbPath)) {
    throw new SettingError('DB_PATH', `no database at ${dbPath}: run the command where ember-sync serve runs (same DATA_DIR or DB_PATH), or start ember-sync serve once`);
  }
  try {
    return createStore({ dbPath, ...options });
  } catch (err) {
    throw new SettingError('DB_PATH', `cannot open the database ${dbPath}: ${(err as Error).message}`);
  }
}

/**
 * The views are derived in the zone the server adopted (REPORT_TIMEZONE of
 * `serve`); a shell that sets another one is told that this command uses the
 * database's, once, on stderr.
 */
export function warnOtherZone(shellZone: string, databaseZone: string, env: NodeJS.ProcessEnv = process.env): void {
  if (env['REPORT_TIMEZONE'] === undefined || env['REPORT_TIMEZONE'] === '' || shellZone === databaseZone) return;
  process.stderr.write(`ember-sync: REPORT_TIMEZONE here is ${shellZone}, but the views are derived in ${databaseZone} (the zone the server adopted); using ${databaseZone}. Restart the server with the new zone to change it.\n`);
}
