import { createTask, type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';

export interface SchedulerOptions {
  schedule: string;
  timezone: string;
  logger: Logger;
  /** One scheduled run (every target); never throws. */
  run: () => Promise<void>;
}

/**
 * The server's only trigger for syncs: node-cron on SYNC_SCHEDULE in
 * SYNC_TIMEZONE. A run still going when the next tick comes is not started
 * twice (noOverlap) and the skip is logged; across processes the database
 * lock does the same. node-cron's own messages go to our JSON log, not to
 * the console.
 */
export function createScheduler(o: SchedulerOptions) {
  let task: ScheduledTask | undefined;
  let current: Promise<void> | undefined;
  const tick = async () => {
    current = o.run().catch((err: unknown) => o.logger.error({ err }, 'scheduled sync failed'));
    await current;
    current = undefined;
  };
  const cronLogger = {
    info: (m: string) => o.logger.debug({ source: 'node-cron' }, m),
    warn: (m: string) => o.logger.debug({ source: 'node-cron' }, m),
    error: (m: string | Error, err?: Error) => o.logger.error({ source: 'node-cron', err: err ?? m }, typeof m === 'string' ? m : m.message),
    debug: (m: string | Error) => o.logger.debug({ source: 'node-cron' }, typeof m === 'string' ? m : m.message),
  };
  return {
    start(): void {
      task = createTask(o.schedule, tick, { timezone: o.timezone, noOverlap: true, name: 'ember-sync', logger: cronLogger });
      task.on('execution:overlap', (ctx) => {
        o.logger.warn({ slot: ctx.date.toISOString() }, 'scheduled sync skipped: the previous sync is still running (it goes on; the next tick starts a new one)');
      });
      void task.start();
    },
    /** Stops the schedule and waits for a run in progress. */
    async stop(): Promise<void> {
      await task?.stop();
      await task?.destroy();
      task = undefined;
      await current;
    },
  };
}
