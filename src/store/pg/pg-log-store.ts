import type { EventLogStore, LogCounts, QuarantinedRow, QuarantineSettlement } from '../store.js';
import { appendedRows, appendEventsQuery, createPgEventLog, toInt } from './pg-event-log.js';
import type { PgPool } from './pg-pool.js';
import { fromPgText, toPgText } from './pg-text.js';
import { inTransaction } from './pg-unit-of-work.js';

type QuarantineRowPg = Omit<QuarantinedRow, 'id'> & { id: string };

const QUARANTINE_COLUMNS = 'id, webhook_id, received_at, last_received_at, attempts, reason, errors, body, status';
/** webhook_id is stored through toPgText (pg-event-log.ts quarantineQuery): read back as it was sent. */
const toQuarantined = (r: QuarantineRowPg): QuarantinedRow => ({ ...r, id: toInt(r.id, 'id'), webhook_id: r.webhook_id === null ? null : fromPgText(r.webhook_id) });

/**
 * The raw log as the rest of ember-sync reads it (status, replay, export):
 * counts, the held quarantine, one payload settled by replay. Appends of the
 * receiver go through the writer (pg-writer.ts).
 */
export function createPgLogStore(pool: PgPool): EventLogStore {
  const log = createPgEventLog(pool);
  return {
    async counts(): Promise<LogCounts> {
      const c = await log.counts();
      return { events: c.events, lastSeq: c.lastSeq, byType: c.byType, quarantineHeld: c.quarantineHeld, quarantineAttempts: c.quarantineAttempts };
    },

    async quarantineHeld(): Promise<number> {
      const res = await pool.query<{ n: string }>({ name: 'ember_quarantine_held', text: "SELECT count(*) AS n FROM quarantine WHERE status = 'held'", values: [] });
      return toInt(res.rows[0]!.n, 'held');
    },

    async heldQuarantine(afterId: number, limit: number): Promise<QuarantinedRow[]> {
      const res = await pool.query<QuarantineRowPg>({
        name: 'ember_held_quarantine',
        text: `SELECT ${QUARANTINE_COLUMNS} FROM quarantine WHERE status = 'held' AND id > $1 ORDER BY id LIMIT $2`,
        values: [afterId, limit],
      });
      return res.rows.map(toQuarantined);
    },

    async heldQuarantineFor(webhookId: string): Promise<QuarantinedRow[]> {
      const res = await pool.query<QuarantineRowPg>({
        name: 'ember_held_quarantine_for',
        text: `SELECT ${QUARANTINE_COLUMNS} FROM quarantine WHERE webhook_id = $1 AND status = 'held' ORDER BY id`,
        values: [toPgText(webhookId)],
      });
      return res.rows.map(toQuarantined);
    },

    /**
     * One transaction. The row is locked first: two replicas replaying at once
     * settle it once (the second finds it no longer held and answers what the
     * first made of it, appending nothing).
     */
    async settleQuarantine(id: number, how: QuarantineSettlement): Promise<{ status: 'held' | 'released' | 'duplicate'; seq?: number }> {
      return inTransaction(pool, async (client) => {
        const row = await client.query<{ status: 'held' | 'released' | 'duplicate'; released_seq: string | null }>({
          name: 'ember_quarantine_lock',
          text: 'SELECT status, released_seq FROM quarantine WHERE id = $1 FOR UPDATE',
          values: [id],
        });
        const current = row.rows[0];
        if (!current) throw new Error(`quarantine entry ${id} does not exist`);
        if (current.status !== 'held') {
          return { status: current.status, ...(current.released_seq === null ? {} : { seq: toInt(current.released_seq, 'released_seq') }) };
        }
        if (how.kind === 'still-held') {
          await client.query({ name: 'ember_quarantine_errors', text: 'UPDATE quarantine SET reason = $1, errors = $2 WHERE id = $3', values: [how.reason, JSON.stringify(how.errors), id] });
          return { status: 'held' as const };
        }
        const appended = await client.query<{ ord: number; seq: string; duplicate: boolean }>(appendEventsQuery([how.event]));
        const a = appendedRows(appended.rows, 1)[0]!;
        const status = a.duplicate ? ('duplicate' as const) : ('released' as const);
        await client.query({
          name: 'ember_quarantine_resolve',
          text: 'UPDATE quarantine SET status = $1, released_seq = $2, resolved_at = $3 WHERE id = $4',
          values: [status, a.seq, how.at, id],
        });
        return { status, seq: a.seq };
      });
    },

    eventsAfter: (afterSeq, limit) => log.eventsAfter(afterSeq, limit),
  };
}
