import type { Logger } from 'pino';
import type { Metrics } from '../metrics/create-metrics.js';
import type { ColumnRegistry } from '../model/columns.js';
import type { KeyedRowSource, KeyedRows, SyncTarget, ViewDelivery, ViewOutcome } from '../model/sync.js';
import { isKeyedView, VIEW_NAMES, type LogViewName, type ViewName } from '../model/views.js';
import { monthOfDay } from '../model/partition.js';
import { LockLostError } from '../store/lock-lost-error.js';
import type { LockTicket, Store } from '../store/store.js';
import { errorMessage as message } from '../lib/text.js';
import { faultPoint } from './faults.js';
import { catchUpAsync } from './projector.js';

export interface SyncViewResult {
  view: ViewName;
  rows: number;
  error?: string;
}

export type SyncResult =
  | { target: string; status: 'ok' | 'failed'; rows: number; views: SyncViewResult[]; error?: string; notices?: string[] }
  | { target: string; status: 'locked'; holder: string };

export interface RunSyncOptions {
  store: Store;
  target: SyncTarget;
  logger: Logger;
  metrics?: Metrics;
  /** Keep trying to get the lock this long (the CLI waits for a running scheduled sync). */
  waitForLockMs?: number;
  /** Called once when the lock is held by another sync and this run starts waiting. */
  onWait?: (holder: string) => void;
  heartbeatMs?: number;
  /** Stops the run (server shutdown): nothing more is sent, nothing is committed, the rows stay pending. */
  signal?: AbortSignal;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function describeHolder(store: Store, target: string): Promise<string> {
  try {
    const h = await store.sync.lockHolder(target);
    return h ? `pid ${h.pid} on ${h.host}, last heartbeat ${h.heartbeat_at}` : 'another process';
  } catch {
    return 'another process';
  }
}

/**
 * After a takeover, a write the silent run had in flight may land late, over
 * newer values of changed rows: until the repair is done, every row changed
 * since `from` counts as changed (written again with its current values).
 */
function repairing(rows: KeyedRowSource, from: number | undefined): KeyedRowSource {
  if (from === undefined) return rows;
  const wrap = (r: KeyedRows): KeyedRows => ({
    total: r.total,
    pages: () => r.pages(),
    changed: (since, known) => r.changed(Math.min(since, from), known),
    countChanged: (since, known) => r.countChanged(Math.min(since, from), known),
  });
  const months = rows.months;
  return {
    ...wrap(rows),
    ...(months
      ? {
          months: {
            // A month renumbered since the silent run started: its late write may hold the old places, so it is written whole.
            list: months.list.map((m) => (m.resetSeq > from ? { ...m, resetSeq: Number.MAX_SAFE_INTEGER } : m)),
            changedSince: (since: number) => months.changedSince(Math.min(since, from)),
            rows: (month: string) => wrap(months.rows(month)),
          },
        }
      : {}),
  };
}

/**
 * What a target gets now, per view, from one snapshot of the projection (its
 * cursor and column list): the rows after the target's cursor for an
 * append-only view, the rows changed since it for a keyed view.
 */
export async function deliveriesFor(store: Store, target: string, snapshot?: { toSeq: number; registry: ColumnRegistry }, views: readonly ViewName[] = VIEW_NAMES): Promise<ViewDelivery[]> {
  const { toSeq, registry } = snapshot ?? (await store.projection.snapshot());
  const epoch = await store.keyedEpoch();
  const zone = await store.reportTimezone();
  // RETENTION_DAYS: the months before the oldest kept day's month are gone from the store; targets delete theirs.
  const keptFromDay = (await store.retention.state()).keptFromDay;
  const retained = keptFromDay === null ? {} : { retainFrom: monthOfDay(keptFromDay) };
  const deliveries: ViewDelivery[] = [];
  for (const view of views) {
    const cursor = await store.sync.cursor(target, view);
    const { header, rows, keyed } = await store.views.snapshot(view, registry);
    if (isKeyedView(view) && keyed) {
      const rows = repairing(keyed, await store.sync.repairFrom(target, view));
      deliveries.push({ kind: 'keyed', view, header, cursor, toSeq, zone, ...retained, epoch, pending: await rows.countChanged(cursor.deliveredSeq, cursor.deliveredRows), rows });
    } else {
      deliveries.push({ kind: 'log', view: view as LogViewName, header, cursor, toSeq, zone, ...retained, pending: await rows.count({ fromSeq: cursor.deliveredSeq, toSeq }), rows });
    }
  }
  return deliveries;
}

/**
 * One sync of one target: take the target's lock (one sync per target across
 * processes; each acquisition gets a new generation, its fencing token),
 * project what is pending, then hand the target every view's rows after its
 * cursor — header and rows from one column list taken once — and commit the
 * cursors of the views it confirmed in one transaction that first checks the
 * run still holds its lock. A crash in between leaves the cursors where they
 * were and the next sync hands the same rows again; the target makes that
 * idempotent. A heartbeat that fails or finds the lock taken over aborts the
 * run, and a run that lost its lock commits nothing.
 */
export async function runSync(o: RunSyncOptions): Promise<SyncResult> {
  const { store, target } = o;
  const owner = store.sync.newOwner();
  const deadline = Date.now() + (o.waitForLockMs ?? 0);
  let ticket: LockTicket | undefined;
  let waited = false;
  for (;;) {
    try {
      ticket = await store.sync.tryLock(target.name, owner);
    } catch (err) {
      o.metrics?.syncRuns.inc({ target: target.name, result: 'failed' });
      o.logger.error({ target: target.name, error: message(err) }, 'sync could not start: the database refused the lock');
      return { target: target.name, status: 'failed', rows: 0, views: [], error: `could not take the sync lock: ${message(err)}` };
    }
    if (ticket) break;
    if (Date.now() >= deadline) {
      o.metrics?.syncRuns.inc({ target: target.name, result: 'skipped' });
      return { target: target.name, status: 'locked', holder: await describeHolder(store, target.name) };
    }
    if (!waited) {
      waited = true;
      o.onWait?.(await describeHolder(store, target.name));
    }
    await sleep(250);
  }
  const lock = ticket;

  const abort = new AbortController();
  const stopFromOutside = () => abort.abort(o.signal?.reason ?? new Error('the sync was stopped'));
  if (o.signal?.aborted) stopFromOutside();
  else o.signal?.addEventListener('abort', stopFromOutside, { once: true });
  // One beat at a time: a beat the database is slow to answer is not joined by the next one.
  let beating = false;
  const heartbeat = setInterval(() => {
    if (beating) return;
    beating = true;
    void store.sync
      .heartbeat(lock)
      .then(
        (held) => {
          if (!held) abort.abort(new LockLostError(target.name));
        },
        (err: unknown) => abort.abort(new Error(`the sync lock heartbeat failed (${message(err)}); stopped so that another process can take over safely`)),
      )
      .finally(() => (beating = false));
  }, o.heartbeatMs ?? 15_000);
  heartbeat.unref();

  let runId: number | undefined;
  const finish = async (result: { ok: boolean; rows: number; error: string | null; details: unknown }) => {
    if (runId === undefined) return;
    try {
      await store.sync.finishRun(runId, target.name, result);
    } catch (err) {
      o.logger.error({ target: target.name, error: message(err) }, 'could not record the end of the sync run');
    }
  };
  const startedAt = new Date().toISOString();
  try {
    runId = await store.sync.startRun(target.name);
    await catchUpAsync(store.projection);
    // One read: the cursor and the column list agree, and every delivery keeps them.
    const { toSeq, registry } = await store.projection.snapshot();
    const taken = target.views ?? VIEW_NAMES;
    const deliveries = await deliveriesFor(store, target.name, { toSeq, registry }, taken);

    let outcomes: ViewOutcome[];
    try {
      // Checked right before every write a target cannot take back: the heartbeat alone could be 15 s late.
      const fence = async () => {
        abort.signal.throwIfAborted();
        try {
          await store.sync.assertHolds(lock);
        } catch (err) {
          abort.abort(err);
          throw err;
        }
      };
      const run = { startedAt, quarantined: await store.events.quarantineHeld(), parked: await store.projection.parkedCount() };
      outcomes = await target.deliver(deliveries, { signal: abort.signal, fence, run });
    } catch (err) {
      outcomes = taken.map((view) => ({ view, ok: false as const, error: message(err) }));
    }
    faultPoint('after-deliver');
    if (abort.signal.aborted) throw abort.signal.reason;

    // The lock checked and the cursors moved in one transaction: a run that lost its lock commits nothing.
    await store.sync.commitRun(
      lock,
      toSeq,
      outcomes.map((out) => (out.ok ? { view: out.view, ok: true, totalRows: out.receipt.totalRows, rows: out.receipt.rows, state: out.receipt.state } : out)),
    );

    const views: SyncViewResult[] = outcomes.map((out) => (out.ok ? { view: out.view, rows: out.receipt.rows } : { view: out.view, rows: 0, error: out.error }));
    const rows = views.reduce((n, v) => n + v.rows, 0);
    const failed = views.filter((v) => v.error);
    const error = failed.length ? failed.map((v) => `${v.view}: ${v.error}`).join('; ') : undefined;
    const notices = target.notices?.() ?? [];
    await finish({ ok: !error, rows, error: error ?? null, details: { views, notices } });
    for (const n of notices) o.logger.warn({ target: target.name }, n);
    for (const v of views) if (v.rows) o.metrics?.rowsDelivered.inc({ target: target.name, view: v.view }, v.rows);
    o.metrics?.syncRuns.inc({ target: target.name, result: error ? 'failed' : 'ok' });
    if (error) o.logger.error({ target: target.name, error }, 'sync failed; the rows stay pending for the next run');
    else o.logger.info({ target: target.name, rows, toSeq }, 'sync done');
    return { target: target.name, status: error ? 'failed' : 'ok', rows, views, ...(error ? { error } : {}), ...(notices.length ? { notices } : {}) };
  } catch (err) {
    const text = message(err);
    await finish({ ok: false, rows: 0, error: text, details: { views: [], notices: [] } });
    o.metrics?.syncRuns.inc({ target: target.name, result: 'failed' });
    o.logger.error({ target: target.name, error: text }, 'sync failed');
    return { target: target.name, status: 'failed', rows: 0, views: [], error: text };
  } finally {
    clearInterval(heartbeat);
    o.signal?.removeEventListener('abort', stopFromOutside);
    // A beat still in flight is harmless: it updates only a lock row this run still owns (none once released).
    if (!(await store.sync.unlock(lock).catch(() => false))) o.logger.warn({ target: target.name }, 'could not release the sync lock (the database refused the write); it is taken back before the next sync');
  }
}
