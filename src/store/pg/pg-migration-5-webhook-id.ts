/**
 * Migration 5: events.webhook_id unique on its SHA-256 instead of its text.
 * The schemas allow a webhook_id of 1,000 characters, up to 4 bytes each in
 * UTF-8 (more once U+FFFF is escaped, pg-text.ts): longer than a btree entry
 * may be (2,704 bytes), so PostgreSQL refused webhooks that SQLite stores. A
 * btree on the 32-byte digest has no such limit and stays as fast as the one
 * on the text (a hash index, as the keyed views use, appended at half the
 * speed). append_events is the same but for its lookup, which now probes the
 * digest (and compares the text). The index is built in this migration's
 * transaction: it reads the whole log once.
 */
// A PgMigration (pg-migrations.ts lists it; typed structurally to keep the import one-way).
export const PG_MIGRATION_5_WEBHOOK_ID: { version: number; name: string; sql: string } = {
  version: 5,
  name: 'events.webhook_id unique on its digest (no size limit)',
  sql: `
    -- The digest of the id's UTF-8 bytes. Not sha256(webhook_id::bytea): that cast reads backslash
    -- escapes ('\\x41' would be 'A', 'a\\b' an error). convert_to is only STABLE (it depends on the
    -- database's encoding, which never changes for a database): an index needs an IMMUTABLE wrapper, and
    -- the database must be UTF8 for every text a webhook may send.
    DO $enc$
    BEGIN
      IF current_setting('server_encoding') <> 'UTF8' THEN
        RAISE EXCEPTION 'ember-sync needs a UTF8 database (this one is %): createdb -E UTF8 -T template0 …', current_setting('server_encoding');
      END IF;
    END
    $enc$;
    CREATE FUNCTION ember_webhook_key(text) RETURNS bytea
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
      AS $key$ SELECT sha256(convert_to($1, 'UTF8')) $key$;
    CREATE UNIQUE INDEX events_webhook_id_sha256 ON events (ember_webhook_key(webhook_id));
    ALTER TABLE events DROP CONSTRAINT events_webhook_id_key;

    CREATE OR REPLACE FUNCTION append_events(
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
      -- What is already logged under these webhook_ids: probes of the digest index once the log
      -- is large (the planner's choice, made at each call), the text compared too.
      logged AS (
        SELECT e.webhook_id, e.seq FROM events e
        WHERE ember_webhook_key(e.webhook_id) = ANY (ARRAY(SELECT ember_webhook_key(w) FROM unnest(p_webhook_ids) AS w))
          AND e.webhook_id = ANY (p_webhook_ids)
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
};
