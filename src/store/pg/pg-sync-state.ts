import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { PoolClient } from 'pg';
import type { ViewCursor } from '../../model/sync.js';
import { KEYED_VIEWS, type ViewName } from '../../model/views.js';
import type { LockHolder, LockTicket, SyncRunRow, SyncStateStore, ViewConfirmation, ViewErrorRow } from '../store.js';
import { LockLostError } from '../lock-lost-error.js';
import { LOCK_STALE_MS } from '../sync-state.js';
import { toInt } from './pg-event-log.js';
import type { PgPool } from './pg-pool.js';
import { fromPgText, toPgText } from './pg-text.js';
import { inTransaction } from './pg-unit-of-work.js';

/** Syncs after a takeover that deliver keyed rows again (the taker's and the next one): as on SQLite. */
const REPAIR_RUNS = 2;
/** Runs of a target kept in sync_runs. */
const RUNS_KEPT = 1000;

export interface PgSyncStateOptions {
  /** A lease whose heartbeat is older than this (by the database's clock) is taken over. */
  staleMs?: number;
}

type RunRowPg = Omit<SyncRunRow, 'id'> & { id: string };
// Error messages (a target's, a sheet's) may quote data, whose text can hold U+0000: stored through toPgText (pg-text.ts).
const textOrNull = (s: string | null): string | null => (s === null ? null : toPgText(s));
const readText = (s: string | null): string | null => (s === null ? null : fromPgText(s));
const toRun = (r: RunRowPg | undefined): SyncRunRow | undefined => (r === undefined ? undefined : { ...r, id: toInt(r.id, 'id'), error: readText(r.error) });

type HolderPg = Omit<LockHolder, 'generation'> & { generation: string };
const toHolder = (r: HolderPg | undefined): LockHolder | undefined => (r === undefined ? undefined : { ...r, generation: toInt(r.generation, 'generation') });

// Lease times as ISO UTC text with milliseconds, like every other time ember-sync shows.
const ISO = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const HOLDER_COLUMNS = `owner, pid, host, generation, ${ISO('acquired_at')} AS acquired_at, ${ISO('heartbeat_at')} AS heartbeat_at`;

/**
 * Sync cursors, run history and the sync lease on PostgreSQL, shared by every
 * replica. The lease is timed by the database's clock only (clock_timestamp()
 * in SQL): replicas' clocks disagree, and a lease judged by the taker's clock
 * could be taken from a run that is beating on time. The `now` arguments of
 * the interface date the cursors and runs (as on SQLite), never the lease.
 *
 * Unlike SQLite, a holder is never judged dead by its pid: replicas run in
 * containers where a pid and a hostname say nothing about another replica's
 * process (the same pid is alive in every container). Only a heartbeat older
 * than the stale age loses the lease; every takeover of another owner's lease
 * is therefore treated as a takeover of a live run (its late writes are
 * repaired: REPAIR_RUNS).
 */
export function createPgSyncState(pool: PgPool, options: PgSyncStateOptions = {}): SyncStateStore {
  const staleMs = options.staleMs ?? LOCK_STALE_MS;
  const host = hostname();
  const ownerPrefix = `${host}:${process.pid}:${randomUUID().slice(0, 8)}:`;
  /** Leases this process could not release (the database was unreachable): released, or taken back, before its next attempt. */
  const unreleased = new Map<string, string>();

  const putCursor = (client: PoolClient, target: string, view: string, seq: number, rows: number, added: number, state: unknown, at: string) =>
    client.query({
      name: 'ember_sync_put_cursor',
      text: `INSERT INTO sync_state AS s (target, view, delivered_seq, delivered_rows, delivered_total, state, last_error, last_error_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, $7)
             ON CONFLICT (target, view) DO UPDATE SET delivered_seq = greatest(s.delivered_seq, excluded.delivered_seq), delivered_rows = excluded.delivered_rows,
               delivered_total = s.delivered_total + excluded.delivered_total, state = excluded.state, last_error = NULL, last_error_at = NULL,
               updated_at = excluded.updated_at, repair_runs = greatest(s.repair_runs - 1, 0),
               repair_from_seq = CASE WHEN s.repair_runs > 1 THEN s.repair_from_seq END`,
      values: [target, view, seq, rows, added, state === undefined ? null : JSON.stringify(state), at],
    });
  const putError = (client: PoolClient, target: string, view: string, error: string, at: string) =>
    client.query({
      name: 'ember_sync_put_error',
      text: `INSERT INTO sync_state AS s (target, view, last_error, last_error_at, updated_at) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (target, view) DO UPDATE SET last_error = excluded.last_error, last_error_at = excluded.last_error_at, updated_at = excluded.updated_at`,
      values: [target, view, toPgText(error), at],
    });

  const dropLease = async (target: string, owner: string) => {
    await pool.query({ name: 'ember_sync_drop_lock', text: 'DELETE FROM sync_locks WHERE target = $1 AND owner = $2', values: [target, owner] });
  };

  const acquire = (target: string, owner: string) =>
    inTransaction(pool, async (client): Promise<LockTicket | undefined> => {
      // The generation row serialises contenders for one target (the lease row may not exist yet).
      await client.query({
        name: 'ember_sync_gen_row',
        text: 'INSERT INTO sync_lock_generations (target, generation) VALUES ($1, 0) ON CONFLICT (target) DO NOTHING',
        values: [target],
      });
      await client.query({ name: 'ember_sync_gen_lock', text: 'SELECT generation FROM sync_lock_generations WHERE target = $1 FOR UPDATE', values: [target] });
      const held = await client.query<{ owner: string; stale: boolean }>({
        name: 'ember_sync_lease_age',
        text: `SELECT owner, clock_timestamp() - heartbeat_at > make_interval(secs => $2::double precision / 1000) AS stale FROM sync_locks WHERE target = $1`,
        values: [target, staleMs],
      });
      const lease = held.rows[0];
      let tookOverLive = false;
      if (lease && lease.owner !== owner) {
        // This very process left it behind when its release failed: take it back.
        const oursLeft = unreleased.get(target) === lease.owner;
        if (!lease.stale && !oursLeft) return undefined;
        tookOverLive = !oursLeft;
      }
      const gen = await client.query<{ generation: string }>({
        name: 'ember_sync_gen_next',
        text: 'UPDATE sync_lock_generations SET generation = generation + 1 WHERE target = $1 RETURNING generation',
        values: [target],
      });
      const generation = toInt(gen.rows[0]!.generation, 'generation');
      await client.query({
        name: 'ember_sync_put_lock',
        text: `INSERT INTO sync_locks (target, owner, pid, host, generation, acquired_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, clock_timestamp(), clock_timestamp())
               ON CONFLICT (target) DO UPDATE SET owner = excluded.owner, pid = excluded.pid, host = excluded.host, generation = excluded.generation,
                 acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at`,
        values: [target, owner, process.pid, host, generation],
      });
      if (tookOverLive) {
        // From where the run taken over started (its views' confirmed cursors), or from an older repair still open.
        await client.query({
          name: 'ember_sync_mark_repair',
          text: `INSERT INTO sync_state AS s (target, view, repair_from_seq, repair_runs) SELECT $1, v, 0, $3 FROM unnest($2::text[]) AS v
                 ON CONFLICT (target, view) DO UPDATE SET repair_from_seq = least(coalesce(s.repair_from_seq, s.delivered_seq), s.delivered_seq), repair_runs = excluded.repair_runs`,
          values: [target, [...KEYED_VIEWS], REPAIR_RUNS],
        });
      }
      return { target, owner, generation, tookOverLive };
    });

  return {
    async cursor(target: string, view: ViewName): Promise<ViewCursor> {
      const res = await pool.query<{ delivered_seq: string; delivered_rows: string; state: string | null; last_error: string | null; last_error_at: string | null }>({
        name: 'ember_sync_cursor',
        text: 'SELECT delivered_seq, delivered_rows, state, last_error, last_error_at FROM sync_state WHERE target = $1 AND view = $2',
        values: [target, view],
      });
      const row = res.rows[0];
      return {
        deliveredSeq: row ? toInt(row.delivered_seq, 'delivered_seq') : 0,
        deliveredRows: row ? toInt(row.delivered_rows, 'delivered_rows') : 0,
        state: row?.state ? (JSON.parse(row.state) as unknown) : undefined,
        lastError: readText(row?.last_error ?? null),
        lastErrorAt: row?.last_error_at ?? null,
      };
    },

    /**
     * The lease row is locked (FOR UPDATE) before it is checked: a takeover
     * waits for this commit, or this commit sees the takeover and writes nothing.
     */
    async commitRun(ticket: LockTicket, toSeq: number, views: readonly ViewConfirmation[], now = new Date()): Promise<void> {
      const at = now.toISOString();
      await inTransaction(pool, async (client) => {
        const held = await client.query<{ owner: string; generation: string }>({
          name: 'ember_sync_lease_for_update',
          text: 'SELECT owner, generation FROM sync_locks WHERE target = $1 FOR UPDATE',
          values: [ticket.target],
        });
        const lease = held.rows[0];
        if (!lease || lease.owner !== ticket.owner || toInt(lease.generation, 'generation') !== ticket.generation) throw new LockLostError(ticket.target);
        for (const v of views) {
          if (v.ok) await putCursor(client, ticket.target, v.view, toSeq, v.totalRows, v.rows, v.state, at);
          else await putError(client, ticket.target, v.view, v.error, at);
        }
      });
    },

    async startRun(target: string, now = new Date()): Promise<number> {
      const res = await pool.query<{ id: string }>({ name: 'ember_sync_start_run', text: 'INSERT INTO sync_runs (target, started_at) VALUES ($1, $2) RETURNING id', values: [target, now.toISOString()] });
      return toInt(res.rows[0]!.id, 'id');
    },

    async finishRun(id, target, result, now = new Date()): Promise<void> {
      await inTransaction(pool, async (client) => {
        await client.query({
          name: 'ember_sync_finish_run',
          text: 'UPDATE sync_runs SET finished_at = $2, ok = $3, rows = $4, error = $5, details = $6 WHERE id = $1',
          values: [id, now.toISOString(), result.ok ? 1 : 0, result.rows, textOrNull(result.error), JSON.stringify(result.details)],
        });
        await client.query({
          name: 'ember_sync_prune_runs',
          text: 'DELETE FROM sync_runs WHERE target = $1 AND id <= (SELECT id FROM sync_runs WHERE target = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)',
          values: [target, RUNS_KEPT],
        });
      });
    },

    async lastRun(target: string): Promise<SyncRunRow | undefined> {
      const res = await pool.query<RunRowPg>({
        name: 'ember_sync_last_run',
        text: 'SELECT id, target, started_at, finished_at, ok, rows, error, details FROM sync_runs WHERE target = $1 AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1',
        values: [target],
      });
      return toRun(res.rows[0]);
    },

    async latestRun(target: string): Promise<SyncRunRow | undefined> {
      const res = await pool.query<RunRowPg>({
        name: 'ember_sync_latest_run',
        text: 'SELECT id, target, started_at, finished_at, ok, rows, error, details FROM sync_runs WHERE target = $1 ORDER BY id DESC LIMIT 1',
        values: [target],
      });
      return toRun(res.rows[0]);
    },

    async lastSuccess(target: string): Promise<SyncRunRow | undefined> {
      const res = await pool.query<RunRowPg>({
        name: 'ember_sync_last_ok',
        text: 'SELECT id, target, started_at, finished_at, ok, rows, error, details FROM sync_runs WHERE target = $1 AND ok = 1 ORDER BY id DESC LIMIT 1',
        values: [target],
      });
      return toRun(res.rows[0]);
    },

    async totalRows(target: string): Promise<number> {
      const res = await pool.query<{ n: string }>({ name: 'ember_sync_total_rows', text: 'SELECT coalesce(sum(delivered_total), 0) AS n FROM sync_state WHERE target = $1', values: [target] });
      return toInt(res.rows[0]!.n, 'total');
    },

    async viewErrors(target: string): Promise<ViewErrorRow[]> {
      const res = await pool.query<ViewErrorRow>({
        name: 'ember_sync_view_errors',
        text: 'SELECT view, last_error, last_error_at FROM sync_state WHERE target = $1 AND last_error IS NOT NULL ORDER BY view',
        values: [target],
      });
      return res.rows.map((r) => ({ ...r, last_error: fromPgText(r.last_error) }));
    },

    newOwner: () => `${ownerPrefix}${randomUUID()}`,

    async tryLock(target: string, owner: string): Promise<LockTicket | undefined> {
      // A lease this process failed to release earlier goes first (or is taken back just below).
      const left = unreleased.get(target);
      if (left !== undefined) {
        try {
          await dropLease(target, left);
          unreleased.delete(target);
        } catch {
          /* still unreachable: acquire below fails the same way, or takes it back */
        }
      }
      const ticket = await acquire(target, owner);
      if (ticket) unreleased.delete(target);
      return ticket;
    },

    async heartbeat(t: LockTicket): Promise<boolean> {
      const res = await pool.query({
        name: 'ember_sync_heartbeat',
        text: 'UPDATE sync_locks SET heartbeat_at = clock_timestamp() WHERE target = $1 AND owner = $2 AND generation = $3',
        values: [t.target, t.owner, t.generation],
      });
      return (res.rowCount ?? 0) > 0;
    },

    async assertHolds(t: LockTicket): Promise<void> {
      const res = await pool.query({
        name: 'ember_sync_holds',
        text: 'SELECT 1 FROM sync_locks WHERE target = $1 AND owner = $2 AND generation = $3',
        values: [t.target, t.owner, t.generation],
      });
      if (res.rows.length === 0) throw new LockLostError(t.target);
    },

    async unlock(t: LockTicket): Promise<boolean> {
      try {
        await dropLease(t.target, t.owner);
        unreleased.delete(t.target);
        return true;
      } catch {
        unreleased.set(t.target, t.owner);
        return false;
      }
    },

    async lockHolder(target: string): Promise<LockHolder | undefined> {
      const res = await pool.query<HolderPg>({ name: 'ember_sync_lock_holder', text: `SELECT ${HOLDER_COLUMNS} FROM sync_locks WHERE target = $1`, values: [target] });
      return toHolder(res.rows[0]);
    },

    async liveHolder(target: string): Promise<LockHolder | undefined> {
      const res = await pool.query<HolderPg>({
        name: 'ember_sync_live_holder',
        text: `SELECT ${HOLDER_COLUMNS} FROM sync_locks WHERE target = $1 AND clock_timestamp() - heartbeat_at <= make_interval(secs => $2::double precision / 1000)`,
        values: [target, staleMs],
      });
      return toHolder(res.rows[0]);
    },

    async repairFrom(target: string, view: ViewName): Promise<number | undefined> {
      const res = await pool.query<{ seq: string | null }>({
        name: 'ember_sync_repair_from',
        text: 'SELECT CASE WHEN repair_runs > 0 THEN repair_from_seq END AS seq FROM sync_state WHERE target = $1 AND view = $2',
        values: [target, view],
      });
      const seq = res.rows[0]?.seq;
      return seq === null || seq === undefined ? undefined : toInt(seq, 'repair_from_seq');
    },
  };
}
