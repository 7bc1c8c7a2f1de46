/** ISO UTC text as Date#toISOString writes it (the times the callers pass, kept verbatim as SQLite keeps them). */
const ISO_UTC = String.raw`'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'`;

/**
 * Migration 2: what is not the log nor derived from it. Sync cursors, run
 * history, the sync lease, the server's announcements, the health probe, the
 * console's sessions and the webhooks-per-hour counts, and what RETENTION_DAYS
 * did. The SQLite counterparts are migrations 2, 3, 4, 6 and 7 of
 * store/migrations.ts; the semantics are theirs.
 */
// A PgMigration (pg-migrations.ts lists it; typed structurally to keep the import one-way).
export const PG_MIGRATION_2_STATE: { version: number; name: string; sql: string } = {
  version: 2,
  name: 'sync state and lease, meta, health probe, console sessions, webhook hours, retention state',
  sql: `
    -- One row per target and view: how far the target confirmed (delivered_seq), its row count
    -- there, its own bookkeeping (state: JSON text, kept verbatim), the last error of the view.
    -- repair_from_seq / repair_runs: after a takeover of a live lease, the next repair_runs
    -- successful syncs deliver again the keyed rows changed since repair_from_seq.
    CREATE TABLE sync_state (
      target text NOT NULL,
      view text NOT NULL,
      delivered_seq bigint NOT NULL DEFAULT 0 CHECK (delivered_seq >= 0),
      delivered_rows bigint NOT NULL DEFAULT 0,
      delivered_total bigint NOT NULL DEFAULT 0,
      state text,
      last_error text,
      last_error_at text CHECK (last_error_at ~ ${ISO_UTC}),
      updated_at text CHECK (updated_at ~ ${ISO_UTC}),
      repair_from_seq bigint,
      repair_runs integer NOT NULL DEFAULT 0 CHECK (repair_runs >= 0),
      PRIMARY KEY (target, view)
    );

    -- Run history; finishRun keeps the newest 1000 runs of a target.
    CREATE TABLE sync_runs (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      target text NOT NULL,
      started_at text NOT NULL CHECK (started_at ~ ${ISO_UTC}),
      finished_at text CHECK (finished_at ~ ${ISO_UTC}),
      ok smallint CHECK (ok IN (0, 1)),
      rows integer NOT NULL DEFAULT 0,
      error text,
      details text
    );
    CREATE INDEX sync_runs_target ON sync_runs (target, id);

    -- The sync lease of a target, shared by every replica. Times are the database's clock
    -- (timestamptz), never a replica's: replicas' clocks disagree, the database's is one.
    -- generation: the fencing token of the acquisition (from sync_lock_generations, which
    -- outlives a released lease so that a number is never handed out twice).
    CREATE TABLE sync_locks (
      target text PRIMARY KEY,
      owner text NOT NULL,
      pid integer NOT NULL,
      host text NOT NULL,
      generation bigint NOT NULL,
      acquired_at timestamptz NOT NULL,
      heartbeat_at timestamptz NOT NULL
    );
    CREATE TABLE sync_lock_generations (
      target text PRIMARY KEY,
      generation bigint NOT NULL
    );

    -- What the running server announced (its public URL, fingerprints of tokens, settings).
    CREATE TABLE app_meta (
      key text PRIMARY KEY,
      value text NOT NULL,
      updated_at text NOT NULL CHECK (updated_at ~ ${ISO_UTC})
    );

    -- /healthz and ping() write here: healthy means a commit succeeds now.
    CREATE TABLE health_probe (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      at timestamptz NOT NULL
    );

    -- Operator console sign-ins (key: an HMAC of the session id, never the id itself).
    CREATE TABLE console_sessions (
      key text PRIMARY KEY,
      created_at text NOT NULL CHECK (created_at ~ ${ISO_UTC}),
      expires_at text NOT NULL CHECK (expires_at ~ ${ISO_UTC}),
      flash text
    );
    CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

    -- Webhooks per hour (yyyy-mm-ddThh of received_at, UTC) by type and outcome, counted in the
    -- transaction that commits them.
    CREATE TABLE webhook_hours (
      hour text NOT NULL CHECK (hour ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}$'),
      type text NOT NULL CHECK (type IN ('red_flag', 'low_score', 'completion', 'workflow', 'unknown')),
      outcome text NOT NULL CHECK (outcome IN ('accepted', 'duplicate', 'quarantined')),
      n integer NOT NULL CHECK (n >= 0),
      PRIMARY KEY (hour, type, outcome)
    );

    -- What RETENTION_DAYS did (see store/retention.ts). seq_floor is for status only: on
    -- PostgreSQL log_state.last_seq already keeps deleted numbers from being used again.
    -- keyed_generation counts derivations of the keyed views that kept closed daily rows
    -- (part of the keyed epoch).
    CREATE TABLE retention_state (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      seq_floor bigint NOT NULL DEFAULT 0,
      kept_from_day text,
      cutoff text CHECK (cutoff ~ ${ISO_UTC}),
      keyed_generation integer NOT NULL DEFAULT 0,
      last_run_at text,
      last_result text
    );
    INSERT INTO retention_state DEFAULT VALUES;
  `,
};
