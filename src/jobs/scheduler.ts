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
 * twice (noOverlap); across processes the database lock does the same.
 */
export function createScheduler(o: SchedulerOptions) {
  let task: ScheduledTask | undefined;
  let current: Promise<void> | undefined;
  const tick = async () => {
    current = o.run().catch((err: unknown) => o.logger.error({ err }, 'scheduled sync failed'));
    await current;
    current = undefined;
  };
  return {
    start(): void {
      task = createTask(o.schedule, tick, { timezone: o.timezone, noOverlap: true, name: 'ember-sync' });
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
