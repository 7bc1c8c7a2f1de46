import type { SyncTargetName } from '../model/sync.js';
import { VIEW_NAMES } from '../model/views.js';
import type { Store } from './create-store.js';

/** Rows of every view that a target has not confirmed yet: new rows, and changed rows of keyed views (projected rows; see projector.lag for the rest). */
export function pendingRows(store: Store, target: string): number {
  // One read of the cursor and the columns for every view (this runs on each metrics scrape).
  const { toSeq, registry } = store.projection.snapshot();
  return VIEW_NAMES.reduce((n, view) => {
    const cursor = store.sync.cursor(target, view);
    const { rows, keyed } = store.views.snapshot(view, registry);
    return n + (keyed ? keyed.countChanged(cursor.deliveredSeq, cursor.deliveredRows) : rows.count({ fromSeq: cursor.deliveredSeq, toSeq }));
  }, 0);
}

/** The target's notices kept with a run (runs from before notices existed have none). */
function noticesOf(details: string | null): string[] {
  try {
    const d = JSON.parse(details ?? 'null') as { notices?: unknown } | null;
    return Array.isArray(d?.notices) ? d.notices.filter((n): n is string => typeof n === 'string') : [];
  } catch {
    return [];
  }
}

/** Counts and state for `ember-sync status` and GET /api/status. */
export function collectStatus(store: Store, targets: readonly SyncTargetName[]) {
  const c = store.events.counts();
  const parked = store.projection.parked(20);
  return {
    events: { total: c.events, last_seq: c.lastSeq, by_type: c.byType },
    quarantine: { held: c.quarantineHeld, attempts: c.quarantineAttempts },
    projector: {
      cursor: store.projection.cursor(),
      lag: store.projection.lag(),
      parked: store.projection.parkedCount(),
      parked_events: parked.map((p) => ({ seq: p.seq, webhook_id: p.webhook_id, type: p.type, error: p.error, at: p.parked_at })),
    },
    /** The zone the keyed views' days are in (REPORT_TIMEZONE as the server last adopted it). */
    report_timezone: store.reportTimezone(),
    /** Keys that got no column because of MAX_DYNAMIC_COLUMNS, per wide view. */
    columns_over_cap: store.projection.overflow(),
    targets: Object.fromEntries(
      targets.map((target) => {
        const last = store.sync.lastRun(target);
        const ok = store.sync.lastSuccess(target);
        return [
          target,
          {
            last_run: last ? { started_at: last.started_at, finished_at: last.finished_at, ok: last.ok === 1, rows: last.rows, error: last.error, notices: noticesOf(last.details) } : null,
            last_success_at: ok?.finished_at ?? null,
            rows_delivered: store.sync.totalRows(target),
            rows_pending: pendingRows(store, target),
            view_errors: Object.fromEntries(store.sync.viewErrors(target).map((e) => [e.view, { error: e.last_error, at: e.last_error_at }])),
          },
        ];
      }),
    ),
  };
}
export type Status = ReturnType<typeof collectStatus>;
