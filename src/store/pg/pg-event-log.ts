import { createHash } from 'node:crypto';
import type { QueryConfig } from 'pg';
import type { WebhookType } from '../../model/webhooks.js';
import type { NewEvent, NewQuarantined } from '../../model/writes.js';
import type { PgPool } from './pg-pool.js';
import { fromPgText, toPgText } from './pg-text.js';

/** What append_events answered for one event of a batch (a duplicate: the seq stored under its webhook_id). */
export interface PgAppended {
  seq: number;
  duplicate: boolean;
}

export interface PgStoredEvent {
  seq: number;
  webhook_id: string;
  type: WebhookType;
  received_at: string;
  body: Buffer;
}

export interface PgLogCounts {
  events: number;
  /** The newest seq in the log (0 when empty), as SQLite's counts() gives it. */
  lastSeq: number;
  /** The highest seq ever assigned (log_state): new events get numbers above it. */
  lastAssignedSeq: number;
  quarantineHeld: number;
  quarantineAttempts: number;
  byType: Partial<Record<WebhookType, number>>;
}

/** bigint columns come from node-postgres as text. */
export function toInt(value: string | number | null, what: string): number {
  if (value === null) return 0;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`${what}: ${String(value)} is not a safe integer`);
  return n;
}

/**
 * The append_events call for a batch (one statement): run it on the pool
 * (committed alone) or on a client inside a transaction (the writer's group
 * commit); read its answer with `appendedRows`. webhook_id is stored through
 * toPgText (pg-text.ts): the schemas allow U+0000, which a PostgreSQL text
 * refuses (the whole statement would fail); the escaping keeps equality, so
 * the dedupe stays exact. Every read of webhook_id goes through fromPgText.
 */
export function appendEventsQuery(events: readonly NewEvent[]): QueryConfig {
  return {
    name: 'ember_append_events',
    text: 'SELECT ord, seq, duplicate FROM append_events($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[]) ORDER BY ord',
    values: [events.map((e) => toPgText(e.webhookId)), events.map((e) => e.type), events.map((e) => e.receivedAt), events.map((e) => e.outcome ?? 'accepted'), events.map((e) => e.body)],
  };
}

/** append_events' rows, checked against the batch: per input event, in order, its seq and whether it was a duplicate. */
export function appendedRows(rows: ReadonlyArray<{ ord: number; seq: string; duplicate: boolean }>, n: number): PgAppended[] {
  if (rows.length !== n) throw new Error(`append_events answered ${rows.length} rows for ${n} events`);
  return rows.map((r, i) => {
    if (r.ord !== i + 1) throw new Error(`append_events answered element ${r.ord} at place ${i + 1}`);
    return { seq: toInt(r.seq, 'seq'), duplicate: r.duplicate };
  });
}

/**
 * The upsert of one quarantined payload (the same bytes again: one more
 * attempt, its last_received_at), answering id and attempts. webhook_id
 * through toPgText as in events; reason is an error code and errors is
 * JSON.stringify's text (a U+0000 in a message becomes the six characters
 * \u0000): neither can hold a raw U+0000.
 */
export function quarantineQuery(q: NewQuarantined): QueryConfig {
  const sha = createHash('sha256').update(q.body).digest('hex');
  return {
    name: 'ember_quarantine',
    text: `INSERT INTO quarantine (body_sha256, webhook_id, received_at, last_received_at, reason, errors, body)
           VALUES ($1, $2, $3, $3, $4, $5, $6)
           ON CONFLICT (body_sha256) DO UPDATE SET attempts = quarantine.attempts + 1, last_received_at = excluded.last_received_at
           RETURNING id, attempts`,
    values: [sha, q.webhookId === undefined ? null : toPgText(q.webhookId), q.receivedAt, q.reason, JSON.stringify(q.errors), q.body],
  };
}

/**
 * The raw log on PostgreSQL: events appended in batches through append_events
 * (pg-migrations.ts: one statement, one round trip, seq order = commit order),
 * read back by seq for pollers. Every query is parameterised and prepared once
 * per connection (named).
 */
export function createPgEventLog(pool: PgPool) {
  return {
    /**
     * Appends the events (deduplicated on webhook_id, also within the batch:
     * the first wins) in one statement, committed when it resolves. Per input
     * event, in order: its seq, or for a duplicate the seq already stored.
     * Rejects with StoreUnavailableError when the database is unreachable or the
     * connection broke: then the batch is either wholly committed or not at all
     * (a retry tells which: all duplicates, or all new).
     */
    async appendBatch(events: readonly NewEvent[]): Promise<PgAppended[]> {
      if (events.length === 0) return [];
      const res = await pool.query<{ ord: number; seq: string; duplicate: boolean }>(appendEventsQuery(events));
      return appendedRows(res.rows, events.length);
    },

    /** Events with seq > `afterSeq`, in seq order, at most `limit`: a poller's next page (nothing committed later can get a seq at or below the last one read). */
    async eventsAfter(afterSeq: number, limit: number): Promise<PgStoredEvent[]> {
      const res = await pool.query<{ seq: string; webhook_id: string; type: WebhookType; received_at: string; body: Buffer }>({
        name: 'ember_events_after',
        text: 'SELECT seq, webhook_id, type, received_at, body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2',
        values: [afterSeq, limit],
      });
      return res.rows.map((r) => ({ seq: toInt(r.seq, 'seq'), webhook_id: fromPgText(r.webhook_id), type: r.type, received_at: r.received_at, body: r.body }));
    },

    /** Keeps a payload that failed its schema; the same bytes again count as another attempt. */
    async quarantine(q: NewQuarantined): Promise<{ id: number; attempts: number }> {
      const res = await pool.query<{ id: string; attempts: number }>(quarantineQuery(q));
      const row = res.rows[0]!;
      return { id: toInt(row.id, 'id'), attempts: row.attempts };
    },

    /** Sizes of the log and the quarantine, from one snapshot (counts every row: fine for status, not for a hot path). */
    async counts(): Promise<PgLogCounts> {
      const res = await pool.query<{ by_type: Record<string, number>; last_seq: string | null; last_assigned: string; held: string; attempts: string | null }>({
        name: 'ember_log_counts',
        text: `WITH t AS (SELECT type, count(*) AS n FROM events GROUP BY type)
               SELECT (SELECT coalesce(json_object_agg(type, n), '{}') FROM t) AS by_type,
                      (SELECT max(seq) FROM events) AS last_seq,
                      (SELECT last_seq FROM log_state WHERE id) AS last_assigned,
                      (SELECT count(*) FROM quarantine WHERE status = 'held') AS held,
                      (SELECT sum(attempts) FROM quarantine WHERE status = 'held') AS attempts`,
        values: [],
      });
      const c = res.rows[0]!;
      const byType = c.by_type as Partial<Record<WebhookType, number>>;
      return {
        events: Object.values(byType).reduce((a, n) => a + n, 0),
        lastSeq: toInt(c.last_seq, 'last_seq'),
        lastAssignedSeq: toInt(c.last_assigned, 'last_assigned'),
        quarantineHeld: toInt(c.held, 'held'),
        quarantineAttempts: toInt(c.attempts, 'attempts'),
        byType,
      };
    },
  };
}
export type PgEventLog = ReturnType<typeof createPgEventLog>;
