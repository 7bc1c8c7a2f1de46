/**
 * The same events in a SQLite store (the engine: openDb + migrate +
 * createProjection + createViewRows) and in a PostgreSQL one (append_events,
 * then pg-projection.ts and pg-view-rows.ts), and the comparison of every
 * append-only view between them: the SQLite store is the oracle.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Cell } from '../../../src/model/cells.js';
import type { ColumnRegistry } from '../../../src/model/columns.js';
import { LOG_VIEWS, type KeyedViewName, type LogViewName } from '../../../src/model/views.js';
import type { NewEvent } from '../../../src/model/writes.js';
import { createEventLog } from '../../../src/store/event-log.js';
import { migrate } from '../../../src/store/migrations.js';
import { openDb } from '../../../src/store/open-db.js';
import { createProjection } from '../../../src/store/projection.js';
import { createPgEventLog } from '../../../src/store/pg/pg-event-log.js';
import { migratePg } from '../../../src/store/pg/pg-migrations.js';
import { createPgProjection, type PgKeyedProjection } from '../../../src/store/pg/pg-projection.js';
import { createPgViewRows } from '../../../src/store/pg/pg-view-rows.js';
import type { SliceOptions } from '../../../src/store/store.js';
import { createViewRows } from '../../../src/store/view-rows.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { freshDatabase, testPool } from './pg-test-db.js';

export interface TwinOptions {
  maxDynamicColumns?: number;
  /** The PostgreSQL keyed views: null (the default) none, the log views alone are compared; 'store' pg-keyed-projection.ts's. */
  keyed?: PgKeyedProjection | null | 'store';
}

/** A SQLite store and a PostgreSQL store fed the same events. */
export async function twinStores(t: TestContext, options: TwinOptions = {}) {
  const db = openDb(join(tempDir(t), 'oracle.db'));
  t.after(() => db.close());
  migrate(db);
  const cap = options.maxDynamicColumns === undefined ? {} : { maxDynamicColumns: options.maxDynamicColumns };
  const sqliteLog = createEventLog(db);
  const sqliteProjection = createProjection(db, cap);
  const sqliteViews = createViewRows(db, () => sqliteProjection.columns());
  const url = await freshDatabase(t);
  const pool = testPool(t, url);
  await migratePg(pool);
  const pgLog = createPgEventLog(pool);
  const projection = createPgProjection(pool, { ...cap, ...(options.keyed === 'store' ? {} : { keyed: options.keyed ?? null }) });
  const views = createPgViewRows(pool, () => projection.columns());
  return {
    db,
    url,
    pool,
    pgLog,
    projection,
    views,
    sqlite: { projection: sqliteProjection, views: sqliteViews },
    /** Appends to both logs (the same seqs: both start empty and number in order). */
    async append(events: readonly NewEvent[]): Promise<void> {
      const seqs = db.transaction(() => events.map((e) => sqliteLog.append(e).seq))();
      const pgSeqs = (await pgLog.appendBatch(events)).map((a) => a.seq);
      assert.deepEqual(pgSeqs, seqs, 'both logs numbered the events alike');
    },
  };
}
export type Twin = Awaited<ReturnType<typeof twinStores>>;

async function collect(pages: Iterable<Cell[][]> | AsyncIterable<Cell[][]>): Promise<Cell[][]> {
  const rows: Cell[][] = [];
  for await (const page of pages) rows.push(...page);
  return rows;
}

/** Every log view of both stores, the registry, overflow, parking and cursor: strictly equal (-0 is not 0). */
export async function assertSameViews(twin: Twin, slices: ReadonlyArray<Omit<SliceOptions, 'toSeq'> & { toSeq?: number }> = [{}], message = ''): Promise<void> {
  const cursor = await twin.sqlite.projection.cursor();
  assert.equal(await twin.projection.cursor(), cursor, `${message} cursor`);
  const registry: ColumnRegistry = await twin.sqlite.projection.columns();
  const pgRegistry = await twin.projection.columns();
  for (const view of ['red_flags', 'low_scores', 'completions', 'workflows'] as const) assert.deepStrictEqual(pgRegistry[view], registry[view], `${message} registry of ${view}`);
  // contents' overflow is the keyed views' (not compared here).
  const logOverflow = (o: Partial<Record<string, number>>) => Object.fromEntries(Object.entries(o).filter(([view]) => view !== 'contents'));
  assert.deepStrictEqual(logOverflow(await twin.projection.overflow()), logOverflow(await twin.sqlite.projection.overflow()), `${message} overflow`);
  assert.deepStrictEqual(
    (await twin.projection.parked(-1)).map((p) => [p.seq, p.webhook_id, p.type]),
    (await twin.sqlite.projection.parked(-1)).map((p) => [p.seq, p.webhook_id, p.type]),
    `${message} parked`,
  );
  const snapshot = await twin.projection.snapshot();
  assert.equal(snapshot.toSeq, cursor);
  assert.deepStrictEqual(snapshot.registry, pgRegistry, `${message} snapshot registry`);
  for (const view of LOG_VIEWS)
    await assertSameView(
      twin,
      view,
      slices.map((s) => ({ ...s, toSeq: s.toSeq ?? cursor })),
      message,
    );
}

/** A keyed view of both stores: header and every row in position order. */
export async function assertSameKeyed(twin: Twin, view: KeyedViewName, message = ''): Promise<void> {
  const registry = await twin.sqlite.projection.columns();
  const expected = await twin.sqlite.views.snapshot(view, registry);
  const actual = await twin.views.snapshot(view);
  assert.deepStrictEqual(actual.header, expected.header, `${message} header of ${view}`);
  assert.equal(actual.keyed!.total, expected.keyed!.total, `${message} ${view}: total`);
  const want = await collect(expected.keyed!.pages());
  const got = await collect(actual.keyed!.pages());
  assert.equal(got.length, want.length, `${message} ${view}: row count`);
  for (let i = 0; i < want.length; i++) assert.deepStrictEqual(got[i], want[i], `${message} ${view}: row ${i}`);
}

export async function assertSameView(twin: Twin, view: LogViewName, slices: readonly SliceOptions[], message = ''): Promise<void> {
  const registry = await twin.sqlite.projection.columns();
  const expected = await twin.sqlite.views.snapshot(view, registry);
  const actual = await twin.views.snapshot(view);
  assert.deepStrictEqual(actual.header, expected.header, `${message} header of ${view}`);
  for (const slice of slices) {
    const want = await collect(expected.rows.pages(slice));
    const got = await collect(actual.rows.pages(slice));
    assert.equal(got.length, want.length, `${message} ${view} ${JSON.stringify(slice)}: row count`);
    for (let i = 0; i < want.length; i++) assert.deepStrictEqual(got[i], want[i], `${message} ${view} ${JSON.stringify(slice)}: row ${i}`);
    assert.equal(await actual.rows.count(slice), await expected.rows.count(slice), `${message} ${view} ${JSON.stringify(slice)}: count`);
  }
}
