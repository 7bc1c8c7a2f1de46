import { createHash } from 'node:crypto';
import type { ErrorDetail, WebhookType } from '../model/webhooks.js';
import type { AppendResult, NewEvent, NewQuarantined } from '../model/writes.js';
import type { Db } from './open-db.js';
import type { LogCounts, QuarantinedRow, StoredEvent } from './store.js';

/** The raw log: append-only events (deduplicated on webhook_id) and the quarantine. Prepared statements only. */
export function createEventLog(db: Db) {
  const insertEvent = db.prepare<[string, string, string, string, Buffer], { seq: number }>(
    // seq above every seq ever used, also those RETENTION_DAYS deleted (migration 7).
    `INSERT INTO events (seq, webhook_id, type, received_at, outcome, body)
     VALUES (max(coalesce((SELECT max(seq) FROM events), 0), (SELECT seq_floor FROM retention_state WHERE id = 1)) + 1, ?, ?, ?, ?, ?)
     ON CONFLICT (webhook_id) DO NOTHING RETURNING seq`,
  );
  const seqOf = db.prepare<[string], { seq: number }>('SELECT seq FROM events WHERE webhook_id = ?');
  const insertQuarantine = db.prepare<[{ sha: string; webhookId: string | null; at: string; reason: string; errors: string; body: Buffer }], { id: number; attempts: number }>(
    `INSERT INTO quarantine (body_sha256, webhook_id, received_at, last_received_at, reason, errors, body)
     VALUES (@sha, @webhookId, @at, @at, @reason, @errors, @body)
     ON CONFLICT (body_sha256) DO UPDATE SET attempts = attempts + 1, last_received_at = excluded.last_received_at
     RETURNING id, attempts`,
  );
  const heldQuarantine = db.prepare<[number, number], QuarantinedRow>(
    `SELECT id, webhook_id, received_at, last_received_at, attempts, reason, errors, body, status FROM quarantine WHERE status = 'held' AND id > ? ORDER BY id LIMIT ?`,
  );
  const quarantineById = db.prepare<[string], QuarantinedRow>(
    `SELECT id, webhook_id, received_at, last_received_at, attempts, reason, errors, body, status FROM quarantine WHERE webhook_id = ? AND status = 'held' ORDER BY id`,
  );
  const resolveQuarantine = db.prepare<[string, number | null, string, number]>(`UPDATE quarantine SET status = ?, released_seq = ?, resolved_at = ? WHERE id = ?`);
  const updateQuarantineErrors = db.prepare<[string, string, number]>(`UPDATE quarantine SET reason = ?, errors = ? WHERE id = ?`);
  const counts = db.prepare<[], { events: number; last_seq: number | null; held: number; attempts: number | null }>(
    `SELECT (SELECT count(*) FROM events) AS events, (SELECT max(seq) FROM events) AS last_seq,
            (SELECT count(*) FROM quarantine WHERE status = 'held') AS held,
            (SELECT sum(attempts) FROM quarantine WHERE status = 'held') AS attempts`,
  );
  const heldCount = db.prepare<[], number>("SELECT count(*) FROM quarantine WHERE status = 'held'").pluck();
  const countsByType = db.prepare<[], { type: WebhookType; n: number }>('SELECT type, count(*) AS n FROM events GROUP BY type');
  const eventsAfter = db.prepare<[number, number], StoredEvent>('SELECT seq, webhook_id, type, received_at, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?');

  return {
    /** Adds the event unless its webhook_id is already logged. Call inside a transaction. */
    append(e: NewEvent): AppendResult {
      const row = insertEvent.get(e.webhookId, e.type, e.receivedAt, e.outcome ?? 'accepted', e.body);
      if (row) return { duplicate: false, seq: row.seq };
      return { duplicate: true, seq: seqOf.get(e.webhookId)?.seq };
    },
    quarantine(q: NewQuarantined): { id: number; attempts: number } {
      const sha = createHash('sha256').update(q.body).digest('hex');
      return insertQuarantine.get({ sha, webhookId: q.webhookId ?? null, at: q.receivedAt, reason: q.reason, errors: JSON.stringify(q.errors), body: q.body })!;
    },
    heldQuarantine(afterId: number, limit: number): QuarantinedRow[] {
      return heldQuarantine.all(afterId, limit);
    },
    heldQuarantineFor(webhookId: string): QuarantinedRow[] {
      return quarantineById.all(webhookId);
    },
    resolveQuarantine(id: number, status: 'released' | 'duplicate', seq: number | undefined, at: string): void {
      resolveQuarantine.run(status, seq ?? null, at, id);
    },
    updateQuarantineErrors(id: number, reason: string, errors: ErrorDetail[]): void {
      updateQuarantineErrors.run(reason, JSON.stringify(errors), id);
    },
    /** Payloads held in quarantine (cheap: no scan of the log). */
    quarantineHeld: (): number => heldCount.get()!,
    /** The events with seq > afterSeq, in seq order. */
    eventsAfter: (afterSeq: number, limit: number): StoredEvent[] => eventsAfter.all(afterSeq, limit),
    counts(): LogCounts {
      const c = counts.get()!;
      const byType = Object.fromEntries(countsByType.all().map((r) => [r.type, r.n])) as Partial<Record<WebhookType, number>>;
      return { events: c.events, lastSeq: c.last_seq ?? 0, quarantineHeld: c.held, quarantineAttempts: c.attempts ?? 0, byType };
    },
  };
}
export type EventLog = ReturnType<typeof createEventLog>;
