/**
 * Fault injection for crash tests: with EMBER_SYNC_FAULT=<point> the process
 * kills itself with SIGKILL at that point, exactly like a power cut would stop it.
 * Points: `after-deliver` (the target has the rows, the cursor is not committed yet).
 */
export type FaultPoint = 'after-deliver';

export function faultPoint(point: FaultPoint, env: NodeJS.ProcessEnv = process.env): void {
  if (env['EMBER_SYNC_FAULT'] === point) process.kill(process.pid, 'SIGKILL');
}
