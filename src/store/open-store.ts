import { SettingError } from '../errors.js';
import { createStore } from './create-store.js';
import type { PgNotInitialisedError as NotInitialised } from './pg/create-pg-store.js';
import type { Store } from './store.js';

/** The settings that choose and tune the store (config/settings.ts Settings has them: the store does not import config). */
export interface StoreSettings {
  dbPath: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  databaseStatementTimeoutMs: number;
  maxDynamicColumns: number;
}

export interface OpenStoreOptions {
  /** PostgreSQL: create the tables in a database ember-sync never started on (`serve`); CLI commands refuse it. */
  create?: boolean;
  busyTimeoutMs?: number;
  /** Shown in pg_stat_activity: which replica or command holds a connection. */
  applicationName?: string;
}

/**
 * EMBER_SYNC_LOCK_STALE_MS: a test hook (like EMBER_SYNC_FAULT), not a
 * setting: the replica tests take over a killed replica's sync lease in
 * seconds instead of LOCK_STALE_MS.
 */
function lockStaleMs(env: NodeJS.ProcessEnv): { lockStaleMs: number } | Record<string, never> {
  const raw = env['EMBER_SYNC_LOCK_STALE_MS'];
  return raw !== undefined && /^\d+$/.test(raw) ? { lockStaleMs: Number(raw) } : {};
}

/** What an operator reads when PostgreSQL cannot be used at start: what is wrong and what to do, without the password. */
function databaseProblem(err: unknown, location: string, notInitialised: typeof NotInitialised): SettingError {
  if (err instanceof notInitialised) {
    return new SettingError('DATABASE_URL', `no ember-sync database at ${location}: start ember-sync serve once with this DATABASE_URL (it creates the tables), or check that the URL names the right database`);
  }
  // A StoreUnavailableError carries the driver's error as its cause.
  const cause = (err as { cause?: unknown }).cause ?? err;
  const code = (cause as { code?: string }).code;
  const said = (cause instanceof Error ? cause.message : String(cause)).replace(/\s+/g, ' ').trim();
  const why: Record<string, string> = {
    '28P01': 'the password is wrong',
    '28000': 'this role may not log in here (no such role, or no pg_hba.conf entry for it)',
    '3D000': 'the database does not exist (createdb it first)',
    '42501': 'the role lacks a privilege ember-sync needs (it creates its tables: GRANT CREATE ON SCHEMA public, or make it the database owner)',
    ECONNREFUSED: 'nothing listens there (is PostgreSQL running, the host and port right?)',
    ENOTFOUND: 'the host name does not resolve',
    ENOENT: 'no PostgreSQL socket in that folder (is PostgreSQL running?)',
    ETIMEDOUT: 'no answer (a firewall, or the wrong host?)',
    '25006': 'the database is read-only (a standby?): point DATABASE_URL at the primary',
  };
  const hint =
    (code !== undefined ? why[code] : undefined) ??
    (/password must be a string/.test(said)
      ? 'PostgreSQL asks for a password and DATABASE_URL has none (postgres://user:password@host/database, or PGPASSWORD)'
      : /timeout expired/i.test(said)
        ? 'no answer within the connect timeout (is it PostgreSQL, and reachable from here?)'
        : /terminated unexpectedly/i.test(said)
          ? 'the server closed the connection (is it PostgreSQL on that port?)'
          : /unsupported startup parameter/i.test(said)
            ? 'this looks like PgBouncer, which refuses login parameters ember-sync sends: add pgbouncer=true to DATABASE_URL (its transaction pooling mode)'
            : undefined);
  return new SettingError('DATABASE_URL', `cannot use the database at ${location}: ${hint ?? said}${hint ? ` (${said})` : ''}`);
}

/** The store the settings name: PostgreSQL when DATABASE_URL is set, else the SQLite file at DB_PATH. */
export async function openStore(settings: StoreSettings, options: OpenStoreOptions = {}): Promise<Store> {
  if (settings.databaseUrl !== undefined) {
    // Loaded only here: a SQLite server or command never loads the PostgreSQL client.
    const { createPgStore, PgNotInitialisedError, redactedUrl } = await import('./pg/create-pg-store.js');
    const location = redactedUrl(settings.databaseUrl);
    return createPgStore({
      connectionString: settings.databaseUrl,
      max: settings.databasePoolSize,
      statementTimeoutMs: settings.databaseStatementTimeoutMs,
      maxDynamicColumns: settings.maxDynamicColumns,
      ...(options.applicationName === undefined ? {} : { applicationName: options.applicationName }),
      ...lockStaleMs(process.env),
      ...(options.create === undefined ? {} : { create: options.create }),
    }).catch((err: unknown) => {
      throw databaseProblem(err, location, PgNotInitialisedError);
    });
  }
  return createStore({
    dbPath: settings.dbPath,
    maxDynamicColumns: settings.maxDynamicColumns,
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
  });
}
