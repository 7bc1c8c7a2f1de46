import { PG_MIGRATION_2_STATE } from './pg-migration-2-state.js';
import { PG_MIGRATION_3_PROJECTION } from './pg-migration-3-projection.js';
import { PG_MIGRATION_4_KEYED } from './pg-migration-4-keyed.js';
import { PG_MIGRATION_5_WEBHOOK_ID } from './pg-migration-5-webhook-id.js';
import { UNBOUNDED_QUERY_TIMEOUT_MS, withQueryTimeout, type PgPool, type PgQuerier } from './pg-pool.js';

export interface PgMigration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Advisory lock keys (64-bit, per database): the ASCII of 'ember-mg' and 'ember-ap'.
 * Written into the SQL below as literals, so a released migration never depends on them.
 */
export const PG_MIGRATION_LOCK = '7308605958138981735';
export const PG_APPEND_LOCK = '7308605958138978672';

/** received_at and the other times: the ISO UTC text the rest of ember-sync writes (Date#toISOString), kept verbatim. */
const ISO_UTC = String.raw`'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'`;

/**
 * Versioned, append-only, like the SQLite ones (migrations.ts): a released
 * migration is never edited; changes come as a new version. The one-row table
 * schema_version plays SQLite's user_version.
 */
export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: 'raw log (events, append_events), quarantine',
    sql: `
      -- The highest seq ever assigned. append_events (below) is the only writer of events.seq:
      -- new events get last_seq + 1, + 2... and last_seq moves in the same statement, so a seq is
      -- never used twice, even after the newest events were deleted (RETENTION_DAYS, a repair):
      -- a target's cursor past a deleted number never skips a new event.
      CREATE TABLE log_state (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        last_seq bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
      );
      INSERT INTO log_state DEFAULT VALUES;

      -- The raw log: the source of truth; seq is the cursor every poller and sync follows.
      -- Times are the exact ISO UTC text received (…T09:24:41.923Z), so exports stay byte-identical.
      CREATE TABLE events (
        seq bigint PRIMARY KEY CHECK (seq > 0),
        webhook_id text NOT NULL UNIQUE,
        type text NOT NULL CHECK (type IN ('red_flag', 'low_score', 'completion', 'workflow')),
        received_at text NOT NULL CHECK (received_at ~ ${ISO_UTC}),
        outcome text NOT NULL CHECK (outcome IN ('accepted', 'replayed')),
        body bytea NOT NULL
      );
      -- Events by age, for RETENTION_DAYS (replayed events keep their received_at under a newer
      -- seq: seq order is not age order). SQLite keeps this as a trigger-filled table (event_ages,
      -- to spare a long CREATE INDEX on an old log); a new PostgreSQL log starts empty.
      CREATE INDEX events_received_at ON events (received_at, seq);

      -- Payloads that failed their schema, verbatim; the same bytes again count as another attempt.
      -- released_seq: the event a released payload became; set to NULL when retention deletes it
      -- (SQLite's retention unlinks it by hand before deleting).
      CREATE TABLE quarantine (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        body_sha256 text NOT NULL UNIQUE CHECK (body_sha256 ~ '^[0-9a-f]{64}$'),
        webhook_id text,
        received_at text NOT NULL CHECK (received_at ~ ${ISO_UTC}),
        last_received_at text NOT NULL CHECK (last_received_at ~ ${ISO_UTC}),
        attempts integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
        reason text NOT NULL,
        errors text NOT NULL,
        body bytea NOT NULL,
        status text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'released', 'duplicate')),
        released_seq bigint REFERENCES events (seq) ON DELETE SET NULL,
        resolved_at text CHECK (resolved_at ~ ${ISO_UTC})
      );
      CREATE INDEX quarantine_status ON quarantine (status, id);
      CREATE INDEX quarantine_last_received ON quarantine (last_received_at);
      -- Deleting an event looks up the quarantine rows released to it (ON DELETE SET NULL).
      CREATE INDEX quarantine_released_seq ON quarantine (released_seq) WHERE released_seq IS NOT NULL;

      -- Appends a batch of events in one statement: for each input element (ord = its 1-based
      -- place) the seq it got, or for a duplicate (a webhook_id already logged, or repeated
      -- earlier in the batch: the first wins) the seq stored under that webhook_id.
      --
      -- Why a lock: a sequence (identity, bigserial) hands out numbers at insert, but rows become
      -- visible at commit, in another order; a poller reading seq > cursor would move its cursor
      -- past a number whose transaction commits later, and never see that event. Appends therefore
      -- take one transaction-level advisory lock, read last_seq, insert last_seq + 1... and commit
      -- before the lock is released (PostgreSQL releases locks after the commit is visible), so
      -- seq order is commit order and the committed events are always seq 1..N, less deletions.
      -- Under READ COMMITTED each statement below takes a new snapshot after the lock is held, so
      -- it sees every append committed before: the duplicate check is exact across connections.
      CREATE FUNCTION append_events(
        p_webhook_ids text[], p_types text[], p_received_ats text[], p_outcomes text[], p_bodies bytea[]
      ) RETURNS TABLE (ord integer, seq bigint, duplicate boolean)
      LANGUAGE plpgsql VOLATILE
      -- Planned for each call with the batch and the table as they are: a plan cached by a session
      -- while the log was small (a seq scan) would otherwise stay while the log grows.
      SET plan_cache_mode = force_custom_plan
      AS $fn$
      #variable_conflict use_column
      DECLARE
        n integer := coalesce(cardinality(p_webhook_ids), 0);
        v_last bigint;
      BEGIN
        IF coalesce(cardinality(p_types), 0) <> n OR coalesce(cardinality(p_received_ats), 0) <> n
           OR coalesce(cardinality(p_outcomes), 0) <> n OR coalesce(cardinality(p_bodies), 0) <> n THEN
          RAISE EXCEPTION 'append_events: the five arrays must have the same length' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF n = 0 THEN
          RETURN;
        END IF;
        IF current_setting('transaction_isolation') <> 'read committed' THEN
          RAISE EXCEPTION 'append_events needs READ COMMITTED, not %: its snapshot must be taken after the lock', current_setting('transaction_isolation')
            USING ERRCODE = 'invalid_transaction_state';
        END IF;
        PERFORM pg_advisory_xact_lock(7308605958138978672);
        SELECT s.last_seq INTO STRICT v_last FROM log_state s WHERE s.id;
        RETURN QUERY
        WITH input AS (
          SELECT u.ord::integer AS ord, u.webhook_id, u.type, u.received_at, u.outcome, u.body,
                 row_number() OVER (PARTITION BY u.webhook_id ORDER BY u.ord) = 1 AS first
          FROM unnest(p_webhook_ids, p_types, p_received_ats, p_outcomes, p_bodies) WITH ORDINALITY
            AS u (webhook_id, type, received_at, outcome, body, ord)
        ),
        -- What is already logged under these webhook_ids: index probes once the log is large (the
        -- planner's choice, made at each call with the ids in hand).
        logged AS (
          SELECT e.webhook_id, e.seq FROM events e WHERE e.webhook_id = ANY (p_webhook_ids)
        ),
        fresh AS (
          SELECT i.ord, i.webhook_id, i.type, i.received_at, i.outcome, i.body,
                 v_last + row_number() OVER (ORDER BY i.ord) AS seq
          FROM input i
          WHERE i.first AND NOT EXISTS (SELECT 1 FROM logged l WHERE l.webhook_id = i.webhook_id)
        ),
        inserted AS (
          INSERT INTO events (seq, webhook_id, type, received_at, outcome, body)
          SELECT f.seq, f.webhook_id, f.type, f.received_at, f.outcome, f.body FROM fresh f ORDER BY f.seq
          RETURNING events.seq
        ),
        bumped AS (
          UPDATE log_state SET last_seq = v_last + (SELECT count(*) FROM inserted) WHERE id
        )
        SELECT i.ord, coalesce(l.seq, f.seq, firsts.seq), f.ord IS NULL
        FROM input i
        LEFT JOIN logged l ON l.webhook_id = i.webhook_id
        LEFT JOIN fresh f ON f.ord = i.ord
        LEFT JOIN fresh firsts ON firsts.webhook_id = i.webhook_id
        ORDER BY i.ord;
      END
      $fn$;
    `,
  },
  PG_MIGRATION_2_STATE,
  PG_MIGRATION_3_PROJECTION,
  PG_MIGRATION_4_KEYED,
  PG_MIGRATION_5_WEBHOOK_ID,
];

const SCHEMA_VERSION_SQL = `
  CREATE TABLE IF NOT EXISTS schema_version (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    version integer NOT NULL CHECK (version >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
  );
  INSERT INTO schema_version (version) VALUES (0) ON CONFLICT (id) DO NOTHING;
`;

/**
 * Creates schema_version if needed and applies the migrations above its
 * version, each in a transaction of its own when `ownTransactions` (else in
 * the caller's). Refuses a database newer than these migrations.
 */
async function applyPending(client: PgQuerier, migrations: readonly PgMigration[], ownTransactions: boolean): Promise<PgMigrateResult> {
  const latest = migrations.at(-1)?.version ?? 0;
  await client.query(SCHEMA_VERSION_SQL);
  let version = (await client.query<{ version: number }>({ text: 'SELECT version FROM schema_version WHERE id', values: [] })).rows[0]?.version ?? 0;
  const applied: number[] = [];
  for (const m of migrations) {
    if (version >= m.version) continue;
    if (ownTransactions) await client.query('BEGIN');
    try {
      await client.query(m.sql);
      await client.query({ text: 'UPDATE schema_version SET version = $1, updated_at = now() WHERE id', values: [m.version] });
      if (ownTransactions) await client.query('COMMIT');
    } catch (err) {
      if (ownTransactions) await client.query('ROLLBACK').catch(() => undefined);
      if (err instanceof Error) err.message = `migration ${m.version} (${m.name}): ${err.message}`;
      throw err;
    }
    version = m.version;
    applied.push(m.version);
  }
  if (version > latest) {
    throw new Error(`the database is at schema version ${version}, newer than this ember-sync (${latest}); upgrade ember-sync`);
  }
  return { version, applied };
}

export interface PgMigrateResult {
  /** The schema version after the run. */
  version: number;
  /** The versions this call applied (none when another process did, or nothing was missing). */
  applied: number[];
}

/**
 * Applies what is missing, each migration in its own transaction, holding a
 * session advisory lock for the whole run: processes that start at once wait
 * for each other and each migration is applied exactly once. The lock goes
 * with the connection if the process dies. Neither the wait nor a migration is
 * bounded by the pool's statement_timeout (the connection is discarded after).
 * Behind PgBouncer (pgbouncer=true): migrateInOneTransaction.
 */
export async function migratePg(pool: PgPool, migrations: readonly PgMigration[] = PG_MIGRATIONS): Promise<PgMigrateResult> {
  if (pool.pgbouncer) return migrateInOneTransaction(pool, migrations);
  return pool.withClient(
    async (client) => {
      // A replica waits for another's migration however long it takes (and a migration may wait for the
      // replicas' short transactions): neither the pool's statement_timeout nor its lock_timeout applies here.
      await client.query('SET statement_timeout = 0');
      await client.query('SET lock_timeout = 0');
      await client.query({ text: 'SELECT pg_advisory_lock($1::bigint)', values: [PG_MIGRATION_LOCK] });
      const result = await applyPending(client, migrations, true);
      // The lock would go with the discarded connection anyway; releasing it now lets a waiting process on.
      await client.query({ text: 'SELECT pg_advisory_unlock($1::bigint)', values: [PG_MIGRATION_LOCK] });
      return result;
    },
    { discard: true },
  );
}

/**
 * migratePg behind PgBouncer in transaction pooling mode (pgbouncer=true):
 * there a session lock and a session SET may land on one server connection
 * and the migrations on others. So the whole run is ONE transaction under a
 * transaction-level advisory lock (released at COMMIT or ROLLBACK, whichever
 * server connection ran it), its timeouts lifted with SET LOCAL. Every
 * migration already runs in a transaction of its own in the other mode, so
 * each can run in this one; a failure rolls back the whole run (nothing of
 * it is applied), where the other mode keeps the migrations before it.
 */
async function migrateInOneTransaction(pool: PgPool, migrations: readonly PgMigration[]): Promise<PgMigrateResult> {
  return pool.withClient(async (pooled) => {
    // Nor the pool's client-side limit (pg-pool.ts PGBOUNCER_ANSWER_MARGIN_MS): waiting for another replica's run is fine.
    const client = withQueryTimeout(pooled, UNBOUNDED_QUERY_TIMEOUT_MS);
    // Not a plain BEGIN: the pool would add the usual per-transaction timeouts (pg-pool.ts pgBouncerClient).
    await client.query('BEGIN; SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0');
    try {
      await client.query({ text: 'SELECT pg_advisory_xact_lock($1::bigint)', values: [PG_MIGRATION_LOCK] });
      const result = await applyPending(client, migrations, false);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A broken connection cannot roll back: PgBouncer closes its server connection, and the server rolls back.
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}
