import type { PoolClient, QueryConfig } from 'pg';
import { queryEntry, SHOWN_URL_KEYS } from '../../lib/pg-url.js';
import { sameZone, zoneKey } from '../../model/time.js';
import type { MetaKey, Store, WebhookWriter, WebhookWriterOptions } from '../store.js';
import { createPgConsole } from './pg-console.js';
import { createPgLogStore } from './pg-log-store.js';
import { migratePg } from './pg-migrations.js';
import { createPgPool, PG_POOL_DEFAULTS, probeConnection, type PgPool, type PgPoolOptions } from './pg-pool.js';
import { createPgProjection } from './pg-projection.js';
import { createPgRetention } from './pg-retention.js';
import { createPgSyncState } from './pg-sync-state.js';
import { inTransaction } from './pg-unit-of-work.js';
import { createPgViewRows } from './pg-view-rows.js';
import { createPgWriter } from './pg-writer.js';

/** How much longer than statement_timeout the writer and the probe wait for an answer (the server's own timeout answers first). */
const ANSWER_MARGIN_MS = 2_000;
/**
 * At most this long for a webhook batch's answer (then 503, outcome unknown): EmberQA gives up at 30 s, and the
 * batch queued behind a stuck one (which then waits up to lock_timeout for the append lock) must answer before that.
 */
const WRITER_ANSWER_CAP_MS = 15_000;
/** The health probe alone: a database that takes writes answers it in milliseconds; it must not hold the webhooks queued behind it long. */
const PROBE_ANSWER_MS = 5_000;

export interface PgStoreOptions extends PgPoolOptions {
  /** Adopt this REPORT_TIMEZONE at open (see adoptReportTimezone); otherwise the zone the database records. */
  reportTimezone?: string;
  /** MAX_DYNAMIC_COLUMNS (see projection.ts). */
  maxDynamicColumns?: number;
  /** A sync lease without a heartbeat for this long is taken over (LOCK_STALE_MS; shorter in tests). */
  lockStaleMs?: number;
  /**
   * false: refuse a database ember-sync never started on (PgNotInitialisedError)
   * instead of creating the tables — CLI commands; only `serve` creates them.
   * An existing ember-sync database is migrated either way.
   */
  create?: boolean;
}

/** DATABASE_URL names a database without ember-sync's tables, and this process does not create them. */
export class PgNotInitialisedError extends Error {
  override name = 'PgNotInitialisedError';
  constructor(location: string) {
    super(`no ember-sync database at ${location}`);
  }
}

/** Must equal create-store.ts's: an epoch names a derivation, whichever backend made it. */
const KEYED_EPOCH_VERSION = 'keyed-v1';
/** UTC until the server records a zone (as on SQLite). */
const DEFAULT_ZONE = 'UTC';
/** Serialises adoptReportTimezone across replicas: the ASCII of 'ember-tz' (see pg-migrations.ts for the others). */
const ZONE_LOCK = '7308605958138983546';
/**
 * An app_meta row (not a MetaKey) that says the keyed views still have to be
 * wiped for a new zone: written with the zone, deleted after the wipe, so a
 * replica that dies in between has the next adoption finish it.
 */
const RESET_PENDING = 'keyed_reset_pending';

/** One query segment for people: its value hidden unless its key (decoded, in any case, as node-postgres reads it: `%70assword` is `password`) is a connection detail. */
function shownParameter(segment: string): string {
  const eq = segment.indexOf('=');
  if (eq < 0) return segment;
  const key = queryEntry(segment)?.[0].toLowerCase() ?? '';
  return SHOWN_URL_KEYS.has(key) ? segment : `${segment.slice(0, eq)}=***`;
}

/** The URL for people: the password (in the authority or the query) replaced by ***, a fragment left out. */
export function redactedUrl(url: string): string {
  // Everything up to the last @ of the authority is the user and the password, whatever it holds (a password with
  // an unencoded / ? # would end a shorter match early and leave its rest in view).
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? '';
  const rest = url.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  const shown = at < 0 ? rest : `${rest.slice(0, at).split(':')[0]}${rest.slice(0, at).includes(':') ? ':***' : ''}${rest.slice(at)}`;
  const q = shown.indexOf('?');
  const hash = shown.indexOf('#', q < 0 ? 0 : q);
  const base = shown.slice(0, q >= 0 ? q : hash >= 0 ? hash : undefined);
  const query = q < 0 ? '' : `?${shown.slice(q + 1, hash >= 0 ? hash : undefined).split('&').map(shownParameter).join('&')}`;
  return `${scheme}${base}${query}`;
}

function createPgMeta(pool: PgPool) {
  return {
    /** On `client` when given (inside its transaction), else on any pooled connection. */
    async get(key: MetaKey | typeof RESET_PENDING, client?: PoolClient): Promise<string | undefined> {
      const query = { name: 'ember_meta_get', text: 'SELECT value FROM app_meta WHERE key = $1', values: [key] };
      const res = client ? await client.query<{ value: string }>(query) : await pool.query<{ value: string }>(query);
      return res.rows[0]?.value;
    },
    async set(key: MetaKey, value: string, now = new Date()): Promise<void> {
      await pool.query({
        name: 'ember_meta_set',
        text: 'INSERT INTO app_meta (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
        values: [key, value, now.toISOString()],
      });
    },
  };
}

/**
 * The PostgreSQL store: a pool on DATABASE_URL (migrated at open: replicas
 * starting at once wait for each other) and the repositories on it. Any number
 * of replicas may open it at once; what must be done by one of them at a time
 * is serialised in the database (the append lock, the sync lease, the
 * projector's lock).
 */
export async function createPgStore(options: PgStoreOptions): Promise<Store> {
  const { reportTimezone: adopt, maxDynamicColumns, lockStaleMs, create = true, ...poolOptions } = options;
  await probeConnection(poolOptions);
  const pool = createPgPool(poolOptions);
  try {
    if (!create) {
      const table = await pool.query<{ found: boolean }>({ text: "SELECT to_regclass('schema_version') IS NOT NULL AS found", values: [] });
      const version = table.rows[0]?.found ? (await pool.query<{ version: number }>({ text: 'SELECT version FROM schema_version WHERE id', values: [] })).rows[0]?.version : undefined;
      if (!version) throw new PgNotInitialisedError(redactedUrl(options.connectionString));
    }
    await migratePg(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  const meta = createPgMeta(pool);
  // Every replica derives days in the zone the database records (only adoptReportTimezone changes it).
  const zone = async (client?: PoolClient) => (await meta.get('report_timezone', client)) ?? DEFAULT_ZONE;
  const projection = createPgProjection(pool, { ...(maxDynamicColumns === undefined ? {} : { maxDynamicColumns }), reportTimezone: zone });
  const writers = new Set<WebhookWriter>();
  let closed = false;
  // A commit waiting for a synchronous standby that is down has no server-side bound: the writer and the probe give up
  // a little after statement_timeout, and in time for EmberQA, which stops waiting at 30 s.
  const answerTimeoutMs = Math.min((poolOptions.statementTimeoutMs ?? PG_POOL_DEFAULTS.statementTimeoutMs) + ANSWER_MARGIN_MS, WRITER_ANSWER_CAP_MS);
  const probeTimeoutMs = Math.min(answerTimeoutMs, PROBE_ANSWER_MS);

  const store: Store = {
    kind: 'postgres',
    location: redactedUrl(options.connectionString),
    events: createPgLogStore(pool),
    projection,
    views: createPgViewRows(pool, () => projection.columns()),
    sync: createPgSyncState(pool, lockStaleMs === undefined ? {} : { staleMs: lockStaleMs }),
    retention: createPgRetention(pool),
    console: createPgConsole(pool),
    meta: { get: (key) => meta.get(key), set: (key, value, now) => meta.set(key, value, now) },
    reportTimezone: zone,

    /** Positions of keyed rows are valid within one derivation: the zone, and derivations that kept closed daily rows. */
    async keyedEpoch(): Promise<string> {
      const res = await pool.query<{ generation: number; zone: string | null }>({
        name: 'ember_keyed_epoch',
        text: "SELECT (SELECT keyed_generation FROM retention_state WHERE id) AS generation, (SELECT value FROM app_meta WHERE key = 'report_timezone') AS zone",
        values: [],
      });
      const row = res.rows[0]!;
      return `${KEYED_EPOCH_VERSION}:${zoneKey(row.zone ?? DEFAULT_ZONE)}${row.generation > 0 ? `:g${row.generation}` : ''}`;
    },

    /**
     * As on SQLite (create-store.ts), but the wipe is the projection's own
     * unit of work, not part of this transaction: the new zone is committed
     * with a marker (RESET_PENDING), the keyed views are wiped, the marker goes.
     * Whatever the projector derives between the commit and the wipe is wiped
     * too; a replica that dies in between leaves the marker for the next one.
     */
    async adoptReportTimezone(next: string, now = new Date()): Promise<boolean> {
      const wipe = await inTransaction(pool, async (client) => {
        await client.query({ text: 'SELECT pg_advisory_xact_lock($1::bigint)', values: [ZONE_LOCK] });
        const read = async (key: string) =>
          (await client.query<{ value: string }>({ name: 'ember_meta_get', text: 'SELECT value FROM app_meta WHERE key = $1', values: [key] })).rows[0]?.value;
        const put = (key: string, value: string) =>
          client.query({
            name: 'ember_meta_set',
            text: 'INSERT INTO app_meta (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
            values: [key, value, now.toISOString()],
          });
        const current = await read('report_timezone');
        const pending = (await read(RESET_PENDING)) !== undefined;
        if (current === next) return pending;
        await put('report_timezone', next);
        // Another spelling of the same zone (utc, Etc/UTC) is not a new zone; nor is UTC for a database that never recorded one.
        if (sameZone(current ?? DEFAULT_ZONE, next)) return pending;
        await put(RESET_PENDING, next);
        return true;
      });
      if (!wipe) return false;
      // Nothing derived yet: the wipe finds nothing, and nothing has to be derived again.
      const derived = (await projection.keyedCursor()) > 0;
      await projection.resetKeyed();
      // Only this zone's marker: one another replica wrote meanwhile (yet another zone) stays for its wipe.
      await pool.query({ name: 'ember_meta_clear_pending', text: 'DELETE FROM app_meta WHERE key = $1 AND value = $2', values: [RESET_PENDING, next] });
      return derived;
    },

    createWriter(writerOptions?: WebhookWriterOptions): WebhookWriter {
      const writer = createPgWriter(pool, { ...writerOptions, answerTimeoutMs, probeAnswerTimeoutMs: probeTimeoutMs });
      writers.add(writer);
      return writer;
    },

    /** One commit on any pooled connection: the database answers and takes writes. */
    async ping(): Promise<void> {
      const probe: QueryConfig & { query_timeout: number } = {
        name: 'ember_probe',
        text: 'INSERT INTO health_probe (id, at) VALUES (true, clock_timestamp()) ON CONFLICT (id) DO UPDATE SET at = excluded.at',
        values: [],
        query_timeout: probeTimeoutMs,
      };
      await pool.query(probe);
    },

    /** Commits what the writers hold, then closes every connection. Safe to call twice. */
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...writers].map((w) => w.close()));
      await pool.end();
    },
  };

  if (adopt !== undefined) {
    try {
      await store.adoptReportTimezone(adopt);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
  }
  return store;
}
