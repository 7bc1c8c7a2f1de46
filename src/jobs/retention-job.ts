import type { Logger } from 'pino';
import { dayIn } from '../model/time.js';
import type { Store } from '../store/store.js';
import { errorMessage } from '../lib/text.js';
import { SyncLocksBusyError } from './hold-sync-locks.js';
import { describeRetention, runRetention, type RetentionResult } from './retention.js';

export interface RetentionJobOptions {
  store: Store;
  /** RETENTION_DAYS. */
  days: number;
  logger: Logger;
  /** How often the server checks whether today's run is due (default hourly). */
  checkEveryMs?: number;
  /** The first check, after the start (default 1 minute: the server first catches up on webhooks). */
  firstCheckMs?: number;
  /** How long a run waits for a sync that is running (default 60 s; then it tries again at the next check). */
  waitForLockMs?: number;
  now?: () => Date;
}

/**
 * RETENTION_DAYS in the server: once a day (REPORT_TIMEZONE), at the first
 * hourly check of a day on which no run completed. A run that finds a sync
 * running, or fails, is tried again at the next check. Not on SYNC_SCHEDULE:
 * deleting must happen even when syncs are rare or failing.
 */
export function createRetentionJob(o: RetentionJobOptions) {
  const now = o.now ?? (() => new Date());
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<RetentionResult | undefined> | undefined;

  const due = async (): Promise<boolean> => {
    const last = (await o.store.retention.state()).lastRunAt;
    if (last === null) return true;
    const zone = await o.store.reportTimezone();
    return dayIn(last, zone) !== dayIn(now().toISOString(), zone);
  };

  async function run(): Promise<RetentionResult | undefined> {
    try {
      const result = await runRetention({ store: o.store, days: o.days, now: now(), signal: stopping.signal, waitForLockMs: o.waitForLockMs ?? 60_000 });
      o.logger.info({ retention_days: o.days, kept_from_day: result.keptFromDay, events: result.events, quarantine: result.quarantine, contents: result.contents, freed_bytes: result.freedBytes }, `retention: ${describeRetention(result)}`);
      return result;
    } catch (err) {
      if (stopping.signal.aborted) return undefined;
      if (err instanceof SyncLocksBusyError) {
        o.logger.info(`retention waits: ${err.message}; it tries again within the hour`);
        return undefined;
      }
      o.logger.error({ err }, 'retention failed; it tries again within the hour');
      try {
        await o.store.retention.fail(`failed at ${now().toISOString()}: ${errorMessage(err)}`);
      } catch {
        /* the database itself is failing: the log line above says it */
      }
      return undefined;
    }
  }

  /** Whether a run is due, being checked (one check at a time: a slow database never starts two runs). */
  let checking = false;
  const check = async () => {
    if (current || checking || stopping.signal.aborted) return;
    checking = true;
    try {
      if (!(await due()) || current || stopping.signal.aborted) return;
    } catch (err) {
      o.logger.error({ err }, 'retention could not check whether a run is due; it tries again within the hour');
      return;
    } finally {
      checking = false;
    }
    current = run().finally(() => (current = undefined));
  };

  return {
    start(): void {
      timer = setTimeout(function tick() {
        void check();
        timer = setTimeout(tick, o.checkEveryMs ?? 3_600_000);
        timer.unref();
      }, o.firstCheckMs ?? 60_000);
      timer.unref();
    },
    /** One run now, whatever the day (tests, and the first start with a new setting). */
    runNow(): Promise<RetentionResult | undefined> {
      current ??= run().finally(() => (current = undefined));
      return current;
    },
    async stop(): Promise<void> {
      clearTimeout(timer);
      stopping.abort(new Error('the server is shutting down'));
      await current;
    },
  };
}

export type RetentionJob = ReturnType<typeof createRetentionJob>;
