import type { ConsoleStore, HeldPayload, HourCount } from '../store.js';
import { toInt } from './pg-event-log.js';
import type { PgPool } from './pg-pool.js';
import { fromPgText, toPgText } from './pg-text.js';
import { inTransaction } from './pg-unit-of-work.js';

type HeldPayloadPg = Omit<HeldPayload, 'id' | 'bytes'> & { id: string; bytes: number };

/**
 * What the operator console reads and writes on PostgreSQL: its sign-ins
 * (console_sessions), the webhooks-per-hour chart (webhook_hours, counted by
 * the writer) and the quarantine list. The semantics are those of
 * console-sessions.ts, webhook-hours.ts and quarantine-list.ts.
 */
export function createPgConsole(pool: PgPool): ConsoleStore {
  return {
    sessions: {
      /** A new session; expired ones are deleted on the way (sign-ins are rare, the table stays tiny). */
      async create(key: string, expiresAt: Date, now = new Date()): Promise<void> {
        await inTransaction(pool, async (client) => {
          await client.query({ name: 'ember_console_prune', text: 'DELETE FROM console_sessions WHERE expires_at <= $1', values: [now.toISOString()] });
          await client.query({
            name: 'ember_console_create',
            text: 'INSERT INTO console_sessions (key, created_at, expires_at) VALUES ($1, $2, $3)',
            values: [key, now.toISOString(), expiresAt.toISOString()],
          });
        });
      },
      async find(key: string, now = new Date()) {
        const res = await pool.query<{ created_at: string; expires_at: string }>({
          name: 'ember_console_find',
          text: 'SELECT created_at, expires_at FROM console_sessions WHERE key = $1 AND expires_at > $2',
          values: [key, now.toISOString()],
        });
        return res.rows[0];
      },
      async delete(key: string): Promise<void> {
        await pool.query({ name: 'ember_console_delete', text: 'DELETE FROM console_sessions WHERE key = $1', values: [key] });
      },
      /** The message may quote a webhook_id (a replay's outcome): through toPgText, as webhook_id is stored. */
      async setFlash(key: string, message: string): Promise<void> {
        await pool.query({ name: 'ember_console_set_flash', text: 'UPDATE console_sessions SET flash = $2 WHERE key = $1', values: [key, toPgText(message)] });
      },
      /** One statement: two tabs of one session cannot both take the message. */
      async takeFlash(key: string): Promise<string | undefined> {
        const res = await pool.query<{ flash: string }>({
          name: 'ember_console_take_flash',
          text: `UPDATE console_sessions s SET flash = NULL FROM (SELECT key, flash FROM console_sessions WHERE key = $1 AND flash IS NOT NULL FOR UPDATE) old
                 WHERE s.key = old.key RETURNING old.flash`,
          values: [key],
        });
        const flash = res.rows[0]?.flash;
        return flash === undefined ? undefined : fromPgText(flash);
      },
    },

    async hoursSince(fromHour: string): Promise<HourCount[]> {
      const res = await pool.query<HourCount>({
        name: 'ember_console_hours',
        text: 'SELECT hour, type, outcome, n FROM webhook_hours WHERE hour >= $1 ORDER BY hour, type, outcome',
        values: [fromHour],
      });
      return res.rows;
    },

    quarantine: {
      async page(beforeId: number, limit: number): Promise<HeldPayload[]> {
        const res = await pool.query<HeldPayloadPg>({
          name: 'ember_console_quarantine_page',
          text: `SELECT id, webhook_id, received_at, last_received_at, attempts, reason, errors, octet_length(body) AS bytes
                 FROM quarantine WHERE status = 'held' AND id < $1 ORDER BY id DESC LIMIT $2`,
          values: [beforeId, limit],
        });
        return res.rows.map((r) => ({ ...r, id: toInt(r.id, 'id'), webhook_id: r.webhook_id === null ? null : fromPgText(r.webhook_id) }));
      },
      async held(): Promise<number> {
        const res = await pool.query<{ n: string }>({ name: 'ember_quarantine_held', text: "SELECT count(*) AS n FROM quarantine WHERE status = 'held'", values: [] });
        return toInt(res.rows[0]!.n, 'held');
      },
      async payload(id: number) {
        const res = await pool.query<{ body: Buffer; webhook_id: string | null; status: string }>({
          name: 'ember_console_quarantine_payload',
          text: 'SELECT body, webhook_id, status FROM quarantine WHERE id = $1',
          values: [id],
        });
        const row = res.rows[0];
        return row === undefined ? undefined : { ...row, webhook_id: row.webhook_id === null ? null : fromPgText(row.webhook_id) };
      },
    },
  };
}
