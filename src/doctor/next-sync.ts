import { createTask } from 'node-cron';

/**
 * The next `count` times SYNC_SCHEDULE fires in SYNC_TIMEZONE, from now, as
 * node-cron (the server's scheduler) computes them; empty when it never fires
 * again. The task is never started: nothing runs.
 */
export function nextSyncTimes(schedule: string, timezone: string, count = 1): Date[] {
  let task;
  try {
    task = createTask(schedule, () => undefined, { timezone });
    return task.getNextRuns(count);
  } catch {
    return [];
  } finally {
    void task?.destroy();
  }
}

/** The schedule as `status` reports it. */
export function scheduleStatus(schedule: string, timezone: string): { expression: string; timezone: string; next_run_at: string | null } {
  return { expression: schedule, timezone, next_run_at: nextSyncTimes(schedule, timezone)[0]?.toISOString() ?? null };
}
