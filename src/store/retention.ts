import type { Db } from './open-db.js';
import type { RetentionState } from './store.js';

/** Rows one step deleted, by kind. */
export interface RetentionCounts {
  events: number;
  quarantine: number;
  contents: number;
  metricRows: number;
}

const LOG_ROW_TABLES = ['red_flag_rows', 'low_score_rows', 'completion_rows', 'workflow_rows', 'score_rows', 'workflow_field_rows', 'parked_events'] as const;

/**
 * The deletions of RETENTION_DAYS, each a small transaction the caller
 * repeats until it returns 0 (jobs/retention.ts paces them so that webhooks
 * never wait long for the write lock). Every step is idempotent: a run that
 * stops anywhere is finished by the next one.
 */
export function createRetentionStore(db: Db) {
  const state = db.prepare<[], { kept_from_day: string | null; cutoff: string | null; seq_floor: number; last_run_at: string | null; last_result: string | null }>(
    'SELECT kept_from_day, cutoff, seq_floor, last_run_at, last_result FROM retention_state WHERE id = 1',
  );
  // The boundary only moves forward: what was deleted stays deleted, whatever RETENTION_DAYS says later.
  const close = db.prepare<[{ day: string; cutoff: string }]>(
    `UPDATE retention_state SET kept_from_day = CASE WHEN kept_from_day IS NULL OR kept_from_day < @day THEN @day ELSE kept_from_day END,
       cutoff = CASE WHEN cutoff IS NULL OR cutoff < @cutoff THEN @cutoff ELSE cutoff END WHERE id = 1`,
  );
  const finish = db.prepare<[string, string]>('UPDATE retention_state SET last_run_at = ?, last_result = ? WHERE id = 1');
  const fail = db.prepare<[string]>('UPDATE retention_state SET last_result = ? WHERE id = 1');
  // Only events every view was derived from (both projector cursors past them): the keyed views never miss one.
  const oldEvents = db.prepare<[string, number], number>(
    `SELECT seq FROM event_ages WHERE received_at < ? AND seq <= (SELECT min(seq, keyed_seq) FROM projector_state WHERE id = 1) ORDER BY received_at LIMIT ?`,
  ).pluck();
  // Events logged before migration 7 enter event_ages a seq range at a time (INSERT OR IGNORE: a trigger may have been first).
  const agesProgress = db.prepare<[], { aged_seq: number; ages_until_seq: number }>('SELECT aged_seq, ages_until_seq FROM retention_state WHERE id = 1');
  const enterAges = db.prepare<[number, number]>('INSERT OR IGNORE INTO event_ages (received_at, seq) SELECT received_at, seq FROM events WHERE seq > ? AND seq <= ?');
  const setAged = db.prepare<[number]>('UPDATE retention_state SET aged_seq = ? WHERE id = 1');
  const deleteLogRows = LOG_ROW_TABLES.map((t) => db.prepare<[string]>(`DELETE FROM ${t} WHERE seq IN (SELECT value FROM json_each(?))`));
  // A released payload pointed at its event: the quarantine entry may outlive it (it ages by its own last attempt).
  const unlinkReleases = db.prepare<[string]>('UPDATE quarantine SET released_seq = NULL WHERE released_seq IN (SELECT value FROM json_each(?))');
  const deleteEvents = db.prepare<[string]>('DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))');
  const raiseFloor = db.prepare<[number]>('UPDATE retention_state SET seq_floor = max(seq_floor, ?) WHERE id = 1');
  const deleteQuarantine = db.prepare<[string, number]>(
    'DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine INDEXED BY quarantine_last_received WHERE last_received_at < ? LIMIT ?)',
  );
  // Only the rows of calls wholly past retention: a call that became active meanwhile (a webhook during the run) stays
  // for the next pass to move.
  const active = '(c.last_received_at >= @cutoff OR c.day >= @day)';
  const deleteMetricRows = db.prepare<[{ month: string; cutoff: string; day: string; n: number }]>(
    `DELETE FROM content_score_rows WHERE rid IN (SELECT s.rid FROM content_score_rows s INDEXED BY content_score_rows_part
       WHERE s.part < @month AND NOT EXISTS (SELECT 1 FROM content_rows c WHERE c.rid = s.content_rid AND ${active}) LIMIT @n)`,
  );
  const deleteContents = db.prepare<[{ month: string; cutoff: string; day: string; n: number }]>(
    `DELETE FROM content_rows WHERE rid IN (SELECT c.rid FROM content_rows c INDEXED BY content_rows_part WHERE c.part < @month AND NOT ${active} LIMIT @n)`,
  );
  const leftInMonths = db.prepare<[string], number>('SELECT count(*) FROM (SELECT 1 FROM content_rows INDEXED BY content_rows_part WHERE part < ? LIMIT 1)').pluck();
  const deleteParts = db.prepare<[string]>('DELETE FROM keyed_parts WHERE part < ?');
  // Calls first received in a deleted month that are not wholly past retention: a webhook received since the cutoff (a
  // late re-score), or scored on a kept day. Their rows stay (their daily rows still count them) and move to the first
  // kept month, at its end, so that every place already written keeps its row.
  // One read per pass (it reads every row of those months): the moves then go a chunk of rids at a time.
  const straddlers = db.prepare<[{ month: string; cutoff: string; day: string }], number>(
    `SELECT rid FROM content_rows c INDEXED BY content_rows_part WHERE c.part < @month AND ${active} ORDER BY rid`,
  ).pluck();
  const partTotal = db.prepare<[string, string], number>('SELECT total FROM keyed_parts WHERE view = ? AND part = ?').pluck();
  const setPartTotal = db.prepare<[string, string, number]>(
    'INSERT INTO keyed_parts (view, part, total, reset_seq) VALUES (?, ?, ?, 0) ON CONFLICT (view, part) DO UPDATE SET total = excluded.total',
  );
  const moveContent = db.prepare<[string, number, number, number]>('UPDATE content_rows SET part = ?, part_pos = ?, changed_seq = ? WHERE rid = ?');
  // A move is a change no event made: it gets a seq of its own, above every event's (targets see rows changed after their
  // cursor), and the projector's cursors go there, so that the next sync's cursor passes it (else every sync would
  // deliver the moved rows again until the next webhook). Only when everything logged is derived: else later.
  const progress = db.prepare<[], { seq: number; keyed_seq: number; last: number; floor: number }>(
    `SELECT p.seq, p.keyed_seq, coalesce((SELECT max(seq) FROM events), 0) AS last, r.seq_floor AS floor FROM projector_state p, retention_state r WHERE p.id = 1 AND r.id = 1`,
  );
  const takeSeq = db.prepare<[number]>('UPDATE retention_state SET seq_floor = ? WHERE id = 1');
  const moveCursors = db.prepare<[number, number]>('UPDATE projector_state SET seq = ?, keyed_seq = ? WHERE id = 1');
  const metricRidsOf = db.prepare<[number], number>('SELECT rid FROM content_score_rows WHERE content_rid = ? ORDER BY rid').pluck();
  const moveMetric = db.prepare<[string, number, number, number]>('UPDATE content_score_rows SET part = ?, part_pos = ?, changed_seq = ? WHERE rid = ?');
  const deleteHours = db.prepare<[string]>('DELETE FROM webhook_hours WHERE hour < ?');
  // The oldest by age among events entered in event_ages, and the first by seq (older events not entered yet are about there).
  const oldestAged = db.prepare<[], string | null>('SELECT min(received_at) FROM event_ages').pluck();
  const firstLogged = db.prepare<[], string | null>('SELECT received_at FROM events ORDER BY seq LIMIT 1').pluck();

  return {
    state(): RetentionState {
      const s = state.get()!;
      return { keptFromDay: s.kept_from_day, cutoff: s.cutoff, seqFloor: s.seq_floor, lastRunAt: s.last_run_at, lastResult: s.last_result };
    },
    /**
     * Closes the days before `keptFromDay` (first, before anything is deleted:
     * the projection stops moving their daily rows) and records the cutoff.
     * Never moves either back. Returns the state now in force.
     */
    close(keptFromDay: string, cutoff: string): RetentionState {
      db.transaction(() => close.run({ day: keptFromDay, cutoff })).immediate();
      return this.state();
    },
    /**
     * Enters up to `limit` events logged before migration 7 in event_ages (by
     * seq range); returns how many seqs it covered (0: all are in).
     */
    enterOldEvents(limit: number): number {
      return db
        .transaction(() => {
          const p = agesProgress.get()!;
          if (p.aged_seq >= p.ages_until_seq) return 0;
          const to = Math.min(p.aged_seq + limit, p.ages_until_seq);
          enterAges.run(p.aged_seq, to);
          setAged.run(to);
          return to - p.aged_seq;
        })
        .immediate();
    },
    /** Deletes up to `limit` events received before `cutoff`, with their rows in the append-only views (after enterOldEvents is done). */
    deleteEvents(cutoff: string, limit: number): number {
      return db
        .transaction(() => {
          const seqs = oldEvents.all(cutoff, limit);
          if (seqs.length === 0) return 0;
          const list = JSON.stringify(seqs);
          for (const s of deleteLogRows) s.run(list);
          unlinkReleases.run(list);
          deleteEvents.run(list);
          raiseFloor.run(Math.max(...seqs));
          return seqs.length;
        })
        .immediate();
    },
    /** Deletes up to `limit` quarantined payloads last received before `cutoff` (held or resolved). */
    deleteQuarantine(cutoff: string, limit: number): number {
      return db.transaction(() => deleteQuarantine.run(cutoff, limit).changes).immediate();
    },
    /** The calls of months before `month` still active (see moveCalls), in rid order: one read of those months. */
    activeCallsBefore(month: string, keep: { cutoff: string; day: string }): number[] {
      return straddlers.all({ month, ...keep });
    },
    /**
     * Moves calls (content rids) of deleted months that are still active (a
     * webhook received since the cutoff, or scored on a kept day) to the end
     * of `month`, with their metric rows, as they are: their daily rows still
     * count them. 'behind' when webhooks are not all derived yet (the move
     * takes a seq of its own above every event's).
     */
    moveCalls(month: string, rids: readonly number[]): number | 'behind' {
      return db
        .transaction(() => {
          const p = progress.get()!;
          if (p.seq !== p.keyed_seq || p.seq < p.last) return 'behind';
          const seq = Math.max(p.last, p.floor, p.seq) + 1;
          takeSeq.run(seq);
          moveCursors.run(seq, seq);
          let contents = partTotal.get('contents', month) ?? 0;
          let metrics = partTotal.get('content_scores', month) ?? 0;
          for (const rid of rids) {
            moveContent.run(month, ++contents, seq, rid);
            for (const m of metricRidsOf.all(rid)) moveMetric.run(month, ++metrics, seq, m);
          }
          setPartTotal.run('contents', month, contents);
          setPartTotal.run('content_scores', month, metrics);
          return rids.length;
        })
        .immediate();
    },
    /**
     * Deletes up to `limit` rows of contents and content_scores of calls in
     * months before `month` that are wholly past retention (whole months:
     * their CSV files and Sheets tabs go too); the months once empty. The
     * daily rows are not touched.
     */
    deleteMonths(month: string, limit: number, keep: { cutoff: string; day: string }): { contents: number; metricRows: number } {
      return db
        .transaction(() => {
          const metricRows = deleteMetricRows.run({ month, ...keep, n: limit }).changes;
          const contents = metricRows < limit ? deleteContents.run({ month, ...keep, n: limit - metricRows }).changes : 0;
          if (metricRows + contents < limit && leftInMonths.get(month) === 0) deleteParts.run(month);
          return { contents, metricRows };
        })
        .immediate();
    },
    /** Whether calls are left in months before `month` (ones that became active during the run). */
    leftBefore: (month: string): boolean => leftInMonths.get(month)! > 0,
    /** The console's hourly counts before the cutoff's hour (it shows 48 hours). */
    deleteHours(cutoff: string): number {
      return db.transaction(() => deleteHours.run(cutoff.slice(0, 13)).changes).immediate();
    },
    /** Frees up to `pages` pages of the file (incremental auto_vacuum); returns the free pages left in it. */
    vacuumStep(pages: number): number {
      db.pragma(`incremental_vacuum(${Math.max(1, Math.floor(pages))})`);
      return db.pragma('freelist_count', { simple: true }) as number;
    },
    /** 2: incremental; 0: none (a database from before RETENTION_DAYS: freed pages are reused, the file does not shrink). */
    autoVacuum: (): number => db.pragma('auto_vacuum', { simple: true }) as number,
    freePages: (): number => db.pragma('freelist_count', { simple: true }) as number,
    pageSize: (): number => db.pragma('page_size', { simple: true }) as number,
    /**
     * Copies what it can of the WAL into the database (a passive checkpoint:
     * it waits for no one) and returns the bytes it could not: pages a reader
     * in another process still needs. SQLite's own checkpoints keep this near
     * zero; a long read transaction elsewhere makes every write grow the WAL.
     */
    walBacklog(): number {
      const [row] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
      if (!row || row.log < 0) return 0;
      return Math.max(0, row.log - row.checkpointed) * (db.pragma('page_size', { simple: true }) as number);
    },
    /** A run that completed: the next is due on another day. */
    finish(at: string, result: string): void {
      db.transaction(() => finish.run(at, result)).immediate();
    },
    /** A run that failed: said in status; the job tries again at its next check. */
    fail(result: string): void {
      db.transaction(() => fail.run(result)).immediate();
    },
    /** received_at of the oldest event kept (index reads only). */
    oldestEvent(): string | null {
      const a = oldestAged.get() ?? null;
      const b = firstLogged.get() ?? null;
      return a === null ? b : b === null || a < b ? a : b;
    },
  };
}
export type SqliteRetention = ReturnType<typeof createRetentionStore>;
