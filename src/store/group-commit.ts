import { StoreUnavailableError } from '../errors.js';
import type { WriteResult } from '../model/writes.js';
import type { EventLog } from './event-log.js';
import type { Db } from './open-db.js';
import type { WebhookWriteOp, WebhookWriter } from './store.js';
import { createHourTally, createWebhookHours } from './webhook-hours.js';

interface Pending<Op, Res> {
  op: Op;
  resolve: (r: Res) => void;
  reject: (e: unknown) => void;
}

export interface GroupCommitOptions<Res, Op = unknown> {
  /** Most operations in one transaction; a larger queue is committed in several. */
  maxBatch?: number;
  /** Called after each successful commit with the results it made durable. */
  onCommit?: (results: Res[]) => void;
  /** Which operations count for `failingSince` (a health probe alone says little about a webhook-sized write). */
  counts?: (op: Op) => boolean;
  /** Runs inside each batch's transaction after its operations (throwing rolls the batch back). */
  beforeCommit?: () => void;
  /** Runs when a batch's transaction was rolled back. */
  onRollback?: () => void;
}

/**
 * Group commit: operations submitted during one turn of the event loop are
 * written in one IMMEDIATE transaction at the next `setImmediate`, so one
 * fsync covers them all. Each promise settles only after the commit that holds
 * its write (never before); if that commit fails, every operation in it is
 * rejected with StoreUnavailableError and nothing of it is stored.
 */
export function createGroupCommit<Op, Res>(db: Db, apply: (op: Op) => Res, options: GroupCommitOptions<Res, Op> = {}) {
  const maxBatch = options.maxBatch ?? 1024;
  let queue: Pending<Op, Res>[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  let idle: Array<() => void> = [];
  let closed = false;
  let lastFailureAt = 0;
  let lastSuccessAt = 0;
  const counts = options.counts ?? (() => true);

  const runBatch = db.transaction((batch: Pending<Op, Res>[]) => {
    const results = batch.map((p) => apply(p.op));
    options.beforeCommit?.();
    return results;
  });

  function flush(): void {
    scheduled = undefined;
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      let results: Res[];
      const counted = batch.some((p) => counts(p.op));
      try {
        results = runBatch.immediate(batch);
      } catch (err) {
        options.onRollback?.();
        if (counted) lastFailureAt = Date.now();
        const e = new StoreUnavailableError(err);
        for (const p of batch) p.reject(e);
        continue;
      }
      if (counted) lastSuccessAt = Date.now();
      batch.forEach((p, i) => p.resolve(results[i]!));
      options.onCommit?.(results);
    }
    const waiters = idle;
    idle = [];
    for (const w of waiters) w();
  }

  return {
    submit(op: Op): Promise<Res> {
      if (closed) return Promise.reject(new StoreUnavailableError(new Error('the store is closing')));
      return new Promise<Res>((resolve, reject) => {
        queue.push({ op, resolve, reject });
        scheduled ??= setImmediate(flush);
      });
    },
    /** Writes queued for the next commit. */
    get pending(): number {
      return queue.length;
    },
    get closed(): boolean {
      return closed;
    },
    /** When the last counted commit failed, if no counted commit succeeded after it; else undefined. */
    get failingSince(): number | undefined {
      return lastFailureAt > lastSuccessAt ? lastFailureAt : undefined;
    },
    /** Commits what is queued now and refuses new work (shutdown). */
    async close(): Promise<void> {
      closed = true;
      if (queue.length === 0) return;
      await new Promise<void>((r) => idle.push(r));
    },
  };
}

/**
 * The server's webhook writer: events and quarantine entries, group-committed
 * on the store's connection, each counted in webhook_hours in the same
 * transaction (so the console's chart agrees with what was committed).
 */
export function createWebhookWriter(store: { db: Db; sqlite: { events: EventLog; probe(): void } }, options: GroupCommitOptions<WriteResult, WebhookWriteOp> = {}): WebhookWriter {
  const { events, probe } = store.sqlite;
  const tally = createHourTally(createWebhookHours(store.db));
  return createGroupCommit<WebhookWriteOp, WriteResult>(
    store.db,
    (op): WriteResult => {
      if (op.kind === 'event') {
        const appended = events.append(op.event);
        tally.add(op.event.receivedAt, op.event.type, appended.duplicate ? 'duplicate' : 'accepted');
        return { kind: 'event', ...appended };
      }
      if (op.kind === 'quarantine') {
        const held = events.quarantine(op.item);
        tally.add(op.item.receivedAt, op.item.type ?? 'unknown', 'quarantined');
        return { kind: 'quarantine', ...held };
      }
      probe();
      return { kind: 'probe' };
    },
    // The tally's hooks come last: a caller's options cannot unhook the counts.
    { counts: (op) => op.kind !== 'probe', ...options, beforeCommit: () => tally.flush(), onRollback: () => tally.clear() },
  );
}
export type { WebhookWriteOp, WebhookWriter } from './store.js';
