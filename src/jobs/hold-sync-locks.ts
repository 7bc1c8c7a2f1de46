import { SYNC_TARGET_NAMES } from '../model/sync.js';
import type { LockTicket, Store } from '../store/store.js';

/** Every target's sync stayed busy for the whole wait. */
export class SyncLocksBusyError extends Error {
  override name = 'SyncLocksBusyError';
  constructor(
    readonly target: string,
    readonly holder: string,
  ) {
    super(`a ${target} sync (${holder}) is still running`);
  }
}

export interface HoldOptions {
  /** How long to wait for running syncs to finish (their targets' locks). */
  waitForLockMs?: number;
  /** Called once per target whose sync is running when the wait starts. */
  onWait?: (target: string, holder: string) => void;
  heartbeatMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Takes the sync lock of every target (the database lock syncs take, across
 * processes), so that no sync reads views while they are dropped or deleted
 * (rebuild, retention), and keeps them alive with heartbeats while `work`
 * runs; releases them after. Throws SyncLocksBusyError when a sync still
 * holds one at the end of the wait.
 */
export async function withAllSyncLocks<T>(store: Store, o: HoldOptions, work: () => Promise<T>): Promise<T> {
  const owner = store.sync.newOwner();
  const tickets: LockTicket[] = [];
  const deadline = Date.now() + (o.waitForLockMs ?? 0);
  try {
    for (const target of SYNC_TARGET_NAMES) {
      let said = false;
      for (;;) {
        const ticket = await store.sync.tryLock(target, owner);
        if (ticket) {
          tickets.push(ticket);
          break;
        }
        const holder = await store.sync.lockHolder(target);
        const who = holder ? `pid ${holder.pid} on ${holder.host}` : 'another process';
        if (Date.now() >= deadline) throw new SyncLocksBusyError(target, who);
        if (!said) o.onWait?.(target, who);
        said = true;
        await sleep(250);
      }
    }
    // One beat at a time: a beat the database is slow to answer is not joined by the next one.
    let beating = false;
    const beat = setInterval(() => {
      if (beating) return;
      beating = true;
      void (async () => {
        for (const t of tickets) {
          try {
            await store.sync.heartbeat(t);
          } catch {
            /* a busy database: the next beat tries again (the lock is stale only after minutes) */
          }
        }
      })().finally(() => (beating = false));
    }, o.heartbeatMs ?? 15_000);
    beat.unref();
    try {
      return await work();
    } finally {
      clearInterval(beat);
    }
  } finally {
    for (const t of tickets) await store.sync.unlock(t).catch(() => false);
  }
}
