import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { addDays, dayIn, dayStart } from '../model/time.js';
import { monthOfDay } from '../model/partition.js';
import type { RetentionStore, Store } from '../store/store.js';
import { withAllSyncLocks } from './hold-sync-locks.js';
import { catchUpAsync } from './projector.js';

/** What RETENTION_DAYS keeps at an instant. */
export interface RetentionHorizon {
  /** The oldest calendar day kept, in REPORT_TIMEZONE: today and the N days before it. */
  keptFromDay: string;
  /** Its first instant (ISO UTC): events received before it go. */
  cutoff: string;
  /** Its month: the months before it go whole (contents rows, month files, month tabs). */
  retainFrom: string;
}

/**
 * Keeps today and the `days` calendar days before it (in `zone`): what is
 * deleted is always more than `days` days old, and the oldest kept day is
 * whole. Days are calendar days, so a DST change never shifts the boundary.
 */
export function retentionHorizon(now: Date, days: number, zone: string): RetentionHorizon {
  const today = dayIn(now.toISOString(), zone) ?? now.toISOString().slice(0, 10);
  const keptFromDay = addDays(today, -days);
  return { keptFromDay, cutoff: new Date(dayStart(keptFromDay, zone)).toISOString(), retainFrom: monthOfDay(keptFromDay) };
}

export interface RetentionRunOptions {
  store: Store;
  /** RETENTION_DAYS. */
  days: number;
  now?: Date;
  /** About how long each deleting transaction may hold the write lock (webhooks wait for it); default 5 ms. */
  stepMs?: number;
  /** How long to wait for running syncs (their locks) before giving up until the next run. */
  waitForLockMs?: number;
  /** Stops between steps (server shutdown); the next run goes on where this one stopped. */
  signal?: AbortSignal;
  /** See MAX_WAL_BACKLOG (tests). */
  maxWalBytes?: number;
  walWaitMs?: number;
}

export interface RetentionResult {
  keptFromDay: string;
  cutoff: string;
  events: number;
  quarantine: number;
  contents: number;
  metricRows: number;
  /** Calls of deleted months still active (a webhook since the cutoff): moved to the first kept month. */
  movedCalls: number;
  /** Bytes given back to the file system (incremental vacuum). */
  freedBytes: number;
  /** The file cannot shrink (auto_vacuum off: a database from before RETENTION_DAYS); freed pages are reused by new data. */
  vacuumOff: boolean;
  /** The database gives space back by itself (PostgreSQL's autovacuum): nothing for the run to do. */
  spaceByDatabase?: boolean;
}

/** Past this much WAL that no checkpoint could copy (a reader elsewhere holds it), a run waits, then stops until the next one. */
export const MAX_WAL_BACKLOG = 64 * 1024 * 1024;

/**
 * Waits (up to a minute) while a reader in another process keeps the WAL
 * from being checkpointed and it holds more than MAX_WAL_BACKLOG; then stops
 * the run: deleting and vacuuming would grow the WAL by every page they touch
 * (gigabytes at millions of webhooks) until that reader ends.
 */
async function walRoom(space: RetentionStore['space'], o: { signal?: AbortSignal | undefined; maxWalBytes?: number | undefined; walWaitMs?: number | undefined }): Promise<void> {
  if (!space) return;
  const max = o.maxWalBytes ?? MAX_WAL_BACKLOG;
  const until = Date.now() + (o.walWaitMs ?? 60_000);
  for (let backlog = await space.walBacklog(); backlog > max; backlog = await space.walBacklog()) {
    if (Date.now() >= until) {
      throw new Error(`another process holds a read transaction on the database (an sqlite3 shell, a backup tool?): ${(backlog / 1048576).toFixed(0)} MB of WAL cannot be checkpointed; retention stops here and goes on at its next check`);
    }
    o.signal?.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Repeats `step` (which deletes up to `limit` things in one transaction and
 * says how many) until it finds nothing, sizing `limit` so that each
 * transaction takes about `stepMs`, and giving the event loop back between
 * steps so webhooks are received and committed meanwhile.
 */
async function paced(step: (limit: number) => Promise<number>, stepMs: number, signal: AbortSignal | undefined, room: () => Promise<void> = async () => {}): Promise<number> {
  // Small first: a step's cost is unknown until measured (webhooks of 1 MB make each row cost milliseconds).
  let limit = 8;
  let total = 0;
  for (;;) {
    signal?.throwIfAborted();
    await room();
    const started = performance.now();
    const n = await step(limit);
    const took = performance.now() - started;
    total += n;
    if (n < limit) return total;
    if (took < stepMs / 2) limit = Math.min(limit * 2, 10_000);
    else if (took > stepMs) limit = Math.max(1, Math.floor(limit / 2));
    await yieldToLoop();
  }
}

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/** The run's outcome in one line (status shows it). */
export function describeRetention(r: RetentionResult): string {
  const parts = [plural(r.events, 'webhook'), plural(r.quarantine, 'quarantined payload'), `${plural(r.contents, 'call')} (${plural(r.metricRows, 'metric row')})`];
  const space = r.spaceByDatabase
    ? 'space reused by the database (autovacuum)'
    : r.vacuumOff
      ? 'space reused, the file does not shrink (auto_vacuum off: see README)'
      : `${(r.freedBytes / 1048576).toFixed(1)} MB given back`;
  const moved = r.movedCalls > 0 ? `; ${plural(r.movedCalls, 'call')} of deleted months still active moved to ${r.keptFromDay.slice(0, 7)}` : '';
  return `deleted ${parts.join(', ')} before ${r.keptFromDay}${moved}; ${space}`;
}

/**
 * One run of RETENTION_DAYS: closes the days before the oldest kept day
 * (their daily rows stay as they are), then deletes the events received
 * before it with their rows in the append-only views, the quarantined
 * payloads last received before it, the contents/content_scores rows of the
 * whole months before its month, and the console's old hourly counts; then
 * gives the freed pages back to the file system a few at a time. The sync
 * locks of every target are held meanwhile (no sync reads rows while they
 * go; a target deletes its month files/tabs at its next sync). Every step is
 * a short transaction, so webhooks keep being committed; a run that stops
 * anywhere is finished by the next.
 */
export async function runRetention(o: RetentionRunOptions): Promise<RetentionResult> {
  const { store } = o;
  const stepMs = o.stepMs ?? 5;
  const horizon = retentionHorizon(o.now ?? new Date(), o.days, await store.reportTimezone());
  const r = store.retention;
  const deleted = await withAllSyncLocks(store, { waitForLockMs: o.waitForLockMs ?? 0 }, async () => {
    // Every webhook in the daily rows before their days close (the server's projector is normally there already).
    await catchUpAsync(store.projection);
    // Close first: from here on the projection leaves those days' rows alone, so deleting the calls cannot disturb them.
    const state = await r.close(horizon.keptFromDay, horizon.cutoff);
    const cutoff = state.cutoff!;
    const keptFromDay = state.keptFromDay!;
    // Once per database from before retention: its events enter the by-age table (a seq range per step).
    const room = () => walRoom(r.space, o);
    await paced((n) => r.enterOldEvents(n), stepMs, o.signal, room);
    const events = await paced((n) => r.deleteEvents(cutoff, n), stepMs, o.signal, room);
    const quarantine = await paced((n) => r.deleteQuarantine(cutoff, n), stepMs, o.signal, room);
    let contents = 0;
    let moved = 0;
    let metricRows = 0;
    const month = monthOfDay(keptFromDay);
    const keep = { cutoff, day: keptFromDay };
    // Calls of the deleted months still active move first (one read of those months), then the rest goes; a call that
    // became active during the run (a late webhook) is left by the deletes and moved by the next pass.
    for (let pass = 0; pass < 3; pass++) {
      const calls = await r.activeCallsBefore(month, keep);
      let at = 0;
      await paced(
        async (n) => {
          const slice = calls.slice(at, at + n);
          if (slice.length === 0) return 0;
          let m = await r.moveCalls(month, slice);
          // Webhooks came in since: derive them first (a few at most; a move needs the projection caught up).
          for (let i = 0; m === 'behind' && i < 100; i++) {
            await store.projection.catchUp();
            m = await r.moveCalls(month, slice);
          }
          if (m === 'behind') throw new Error('the projection does not catch up with the webhooks coming in; the next run goes on');
          at += m;
          moved += m;
          return m;
        },
        stepMs,
        o.signal,
        room,
      );
      await paced(
        async (n) => {
          const d = await r.deleteMonths(month, n, keep);
          contents += d.contents;
          metricRows += d.metricRows;
          return d.contents + d.metricRows;
        },
        stepMs,
        o.signal,
        room,
      );
      if (!(await r.leftBefore(month))) break;
    }
    await r.deleteHours(cutoff);
    return { keptFromDay, cutoff, events, quarantine, contents, metricRows, movedCalls: moved };
  });
  // The syncs may go on meanwhile: giving pages back changes no row.
  const space = r.space;
  const vacuumOff = space !== undefined && (await space.autoVacuum()) !== 2;
  let freedBytes = 0;
  if (space && !vacuumOff) {
    const pageSize = await space.pageSize();
    const before = await space.freePages();
    let left = before;
    let pages = 16;
    while (left > 0) {
      o.signal?.throwIfAborted();
      await walRoom(space, o);
      const started = performance.now();
      const now = await space.vacuumStep(pages);
      const took = performance.now() - started;
      if (now >= left) break; // nothing more could be freed
      left = now;
      if (took < stepMs / 2) pages = Math.min(pages * 2, 65_536);
      else if (took > stepMs) pages = Math.max(16, Math.floor(pages / 2));
      await yieldToLoop();
    }
    freedBytes = (before - left) * pageSize;
  }
  const result: RetentionResult = { ...deleted, freedBytes, vacuumOff, ...(space ? {} : { spaceByDatabase: true }) };
  await r.finish((o.now ?? new Date()).toISOString(), describeRetention(result));
  return result;
}
