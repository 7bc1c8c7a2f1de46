import { SYNC_TARGET_NAMES, type SyncTargetName } from '../model/sync.js';
import { VIEW_NAMES, type ViewName } from '../model/views.js';
import { dayIn } from '../model/time.js';
import type { Store } from './store.js';

/** Rows of every view that a target has not confirmed yet: new rows, and changed rows of keyed views (projected rows; see projector.lag for the rest). */
export async function pendingRows(store: Store, target: string, views: readonly ViewName[] = VIEW_NAMES): Promise<number> {
  // One read of the cursor and the columns for every view (this runs on each metrics scrape).
  const { toSeq, registry } = await store.projection.snapshot();
  let n = 0;
  for (const view of views) {
    const cursor = await store.sync.cursor(target, view);
    const { rows, keyed } = await store.views.snapshot(view, registry);
    n += keyed ? await keyed.countChanged(cursor.deliveredSeq, cursor.deliveredRows) : await rows.count({ fromSeq: cursor.deliveredSeq, toSeq });
  }
  return n;
}

/**
 * Pending rows when the target is at most `maxEvents` projected events behind
 * in every view, else `{ behind }` (how many events the furthest view is
 * behind) without counting: counting rows costs time in proportion to what
 * is pending (5.5 million pending rows of 1 million webhooks take ~1-2 s of the
 * server's only thread), and the console reads this on every page load.
 */
export async function pendingRowsBounded(store: Store, target: string, views: readonly ViewName[] = VIEW_NAMES, maxEvents = 50_000): Promise<{ rows: number } | { behind: number }> {
  const { toSeq } = await store.projection.snapshot();
  let oldest = toSeq;
  for (const view of views) oldest = Math.min(oldest, (await store.sync.cursor(target, view)).deliveredSeq);
  const behind = toSeq - oldest;
  return behind > maxEvents ? { behind } : { rows: await pendingRows(store, target, views) };
}

/** How far back a sync run of a target counts as "the server syncs it" (recentTargets). */
export const RECENT_TARGET_MS = 7 * 86_400_000;

/**
 * Targets that ran a sync recently according to the database, whatever this
 * shell's settings say: `status` or `doctor` run from a shell without the
 * server's environment (its systemd unit sets SHEETS_SPREADSHEET_ID) would
 * otherwise not mention a target that is failing.
 */
export async function recentTargets(store: Store, now = new Date()): Promise<SyncTargetName[]> {
  const since = new Date(now.getTime() - RECENT_TARGET_MS).toISOString();
  const recent: SyncTargetName[] = [];
  // A target ran since then exactly when its latest run started since then.
  for (const target of SYNC_TARGET_NAMES) {
    const latest = await store.sync.latestRun(target);
    if (latest && latest.started_at >= since) recent.push(target);
  }
  return recent;
}

/** What to do when EmberQA cannot reach the webhook URL. */
export const PUBLIC_URL_FIX = 'set PUBLIC_URL to the address EmberQA reaches this server at (your https proxy, e.g. https://hooks.example.com) and restart ember-sync serve';

/**
 * Why EmberQA (a hosted service) cannot reach a URL's host, or undefined when
 * it may: the default PUBLIC_URL is http://HOST:PORT, which is 127.0.0.1 or
 * 0.0.0.0 on a fresh install, and pasting that into EmberQA never works.
 */
export function unreachableHost(url: string): { kind: 'unspecified' | 'loopback' | 'private'; problem: string } | undefined {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return undefined;
  }
  if (host === '0.0.0.0' || host === '::') return { kind: 'unspecified', problem: `${host} is where the server listens (every interface), not an address EmberQA can reach` };
  if (host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '::1') return { kind: 'loopback', problem: `${host} is this machine only: EmberQA cannot reach it` };
  if (/^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|169\.254\.)/.test(host) || /^f[cd][0-9a-f]{2}:/.test(host) || /^fe80:/.test(host)) {
    return { kind: 'private', problem: `${host} is a private address: EmberQA reaches only a public one` };
  }
  return undefined;
}

/** unreachableHost as one sentence with what to do (console and status), or undefined. */
export function webhookUrlWarning(url: string): string | undefined {
  const u = unreachableHost(url);
  return u ? `${u.problem}. ${PUBLIC_URL_FIX[0]!.toUpperCase()}${PUBLIC_URL_FIX.slice(1)}` : undefined;
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

/**
 * Where a target's syncs stand:
 * - `never`: no run recorded;
 * - `running`: its latest run has not finished and its lock is held by a live process;
 * - `crashed`: its latest run started but never finished, and no live process holds the lock (it died);
 * - `locked`: a live process holds the lock without a run of its own (`ember-sync rebuild`, a RETENTION_DAYS run, or a sync starting);
 * - `ok` / `failed`: how its latest run ended.
 */
export type TargetState = 'never' | 'running' | 'crashed' | 'locked' | 'ok' | 'failed';

export interface LockInfo {
  pid: number;
  host: string;
  heartbeat_at: string;
}

/** A lock whose holder still beats (the same rule as a takeover: a silent holder, or a dead pid on this host, has lost it). */
async function liveLock(store: Store, target: string, now: Date): Promise<LockInfo | undefined> {
  const held = await store.sync.liveHolder(target, now);
  return held && { pid: held.pid, host: held.host, heartbeat_at: held.heartbeat_at };
}

export interface TargetRunState {
  state: TargetState;
  /** When the state began: the start of the running or crashed run, the end of a finished one. */
  since: string | null;
  /** The live holder of the sync lock (running, locked), else null. */
  lock: LockInfo | null;
}

/** The run state of one target, from its latest run (finished or not) and its lock. */
export async function targetRunState(store: Store, target: string, now = new Date()): Promise<TargetRunState> {
  // lastRun skips unfinished runs: the latest run of any kind tells running and crashed apart.
  const latest = await store.sync.latestRun(target);
  const lock = (await liveLock(store, target, now)) ?? null;
  if (latest && latest.finished_at === null) {
    return lock ? { state: 'running', since: latest.started_at, lock } : { state: 'crashed', since: latest.started_at, lock: null };
  }
  if (lock) return { state: 'locked', since: lock.heartbeat_at, lock };
  if (!latest) return { state: 'never', since: null, lock: null };
  return { state: latest.ok === 1 ? 'ok' : 'failed', since: latest.finished_at, lock: null };
}

export interface StatusOptions {
  /** The schedule the server syncs on, and its next run (null: it never fires again). */
  schedule?: { expression: string; timezone: string; next_run_at: string | null };
  now?: Date;
  /** The views each target takes (SHEETS_VIEWS); all when absent. Pending rows count those only. */
  viewsOf?: (target: SyncTargetName) => readonly ViewName[];
  /** RETENTION_DAYS the server runs with (null: keeps everything; undefined: not known). */
  retentionDays?: number | null;
}

/**
 * What RETENTION_DAYS keeps: the oldest kept day is the boundary of the last
 * run (the days before it are deleted, their daily rows kept), or the day of
 * the oldest webhook when nothing was ever deleted.
 */
async function retentionStatus(store: Store, days: number | null | undefined) {
  const s = await store.retention.state();
  const oldestEvent = await store.retention.oldestEvent();
  const oldestDay = oldestEvent === null ? null : (dayIn(oldestEvent, await store.reportTimezone()) ?? null);
  return {
    days: days ?? null,
    oldest_kept_day: s.keptFromDay ?? oldestDay,
    oldest_event_at: oldestEvent,
    last_run_at: s.lastRunAt,
    last_result: s.lastResult,
  };
}

/** Counts and state for `ember-sync status` and GET /api/status. Fields are only ever added (scripts read them). */
export async function collectStatus(store: Store, targets: readonly SyncTargetName[], options: StatusOptions = {}) {
  const now = options.now ?? new Date();
  const c = await store.events.counts();
  const parked = await store.projection.parked(20);
  const perTarget: Array<[SyncTargetName, TargetStatus]> = [];
  for (const target of targets) perTarget.push([target, await targetStatus(store, target, now, options)]);
  return {
    events: { total: c.events, last_seq: c.lastSeq, by_type: c.byType },
    quarantine: { held: c.quarantineHeld, attempts: c.quarantineAttempts },
    projector: {
      cursor: await store.projection.cursor(),
      lag: await store.projection.lag(),
      parked: await store.projection.parkedCount(),
      parked_events: parked.map((p) => ({ seq: p.seq, webhook_id: p.webhook_id, type: p.type, error: p.error, at: p.parked_at })),
    },
    /** The zone the keyed views' days are in (REPORT_TIMEZONE as the server last adopted it). */
    report_timezone: await store.reportTimezone(),
    /** Keys that got no column because of MAX_DYNAMIC_COLUMNS, per wide view. */
    columns_over_cap: await store.projection.overflow(),
    /** SYNC_SCHEDULE, SYNC_TIMEZONE and the next scheduled sync (while the server runs); null when not known. */
    schedule: options.schedule ?? null,
    /** RETENTION_DAYS and what it deleted last. */
    retention: await retentionStatus(store, options.retentionDays),
    targets: Object.fromEntries(perTarget),
  };
}
export type Status = Awaited<ReturnType<typeof collectStatus>>;

/** One target's part of the status. */
async function targetStatus(store: Store, target: SyncTargetName, now: Date, options: StatusOptions) {
  const last = await store.sync.lastRun(target);
  const ok = await store.sync.lastSuccess(target);
  const run = await targetRunState(store, target, now);
  return {
    /** The latest finished run (a run in progress or one that crashed is in `state`). */
    last_run: last ? { started_at: last.started_at, finished_at: last.finished_at, ok: last.ok === 1, rows: last.rows, error: last.error, notices: noticesOf(last.details) } : null,
    last_success_at: ok?.finished_at ?? null,
    rows_delivered: await store.sync.totalRows(target),
    rows_pending: await pendingRows(store, target, options.viewsOf?.(target)),
    view_errors: Object.fromEntries((await store.sync.viewErrors(target)).map((e) => [e.view, { error: e.last_error, at: e.last_error_at }])),
    state: run.state,
    state_since: run.since,
    lock: run.lock,
  };
}
type TargetStatus = Awaited<ReturnType<typeof targetStatus>>;
