import type { Logger } from 'pino';
import { runSync } from '../../jobs/sync.js';
import { errorMessage } from '../../lib/text.js';
import type { Metrics } from '../../metrics/create-metrics.js';
import type { SyncTarget } from '../../model/sync.js';
import type { Store } from '../../store/store.js';

export interface SyncNowDeps {
  store: Store;
  targets: readonly SyncTarget[];
  logger: Logger;
  metrics?: Metrics | undefined;
  /** Server shutdown: a running sync stops at its next request, and no new one starts. */
  signal: AbortSignal;
  now?: () => Date;
}

export type SyncNowStart = { kind: 'started' } | { kind: 'busy'; holder: string } | { kind: 'unknown' } | { kind: 'stopping' };

export interface SyncActivity {
  running: boolean;
  /** Who runs it: this console, or another sync (the schedule, the CLI, another replica). */
  holder?: string;
  since?: string;
}

/**
 * "Sync now" from the console: the same runSync as the scheduler, in the
 * background (a Sheets sync can take minutes; the page follows it). One sync
 * per target at a time: a click while one runs (here or anywhere the lock
 * says) starts nothing and says who runs it; runSync's lock settles a race
 * between two starts.
 */
export function createSyncNow(d: SyncNowDeps) {
  const now = d.now ?? (() => new Date());
  const running = new Map<string, { since: string; done: Promise<void> }>();
  /** What the last console start of a target could not do (it lost the race for the lock). */
  const notes = new Map<string, string>();

  // The same liveness rule as status and a takeover: a silent holder, or a dead pid on this host, holds nothing.
  const lockHolder = async (name: string): Promise<{ holder: string; since: string } | undefined> => {
    const held = await d.store.sync.liveHolder(name, now());
    return held && { holder: `pid ${held.pid} on ${held.host}`, since: held.heartbeat_at };
  };

  return {
    names: (): string[] => d.targets.map((t) => t.name),
    async start(name: string): Promise<SyncNowStart> {
      const target = d.targets.find((t) => t.name === name);
      if (!target) return { kind: 'unknown' };
      if (d.signal.aborted) return { kind: 'stopping' };
      const mine = running.get(name);
      if (mine) return { kind: 'busy', holder: `this console, since ${mine.since}` };
      const other = await lockHolder(name);
      if (other) return { kind: 'busy', holder: other.holder };
      // The lock was read while other clicks went on: one of them may have started this target meanwhile.
      const raced = running.get(name);
      if (raced) return { kind: 'busy', holder: `this console, since ${raced.since}` };
      if (d.signal.aborted) return { kind: 'stopping' };
      notes.delete(name);
      const since = now().toISOString();
      const done = runSync({ store: d.store, target, logger: d.logger, ...(d.metrics ? { metrics: d.metrics } : {}), signal: d.signal })
        .then((result) => {
          if (result.status === 'locked') notes.set(name, `not started: another sync took the lock first (${result.holder})`);
        })
        .catch((err: unknown) => {
          // runSync records its own failures; this is only a fault of the runner itself.
          d.logger.error({ target: name, error: errorMessage(err) }, 'console sync failed');
        })
        .finally(() => running.delete(name));
      running.set(name, { since, done });
      return { kind: 'started' };
    },
    async activity(name: string): Promise<SyncActivity> {
      const mine = running.get(name);
      if (mine) return { running: true, holder: 'this console', since: mine.since };
      const other = await lockHolder(name);
      return other ? { running: true, holder: other.holder, since: other.since } : { running: false };
    },
    note: (name: string): string | undefined => notes.get(name),
    /** Resolves when the syncs started here have ended (shutdown waits for them). */
    async idle(): Promise<void> {
      await Promise.all([...running.values()].map((r) => r.done));
    },
  };
}
export type SyncNow = ReturnType<typeof createSyncNow>;
