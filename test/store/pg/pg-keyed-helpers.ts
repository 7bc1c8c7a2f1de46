/**
 * Deriving the keyed views on both engines from the same events, and reading
 * everything a delivery can ask of them, for pg-keyed*.test.ts: SQLite through
 * its synchronous engine modules (keyed-projection.ts, keyed-rows.ts) on an
 * in-memory database, PostgreSQL through pg-keyed-projection.ts driven by a
 * small loop of our own (events read by seq from the log, one transaction per
 * batch), so the comparison needs neither store.
 */
import Database from 'better-sqlite3';
import { payloadFacts } from '../../../src/flatten/merge-content.js';
import type { Cell } from '../../../src/model/cells.js';
import { COLUMN_VIEWS, KEYED_VIEWS, type KeyedViewName } from '../../../src/model/views.js';
import type { ColumnRegistry, DynamicColumn } from '../../../src/model/columns.js';
import type { TypedPayload, WebhookType } from '../../../src/model/webhooks.js';
import { createKeyedProjection } from '../../../src/store/keyed-projection.js';
import { createKeyedRows } from '../../../src/store/keyed-rows.js';
import { migrate } from '../../../src/store/migrations.js';
import { createPgEventLog } from '../../../src/store/pg/pg-event-log.js';
import type { PgKeyedProjection } from '../../../src/store/pg/pg-keyed-projection.js';
import type { PgPool } from '../../../src/store/pg/pg-pool.js';
import { fromPgText } from '../../../src/store/pg/pg-text.js';
import type { KeyedWebhook } from '../../helpers/keyed-arbitraries.js';

export interface LoggedWebhook {
  seq: number;
  webhookId: string;
  type: WebhookType;
  receivedAt: string;
  payload: Record<string, unknown>;
}

/** The webhook type a payload of keyed-arbitraries.ts is (what the receiver's schemas decide). */
export function typeOf(payload: Record<string, unknown>): WebhookType {
  if (payload['alert_type'] === 'red_flag') return 'red_flag';
  if (payload['alert_type'] === 'low_score') return 'low_score';
  const data = payload['data'];
  return typeof data === 'object' && data !== null && 'output_schema' in data ? 'workflow' : 'completion';
}

/** Seqs 1..n in order, as an empty log gives them. */
export function logged(webhooks: readonly KeyedWebhook[]): LoggedWebhook[] {
  return webhooks.map((w, i) => ({ seq: i + 1, webhookId: String(w.payload['webhook_id']), type: typeOf(w.payload), receivedAt: w.receivedAt, payload: w.payload }));
}

/** Splits n items into consecutive batches of the sizes given (cycled). */
export function chunked<T>(items: readonly T[], sizes: readonly number[]): T[][] {
  const out: T[][] = [];
  for (let i = 0, k = 0; i < items.length; k++) {
    const size = Math.max(1, sizes[k % sizes.length]!);
    out.push(items.slice(i, i + size));
    i += size;
  }
  return out;
}

// ---------------------------------------------------------------- SQLite

/**
 * The SQLite engine on an in-memory database: `derive` follows the events in
 * batches of the given sizes (cycled), each in one transaction that also moves
 * the keyed cursor (as projection.ts does); `wipe` drops the keyed rows for a
 * derivation in another zone.
 */
export function sqliteEngine(maxColumns = 500) {
  const db = new Database(':memory:');
  migrate(db);
  let zone = 'UTC';
  const keyed = createKeyedProjection(db, () => zone);
  const contentsColumns = db.prepare<[], DynamicColumn>("SELECT position, name, kind, key FROM view_columns WHERE view = 'contents' ORDER BY position");
  const setCursor = db.prepare<[number]>('UPDATE projector_state SET keyed_seq = ? WHERE id = 1');
  const nextGeneration = db.prepare('UPDATE retention_state SET keyed_generation = keyed_generation + 1 WHERE id = 1');
  const registry = (): ColumnRegistry => {
    const reg = Object.fromEntries(COLUMN_VIEWS.map((v) => [v, [] as DynamicColumn[]])) as ColumnRegistry;
    reg.contents = contentsColumns.all();
    return reg;
  };
  return {
    db,
    rows: createKeyedRows(db),
    columns: () => contentsColumns.all(),
    derive(events: readonly LoggedWebhook[], inZone: string, sizes: readonly number[]): void {
      zone = inZone;
      for (const chunk of chunked(events, sizes)) {
        db.transaction(() => {
          const batch = keyed.batch(registry(), maxColumns);
          for (const e of chunk) {
            const facts = e.type === 'workflow' ? undefined : payloadFacts({ type: e.type, payload: e.payload } as TypedPayload);
            if (facts) batch.applyFacts(facts, e.seq, e.receivedAt);
          }
          const last = chunk.at(-1)!.seq;
          batch.flush(last);
          setCursor.run(last);
        })();
      }
    },
    /** As projection.ts: closed daily rows kept through a new derivation start a new keyed generation. */
    wipe(): void {
      db.transaction(() => {
        if (keyed.wipe()) nextGeneration.run();
        setCursor.run(0);
      })();
    },
  };
}
export type SqliteEngine = ReturnType<typeof sqliteEngine>;

// ---------------------------------------------------------------- PostgreSQL

/** Empties what a run wrote (the log included: seqs start again from 1). */
export async function resetPg(pool: PgPool): Promise<void> {
  await pool.query({
    text: `TRUNCATE events, content_rows, content_score_rows, daily_agent_rows, daily_metric_rows, keyed_parts, view_columns, column_overflow CASCADE;
           UPDATE log_state SET last_seq = 0`,
  });
}

/** Appends the events to the PostgreSQL log (their seqs must come out as given). */
export async function appendPg(pool: PgPool, events: readonly LoggedWebhook[]): Promise<void> {
  const log = createPgEventLog(pool);
  const got = await log.appendBatch(events.map((e) => ({ webhookId: e.webhookId, type: e.type, receivedAt: e.receivedAt, body: Buffer.from(JSON.stringify(e.payload)) })));
  got.forEach((g, i) => {
    if (g.duplicate || g.seq !== events[i]!.seq) throw new Error(`event ${i} got seq ${g.seq}${g.duplicate ? ' (duplicate)' : ''}, expected ${events[i]!.seq}`);
  });
}

/** One batch in one transaction, as the projector runs it. */
export async function applyPg(pool: PgPool, keyed: PgKeyedProjection, items: Parameters<PgKeyedProjection['applyBatch']>[1]): Promise<void> {
  await pool.withClient(async (client) => {
    await client.query('BEGIN');
    try {
      await keyed.applyBatch(client, items);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    }
  });
}

/** Follows the PostgreSQL log from `after` in batches of these sizes (cycled): the events are read back from the log. */
export async function derivePg(pool: PgPool, keyed: PgKeyedProjection, sizes: readonly number[], after = 0): Promise<number> {
  const log = createPgEventLog(pool);
  let cursor = after;
  for (let k = 0; ; k++) {
    const events = await log.eventsAfter(cursor, Math.max(1, sizes[k % sizes.length]!));
    if (events.length === 0) return cursor;
    await applyPg(
      pool,
      keyed,
      events.map((e) => ({ seq: e.seq, type: e.type, receivedAt: e.received_at, payload: JSON.parse(e.body.toString('utf8')) as unknown })),
    );
    cursor = events.at(-1)!.seq;
  }
}

/** Contents' dynamic columns as PostgreSQL holds them (names and keys through fromPgText). */
export async function pgContentsColumns(pool: PgPool): Promise<DynamicColumn[]> {
  const rows = (await pool.query<DynamicColumn>({ text: "SELECT position, name, kind, key FROM view_columns WHERE view = 'contents' ORDER BY position" })).rows;
  return rows.map((c) => ({ ...c, name: fromPgText(c.name), key: fromPgText(c.key) }));
}

// ---------------------------------------------------------------- reading everything a delivery can ask

/** The shape both engines' sources share (sync or async: read with await / for await). */
interface AnyRows {
  total: number;
  pages(): Iterable<Cell[][]> | AsyncIterable<Cell[][]>;
  changed(sinceSeq: number, known: number): Iterable<Array<{ position: number; cells: Cell[] }>> | AsyncIterable<Array<{ position: number; cells: Cell[] }>>;
  countChanged(sinceSeq: number, known: number): number | Promise<number>;
}
interface AnySource extends AnyRows {
  months?: { list: Array<{ month: string; total: number; resetSeq: number }>; changedSince(sinceSeq: number): Set<string> | Promise<Set<string>>; rows(month: string): AnyRows } | undefined;
  windowPages(w: { since?: string; until?: string; pageSize?: number }): Iterable<Cell[][]> | AsyncIterable<Cell[][]>;
  windowCount(w: { since?: string; until?: string }): number | Promise<number>;
}

async function flat<T>(pages: Iterable<T[]> | AsyncIterable<T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const page of pages) out.push(...page);
  return out;
}

/** Positions a target may hold: none, some, all, more than there are (after a wipe), a negative count. */
const knowns = (total: number) => [...new Set([0, Math.floor(total / 2), Math.max(0, total - 1), total, total + 2, -1])];

async function readRows(rows: AnyRows, sinces: readonly number[]) {
  const changed: unknown[] = [];
  for (const since of sinces) {
    for (const known of knowns(rows.total)) {
      changed.push({ since, known, rows: await flat(rows.changed(since, known)), count: await rows.countChanged(since, known) });
    }
  }
  return { total: rows.total, rows: await flat(rows.pages()), changed };
}

/**
 * Everything a delivery or an export can read of one keyed view: rows,
 * positions, totals, months, changed(since, known) and its counts, month by
 * month, and one received_at window.
 */
export async function readView(source: AnySource, sinces: readonly number[], window: { since?: string; until?: string }) {
  const months = source.months
    ? {
        list: source.months.list,
        changedSince: await Promise.all(sinces.map(async (s) => [...(await source.months!.changedSince(s))].sort())),
        rows: await Promise.all(source.months.list.map(async (m) => ({ month: m.month, ...(await readRows(source.months!.rows(m.month), sinces)) }))),
      }
    : undefined;
  return {
    ...(await readRows(source, sinces)),
    months,
    window: { rows: await flat(source.windowPages({ ...window, pageSize: 3 })), count: await source.windowCount(window) },
  };
}

export const KEYED = KEYED_VIEWS as readonly KeyedViewName[];
