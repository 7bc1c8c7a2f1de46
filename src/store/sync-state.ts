import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { ViewCursor } from '../model/sync.js';
import { KEYED_VIEWS, type ViewName } from '../model/views.js';
import { LockLostError } from './lock-lost-error.js';
import type { Db } from './open-db.js';
import type { LockHolder, LockTicket, SyncRunRow, ViewConfirmation, ViewErrorRow } from './store.js';

export { LockLostError } from './lock-lost-error.js';

/** Syncs after a takeover that deliver keyed rows again (the taker's and the next one). */
const REPAIR_RUNS = 2;

/** Tells this process apart from an earlier one with the same pid (a restarted container): a constant, not state. */
const PROCESS_INSTANCE = randomUUID().slice(0, 8);

/** A lock older than this without a heartbeat belongs to a process that died. */
export const LOCK_STALE_MS = 120_000;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sync cursors, run history and the cross-process lock. Every statement prepared. */
export function createSyncState(db: Db) {
  const getCursor = db.prepare<[string, string], { delivered_seq: number; delivered_rows: number; state: string | null; last_error: string | null; last_error_at: string | null }>(
    'SELECT delivered_seq, delivered_rows, state, last_error, last_error_at FROM sync_state WHERE target = ? AND view = ?',
  );
  const putCursor = db.prepare<[{ target: string; view: string; seq: number; rows: number; added: number; state: string | null; at: string }]>(
    `INSERT INTO sync_state (target, view, delivered_seq, delivered_rows, delivered_total, state, last_error, last_error_at, updated_at)
     VALUES (@target, @view, @seq, @rows, @added, @state, NULL, NULL, @at)
     ON CONFLICT (target, view) DO UPDATE SET delivered_seq = max(delivered_seq, @seq), delivered_rows = @rows, delivered_total = delivered_total + @added,
       state = @state, last_error = NULL, last_error_at = NULL, updated_at = @at,
       repair_runs = max(repair_runs - 1, 0), repair_from_seq = CASE WHEN repair_runs > 1 THEN repair_from_seq END`,
  );
  const putError = db.prepare<[{ target: string; view: string; error: string; at: string }]>(
    `INSERT INTO sync_state (target, view, last_error, last_error_at, updated_at) VALUES (@target, @view, @error, @at, @at)
     ON CONFLICT (target, view) DO UPDATE SET last_error = @error, last_error_at = @at, updated_at = @at`,
  );
  const startRun = db.prepare<[string, string], { id: number }>('INSERT INTO sync_runs (target, started_at) VALUES (?, ?) RETURNING id');
  const finishRun = db.prepare<[{ id: number; at: string; ok: number; rows: number; error: string | null; details: string }]>(
    'UPDATE sync_runs SET finished_at = @at, ok = @ok, rows = @rows, error = @error, details = @details WHERE id = @id',
  );
  const pruneRuns = db.prepare<[string, string]>('DELETE FROM sync_runs WHERE target = ? AND id <= (SELECT id FROM sync_runs WHERE target = ? ORDER BY id DESC LIMIT 1 OFFSET 1000)');
  const lastRun = db.prepare<[string], SyncRunRow>('SELECT * FROM sync_runs WHERE target = ? AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1');
  const latestRun = db.prepare<[string], SyncRunRow>('SELECT * FROM sync_runs WHERE target = ? ORDER BY id DESC LIMIT 1');
  const lastOk = db.prepare<[string], SyncRunRow>('SELECT * FROM sync_runs WHERE target = ? AND ok = 1 ORDER BY id DESC LIMIT 1');
  const totalRows = db.prepare<[string], number>('SELECT coalesce(sum(delivered_total), 0) FROM sync_state WHERE target = ?').pluck();
  const viewErrors = db.prepare<[string], ViewErrorRow>('SELECT view, last_error, last_error_at FROM sync_state WHERE target = ? AND last_error IS NOT NULL');
  const getLock = db.prepare<[string], LockHolder>('SELECT owner, pid, host, generation, acquired_at, heartbeat_at FROM sync_locks WHERE target = ?');
  const putLock = db.prepare<[{ target: string; owner: string; pid: number; host: string; at: string; generation: number }]>(
    `INSERT INTO sync_locks (target, owner, pid, host, acquired_at, heartbeat_at, generation) VALUES (@target, @owner, @pid, @host, @at, @at, @generation)
     ON CONFLICT (target) DO UPDATE SET owner = @owner, pid = @pid, host = @host, acquired_at = @at, heartbeat_at = @at, generation = @generation`,
  );
  const nextGeneration = db.prepare<[string], number>(
    `INSERT INTO sync_lock_generations (target, generation) VALUES (?, 1)
     ON CONFLICT (target) DO UPDATE SET generation = generation + 1 RETURNING generation`,
  ).pluck();
  const beat = db.prepare<[string, string, string, number]>('UPDATE sync_locks SET heartbeat_at = ? WHERE target = ? AND owner = ? AND generation = ?');
  const dropLock = db.prepare<[string, string]>('DELETE FROM sync_locks WHERE target = ? AND owner = ?');
  // From where the run that was taken over started (its views' confirmed cursors), or from an older repair still open.
  const markRepair = db.prepare<[string, string, number]>(
    `INSERT INTO sync_state (target, view, repair_from_seq, repair_runs) VALUES (?, ?, 0, ?)
     ON CONFLICT (target, view) DO UPDATE SET repair_from_seq = min(coalesce(repair_from_seq, delivered_seq), delivered_seq), repair_runs = excluded.repair_runs`,
  );
  const getRepair = db.prepare<[string, string], number | null>('SELECT CASE WHEN repair_runs > 0 THEN repair_from_seq END FROM sync_state WHERE target = ? AND view = ?').pluck();

  const host = hostname();
  const ownerPrefix = `${host}:${process.pid}:${PROCESS_INSTANCE}:`;
  /** Locks this process could not release (a full disk): released before its next attempt. */
  const unreleased = new Map<string, string>();

  const tryLock = db.transaction((target: string, owner: string, now: Date): LockTicket | undefined => {
    const held = getLock.get(target);
    let tookOverLive = false;
    if (held && held.owner !== owner) {
      const stale = now.getTime() - Date.parse(held.heartbeat_at) > LOCK_STALE_MS;
      // On this host: a pid that is gone, or our own pid from an earlier life of this process (a container's
      // PID 1 after a restart has the same pid and hostname, but not this process's instance id).
      const deadHere = held.host === host && (held.pid !== process.pid ? !pidAlive(held.pid) : !held.owner.startsWith(ownerPrefix));
      // This very process left it behind when its release failed: take it back.
      const oursLeft = unreleased.get(target) === held.owner;
      if (!stale && !deadHere && !oursLeft) return undefined;
      tookOverLive = !deadHere && !oursLeft;
    }
    const generation = nextGeneration.get(target)!;
    putLock.run({ target, owner, pid: process.pid, host, at: now.toISOString(), generation });
    if (tookOverLive) for (const view of KEYED_VIEWS) markRepair.run(target, view, REPAIR_RUNS);
    return { target, owner, generation, tookOverLive };
  });

  const holds = (t: LockTicket): boolean => {
    const held = getLock.get(t.target);
    return held !== undefined && held.owner === t.owner && held.generation === t.generation;
  };

  const api = {
    cursor(target: string, view: ViewName): ViewCursor {
      const row = getCursor.get(target, view);
      return {
        deliveredSeq: row?.delivered_seq ?? 0,
        deliveredRows: row?.delivered_rows ?? 0,
        state: row?.state ? (JSON.parse(row.state) as unknown) : undefined,
        lastError: row?.last_error ?? null,
        lastErrorAt: row?.last_error_at ?? null,
      };
    },
    /**
     * Called only after the target confirmed: the cursor, the row count and the
     * target's state move together. Call inside a transaction that checked the
     * run's lock (`assertHolds`).
     */
    confirm(target: string, view: ViewName, seq: number, rows: number, state: unknown, added = 0, now = new Date()): void {
      putCursor.run({ target, view, seq, rows, added, state: state === undefined ? null : JSON.stringify(state), at: now.toISOString() });
    },
    recordViewError(target: string, view: ViewName, error: string, now = new Date()): void {
      putError.run({ target, view, error, at: now.toISOString() });
    },
    /**
     * One transaction: the ticket still holds its lock (LockLostError
     * otherwise, and nothing is written), then the confirmed views' cursors
     * move to `toSeq` and the others' errors are recorded.
     */
    commitRun(ticket: LockTicket, toSeq: number, views: readonly ViewConfirmation[], now = new Date()): void {
      db.transaction(() => {
        if (!holds(ticket)) throw new LockLostError(ticket.target);
        for (const v of views) {
          if (v.ok) api.confirm(ticket.target, v.view, toSeq, v.totalRows, v.state, v.rows, now);
          else api.recordViewError(ticket.target, v.view, v.error, now);
        }
      }).immediate();
    },
    startRun(target: string, now = new Date()): number {
      return startRun.get(target, now.toISOString())!.id;
    },
    finishRun(id: number, target: string, result: { ok: boolean; rows: number; error: string | null; details: unknown }, now = new Date()): void {
      db.transaction(() => {
        finishRun.run({ id, at: now.toISOString(), ok: result.ok ? 1 : 0, rows: result.rows, error: result.error, details: JSON.stringify(result.details) });
        pruneRuns.run(target, target);
      }).immediate();
    },
    /** The latest finished run. */
    lastRun: (target: string): SyncRunRow | undefined => lastRun.get(target),
    /** The latest run, finished or not. */
    latestRun: (target: string): SyncRunRow | undefined => latestRun.get(target),
    lastSuccess: (target: string): SyncRunRow | undefined => lastOk.get(target),
    totalRows: (target: string): number => totalRows.get(target)!,
    viewErrors: (target: string): ViewErrorRow[] => viewErrors.all(target),
    /** A new owner id for one sync run. */
    newOwner: () => `${ownerPrefix}${randomUUID()}`,
    /** Takes the target's lock unless a live process holds it (a dead or silent holder loses it); a ticket with a new generation. */
    tryLock(target: string, owner: string, now = new Date()): LockTicket | undefined {
      // A lock this process failed to release earlier goes first (or is taken over just below).
      const left = unreleased.get(target);
      if (left !== undefined) {
        try {
          dropLock.run(target, left);
          unreleased.delete(target);
        } catch {
          /* still cannot write: tryLock below fails the same way, or reclaims it */
        }
      }
      const ticket = tryLock.immediate(target, owner, now);
      if (ticket) unreleased.delete(target);
      return ticket;
    },
    /** True while the ticket's run still holds the lock; false once it was taken over. */
    heartbeat: (t: LockTicket, now = new Date()): boolean => beat.run(now.toISOString(), t.target, t.owner, t.generation).changes > 0,
    /** Throws LockLostError unless the ticket still holds its lock. Call inside the transaction that commits the run's cursors. */
    assertHolds(t: LockTicket): void {
      if (!holds(t)) throw new LockLostError(t.target);
    },
    /** Releases the lock; if the database refuses (a full disk), remembers it and takes it back before the next run. */
    unlock(t: LockTicket): boolean {
      try {
        dropLock.run(t.target, t.owner);
        unreleased.delete(t.target);
        return true;
      } catch {
        unreleased.set(t.target, t.owner);
        return false;
      }
    },
    lockHolder: (target: string): LockHolder | undefined => getLock.get(target),
    /** The lock's holder while it has not lost it by the takeover rules (a heartbeat within LOCK_STALE_MS; on this host, a live pid). */
    liveHolder(target: string, now = new Date()): LockHolder | undefined {
      const held = getLock.get(target);
      if (!held || now.getTime() - Date.parse(held.heartbeat_at) > LOCK_STALE_MS) return undefined;
      if (held.host === host && held.pid !== process.pid && !pidAlive(held.pid)) return undefined;
      return held;
    },
    /** The seq from which a keyed view's rows are delivered again after a takeover (see REPAIR_RUNS), if any. */
    repairFrom: (target: string, view: ViewName): number | undefined => getRepair.get(target, view) ?? undefined,
  };
  return api;
}
export type SyncState = ReturnType<typeof createSyncState>;
