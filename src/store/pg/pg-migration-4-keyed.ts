/**
 * Migration 4: the keyed views (contents, content_scores, daily_agents,
 * daily_metrics) and their month partitions. The SQLite counterparts are
 * migrations 4 and 5 of store/migrations.ts; the semantics are theirs: rid is
 * a row's position for life (dense, in the order keys first appear),
 * changed_seq the last event that changed it, part/part_pos its month
 * (REPORT_TIMEZONE, of the content's first_received_at) and its place there.
 *
 * Differences that PostgreSQL asks for:
 * - Cells (values a webhook sent: text or a number) are jsonb, so a number
 *   stays a number and a text a text, as SQLite's untyped columns keep them.
 * - Keys may be long (content_id up to 1,000 characters, agent and metric
 *   names without a limit), longer than a btree entry may be: uniqueness is
 *   an exclusion constraint on a hash index, which has no size limit.
 * - Booleans are booleans.
 */
// A PgMigration (pg-migrations.ts lists it; typed structurally to keep the import one-way).
export const PG_MIGRATION_4_KEYED: { version: number; name: string; sql: string } = {
  version: 4,
  name: 'keyed views (contents, content_scores, daily summaries) and their month partitions',
  sql: `
    -- One row per call or document: its merged state. agent_key is agent_name or '' (groups
    -- without an agent); day is scored_at's calendar day in REPORT_TIMEZONE; dyn holds the
    -- metrics' cells at their positions among contents' dynamic columns (view_columns).
    CREATE TABLE content_rows (
      rid bigint PRIMARY KEY CHECK (rid > 0),
      content_id text NOT NULL,
      content_type jsonb,
      file_name jsonb,
      agent_name text,
      scored_at text NOT NULL,
      first_received_at text NOT NULL,
      last_received_at text NOT NULL,
      webhooks integer NOT NULL,
      completed boolean NOT NULL,
      red_flag boolean NOT NULL,
      low_score boolean NOT NULL,
      total_score jsonb,
      total_score_threshold jsonb,
      red_flag_reason jsonb,
      summary jsonb,
      dyn jsonb NOT NULL,
      vendor_time boolean NOT NULL,
      agent_key text NOT NULL,
      day text NOT NULL,
      changed_seq bigint NOT NULL,
      part text NOT NULL,
      part_pos integer NOT NULL,
      CONSTRAINT content_rows_content_id EXCLUDE USING hash (content_id WITH =)
    );
    CREATE INDEX content_rows_changed ON content_rows (changed_seq);
    CREATE INDEX content_rows_part ON content_rows (part, part_pos);
    -- The calls of a day and agent (min/max of a daily group read again); agent names may be long.
    CREATE INDEX content_rows_group ON content_rows (day, md5(agent_key));

    -- One row per (content, metric), by the content's rid.
    CREATE TABLE content_score_rows (
      rid bigint PRIMARY KEY CHECK (rid > 0),
      content_rid bigint NOT NULL,
      content_id text NOT NULL,
      metric text NOT NULL,
      agent_name text,
      scored_at text NOT NULL,
      score jsonb,
      justification jsonb,
      updated_at text NOT NULL,
      changed_seq bigint NOT NULL,
      part text NOT NULL,
      part_pos integer NOT NULL,
      CONSTRAINT content_score_rows_key EXCLUDE USING hash ((content_rid::text || '|' || metric) WITH =)
    );
    CREATE INDEX content_score_rows_content ON content_score_rows (content_rid);
    CREATE INDEX content_score_rows_changed ON content_score_rows (changed_seq);
    CREATE INDEX content_score_rows_part ON content_score_rows (part, part_pos);

    -- Daily groups. sum_* are exact running sums in millionths, n_* the counts averaged.
    -- The keys' text: day never holds '|', and the agent's length bounds it.
    CREATE TABLE daily_agent_rows (
      rid bigint PRIMARY KEY CHECK (rid > 0),
      day text NOT NULL,
      agent_key text NOT NULL,
      contents integer NOT NULL,
      completed integer NOT NULL,
      red_flags integer NOT NULL,
      low_scores integer NOT NULL,
      avg_total_score double precision,
      sum_total bigint NOT NULL,
      n_total integer NOT NULL,
      changed_seq bigint NOT NULL,
      CONSTRAINT daily_agent_rows_key EXCLUDE USING hash ((day || '|' || agent_key) WITH =)
    );
    CREATE INDEX daily_agent_rows_changed ON daily_agent_rows (changed_seq);

    CREATE TABLE daily_metric_rows (
      rid bigint PRIMARY KEY CHECK (rid > 0),
      day text NOT NULL,
      agent_key text NOT NULL,
      metric text NOT NULL,
      contents integer NOT NULL,
      avg_score double precision,
      min_score double precision,
      max_score double precision,
      sum_score bigint NOT NULL,
      n_score integer NOT NULL,
      changed_seq bigint NOT NULL,
      CONSTRAINT daily_metric_rows_key EXCLUDE USING hash ((day || '|' || length(agent_key)::text || '|' || agent_key || metric) WITH =)
    );
    CREATE INDEX daily_metric_rows_changed ON daily_metric_rows (changed_seq);

    -- Rows per month of contents and content_scores, and the last event that renumbered the
    -- month (a content whose first_received_at moved to another month: a clock went backwards).
    CREATE TABLE keyed_parts (
      view text NOT NULL CHECK (view IN ('contents', 'content_scores')),
      part text NOT NULL,
      total integer NOT NULL,
      reset_seq bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (view, part)
    );

    -- The views of the README for SQL users.
    CREATE VIEW contents AS
      SELECT content_id, content_type, file_name, agent_name, scored_at, first_received_at, last_received_at, webhooks,
        completed, red_flag, low_score, total_score, total_score_threshold, red_flag_reason, summary
      FROM content_rows ORDER BY rid;
    CREATE VIEW content_scores AS
      SELECT content_id, agent_name, scored_at, metric, score, justification, updated_at FROM content_score_rows ORDER BY rid;
    CREATE VIEW daily_agents AS
      SELECT day, nullif(agent_key, '') AS agent_name, contents, completed, red_flags, low_scores, avg_total_score FROM daily_agent_rows ORDER BY rid;
    CREATE VIEW daily_metrics AS
      SELECT day, nullif(agent_key, '') AS agent_name, metric, contents, avg_score, min_score, max_score FROM daily_metric_rows ORDER BY rid;
  `,
};
