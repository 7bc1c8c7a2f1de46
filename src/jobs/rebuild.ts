import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Store } from '../store/store.js';
import { SyncLocksBusyError, withAllSyncLocks } from './hold-sync-locks.js';
import { errorMessage } from '../lib/text.js';

/** The rebuild could not start: a sync kept its target's lock for the whole wait. */
export class RebuildBusyError extends Error {
  override name = 'RebuildBusyError';
}

export interface RebuildOptions {
  store: Store;
  /** How long to wait for running syncs to finish (their targets' locks). */
  waitForLockMs?: number;
  /** Called once per target whose sync is running when the rebuild starts waiting. */
  onWait?: (target: string, holder: string) => void;
  /** Called after each batch with the events derived so far and how many there are. */
  onProgress?: (done: number, total: number) => void;
  /** Events per transaction (each holds the write lock once; ingest waits at most that long). */
  chunk?: number;
  heartbeatMs?: number;
}

/**
 * Derives every view again from the raw log (the rows come out the same:
 * projection is deterministic, and the column registry is kept). Safe beside
 * a running server: the sync lock of every target is held for the whole
 * rebuild, so no sync reads views that are half derived (a sync would first
 * finish the projection anyway, but one already delivering could read rows
 * while they are dropped); webhooks keep being received, and the server's own
 * projector helps (both move the same cursor in the database). Work is done
 * in batches that give the event loop back, so the locks' heartbeats go on.
 */
export async function rebuildViews(o: RebuildOptions): Promise<{ events: number }> {
  const { store } = o;
  try {
    return await withAllSyncLocks(store, o, async () => {
      const total = (await store.events.counts()).lastSeq ?? 0;
      await store.projection.startRebuild();
      let done = 0;
      const chunk = o.chunk ?? 2_000;
      await store.projection.bulk(async () => {
        for (let n = await store.projection.projectBatch(chunk); n > 0; n = await store.projection.projectBatch(chunk)) {
          done += n;
          o.onProgress?.(Math.min(done, total), total);
          await yieldToLoop();
        }
      });
      // The log is derived to its end (the last batch found nothing left): every event in it, whether this process or
      // the server's projector (which helps) derived it.
      return { events: Math.max(done, (await store.events.counts()).events) };
    });
  } catch (err) {
    if (err instanceof SyncLocksBusyError) throw new RebuildBusyError(`${err.message}; nothing was rebuilt. Try again when it is done, or give --wait more seconds`);
    throw new Error(`rebuild failed: ${errorMessage(err)} (run it again: it starts over from the raw log)`);
  }
}
