import { fail, pass, type CheckResult } from './check.js';
import { nextSyncTimes } from './next-sync.js';

/** When the server syncs next (and after), as its scheduler computes it. */
export function checkSchedule(schedule: string, timezone: string, now = new Date()): CheckResult {
  const [next, after] = nextSyncTimes(schedule, timezone, 2);
  if (!next) return fail('schedule', `SYNC_SCHEDULE "${schedule}" never fires again in ${timezone}: the server would never sync`, 'set SYNC_SCHEDULE to a cron expression that recurs (e.g. "* * * * *", every minute)');
  const inSeconds = Math.max(0, Math.round((next.getTime() - now.getTime()) / 1000));
  return pass('schedule', `SYNC_SCHEDULE "${schedule}" in ${timezone}: next sync at ${next.toISOString()} (in ${inSeconds} s)${after ? `, then ${after.toISOString()}` : ''}, while ember-sync serve runs`);
}
