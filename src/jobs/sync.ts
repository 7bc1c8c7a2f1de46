import type { Logger } from 'pino';
import type { Metrics } from '../metrics/create-metrics.js';
import type { SyncTarget, ViewOutcome } from '../sinks/target.js';
import type { Store } from '../store/create-store.js';
import { VIEW_NAMES, type ViewName } from '../views/view-names.js';
import { faultPoint } from './faults.js';
import { catchUpAsync } from './projector.js';

export interface SyncViewResult {
  view: ViewName;
  rows: number;
  error?: string;
}

export type SyncResult =
  | { target: string; status: 'ok' | 'failed'; rows: number; views: SyncViewResult[]; error?: string }
  | { target: string; status: 'locked'; holder: string };

export interface RunSyncOptions {
  store: Store;
  target: SyncTarget;
  logger: Logger;
  metrics?: Metrics;
  /** Keep trying to get the lock this long (the CLI waits for a running scheduled sync). */
  waitForLockMs?: number;
  heartbeatMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One sync of one target: take the target's lock (one sync per target across
 * processes), project what is pending, hand the target every view's rows after
 * its cursor, then commit the cursors of the views it confirmed — in one
 * transaction, only after the target confirmed. A crash in between leaves the
 * cursors where they were and the next sync hands the same rows again; the
 * target makes that idempotent.
 */
export async function runSync(o: RunSyncOptions): Promise<SyncResult> {
  const { store, target } = o;
  const owner = store.sync.newOwner();
  const deadline = Date.now() + (o.waitForLockMs ?? 0);
  while (!store.sync.tryLock(target.name, owner)) {
    if (Date.now() >= deadline) {
      const h = store.sync.lockHolder(target.name);
      o.metrics?.syncRuns.inc({ target: target.name, result: 'skipped' });
      return { target: target.name, status: 'locked', holder: h ? `pid ${h.pid} on ${h.host} since ${h.heartbeat_at}` : 'another process' };
    }
    await sleep(250);
  }
  const heartbeat = setInterval(() => store.sync.heartbeat(target.name, owner), o.heartbeatMs ?? 15_000);
  const runId = store.sync.startRun(target.name);
  try {
    await catchUpAsync(store.projection);
    const toSeq = store.projection.cursor();
    const registry = store.projection.columns();
    const deliveries = VIEW_NAMES.map((view) => {
      const cursor = store.sync.cursor(target.name, view);
      return { view, header: store.views.header(view, registry), cursor, toSeq, pending: store.views.count(view, { fromSeq: cursor.deliveredSeq, toSeq }), reader: store.views };
    });

    let outcomes: ViewOutcome[];
    try {
      outcomes = await target.deliver(deliveries);
    } catch (err) {
      outcomes = VIEW_NAMES.map((view) => ({ view, ok: false as const, error: (err as Error).message }));
    }
    faultPoint('after-deliver');

    store.db
      .transaction(() => {
        for (const out of outcomes) {
          if (out.ok) store.sync.confirm(target.name, out.view, toSeq, out.receipt.totalRows, out.receipt.state);
          else store.sync.recordViewError(target.name, out.view, out.error);
        }
      })
      .immediate();

    const views: SyncViewResult[] = outcomes.map((out) => (out.ok ? { view: out.view, rows: out.receipt.rows } : { view: out.view, rows: 0, error: out.error }));
    const rows = views.reduce((n, v) => n + v.rows, 0);
    const failed = views.filter((v) => v.error);
    const error = failed.length ? failed.map((v) => `${v.view}: ${v.error}`).join('; ') : undefined;
    store.sync.finishRun(runId, target.name, { ok: !error, rows, error: error ?? null, details: views });
    for (const v of views) if (v.rows) o.metrics?.rowsDelivered.inc({ target: target.name, view: v.view }, v.rows);
    o.metrics?.syncRuns.inc({ target: target.name, result: error ? 'failed' : 'ok' });
    if (error) o.logger.error({ target: target.name, error }, 'sync failed; the rows stay pending for the next run');
    else o.logger.info({ target: target.name, rows, toSeq }, 'sync done');
    return { target: target.name, status: error ? 'failed' : 'ok', rows, views, ...(error ? { error } : {}) };
  } catch (err) {
    const message = (err as Error).message;
    store.sync.finishRun(runId, target.name, { ok: false, rows: 0, error: message, details: [] });
    o.metrics?.syncRuns.inc({ target: target.name, result: 'failed' });
    o.logger.error({ err, target: target.name }, 'sync failed');
    return { target: target.name, status: 'failed', rows: 0, views: [], error: message };
  } finally {
    clearInterval(heartbeat);
    store.sync.unlock(target.name, owner);
  }
}
