import type { Db } from './open-db.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Versioned, append-only: a released migration is never edited; changes come as
 * a new version. `PRAGMA user_version` records the last one applied.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'raw log, quarantine and projected rows',
    sql: `
      -- The raw log: the source of truth. seq is the cursor syncs follow. Events are
      -- never deleted, so max(seq) + 1 never reuses a number (no AUTOINCREMENT bookkeeping).
      CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        webhook_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL CHECK (type IN ('red_flag', 'low_score', 'completion', 'workflow')),
        received_at TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'replayed')),
        body BLOB NOT NULL
      );

      -- Payloads that failed their schema, verbatim; the same bytes again count as another attempt.
      CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        body_sha256 TEXT NOT NULL UNIQUE,
        webhook_id TEXT,
        received_at TEXT NOT NULL,
        last_received_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 1,
        reason TEXT NOT NULL,
        errors TEXT NOT NULL,
        body BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'released', 'duplicate')),
        released_seq INTEGER REFERENCES events (seq),
        resolved_at TEXT
      );
      CREATE INDEX quarantine_status ON quarantine (status, id);

      -- Everything below is derived from events and can be rebuilt from it.
      CREATE TABLE projector_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL
      );
      INSERT INTO projector_state (id, seq) VALUES (1, 0);

      -- The append-only column contract of the wide views (after their fixed columns).
      CREATE TABLE view_columns (
        view TEXT NOT NULL,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('score_detail', 'field_value', 'field_reasoning')),
        key TEXT NOT NULL,
        added_seq INTEGER NOT NULL,
        PRIMARY KEY (view, position),
        UNIQUE (view, name),
        UNIQUE (view, kind, key)
      ) WITHOUT ROWID;

      -- Wide rows: typed fixed columns + dyn, a JSON array indexed by view_columns.position.
      CREATE TABLE red_flag_rows (
        seq INTEGER PRIMARY KEY REFERENCES events (seq),
        timestamp, content_id, content_type, file_name, agent_name, red_flag_reason, total_score,
        dyn TEXT NOT NULL
      );
      CREATE TABLE low_score_rows (
        seq INTEGER PRIMARY KEY REFERENCES events (seq),
        timestamp, content_id, content_type, file_name, agent_name, total_score, total_score_threshold, summary,
        dyn TEXT NOT NULL
      );
      CREATE TABLE completion_rows (
        seq INTEGER PRIMARY KEY REFERENCES events (seq),
        content_id, original_filename, score_uuid, created_time, agent_name, reason_for_call,
        dyn TEXT NOT NULL
      );
      CREATE TABLE workflow_rows (
        seq INTEGER PRIMARY KEY REFERENCES events (seq),
        content_id, status, cost,
        dyn TEXT NOT NULL
      );
      -- Long rows: one per metric / per workflow output field.
      CREATE TABLE score_rows (
        seq INTEGER NOT NULL REFERENCES events (seq),
        ord INTEGER NOT NULL,
        source TEXT NOT NULL,
        content_id, agent_name, metric, score, justification,
        PRIMARY KEY (seq, ord)
      ) WITHOUT ROWID;
      CREATE TABLE workflow_field_rows (
        seq INTEGER NOT NULL REFERENCES events (seq),
        ord INTEGER NOT NULL,
        content_id, field, value, reasoning,
        PRIMARY KEY (seq, ord)
      ) WITHOUT ROWID;

      -- The views of the README for SQL users (the wide ones with their fixed columns;
      -- their dynamic columns are assembled by ember-sync from dyn + view_columns).
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
    `,
  },
  {
    version: 2,
    name: 'sync cursors, runs and locks',
    sql: `
      -- Per target and view: what the target has confirmed. The cursor moves only
      -- after the target confirms; state is the target's own bookkeeping (JSON).
      CREATE TABLE sync_state (
        target TEXT NOT NULL,
        view TEXT NOT NULL,
        delivered_seq INTEGER NOT NULL DEFAULT 0,
        delivered_rows INTEGER NOT NULL DEFAULT 0,
        state TEXT,
        last_error TEXT,
        last_error_at TEXT,
        updated_at TEXT,
        PRIMARY KEY (target, view)
      ) WITHOUT ROWID;

      CREATE TABLE sync_runs (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        ok INTEGER,
        rows INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        details TEXT
      );
      CREATE INDEX sync_runs_target ON sync_runs (target, id);

      -- One sync per target at a time, across processes (server and CLI).
      CREATE TABLE sync_locks (
        target TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    name: 'parked events, column overflow, lock fencing, delivery totals, health probe',
    sql: `
      -- Events the projector could not turn into rows: parked with their error so the
      -- rest go on; replay and rebuild retry them. Derived state, like the rows.
      CREATE TABLE parked_events (
        seq INTEGER PRIMARY KEY REFERENCES events (seq),
        error TEXT NOT NULL,
        parked_at TEXT NOT NULL
      );

      -- Keys that wanted a column in a wide view past MAX_DYNAMIC_COLUMNS (they got none;
      -- their values stay in the long views and the raw log).
      CREATE TABLE column_overflow (
        view TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        PRIMARY KEY (view, kind, key)
      ) WITHOUT ROWID;

      -- Fencing: each acquisition of a target's lock gets a new generation; cursors
      -- commit only while the committing run still holds that generation.
      ALTER TABLE sync_locks ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE sync_lock_generations (
        target TEXT PRIMARY KEY,
        generation INTEGER NOT NULL
      ) WITHOUT ROWID;

      -- Rows delivered to a target over its whole life (status); sync_runs keeps only recent runs.
      ALTER TABLE sync_state ADD COLUMN delivered_total INTEGER NOT NULL DEFAULT 0;
      UPDATE sync_state SET delivered_total = delivered_rows;

      -- /healthz commits here through the webhook writer: healthy means a commit succeeds now.
      CREATE TABLE health_probe (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at TEXT NOT NULL
      );

      -- What the running server announced (its public URL, never a secret), for status from another shell.
      CREATE TABLE app_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 4,
    name: 'keyed views (contents, content_scores, daily summaries); vendor times in UTC',
    sql: `
      -- Contents' metric columns join the append-only column contract: a kind per half of a metric.
      CREATE TABLE view_columns_v4 (
        view TEXT NOT NULL,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('score_detail', 'field_value', 'field_reasoning', 'metric_score', 'metric_justification')),
        key TEXT NOT NULL,
        added_seq INTEGER NOT NULL,
        PRIMARY KEY (view, position),
        UNIQUE (view, name),
        UNIQUE (view, kind, key)
      ) WITHOUT ROWID;
      INSERT INTO view_columns_v4 SELECT view, position, name, kind, key, added_seq FROM view_columns;
      DROP TABLE view_columns;
      ALTER TABLE view_columns_v4 RENAME TO view_columns;

      -- Keyed rows: the current truth per key. rid is the row's position for life (dense, in the
      -- order keys first appear); changed_seq the last event that changed it (delivery by key);
      -- agent_key is agent_name or '' (groups without an agent); day is scored_at's calendar day
      -- in REPORT_TIMEZONE (a metric row's are its content's).
      CREATE TABLE content_rows (
        rid INTEGER PRIMARY KEY,
        content_id TEXT NOT NULL UNIQUE,
        content_type, file_name, agent_name, scored_at, first_received_at, last_received_at,
        webhooks INTEGER NOT NULL, completed INTEGER NOT NULL, red_flag INTEGER NOT NULL, low_score INTEGER NOT NULL,
        total_score, total_score_threshold, red_flag_reason, summary,
        dyn TEXT NOT NULL,
        vendor_time INTEGER NOT NULL,
        agent_key TEXT NOT NULL,
        day TEXT NOT NULL,
        changed_seq INTEGER NOT NULL
      );
      CREATE INDEX content_rows_changed ON content_rows (changed_seq);
      -- The calls of a day and agent: min/max of a daily group are read again through it (only when
      -- the group's current extreme leaves it; every other change is applied as a delta).
      CREATE INDEX content_rows_group ON content_rows (day, agent_key);

      -- By the content's rid, not its content_id: rids grow with time, so new metric rows go to the
      -- end of this index instead of random places (it is the biggest keyed table).
      CREATE TABLE content_score_rows (
        rid INTEGER PRIMARY KEY,
        content_rid INTEGER NOT NULL,
        content_id TEXT NOT NULL,
        metric TEXT NOT NULL,
        agent_name, scored_at, score, justification, updated_at,
        changed_seq INTEGER NOT NULL,
        UNIQUE (content_rid, metric)
      );
      CREATE INDEX content_score_rows_changed ON content_score_rows (changed_seq);

      CREATE TABLE daily_agent_rows (
        rid INTEGER PRIMARY KEY,
        day TEXT NOT NULL,
        agent_key TEXT NOT NULL,
        contents INTEGER NOT NULL, completed INTEGER NOT NULL, red_flags INTEGER NOT NULL, low_scores INTEGER NOT NULL,
        avg_total_score,
        -- Exact running sums (millionths) and counts of the numbers averaged: kept by deltas, never re-summed.
        sum_total INTEGER NOT NULL, n_total INTEGER NOT NULL,
        changed_seq INTEGER NOT NULL,
        UNIQUE (day, agent_key)
      );
      CREATE INDEX daily_agent_rows_changed ON daily_agent_rows (changed_seq);

      CREATE TABLE daily_metric_rows (
        rid INTEGER PRIMARY KEY,
        day TEXT NOT NULL,
        agent_key TEXT NOT NULL,
        metric TEXT NOT NULL,
        contents INTEGER NOT NULL,
        avg_score, min_score, max_score,
        sum_score INTEGER NOT NULL, n_score INTEGER NOT NULL,
        changed_seq INTEGER NOT NULL,
        UNIQUE (day, agent_key, metric)
      );
      CREATE INDEX daily_metric_rows_changed ON daily_metric_rows (changed_seq);

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

      -- Vendor times are now given in UTC like received_at: the derived rows are projected
      -- again from the raw log (the targets' cursors stay: rows already delivered are not sent again).
      DELETE FROM red_flag_rows;
      DELETE FROM low_score_rows;
      DELETE FROM completion_rows;
      DELETE FROM workflow_rows;
      DELETE FROM score_rows;
      DELETE FROM workflow_field_rows;
      DELETE FROM parked_events;
      UPDATE projector_state SET seq = 0;

      -- The keyed views follow the log with a cursor of their own: a new REPORT_TIMEZONE derives
      -- them again from the start while the append-only views stay as they are.
      ALTER TABLE projector_state ADD COLUMN keyed_seq INTEGER NOT NULL DEFAULT 0;

      -- After a sync took over the lock of a live but silent run, a write that run had in flight
      -- may still land over newer values of a keyed view: the next syncs deliver again every row
      -- changed since repair_from_seq (repair_runs more successful syncs).
      ALTER TABLE sync_state ADD COLUMN repair_from_seq INTEGER;
      ALTER TABLE sync_state ADD COLUMN repair_runs INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 5,
    name: 'month partitions of contents and content_scores',
    sql: `
      -- Month partitions of contents and content_scores (CSV files and Sheets tabs per month):
      -- part is the month (yyyy-mm, REPORT_TIMEZONE) of the content's first_received_at, part_pos
      -- the row's place in its month (rank of its rid there: new rows come at the month's end).
      ALTER TABLE content_rows ADD COLUMN part TEXT NOT NULL DEFAULT '';
      ALTER TABLE content_rows ADD COLUMN part_pos INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX content_rows_part ON content_rows (part, part_pos);
      ALTER TABLE content_score_rows ADD COLUMN part TEXT NOT NULL DEFAULT '';
      ALTER TABLE content_score_rows ADD COLUMN part_pos INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX content_score_rows_part ON content_score_rows (part, part_pos);

      -- Rows per month, and the last event that renumbered the month (a content whose
      -- first_received_at moved to another month: only when a clock went backwards).
      CREATE TABLE keyed_parts (
        view TEXT NOT NULL,
        part TEXT NOT NULL,
        total INTEGER NOT NULL,
        reset_seq INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (view, part)
      ) WITHOUT ROWID;

      -- Derived again from the raw log (same rows, same positions), now with their months.
      DELETE FROM content_rows;
      DELETE FROM content_score_rows;
      DELETE FROM daily_agent_rows;
      DELETE FROM daily_metric_rows;
      UPDATE projector_state SET keyed_seq = 0;
    `,
  },
  {
    version: 6,
    name: 'webhooks per hour and console sessions',
    sql: `
      -- Webhooks per hour (yyyy-mm-ddThh of received_at, UTC) by type and outcome, for the
      -- console's 48-hour chart: counted in the same transaction as the commit that stores,
      -- deduplicates or quarantines them, so the counts survive restarts and a chart reads a few
      -- hundred rows whatever the size of the log. type 'unknown': not an EmberQA type.
      CREATE TABLE webhook_hours (
        hour TEXT NOT NULL,
        type TEXT NOT NULL CHECK (type IN ('red_flag', 'low_score', 'completion', 'workflow', 'unknown')),
        outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'duplicate', 'quarantined')),
        n INTEGER NOT NULL,
        PRIMARY KEY (hour, type, outcome)
      ) WITHOUT ROWID;

      -- What the log still tells of the past (one scan, once): accepted events, and each
      -- quarantine attempt (the first at received_at, later ones at last_received_at; their
      -- type was not kept). Duplicates were never stored, so they start from zero.
      INSERT INTO webhook_hours (hour, type, outcome, n)
        SELECT substr(received_at, 1, 13), type, 'accepted', count(*) FROM events WHERE outcome = 'accepted' GROUP BY 1, 2;
      INSERT INTO webhook_hours (hour, type, outcome, n)
        SELECT substr(received_at, 1, 13), 'unknown', 'quarantined', count(*) FROM quarantine WHERE true GROUP BY 1
        ON CONFLICT (hour, type, outcome) DO UPDATE SET n = n + excluded.n;
      INSERT INTO webhook_hours (hour, type, outcome, n)
        SELECT substr(last_received_at, 1, 13), 'unknown', 'quarantined', sum(attempts - 1) FROM quarantine WHERE attempts > 1 GROUP BY 1
        ON CONFLICT (hour, type, outcome) DO UPDATE SET n = n + excluded.n;

      -- Operator console sign-ins. key is an HMAC of the session id under a key derived from
      -- ADMIN_TOKEN: the id itself is never stored, and a new ADMIN_TOKEN ends every session.
      CREATE TABLE console_sessions (
        key TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        -- One message for the next page (what the last action did), shown once.
        flash TEXT
      ) WITHOUT ROWID;
      CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
    `,
  },
  {
    version: 7,
    name: 'retention (RETENTION_DAYS)',
    sql: `
      -- RETENTION_DAYS deletes old events: seq_floor is the highest seq it deleted, and new events
      -- get a seq above it (SQLite would otherwise reuse max(seq) + 1 after the newest ones went,
      -- and a target's cursor past that number would skip the new rows). kept_from_day is the
      -- oldest day kept (REPORT_TIMEZONE): the daily rows of the days before it are closed (kept as
      -- they are, never moved again, kept through rebuilds). keyed_generation counts derivations of
      -- the keyed views that kept closed rows (their positions differ from a first derivation).
      CREATE TABLE retention_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq_floor INTEGER NOT NULL DEFAULT 0,
        kept_from_day TEXT,
        cutoff TEXT,
        keyed_generation INTEGER NOT NULL DEFAULT 0,
        last_run_at TEXT,
        last_result TEXT,
        -- Events logged before this migration are entered in event_ages by the first retention runs
        -- (aged_seq is how far they got, up to ages_until_seq), a few at a time.
        aged_seq INTEGER NOT NULL DEFAULT 0,
        ages_until_seq INTEGER NOT NULL DEFAULT 0
      );
      INSERT INTO retention_state (id, ages_until_seq) SELECT 1, coalesce(max(seq), 0) FROM events;

      -- Events by age, for the deletions (replayed and retried events keep their received_at under
      -- a newer seq: seq order is not age order). A table kept by triggers rather than an index
      -- on events: CREATE INDEX would read the whole log at this migration, with the server not
      -- yet listening (minutes at millions of webhooks); this table is filled for the old events
      -- in short steps later (store/retention.ts), and by the triggers for every new one.
      CREATE TABLE event_ages (
        received_at TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (received_at, seq)
      ) WITHOUT ROWID;
      CREATE TRIGGER events_age_insert AFTER INSERT ON events BEGIN
        INSERT OR IGNORE INTO event_ages (received_at, seq) VALUES (new.received_at, new.seq);
      END;
      CREATE TRIGGER events_age_delete AFTER DELETE ON events BEGIN
        DELETE FROM event_ages WHERE received_at = old.received_at AND seq = old.seq;
      END;
      CREATE TRIGGER events_age_update AFTER UPDATE OF seq, received_at ON events BEGIN
        DELETE FROM event_ages WHERE received_at = old.received_at AND seq = old.seq;
        INSERT OR IGNORE INTO event_ages (received_at, seq) VALUES (new.received_at, new.seq);
      END;
      -- The quarantine is small (one row per distinct bad payload): an index costs nothing here.
      CREATE INDEX quarantine_last_received ON quarantine (last_received_at);
    `,
  },
];

/** Applies what is missing, each migration in its own IMMEDIATE transaction (safe with two processes starting at once). */
export function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): number {
  const current = () => db.pragma('user_version', { simple: true }) as number;
  for (const m of migrations) {
    if (current() >= m.version) continue;
    db.transaction(() => {
      if (current() >= m.version) return;
      db.exec(m.sql);
      db.pragma(`user_version = ${Number(m.version)}`);
    }).immediate();
  }
  const latest = migrations.at(-1)?.version ?? 0;
  if (current() > latest) {
    throw new Error(`the database is at schema version ${current()}, newer than this ember-sync (${latest}); upgrade ember-sync`);
  }
  return current();
}
