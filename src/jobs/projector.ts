import type { ProjectionStore } from '../store/store.js';

export interface ProjectorOptions {
  projection: Pick<ProjectionStore, 'projectBatch'>;
  onError: (err: unknown) => void;
  /** Events per transaction. */
  chunk?: number;
  /** Share of the time the projector may take while webhooks keep arriving (ingest keeps priority). */
  busyShare?: number;
  /** Webhooks within this window mean "busy". */
  quietMs?: number;
}

/**
 * Builds view rows shortly after each commit and at start (after a crash the
 * cursor is behind and it catches up). While webhooks keep arriving it takes
 * at most `busyShare` of the time, so a burst is answered first and projected
 * right after; when ingest is quiet it runs flat out until it has caught up.
 * One batch at a time: a kick during a batch runs the next one after it.
 */
export function createProjector(options: ProjectorOptions) {
  const chunk = options.chunk ?? 100;
  const busyShare = options.busyShare ?? 0.05;
  const quietMs = options.quietMs ?? 20;
  let timer: NodeJS.Timeout | undefined;
  let lastKick = 0;
  let stopped = false;
  /** The batch in flight. */
  let running: Promise<void> | undefined;
  /** The shortest delay asked for while a batch ran. */
  let asked: number | undefined;
  /**
   * No batch starts before this (performance.now()): the pause after a failure
   * or the yield to ingest. Kicks cannot bring it forward — on PostgreSQL a
   * batch is asynchronous and every commit during it kicks, which used to
   * cancel the yield (the projector then ran flat out beside ingest).
   */
  let notBefore = 0;

  function schedule(delay: number): void {
    if (stopped || timer) return;
    if (running) {
      asked = Math.min(asked ?? delay, delay);
      return;
    }
    const wait = Math.max(delay, notBefore - performance.now());
    timer = setTimeout(() => {
      timer = undefined;
      running = run().finally(() => {
        running = undefined;
        const next = asked;
        asked = undefined;
        if (next !== undefined) schedule(next);
      });
    }, Math.max(0, wait));
  }

  async function run(): Promise<void> {
    const start = performance.now();
    let n = 0;
    try {
      n = await options.projection.projectBatch(chunk);
    } catch (err) {
      // A busy database or a full disk: the cursor did not move; try again later.
      options.onError(err);
      notBefore = performance.now() + 1000;
      asked = Math.min(asked ?? 1000, 1000);
      return;
    }
    if (n < chunk) return;
    const took = performance.now() - start;
    const busy = performance.now() - lastKick < quietMs;
    if (busy) notBefore = performance.now() + (took * (1 - busyShare)) / busyShare;
    asked = 0;
  }

  return {
    /** Something was committed: project it soon. */
    kick(): void {
      lastKick = performance.now();
      schedule(quietMs);
    },
    start(): void {
      stopped = false;
      schedule(0);
    },
    /** Stops scheduling; resolves once the batch in flight (if any) is done. */
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}

/**
 * Projects everything pending without holding the event loop: one chunk per
 * turn, so a server keeps answering webhooks while an export or a sync catches up.
 */
export async function catchUpAsync(projection: Pick<ProjectionStore, 'projectBatch'>, chunk = 500): Promise<number> {
  let total = 0;
  for (let n = await projection.projectBatch(chunk); n > 0; n = await projection.projectBatch(chunk)) {
    total += n;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return total;
}
