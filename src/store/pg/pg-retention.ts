import type { RetentionState, RetentionStore } from '../store.js';
import { toInt } from './pg-event-log.js';
import { PG_APPEND_LOCK } from './pg-migrations.js';
import type { PgPool } from './pg-pool.js';
import { fromPgText, toPgText } from './pg-text.js';
import { inTransaction } from './pg-unit-of-work.js';

/** The rows of the append-only views, by event (parked_events goes with its event: ON DELETE CASCADE). */
const LOG_ROW_DELETES = ['red_flag_rows', 'low_score_rows', 'completion_rows', 'workflow_rows', 'score_rows', 'workflow_field_rows'].map((table) => ({
  name: `ember_retention_delete_${table}`,
  text: `DELETE FROM ${table} WHERE seq = ANY ($1::bigint[])`,
}));

/** A call still active: a webhook received since the cutoff, or scored on a kept day (as store/retention.ts). */
const ACTIVE = '(c.last_received_at >= $2 OR c.day >= $3)';

/**
 * The deletions of RETENTION_DAYS on PostgreSQL, with store/retention.ts's
 * semantics, each step one short transaction. What differs:
 * - events_received_at (migration 1) indexes events by age from the start:
 *   there is no event_ages table to fill (enterOldEvents has nothing to do);
 * - a deleted seq is never used again because append_events numbers from
 *   log_state.last_seq; seq_floor is kept for status;
 * - no `space`: autovacuum gives freed pages back for reuse.
 */
export function createPgRetention(pool: PgPool): RetentionStore {
  const state = async (): Promise<RetentionState> => {
    const res = await pool.query<{ kept_from_day: string | null; cutoff: string | null; seq_floor: string; last_run_at: string | null; last_result: string | null }>({
      name: 'ember_retention_state',
      text: 'SELECT kept_from_day, cutoff, seq_floor, last_run_at, last_result FROM retention_state WHERE id',
      values: [],
    });
    const s = res.rows[0]!;
    return { keptFromDay: s.kept_from_day, cutoff: s.cutoff, seqFloor: toInt(s.seq_floor, 'seq_floor'), lastRunAt: s.last_run_at, lastResult: s.last_result === null ? null : fromPgText(s.last_result) };
  };

  const leftBefore = async (month: string): Promise<boolean> => {
    const res = await pool.query<{ left: boolean }>({ name: 'ember_retention_left', text: 'SELECT EXISTS (SELECT 1 FROM content_rows WHERE part < $1) AS left', values: [month] });
    return res.rows[0]!.left;
  };

  return {
    state,

    /** Closes the days before `keptFromDay` and records the cutoff; never moves either back. */
    async close(keptFromDay: string, cutoff: string): Promise<RetentionState> {
      await pool.query({
        name: 'ember_retention_close',
        text: `UPDATE retention_state SET kept_from_day = CASE WHEN kept_from_day IS NULL OR kept_from_day < $1 THEN $1 ELSE kept_from_day END,
                 cutoff = CASE WHEN cutoff IS NULL OR cutoff < $2 THEN $2 ELSE cutoff END WHERE id`,
        values: [keptFromDay, cutoff],
      });
      return state();
    },

    async enterOldEvents(): Promise<number> {
      return 0;
    },

    /** Up to `limit` events received before `cutoff` that every view was derived from (both projector cursors past them), with their rows. */
    async deleteEvents(cutoff: string, limit: number): Promise<number> {
      return inTransaction(pool, async (client) => {
        const old = await client.query<{ seq: string }>({
          name: 'ember_retention_old_events',
          text: `SELECT e.seq FROM events e, projector_state p WHERE p.id = 1 AND e.received_at < $1 AND e.seq <= least(p.seq, p.keyed_seq)
                 ORDER BY e.received_at, e.seq LIMIT $2 FOR UPDATE OF e SKIP LOCKED`,
          values: [cutoff, limit],
        });
        const seqs = old.rows.map((r) => toInt(r.seq, 'seq'));
        if (seqs.length === 0) return 0;
        for (const d of LOG_ROW_DELETES) await client.query({ ...d, values: [seqs] });
        // quarantine.released_seq is set to NULL by its foreign key (ON DELETE SET NULL).
        await client.query({ name: 'ember_retention_delete_events', text: 'DELETE FROM events WHERE seq = ANY ($1::bigint[])', values: [seqs] });
        await client.query({ name: 'ember_retention_floor', text: 'UPDATE retention_state SET seq_floor = greatest(seq_floor, $1) WHERE id', values: [Math.max(...seqs)] });
        return seqs.length;
      });
    },

    async deleteQuarantine(cutoff: string, limit: number): Promise<number> {
      const res = await pool.query({
        name: 'ember_retention_quarantine',
        text: 'DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE last_received_at < $1 ORDER BY last_received_at LIMIT $2)',
        values: [cutoff, limit],
      });
      return res.rowCount ?? 0;
    },

    async activeCallsBefore(month: string, keep: { cutoff: string; day: string }): Promise<number[]> {
      const res = await pool.query<{ rid: string }>({
        name: 'ember_retention_active_calls',
        text: `SELECT c.rid FROM content_rows c WHERE c.part < $1 AND ${ACTIVE} ORDER BY c.rid`,
        values: [month, keep.cutoff, keep.day],
      });
      return res.rows.map((r) => toInt(r.rid, 'rid'));
    },

    /**
     * Moves still-active calls of deleted months to the end of `month` with
     * their metric rows. The move is a change no event made: it takes a seq of
     * its own (log_state.last_seq + 1, under the append lock: no append
     * meanwhile) and the projector's cursors go there. 'behind' unless
     * everything logged is derived.
     */
    async moveCalls(month: string, rids: readonly number[]): Promise<number | 'behind'> {
      return inTransaction(pool, async (client) => {
        await client.query({ text: 'SELECT pg_advisory_xact_lock($1::bigint)', values: [PG_APPEND_LOCK] });
        const p = await client.query<{ seq: string; keyed_seq: string; last: string }>({
          name: 'ember_retention_progress',
          text: 'SELECT p.seq, p.keyed_seq, l.last_seq AS last FROM projector_state p, log_state l WHERE p.id = 1 AND l.id FOR UPDATE OF p, l',
          values: [],
        });
        const { seq: derived, keyed_seq: keyed, last } = p.rows[0]!;
        if (derived !== keyed || toInt(derived, 'seq') < toInt(last, 'last_seq')) return 'behind';
        const seq = Math.max(toInt(last, 'last_seq'), toInt(derived, 'seq')) + 1;
        await client.query({ name: 'ember_retention_take_seq', text: 'UPDATE log_state SET last_seq = $1 WHERE id', values: [seq] });
        // As SQLite records it (its seq_floor is what keeps the number from being used again).
        await client.query({ name: 'ember_retention_floor', text: 'UPDATE retention_state SET seq_floor = greatest(seq_floor, $1) WHERE id', values: [seq] });
        await client.query({ name: 'ember_retention_move_cursors', text: 'UPDATE projector_state SET seq = $1, keyed_seq = $1 WHERE id = 1', values: [seq] });
        const totals = await client.query<{ view: string; total: number }>({
          name: 'ember_retention_part_totals',
          text: "SELECT view, total FROM keyed_parts WHERE part = $1 AND view IN ('contents', 'content_scores')",
          values: [month],
        });
        let contents = totals.rows.find((r) => r.view === 'contents')?.total ?? 0;
        let metrics = totals.rows.find((r) => r.view === 'content_scores')?.total ?? 0;
        for (const rid of rids) {
          await client.query({ name: 'ember_retention_move_content', text: 'UPDATE content_rows SET part = $1, part_pos = $2, changed_seq = $3 WHERE rid = $4', values: [month, ++contents, seq, rid] });
          const metricRids = await client.query<{ rid: string }>({ name: 'ember_retention_metric_rids', text: 'SELECT rid FROM content_score_rows WHERE content_rid = $1 ORDER BY rid', values: [rid] });
          for (const m of metricRids.rows) {
            await client.query({
              name: 'ember_retention_move_metric',
              text: 'UPDATE content_score_rows SET part = $1, part_pos = $2, changed_seq = $3 WHERE rid = $4',
              values: [month, ++metrics, seq, toInt(m.rid, 'rid')],
            });
          }
        }
        await client.query({
          name: 'ember_retention_part_total',
          text: `INSERT INTO keyed_parts (view, part, total, reset_seq) VALUES ('contents', $1, $2, 0), ('content_scores', $1, $3, 0)
                 ON CONFLICT (view, part) DO UPDATE SET total = excluded.total`,
          values: [month, contents, metrics],
        });
        return rids.length;
      });
    },

    /** Up to `limit` rows of contents and content_scores of calls in months before `month` wholly past retention; the months once empty. */
    async deleteMonths(month: string, limit: number, keep: { cutoff: string; day: string }): Promise<{ contents: number; metricRows: number }> {
      return inTransaction(pool, async (client) => {
        const m = await client.query({
          name: 'ember_retention_delete_metric_rows',
          text: `DELETE FROM content_score_rows WHERE rid IN (SELECT s.rid FROM content_score_rows s WHERE s.part < $1
                   AND NOT EXISTS (SELECT 1 FROM content_rows c WHERE c.rid = s.content_rid AND ${ACTIVE}) LIMIT $4)`,
          values: [month, keep.cutoff, keep.day, limit],
        });
        const metricRows = m.rowCount ?? 0;
        let contents = 0;
        if (metricRows < limit) {
          const c = await client.query({
            name: 'ember_retention_delete_contents',
            text: `DELETE FROM content_rows WHERE rid IN (SELECT c.rid FROM content_rows c WHERE c.part < $1 AND NOT ${ACTIVE} LIMIT $4)`,
            values: [month, keep.cutoff, keep.day, limit - metricRows],
          });
          contents = c.rowCount ?? 0;
        }
        if (metricRows + contents < limit) {
          const left = await client.query<{ left: boolean }>({ name: 'ember_retention_left', text: 'SELECT EXISTS (SELECT 1 FROM content_rows WHERE part < $1) AS left', values: [month] });
          if (!left.rows[0]!.left) await client.query({ name: 'ember_retention_delete_parts', text: 'DELETE FROM keyed_parts WHERE part < $1', values: [month] });
        }
        return { contents, metricRows };
      });
    },

    leftBefore,

    /** The console's hourly counts before the cutoff's hour. */
    async deleteHours(cutoff: string): Promise<number> {
      const res = await pool.query({ name: 'ember_retention_hours', text: 'DELETE FROM webhook_hours WHERE hour < $1', values: [cutoff.slice(0, 13)] });
      return res.rowCount ?? 0;
    },

    // A result may quote an error message, whose text can hold anything: through toPgText (pg-text.ts).
    async finish(at: string, result: string): Promise<void> {
      await pool.query({ name: 'ember_retention_finish', text: 'UPDATE retention_state SET last_run_at = $1, last_result = $2 WHERE id', values: [at, toPgText(result)] });
    },

    async fail(result: string): Promise<void> {
      await pool.query({ name: 'ember_retention_fail', text: 'UPDATE retention_state SET last_result = $1 WHERE id', values: [toPgText(result)] });
    },

    /** received_at of the oldest event kept (the first entry of events_received_at). */
    async oldestEvent(): Promise<string | null> {
      const res = await pool.query<{ at: string | null }>({ name: 'ember_retention_oldest', text: 'SELECT min(received_at) AS at FROM events', values: [] });
      return res.rows[0]!.at;
    },
  };
}
