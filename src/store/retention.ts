import type { Db } from './open-db.js';

/** What RETENTION_DAYS has done to this database (migration 7). */
export interface RetentionState {
  /** The oldest calendar day kept (REPORT_TIMEZONE); the daily rows of earlier days are closed. Null: retention never ran. */
  keptFromDay: string | null;
  /** Events received before this instant (ISO UTC) are deleted. */
  cutoff: string | null;
  /** The highest seq deleted: new events get higher ones. */
  seqFloor: number;
  lastRunAt: string | null;
  /** The last run's outcome in words (counts, or why it stopped). */
  lastResult: string | null;
}

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
  const deleteMetricRows = db.prepare<[string, number]>(
    'DELETE FROM content_score_rows WHERE rid IN (SELECT rid FROM content_score_rows INDEXED BY content_score_rows_part WHERE part < ? LIMIT ?)',
  );
  const deleteContents = db.prepare<[string, number]>('DELETE FROM content_rows WHERE rid IN (SELECT rid FROM content_rows INDEXED BY content_rows_part WHERE part < ? LIMIT ?)');
  const deleteParts = db.prepare<[string]>('DELETE FROM keyed_parts WHERE part < ?');
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
    /**
     * Deletes up to `limit` rows of contents and content_scores in months
     * before `month` (whole months: their CSV files and Sheets tabs go too).
     * The daily rows are not touched.
     */
    deleteMonths(month: string, limit: number): { contents: number; metricRows: number } {
      return db
        .transaction(() => {
          const metricRows = deleteMetricRows.run(month, limit).changes;
          const contents = metricRows < limit ? deleteContents.run(month, limit - metricRows).changes : 0;
          if (metricRows + contents < limit) deleteParts.run(month);
          return { contents, metricRows };
        })
        .immediate();
    },
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
export type RetentionStore = ReturnType<typeof createRetentionStore>;
