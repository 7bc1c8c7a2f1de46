import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { SYNC_TARGET_NAMES } from '../model/sync.js';
import type { Store } from '../store/create-store.js';
import type { LockTicket } from '../store/sync-state.js';
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  const owner = store.sync.newOwner();
  const tickets: LockTicket[] = [];
  const deadline = Date.now() + (o.waitForLockMs ?? 0);
  try {
    for (const target of SYNC_TARGET_NAMES) {
      let said = false;
      for (;;) {
        const ticket = store.sync.tryLock(target, owner);
        if (ticket) {
          tickets.push(ticket);
          break;
        }
        const holder = store.sync.lockHolder(target);
        const who = holder ? `pid ${holder.pid} on ${holder.host}` : 'another process';
        if (Date.now() >= deadline) throw new RebuildBusyError(`a ${target} sync (${who}) is still running; nothing was rebuilt. Try again when it is done, or give --wait more seconds`);
        if (!said) o.onWait?.(target, who);
        said = true;
        await sleep(250);
      }
    }
    const beat = setInterval(() => {
      for (const t of tickets) {
        try {
          store.sync.heartbeat(t);
        } catch {
          /* a busy database: the next beat tries again (the lock is stale only after minutes) */
        }
      }
    }, o.heartbeatMs ?? 15_000);
    beat.unref();
    try {
      const total = store.events.counts().lastSeq;
      store.projection.startRebuild();
      let done = 0;
      const chunk = o.chunk ?? 2_000;
      await store.projection.bulk(async () => {
        for (let n = store.projection.projectBatch(chunk); n > 0; n = store.projection.projectBatch(chunk)) {
          done += n;
          o.onProgress?.(Math.min(done, total), total);
          await yieldToLoop();
        }
      });
      // The log is derived to its end (the last batch found nothing left): every event in it, whether this process or
      // the server's projector (which helps) derived it.
      return { events: Math.max(done, store.events.counts().events) };
    } finally {
      clearInterval(beat);
    }
  } catch (err) {
    if (err instanceof RebuildBusyError) throw err;
    throw new Error(`rebuild failed: ${errorMessage(err)} (run it again: it starts over from the raw log)`);
  } finally {
    for (const t of tickets) store.sync.unlock(t);
  }
}
