import { Client, Pool, type PoolClient, type QueryConfig, type QueryResult, type QueryResultRow } from 'pg';
import { StoreUnavailableError } from '../../errors.js';
import { driverTarget } from '../../lib/pg-bouncer.js';

export interface PgPoolOptions {
  /**
   * DATABASE_URL (`postgres://user:pass@host:5432/db`, or `postgres://user@/db?host=/run/postgresql` for a unix socket).
   * `?pgbouncer=true`: through PgBouncer in transaction pooling mode (see pgBouncerClient).
   */
  connectionString: string;
  /** Connections at most (per process). */
  max?: number;
  /**
   * Server-side limit on each statement (ms), sent at connect as the session's
   * statement_timeout. A `statement_timeout` in the URL's query wins (node-postgres
   * lets the connection string override options). With pgbouncer=true both
   * timeouts are set in each transaction instead (see pgBouncerClient).
   */
  statementTimeoutMs?: number;
  /**
   * How long a statement waits for a lock (lock_timeout) before it fails with
   * 55P03 (a 503): a lock another session holds (a manual LOCK TABLE, a long
   * ALTER) answers webhooks with 503 in seconds, well before EmberQA's own
   * timeout, instead of holding every request of the replica.
   */
  lockTimeoutMs?: number;
  /** Shown in pg_stat_activity (the replica's name, say). */
  applicationName?: string;
  /** How long a query waits for a connection (a free pool slot or a new connect) before failing. */
  connectTimeoutMs?: number;
  /** An idle connection is closed after this long. */
  idleTimeoutMs?: number;
  /**
   * An idle pooled connection failed (server restart, pg_terminate_backend): the
   * pool has already dropped it; this is for the log. Without a listener such an
   * error would crash the process, so the pool always listens.
   */
  onIdleError?: (err: Error) => void;
}

export const PG_POOL_DEFAULTS = {
  max: 10,
  statementTimeoutMs: 30_000,
  lockTimeoutMs: 5_000,
  applicationName: 'ember-sync',
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
} as const;

/** Why the database is unavailable (for logs and metrics): see unavailableReason. */
export type UnavailableReason = 'connection_refused' | 'connection_lost' | 'admin_shutdown' | 'timeout' | 'insufficient_resources' | 'read_only' | 'transient' | 'closing';

/** Node's socket errors: the server cannot be reached or the connection broke. */
const SOCKET_CODES: Readonly<Record<string, UnavailableReason>> = {
  ECONNREFUSED: 'connection_refused',
  EHOSTUNREACH: 'connection_refused',
  ENETUNREACH: 'connection_refused',
  EHOSTDOWN: 'connection_refused',
  ENETDOWN: 'connection_refused',
  EAI_AGAIN: 'connection_refused',
  ENOTFOUND: 'connection_refused',
  ECONNRESET: 'connection_lost',
  EPIPE: 'connection_lost',
  ECONNABORTED: 'connection_lost',
  ETIMEDOUT: 'timeout',
};

/** SQLSTATEs (exact) that mean "not now", not "never". */
const SQLSTATES: Readonly<Record<string, UnavailableReason>> = {
  '57P01': 'admin_shutdown', // admin_shutdown: pg_terminate_backend, or a fast shutdown
  '57P02': 'admin_shutdown', // crash_shutdown: another backend crashed, the server restarts
  '57P03': 'admin_shutdown', // cannot_connect_now: starting up, shutting down, in recovery
  '57P04': 'admin_shutdown', // database_dropped
  '57014': 'timeout', // query_canceled: statement_timeout (or a cancel request)
  '55P03': 'timeout', // lock_not_available: lock_timeout
  '25006': 'read_only', // read_only_sql_transaction: connected to a standby (after a failover)
  '40001': 'transient', // serialization_failure
  '40P01': 'transient', // deadlock_detected
};

/** SQLSTATE classes: 08 connection exception, 53 insufficient resources (disk full, out of memory, too many connections), 58 system error (I/O). */
const SQLSTATE_CLASSES: Readonly<Record<string, UnavailableReason>> = {
  '08': 'connection_lost',
  '53': 'insufficient_resources',
  '58': 'insufficient_resources',
};

/** node-postgres's own errors, which carry no code. */
const CLIENT_MESSAGES: ReadonlyArray<readonly [RegExp, UnavailableReason]> = [
  [/^Connection terminated due to connection timeout/, 'timeout'],
  [/^timeout exceeded when trying to connect/, 'timeout'],
  [/^Query read timeout/, 'timeout'],
  [/^Connection terminated/, 'connection_lost'],
  [/is not queryable/, 'connection_lost'],
  [/^Cannot use a pool after calling end on the pool/, 'closing'],
];

/**
 * Says why `err` means the database cannot be used right now (the request may
 * be retried later: the HTTP layer answers 503), or undefined when it is any
 * other error (a bug, a constraint, bad input), which callers rethrow as is.
 */
export function unavailableReason(err: unknown): UnavailableReason | undefined {
  if (err instanceof StoreUnavailableError) return unavailableReason(err.cause) ?? 'connection_lost';
  if (typeof err !== 'object' || err === null) return undefined;
  // A host name with several addresses (localhost: ::1 and 127.0.0.1) fails with one error per address.
  if (err instanceof AggregateError) {
    for (const e of err.errors) {
      const reason = unavailableReason(e);
      if (reason) return reason;
    }
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^[0-9A-Z]{5}$/.test(code)) return SQLSTATES[code] ?? SQLSTATE_CLASSES[code.slice(0, 2)];
    const socket = SOCKET_CODES[code];
    if (socket) return socket;
    // A unix socket that does not exist: the server is not running (not any missing file).
    if (code === 'ENOENT' && (err as { syscall?: unknown }).syscall === 'connect') return 'connection_refused';
  }
  const message = (err as { message?: unknown }).message;
  if (typeof message === 'string') {
    for (const [pattern, reason] of CLIENT_MESSAGES) if (pattern.test(message)) return reason;
  }
  return undefined;
}

/** StoreUnavailableError (code store_unavailable, 503) for an unavailable database, else `err` itself. */
export function classifyPgError(err: unknown): unknown {
  if (err instanceof StoreUnavailableError) return err;
  return unavailableReason(err) === undefined ? err : new StoreUnavailableError(err);
}

/**
 * With pgbouncer=true, how much longer than statement_timeout any statement may go unanswered (node-postgres'
 * client-side query_timeout): a statement outside a transaction has only the role's statement_timeout, and a
 * statement PgBouncer holds in its queue (no server connection free, or the server down: PgBouncer's
 * query_wait_timeout is 120 s by default) has none. Past it the statement fails as unavailable (a 503) and the
 * connection is closed. A statement that may run longer (the migration) passes its own query_timeout.
 */
export const PGBOUNCER_ANSWER_MARGIN_MS = 2_000;

/** node-postgres' longest query_timeout (setTimeout's): a statement given it is in effect unbounded. */
export const UNBOUNDED_QUERY_TIMEOUT_MS = 2_147_483_647;

function pgBouncerAnswerLimit(statementTimeoutMs: number): { query_timeout?: number } {
  return statementTimeoutMs > 0 ? { query_timeout: Math.min(statementTimeoutMs + PGBOUNCER_ANSWER_MARGIN_MS, UNBOUNDED_QUERY_TIMEOUT_MS) } : {};
}

/** What runs statements: a pooled client, or one with its own query_timeout (withQueryTimeout). */
export interface PgQuerier {
  query<R extends QueryResultRow = QueryResultRow>(q: QueryConfig | string): Promise<QueryResult<R>>;
}

/**
 * `client` with node-postgres' client-side query_timeout on each statement
 * (none when 0 or unset): past it the statement fails with "Query read
 * timeout" (unavailable: withClient then closes the connection).
 */
export function withQueryTimeout(client: PoolClient, timeoutMs: number | undefined): PgQuerier {
  const config = (q: QueryConfig | string): QueryConfig => (typeof q === 'string' ? { text: q } : q);
  if (!timeoutMs) return { query: (q) => client.query(config(q)) };
  return {
    query: (q) => {
      const bounded: QueryConfig & { query_timeout: number } = { ...config(q), query_timeout: timeoutMs };
      return client.query(bounded);
    },
  };
}

/** What the client of a `BEGIN` sends instead with pgbouncer=true (see pgBouncerClient). */
export function pgBouncerBegin(timeouts: { statementTimeoutMs: number; lockTimeoutMs: number }): string {
  return `BEGIN; SET LOCAL statement_timeout = ${Math.trunc(timeouts.statementTimeoutMs)}; SET LOCAL lock_timeout = ${Math.trunc(timeouts.lockTimeoutMs)}`;
}

const isBegin = (text: unknown): boolean => typeof text === 'string' && /^\s*begin\s*;?\s*$/i.test(text);

/**
 * A client behind PgBouncer in transaction pooling mode (pgbouncer=true),
 * changed in place once, when the pool makes it:
 * - a statement's `name` is dropped: node-postgres prepares a named statement
 *   once per client connection, but PgBouncer (before 1.21) hands the next
 *   transaction another server connection, where it does not exist (26000).
 *   Unnamed statements (Parse, Bind, Execute in one message) are fine.
 * - a plain `BEGIN` (as every transaction of ember-sync starts: pg-unit-of-work,
 *   pg-writer) also sets statement_timeout and lock_timeout for the
 *   transaction (SET LOCAL), in the same simple-query message: no extra round
 *   trip. A statement outside a transaction gets the role's or database's
 *   settings (README: ALTER ROLE … SET statement_timeout; doctor checks them).
 */
function pgBouncerClient(client: PoolClient, timeouts: { statementTimeoutMs: number; lockTimeoutMs: number }): void {
  const begin = pgBouncerBegin(timeouts);
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const adapt = (config: unknown): unknown => {
    if (isBegin(config)) return begin;
    if (typeof config !== 'object' || config === null || typeof (config as { submit?: unknown }).submit === 'function') return config;
    const { name: _name, ...unnamed } = config as QueryConfig;
    if (isBegin(unnamed.text) && (unnamed.values === undefined || unnamed.values.length === 0)) return { ...unnamed, text: begin };
    return unnamed;
  };
  (client as { query: unknown }).query = (config: unknown, ...rest: unknown[]) => query(adapt(config), ...rest);
}

/**
 * A connection pool on DATABASE_URL whose failures are classified: every
 * method rejects with StoreUnavailableError when the database cannot be
 * reached or the connection broke (refused, terminated, shut down, timed out),
 * and with the original error otherwise.
 */
export function createPgPool(options: PgPoolOptions) {
  const target = driverTarget(options.connectionString);
  // A timeout in the URL wins over the options, in both modes (node-postgres lets the URL override its options).
  const statementTimeoutMs = target.statementTimeoutMs ?? options.statementTimeoutMs ?? PG_POOL_DEFAULTS.statementTimeoutMs;
  const lockTimeoutMs = target.lockTimeoutMs ?? options.lockTimeoutMs ?? PG_POOL_DEFAULTS.lockTimeoutMs;
  const pool = new Pool({
    // sslmode=require and the like as pg 8 treats them (verify-full), without its multi-line warning: lib/pg-sslmode.ts.
    connectionString: target.url,
    max: options.max ?? PG_POOL_DEFAULTS.max,
    // Through PgBouncer these startup parameters fail the login and would set one server connection only:
    // pgBouncerClient applies them to each transaction instead.
    ...(target.pgbouncer ? pgBouncerAnswerLimit(statementTimeoutMs) : { statement_timeout: statementTimeoutMs, lock_timeout: lockTimeoutMs }),
    application_name: options.applicationName ?? PG_POOL_DEFAULTS.applicationName,
    connectionTimeoutMillis: options.connectTimeoutMs ?? PG_POOL_DEFAULTS.connectTimeoutMs,
    idleTimeoutMillis: options.idleTimeoutMs ?? PG_POOL_DEFAULTS.idleTimeoutMs,
    // A peer that vanished without a FIN (a failover, a dead NAT entry) is noticed.
    keepAlive: true,
  });
  // Every client the pool makes, before its first query (pool.query and withClient alike).
  if (target.pgbouncer) pool.on('connect', (client) => pgBouncerClient(client, { statementTimeoutMs, lockTimeoutMs }));
  pool.on('error', (err) => options.onIdleError?.(err));
  let ended = false;

  return {
    /** The node-postgres pool itself (tests, pool statistics). */
    pool,
    /**
     * DATABASE_URL said pgbouncer=true: each transaction may run on another server connection, and
     * nothing outside a transaction (a session lock, SET) may be relied on from one statement to the next.
     */
    pgbouncer: target.pgbouncer,
    /** One statement on any pooled connection. Pass `name` for a statement prepared once per connection (ignored with pgbouncer=true). */
    async query<R extends QueryResultRow>(query: QueryConfig): Promise<QueryResult<R>> {
      try {
        return await pool.query<R>(query);
      } catch (err) {
        throw classifyPgError(err);
      }
    },
    /**
     * Runs `fn` on one connection of its own (a transaction, a session lock).
     * The connection is closed rather than reused when `fn` fails because the
     * database is unavailable, or when `discard` is set (`fn` changed the session).
     */
    async withClient<T>(fn: (client: PoolClient) => Promise<T>, options: { discard?: boolean } = {}): Promise<T> {
      let client: PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw classifyPgError(err);
      }
      let broken: Error | undefined;
      // node-postgres emits 'error' on a checked-out client whose connection ends (pg_terminate_backend, a
      // failover) even while its query fails with the same error; the pool listens only to idle clients, and
      // an unheard 'error' event would crash the process. The failing query reports it: this only hears it.
      const heard = (err: Error): void => {
        broken ??= err;
      };
      client.on('error', heard);
      try {
        return await fn(client);
      } catch (err) {
        const classified = classifyPgError(err);
        if (classified instanceof StoreUnavailableError) broken = classified;
        throw classified;
      } finally {
        client.removeListener('error', heard);
        client.release(broken ?? (options.discard ? true : undefined));
      }
    },
    /** Closes every connection (waits for checked-out ones). Safe to call twice. */
    async end(): Promise<void> {
      if (ended) return;
      ended = true;
      await pool.end();
    },
  };
}
export type PgPool = ReturnType<typeof createPgPool>;

/**
 * One connection made and closed before the pool is used: a server that
 * cannot be reached or refuses the login fails here with PostgreSQL's own
 * error (for a clear message at start), and the socket is closed whatever
 * happened. node-postgres leaves the socket of a login it gave up open (a
 * server asking for a password the URL lacks): the process would never exit.
 */
export async function probeConnection(options: PgPoolOptions): Promise<void> {
  const client = new Client({
    connectionString: driverTarget(options.connectionString).url,
    connectionTimeoutMillis: options.connectTimeoutMs ?? PG_POOL_DEFAULTS.connectTimeoutMs,
    application_name: options.applicationName ?? PG_POOL_DEFAULTS.applicationName,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    throw err;
  }
  await client.end().catch(() => undefined);
}
