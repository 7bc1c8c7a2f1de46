import { DatabaseError, type PoolClient } from 'pg';
import { StoreUnavailableError } from '../../errors.js';
import type { NewEvent, WriteResult } from '../../model/writes.js';
import type { HourOutcome, HourType, WebhookWriteOp, WebhookWriter, WebhookWriterOptions } from '../store.js';
import { appendedRows, appendEventsQuery, quarantineQuery, toInt } from './pg-event-log.js';
import type { PgPool } from './pg-pool.js';
import { withConnection } from './pg-unit-of-work.js';

interface Pending {
  op: WebhookWriteOp;
  resolve: (r: WriteResult) => void;
  reject: (e: unknown) => void;
}

/**
 * Whether a failed COMMIT may nevertheless have committed: the server never
 * answered (the connection broke, a timeout) or ended the session (FATAL: a
 * pg_terminate_backend or a shutdown may land after the commit record was
 * written). An ERROR answer means the server rolled the transaction back.
 */
function commitOutcomeUnknown(err: unknown): boolean {
  const e = err instanceof StoreUnavailableError ? err.cause : err;
  if (e instanceof DatabaseError) return e.severity === 'FATAL' || e.severity === 'PANIC';
  return true;
}

/** The hour bucket (`yyyy-mm-ddThh`, UTC) of received_at (always ISO UTC with milliseconds), as webhook-hours.ts counts it. */
const hourOf = (iso: string): string => iso.slice(0, 13);

/** The counts of one batch per (hour, type, outcome), in key order (replicas upsert the rows in one order: no deadlock). */
function tally(entries: ReadonlyArray<{ at: string; type: HourType; outcome: HourOutcome }>) {
  const counts = new Map<string, { hour: string; type: HourType; outcome: HourOutcome; n: number }>();
  for (const e of entries) {
    const hour = hourOf(e.at);
    const key = `${hour}/${e.type}/${e.outcome}`;
    const seen = counts.get(key);
    if (seen) seen.n++;
    else counts.set(key, { hour, type: e.type, outcome: e.outcome, n: 1 });
  }
  return [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, c]) => c);
}

/**
 * Writes one batch in one transaction on `client`: the events in one
 * append_events call, the quarantine upserts, the probe, the hourly counts.
 * Returns the results in the batch's order; `onCommitSent` is called right
 * before COMMIT goes out (from then on a broken connection leaves the outcome
 * unknown).
 */
async function writeBatch(client: PoolClient, ops: readonly WebhookWriteOp[], onCommitSent: () => void): Promise<WriteResult[]> {
  await client.query('BEGIN');
  const results: WriteResult[] = new Array<WriteResult>(ops.length);
  const counted: Array<{ at: string; type: HourType; outcome: HourOutcome }> = [];
  // Events first: append_events takes the append lock before any row lock of the batch is taken.
  const events: Array<{ i: number; event: NewEvent }> = [];
  ops.forEach((op, i) => {
    if (op.kind === 'event') events.push({ i, event: op.event });
  });
  if (events.length > 0) {
    const res = await client.query<{ ord: number; seq: string; duplicate: boolean }>(appendEventsQuery(events.map((e) => e.event)));
    appendedRows(res.rows, events.length).forEach((a, k) => {
      const { i, event } = events[k]!;
      results[i] = { kind: 'event', duplicate: a.duplicate, seq: a.seq };
      counted.push({ at: event.receivedAt, type: event.type, outcome: a.duplicate ? 'duplicate' : 'accepted' });
    });
  }
  let probe = false;
  for (const [i, op] of ops.entries()) {
    if (op.kind === 'quarantine') {
      const res = await client.query<{ id: string; attempts: number }>(quarantineQuery(op.item));
      const row = res.rows[0]!;
      results[i] = { kind: 'quarantine', id: toInt(row.id, 'id'), attempts: row.attempts };
      counted.push({ at: op.item.receivedAt, type: op.item.type ?? 'unknown', outcome: 'quarantined' });
    } else if (op.kind === 'probe') {
      probe = true;
      results[i] = { kind: 'probe' };
    }
  }
  if (probe) {
    await client.query({
      name: 'ember_probe',
      text: 'INSERT INTO health_probe (id, at) VALUES (true, clock_timestamp()) ON CONFLICT (id) DO UPDATE SET at = excluded.at',
      values: [],
    });
  }
  const hours = tally(counted);
  if (hours.length > 0) {
    await client.query({
      name: 'ember_webhook_hours',
      text: `INSERT INTO webhook_hours AS h (hour, type, outcome, n)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[]) ORDER BY 1, 2, 3
             ON CONFLICT (hour, type, outcome) DO UPDATE SET n = h.n + excluded.n`,
      values: [hours.map((h) => h.hour), hours.map((h) => h.type), hours.map((h) => h.outcome), hours.map((h) => h.n)],
    });
  }
  onCommitSent();
  await client.query('COMMIT');
  return results;
}

/**
 * The server's webhook writer on PostgreSQL: the ops submitted during one
 * turn of the event loop are committed in one transaction on one pooled
 * connection (one WAL flush for all of them); batches go one after another,
 * the next taking what queued up meanwhile (at most maxBatch ops each). Each
 * promise settles only after its batch's commit answered. When a batch fails
 * every op of it rejects with StoreUnavailableError (503): nothing of it was
 * stored, or, when the connection broke after COMMIT was sent, perhaps all of
 * it (the error says the outcome is unknown; a retry then answers duplicate).
 */
export function createPgWriter(pool: PgPool, options: WebhookWriterOptions = {}): WebhookWriter {
  const maxBatch = options.maxBatch ?? 1024;
  let queue: Pending[] = [];
  let running = false;
  let closed = false;
  let idle: Array<() => void> = [];
  let lastFailureAt = 0;
  let lastSuccessAt = 0;

  async function commit(batch: Pending[]): Promise<void> {
    // A health probe alone says little about a webhook-sized write: only batches with webhooks count for failingSince.
    const counted = batch.some((p) => p.op.kind !== 'probe');
    let commitSent = false;
    let results: WriteResult[];
    try {
      results = await withConnection(pool, async (client) => {
        try {
          return await writeBatch(
            client,
            batch.map((p) => p.op),
            () => (commitSent = true),
          );
        } catch (err) {
          if (!commitSent) await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      });
    } catch (err) {
      if (counted) lastFailureAt = Date.now();
      const cause = err instanceof StoreUnavailableError ? err.cause : err;
      const e = new StoreUnavailableError(cause, { outcomeUnknown: commitSent && commitOutcomeUnknown(err) });
      for (const p of batch) p.reject(e);
      return;
    }
    if (counted) lastSuccessAt = Date.now();
    batch.forEach((p, i) => p.resolve(results[i]!));
    try {
      options.onCommit?.(results);
    } catch (err) {
      // Not the commit's failure: surfaced as SQLite's writer surfaces it (uncaught), the loop goes on.
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) await commit(queue.splice(0, maxBatch));
    running = false;
    const waiters = idle;
    idle = [];
    for (const w of waiters) w();
  }

  return {
    submit(op: WebhookWriteOp): Promise<WriteResult> {
      if (closed) return Promise.reject(new StoreUnavailableError(new Error('the store is closing')));
      return new Promise<WriteResult>((resolve, reject) => {
        queue.push({ op, resolve, reject });
        if (!running) {
          running = true;
          // The rest of this turn's ops join the batch.
          setImmediate(() => void drain());
        }
      });
    },
    get pending(): number {
      return queue.length;
    },
    get closed(): boolean {
      return closed;
    },
    get failingSince(): number | undefined {
      return lastFailureAt > lastSuccessAt ? lastFailureAt : undefined;
    },
    async close(): Promise<void> {
      closed = true;
      if (!running) return;
      await new Promise<void>((r) => idle.push(r));
    },
  };
}
