import type { Logger } from 'pino';
import type { Projection } from '../store/projection.js';

export interface ProjectorOptions {
  projection: Projection;
  logger: Logger;
  /** Events per transaction: small enough to keep the event loop (and p99) free. */
  chunk?: number;
  /** Pause between chunks while webhooks keep arriving, so ingest keeps its priority. */
  busyDelayMs?: number;
}

/**
 * Builds view rows shortly after each commit, off the request path, and at
 * start (after a crash the cursor is behind and it catches up). Under a burst
 * it yields to ingest and lags; the lag is a gauge and is caught up when the burst ends.
 */
export function createProjector(options: ProjectorOptions) {
  const chunk = options.chunk ?? 200;
  const busyDelayMs = options.busyDelayMs ?? 25;
  let timer: NodeJS.Timeout | undefined;
  let lastKick = 0;
  let stopped = false;

  function schedule(delay: number): void {
    if (stopped || timer) return;
    timer = setTimeout(run, delay);
  }

  function run(): void {
    timer = undefined;
    let n = 0;
    try {
      n = options.projection.projectBatch(chunk);
    } catch (err) {
      // A busy database or a full disk: the cursor did not move; try again later.
      options.logger.error({ err }, 'projector: could not build view rows, retrying in 1 s');
      schedule(1000);
      return;
    }
    if (n === chunk) schedule(Date.now() - lastKick < busyDelayMs ? busyDelayMs : 0);
  }

  return {
    /** Something was committed: project it soon. */
    kick(): void {
      lastKick = Date.now();
      schedule(5);
    },
    start(): void {
      stopped = false;
      schedule(0);
    },
    stop(): void {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
export type Projector = ReturnType<typeof createProjector>;
