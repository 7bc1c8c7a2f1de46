import { DatabaseError } from 'pg';
import { StoreRejectedError, StoreUnavailableError } from '../../errors.js';
import type { NewEvent, WriteResult } from '../../model/writes.js';
import type { HourOutcome, HourType, WebhookWriteOp, WebhookWriter, WebhookWriterOptions } from '../store.js';
import { appendedRows, appendEventsQuery, quarantineQuery, toInt, type PgAppended } from './pg-event-log.js';
import { unavailableReason, withQueryTimeout, type PgPool, type PgQuerier as Conn } from './pg-pool.js';
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

/** What one op of an isolated batch came to: its result, or the error it alone failed with (rolled back to its savepoint). */
type Outcome = { ok: WriteResult } | { failed: unknown };

/** SQLSTATE classes that say the data was refused: 22 data exception, 23 integrity constraint violation, 54 program limit exceeded. */
const DATA_CLASSES = new Set(['22', '23', '54']);
const sqlState = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
};

/** How one op's own failure is answered: its data refused (500, no retry), or anything else (503, as a failed batch). */
function opError(err: unknown): StoreRejectedError | StoreUnavailableError {
  if (err instanceof StoreUnavailableError) return err;
  const code = sqlState(err);
  return code !== undefined && DATA_CLASSES.has(code.slice(0, 2)) ? new StoreRejectedError(err) : new StoreUnavailableError(err);
}

/**
 * Runs `write` under a savepoint when `isolate` is set: a failure rolls back
 * that op alone and is returned, not thrown; the transaction goes on. Errors
 * that mean the database is unavailable are thrown (the batch fails as a whole).
 */
async function attempt(client: Conn, isolate: boolean, write: () => Promise<WriteResult>): Promise<Outcome> {
  if (!isolate) return { ok: await write() };
  await client.query('SAVEPOINT ember_op');
  try {
    const ok = await write();
    await client.query('RELEASE SAVEPOINT ember_op');
    return { ok };
  } catch (err) {
    if (unavailableReason(err) !== undefined) throw err;
    await client.query('ROLLBACK TO SAVEPOINT ember_op');
    return { failed: err };
  }
}

/**
 * Writes one batch in one transaction on `client`: the events in one
 * append_events call, the quarantine upserts, the probe, the hourly counts.
 * Returns the outcomes in the batch's order; `onCommitSent` is called right
 * before COMMIT goes out (from then on a broken connection leaves the outcome
 * unknown). With `isolate`, each op is written under a savepoint of its own
 * (the events one append_events call each, in the batch's order: the same
 * seqs and the same first-wins dedupe): an op the database refuses is rolled
 * back alone and the others commit; only they are counted.
 */
/**
 * The common batch (webhooks, perhaps the health probe; no quarantined
 * payload) as ONE statement in autocommit: append_events, the hourly counts
 * from its answer and the probe, committed together when it returns — one
 * round trip instead of four (BEGIN, append, counts, COMMIT). It counts as
 * the commit being sent: a connection lost meanwhile leaves the outcome
 * unknown, an ERROR means nothing of it was stored (then the ops are tried
 * again one by one, as for a transaction).
 */
async function writeInOneStatement(client: Conn, ops: readonly WebhookWriteOp[], onCommitSent: () => void): Promise<Outcome[]> {
  const events: Array<{ i: number; event: NewEvent }> = [];
  ops.forEach((op, i) => {
    if (op.kind === 'event') events.push({ i, event: op.event });
  });
  const probe = ops.some((op) => op.kind === 'probe');
  const outcomes: Outcome[] = ops.map(() => ({ ok: { kind: 'probe' } }));
  onCommitSent();
  if (events.length === 0) {
    await client.query({ name: 'ember_probe', text: PROBE_SQL, values: [] });
    return outcomes;
  }
  const append = appendEventsQuery(events.map((e) => e.event));
  const res = await client.query<{ ord: number; seq: string; duplicate: boolean }>({ name: 'ember_write_events', text: WRITE_EVENTS_SQL, values: [...(append.values ?? []), probe] });
  appendedRows(res.rows, events.length).forEach((a, k) => {
    outcomes[events[k]!.i] = { ok: { kind: 'event', duplicate: a.duplicate, seq: a.seq } };
  });
  return outcomes;
}

/**
 * The health probe alone (no webhook in the batch). Its first part takes the
 * log's lock as an append does, with no row: a lock that stops appends (a
 * manual LOCK TABLE, a long ALTER) fails the probe within lock_timeout, so
 * /healthz answers 503 also when no webhook is arriving to find out.
 */
const PROBE_SQL = `
  WITH log AS (
    INSERT INTO events (seq, webhook_id, type, received_at, outcome, body)
    SELECT seq, webhook_id, type, received_at, outcome, body FROM events WHERE false
  )
  INSERT INTO health_probe (id, at) VALUES (true, clock_timestamp()) ON CONFLICT (id) DO UPDATE SET at = excluded.at`;

/**
 * append_events and, from its answer, the hourly counts (as `tally` counts
 * them: hour = the first 13 characters of received_at; rows upserted in key
 * order, as every batch does, so replicas never deadlock on them) and the
 * probe when $6: one statement, one implicit transaction.
 */
const WRITE_EVENTS_SQL = `
  WITH appended AS (
    SELECT ord, seq, duplicate FROM append_events($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[])
  ),
  counted AS (
    INSERT INTO webhook_hours AS h (hour, type, outcome, n)
    SELECT left(u.received_at, 13), u.type, CASE WHEN a.duplicate THEN 'duplicate' ELSE 'accepted' END, count(*)::integer
    FROM appended a JOIN unnest($2::text[], $3::text[]) WITH ORDINALITY AS u (type, received_at, ord) ON u.ord = a.ord
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (hour, type, outcome) DO UPDATE SET n = h.n + excluded.n
  ),
  probed AS (
    INSERT INTO health_probe (id, at) SELECT true, clock_timestamp() WHERE $6::boolean
    ON CONFLICT (id) DO UPDATE SET at = excluded.at
  )
  SELECT ord, seq, duplicate FROM appended ORDER BY ord`;

/**
 * `oneStatement`: the common batch as one statement in autocommit. Not behind
 * PgBouncer (pgbouncer=true): there only a BEGIN carries the transaction's
 * statement_timeout and lock_timeout (pg-pool.ts), and an autocommit statement
 * would run with the role's, unbounded by default — a foreign lock on the log
 * would hold webhooks past EmberQA's timeout and leave server processes waiting.
 */
async function writeBatch(client: Conn, ops: readonly WebhookWriteOp[], onCommitSent: () => void, isolate: boolean, oneStatement: boolean): Promise<Outcome[]> {
  if (oneStatement && !isolate && ops.every((op) => op.kind !== 'quarantine')) return writeInOneStatement(client, ops, onCommitSent);
  await client.query('BEGIN');
  const outcomes: Outcome[] = new Array<Outcome>(ops.length);
  const counted: Array<{ at: string; type: HourType; outcome: HourOutcome }> = [];
  // Events first: append_events takes the append lock before any row lock of the batch is taken.
  const events: Array<{ i: number; event: NewEvent }> = [];
  ops.forEach((op, i) => {
    if (op.kind === 'event') events.push({ i, event: op.event });
  });
  const logged = (event: NewEvent, a: PgAppended): WriteResult => {
    counted.push({ at: event.receivedAt, type: event.type, outcome: a.duplicate ? 'duplicate' : 'accepted' });
    return { kind: 'event', duplicate: a.duplicate, seq: a.seq };
  };
  if (events.length > 0 && !isolate) {
    const res = await client.query<{ ord: number; seq: string; duplicate: boolean }>(appendEventsQuery(events.map((e) => e.event)));
    appendedRows(res.rows, events.length).forEach((a, k) => {
      const { i, event } = events[k]!;
      outcomes[i] = { ok: logged(event, a) };
    });
  }
  for (const { i, event } of isolate ? events : []) {
    outcomes[i] = await attempt(client, true, async () => {
      const res = await client.query<{ ord: number; seq: string; duplicate: boolean }>(appendEventsQuery([event]));
      return logged(event, appendedRows(res.rows, 1)[0]!);
    });
  }
  let probe = false;
  for (const [i, op] of ops.entries()) {
    if (op.kind === 'quarantine') {
      outcomes[i] = await attempt(client, isolate, async () => {
        const res = await client.query<{ id: string; attempts: number }>(quarantineQuery(op.item));
        const row = res.rows[0]!;
        counted.push({ at: op.item.receivedAt, type: op.item.type ?? 'unknown', outcome: 'quarantined' });
        return { kind: 'quarantine', id: toInt(row.id, 'id'), attempts: row.attempts };
      });
    } else if (op.kind === 'probe') {
      probe = true;
      outcomes[i] = { ok: { kind: 'probe' } };
    }
  }
  if (probe) {
    await client.query({ name: 'ember_probe', text: PROBE_SQL, values: [] });
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
  return outcomes;
}

/** A batch whose transaction failed as a whole. */
class BatchFailed extends Error {
  constructor(
    override readonly cause: unknown,
    /** COMMIT was sent and never answered: it may have committed. */
    readonly outcomeUnknown: boolean,
  ) {
    super('the batch failed');
  }
  /** Surely rolled back, and not for the database's unavailability: another try of its ops can tell which one failed it. */
  get isolable(): boolean {
    return !this.outcomeUnknown && unavailableReason(this.cause) === undefined;
  }
  unavailable(): StoreUnavailableError {
    const cause = this.cause instanceof StoreUnavailableError ? this.cause.cause : this.cause;
    return new StoreUnavailableError(cause, { outcomeUnknown: this.outcomeUnknown });
  }
}

/**
 * The server's webhook writer on PostgreSQL: the ops submitted during one
 * turn of the event loop are committed in one transaction on one pooled
 * connection (one WAL flush for all of them); batches go one after another,
 * the next taking what queued up meanwhile (at most maxBatch ops each). Each
 * promise settles only after its batch's commit answered. When a batch fails
 * because the database is unavailable, every op of it rejects with
 * StoreUnavailableError (503): nothing of it was stored, or, when the
 * connection broke after COMMIT was sent, perhaps all of it (the error says
 * the outcome is unknown; a retry then answers duplicate). When the database
 * refuses a batch for what it holds (the transaction surely rolled back), its
 * ops are tried again one by one (`isolated`): the others commit, the one
 * refused rejects with StoreRejectedError (500: retrying cannot help), or
 * StoreUnavailableError for any other error of its own. The fast path, one
 * transaction per batch, is unchanged while nothing fails.
 */
export interface PgWriterOptions extends WebhookWriterOptions {
  /** How long any statement of the writer may go unanswered (node-postgres' query_timeout); a little over statement_timeout. None when 0 or unset. */
  answerTimeoutMs?: number;
  /** The same for a batch of health probes alone (shorter: webhooks queued behind it must not wait long). */
  probeAnswerTimeoutMs?: number;
}

export function createPgWriter(pool: PgPool, options: PgWriterOptions = {}): WebhookWriter {
  const maxBatch = options.maxBatch ?? 1024;
  let queue: Pending[] = [];
  let running = false;
  let closed = false;
  let idle: Array<() => void> = [];
  let lastFailureAt = 0;
  let lastSuccessAt = 0;

  /** One transaction for `ops` on a pooled connection; a failure of the whole comes back as BatchFailed (rolled back when it could be). */
  async function run(ops: readonly WebhookWriteOp[], isolate: boolean): Promise<Outcome[]> {
    let commitSent = false;
    try {
      return await withConnection(pool, async (pooled) => {
        // statement_timeout ends what the server runs, not a COMMIT waiting for a synchronous standby that is down
        // (no bound on the server): past the answer timeout the batch fails, its outcome unknown once COMMIT was sent.
        const probesOnly = ops.every((op) => op.kind === 'probe');
        const client = withQueryTimeout(pooled, (probesOnly ? options.probeAnswerTimeoutMs : undefined) ?? options.answerTimeoutMs);
        try {
          return await writeBatch(client, ops, () => (commitSent = true), isolate, !pool.pgbouncer);
        } catch (err) {
          if (!commitSent) await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      });
    } catch (err) {
      throw new BatchFailed(err, commitSent && commitOutcomeUnknown(err));
    }
  }

  /**
   * The ops of a batch the database refused as a whole, tried again each
   * under a savepoint in one transaction: the op that failed it fails alone.
   * Should that transaction fail as a whole too (at COMMIT: a deferred
   * check), each op gets a transaction of its own. Unavailability on the way
   * fails what is left with StoreUnavailableError.
   */
  async function isolated(ops: readonly WebhookWriteOp[]): Promise<Outcome[]> {
    try {
      return await run(ops, true);
    } catch (err) {
      const failed = err as BatchFailed;
      if (!failed.isolable) return ops.map(() => ({ failed: failed.unavailable() }));
      if (ops.length === 1) return [{ failed: failed.cause }];
      const outcomes: Outcome[] = [];
      let down: StoreUnavailableError | undefined;
      for (const op of ops) {
        const [outcome] = down ? [{ failed: down }] : await isolated([op]);
        if ('failed' in outcome! && outcome.failed instanceof StoreUnavailableError) down = outcome.failed;
        outcomes.push(outcome!);
      }
      return outcomes;
    }
  }

  async function commit(batch: Pending[]): Promise<void> {
    // A health probe alone says little about a webhook-sized write: only batches with webhooks count for failingSince.
    const counted = batch.some((p) => p.op.kind !== 'probe');
    const ops = batch.map((p) => p.op);
    let outcomes: Outcome[];
    try {
      outcomes = await run(ops, false);
    } catch (err) {
      const failed = err as BatchFailed;
      if (!failed.isolable) {
        if (counted) lastFailureAt = Date.now();
        const e = failed.unavailable();
        for (const p of batch) p.reject(e);
        return;
      }
      // Surely rolled back, and not for unavailability: most likely one op's data (a value, a constraint). It must not fail the others.
      outcomes = await isolated(ops);
    }
    const results: WriteResult[] = [];
    let unavailable = false;
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if ('ok' in o) {
        results.push(o.ok);
        p.resolve(o.ok);
      } else {
        const e = opError(o.failed);
        // A refused webhook is not the store failing (health stays up); an unavailable database is.
        if (e instanceof StoreUnavailableError && p.op.kind !== 'probe') unavailable = true;
        p.reject(e);
      }
    });
    if (counted) {
      if (results.some((r) => r.kind !== 'probe')) lastSuccessAt = Date.now();
      else if (unavailable) lastFailureAt = Date.now();
    }
    if (results.length === 0) return;
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
