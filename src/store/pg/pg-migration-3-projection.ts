/**
 * Migration 3: the projection of the append-only ("log") views. The projector
 * cursors, the column registry of the wide views, their rows, the events the
 * projector parked and the keys refused by MAX_DYNAMIC_COLUMNS. The SQLite
 * counterparts are migrations 1, 3 and 4 of store/migrations.ts; the semantics
 * are theirs (store/projection.ts, store/pg/pg-projection.ts).
 *
 * Cells are typed by what the schemas send (text, double precision). SQLite's
 * columns take any type, so a row whose cell does not fit its column (a number
 * where text is expected, a string with U+0000, which PostgreSQL text cannot
 * hold) keeps its exact fixed cells in `cells` (JSON), which readers prefer;
 * the typed columns then hold what fits, for SQL users.
 *
 * The row tables have no foreign key to events: each inserted row would take a
 * KEY SHARE lock on its event (a write to the log's pages for every row
 * derived). Whoever deletes events deletes their rows (as SQLite's retention does).
 */
// A PgMigration (pg-migrations.ts lists it; typed structurally to keep the import one-way).
export const PG_MIGRATION_3_PROJECTION: { version: number; name: string; sql: string } = {
  version: 3,
  name: 'projection of the append-only views: cursors, column registry, rows, parked events, column overflow',
  sql: `
    -- The projector's cursors: seq for the append-only views, keyed_seq for the keyed ones (0: derive
    -- from the start). One row: projectBatch locks it (FOR UPDATE SKIP LOCKED) so that one replica at a
    -- time projects, and the cursor moves in the transaction that writes the rows it covers.
    CREATE TABLE projector_state (
      id integer PRIMARY KEY CHECK (id = 1),
      seq bigint NOT NULL DEFAULT 0 CHECK (seq >= 0),
      keyed_seq bigint NOT NULL DEFAULT 0 CHECK (keyed_seq >= 0)
    );
    INSERT INTO projector_state (id) VALUES (1);

    -- The append-only column contract of the wide views and contents (after their fixed columns).
    -- name and key are stored with U+0000 escaped (pg-text.ts toPgText): PostgreSQL text cannot
    -- hold it. Uniqueness goes through md5: a btree entry holds at most ~2.7 kB and keys may be longer.
    CREATE TABLE view_columns (
      view text NOT NULL,
      position integer NOT NULL CHECK (position >= 0),
      name text NOT NULL,
      kind text NOT NULL CHECK (kind IN ('score_detail', 'field_value', 'field_reasoning', 'metric_score', 'metric_justification')),
      key text NOT NULL,
      added_seq bigint NOT NULL,
      PRIMARY KEY (view, position)
    );
    CREATE UNIQUE INDEX view_columns_name ON view_columns (view, md5(name));
    CREATE UNIQUE INDEX view_columns_key ON view_columns (view, kind, md5(key));

    -- Wide rows: typed fixed columns, cells (the exact fixed cells as a JSON array, only when one
    -- does not fit its column), dyn (a JSON array indexed by view_columns.position, as SQLite stores it).
    CREATE TABLE red_flag_rows (
      seq bigint PRIMARY KEY,
      timestamp text, content_id text, content_type text, file_name text, agent_name text, red_flag_reason text,
      total_score double precision,
      cells text,
      dyn text NOT NULL
    );
    CREATE TABLE low_score_rows (
      seq bigint PRIMARY KEY,
      timestamp text, content_id text, content_type text, file_name text, agent_name text,
      total_score double precision, total_score_threshold double precision, summary text,
      cells text,
      dyn text NOT NULL
    );
    CREATE TABLE completion_rows (
      seq bigint PRIMARY KEY,
      content_id text, original_filename text, score_uuid text, created_time text, agent_name text, reason_for_call text,
      cells text,
      dyn text NOT NULL
    );
    CREATE TABLE workflow_rows (
      seq bigint PRIMARY KEY,
      content_id text, status text, cost double precision,
      cells text,
      dyn text NOT NULL
    );
    -- Long rows: one per metric / per workflow output field, in the payload's order (ord).
    CREATE TABLE score_rows (
      seq bigint NOT NULL,
      ord integer NOT NULL,
      source text NOT NULL,
      content_id text, agent_name text, metric text, score double precision, justification text,
      cells text,
      PRIMARY KEY (seq, ord)
    );
    CREATE TABLE workflow_field_rows (
      seq bigint NOT NULL,
      ord integer NOT NULL,
      content_id text, field text, value text, reasoning text,
      cells text,
      PRIMARY KEY (seq, ord)
    );

    -- The views for SQL users, as SQLite has them (the wide ones with their fixed columns; their dynamic
    -- columns are assembled by ember-sync from dyn + view_columns). A cell that did not fit its column
    -- shows here as its column holds it; exports read cells.
    CREATE VIEW red_flags AS
      SELECT e.webhook_id, e.received_at, r.timestamp, r.content_id, r.content_type, r.file_name, r.agent_name, r.red_flag_reason, r.total_score
      FROM red_flag_rows r JOIN events e ON e.seq = r.seq;
    CREATE VIEW low_scores AS
      SELECT e.webhook_id, e.received_at, r.timestamp, r.content_id, r.content_type, r.file_name, r.agent_name, r.total_score, r.total_score_threshold, r.summary
      FROM low_score_rows r JOIN events e ON e.seq = r.seq;
    CREATE VIEW completions AS
      SELECT e.webhook_id, e.received_at, r.content_id, r.original_filename, r.score_uuid, r.created_time, r.agent_name, r.reason_for_call
      FROM completion_rows r JOIN events e ON e.seq = r.seq;
    CREATE VIEW workflows AS
      SELECT e.webhook_id, e.received_at, r.content_id, r.status, r.cost
      FROM workflow_rows r JOIN events e ON e.seq = r.seq;
    CREATE VIEW scores AS
      SELECT e.webhook_id, e.received_at, s.source, s.content_id, s.agent_name, s.metric, s.score, s.justification
      FROM score_rows s JOIN events e ON e.seq = s.seq;
    CREATE VIEW workflow_fields AS
      SELECT e.webhook_id, e.received_at, f.content_id, f.field, f.value, f.reasoning
      FROM workflow_field_rows f JOIN events e ON e.seq = f.seq;

    -- Events the projector could not turn into rows: parked with their error so the rest go on; replay
    -- and rebuild retry them. Derived state, like the rows (gone with their event).
    CREATE TABLE parked_events (
      seq bigint PRIMARY KEY REFERENCES events (seq) ON DELETE CASCADE,
      error text NOT NULL,
      parked_at text NOT NULL
    );

    -- Keys that wanted a column past MAX_DYNAMIC_COLUMNS (they got none; their values stay in the
    -- long views and the raw log). key escaped as in view_columns.
    CREATE TABLE column_overflow (
      view text NOT NULL,
      kind text NOT NULL,
      key text NOT NULL,
      first_seq bigint NOT NULL
    );
    CREATE UNIQUE INDEX column_overflow_key ON column_overflow (view, kind, md5(key));
  `,
};
