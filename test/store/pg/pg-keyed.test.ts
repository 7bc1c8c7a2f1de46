/**
 * The keyed views on PostgreSQL against the SQLite engine: the same
 * fast-check webhook sequences (test/helpers/keyed-arbitraries.ts), derived by
 * both in the same batches of random sizes, must give exactly the same rows,
 * positions, totals, months, changed(since, known) answers and counts, in
 * REPORT_TIMEZONEs other than UTC too. (The batches matter for changed_seq
 * alone: a daily row's is the last event of the batch that moved it.) The
 * rows also match the oracle of test/helpers/keyed-oracle.ts. Also: a
 * derivation continued by another process, wiped and derived in another
 * zone, under MAX_DYNAMIC_COLUMNS, with days closed by RETENTION_DAYS; the
 * cases the random runs seldom reach (an extreme score leaving its group, a
 * call changing month); errors named by seq; text PostgreSQL cannot hold as
 * such; keys too long for a btree; round trips per batch.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { createPgKeyedProjection, PgKeyedApplyError } from '../../../src/store/pg/pg-keyed-projection.js';
import { createPgKeyedRows } from '../../../src/store/pg/pg-keyed-rows.js';
import { migratePg } from '../../../src/store/pg/pg-migrations.js';
import { keyedScenario, type KeyedWebhook } from '../../helpers/keyed-arbitraries.js';
import { appendPg, applyPg, derivePg, KEYED, logged, pgContentsColumns, readView, resetPg, sqliteEngine, type LoggedWebhook, type SqliteEngine } from './pg-keyed-helpers.js';
import { freshDatabase, PG_SKIP, testPool } from './pg-test-db.js';
import { viewHeader } from '../../../src/model/columns.js';
import type { KeyedViewName } from '../../../src/model/views.js';
import { fromPgText } from '../../../src/store/pg/pg-text.js';
import type { PgPool } from '../../../src/store/pg/pg-pool.js';
import { differences, guarded, type ParsedView } from '../../helpers/keyed-compare.js';
import { expectedKeyedViews } from '../../helpers/keyed-oracle.js';

const ZONES = ['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Kathmandu'] as const;

async function setup(t: TestContext): Promise<PgPool> {
  const pool = testPool(t, await freshDatabase(t), { max: 3 });
  await migratePg(pool);
  return pool;
}

/** Both engines' views, read whole, must be equal; returns the number of rows compared. */
async function assertSameViews(pool: PgPool, sqlite: SqliteEngine, events: readonly LoggedWebhook[], label: string): Promise<number> {
  const columns = sqlite.columns();
  assert.deepEqual(await pgContentsColumns(pool), columns, `${label}: contents' dynamic columns`);
  const last = events.at(-1)?.seq ?? 0;
  const sinces = [...new Set([0, Math.floor(last / 3), Math.floor((2 * last) / 3), Math.max(0, last - 1), last])];
  const times = events.map((e) => e.receivedAt).sort();
  const window = times.length === 0 ? {} : { since: times[Math.floor(times.length / 4)]!, until: times[Math.floor((3 * times.length) / 4)]! };
  const pgRows = createPgKeyedRows(pool);
  let compared = 0;
  for (const view of KEYED) {
    const dynamic = view === 'contents' ? columns : [];
    const expected = await readView(sqlite.rows.source(view, dynamic), sinces, window);
    const actual = await readView(await pgRows.source(view, dynamic), sinces, window);
    assert.deepStrictEqual(actual, expected, `${label}: ${view}`);
    compared += expected.rows.length;
  }
  return compared;
}

/**
 * The PostgreSQL rows as an analyst gets them (what keyed-compare.ts reads
 * from a CSV export: text cells behind the formula guard), against the oracle
 * of test/helpers/keyed-oracle.ts, which derives the views from the payloads
 * with code of its own.
 */
async function assertMatchesOracle(pool: PgPool, events: readonly LoggedWebhook[], zone: string, label: string): Promise<void> {
  const expected = expectedKeyedViews(events.map((e) => ({ received_at: e.receivedAt, payload: e.payload })), zone);
  const rows = createPgKeyedRows(pool);
  const actual = {} as Record<KeyedViewName, ParsedView>;
  for (const view of KEYED) {
    const dynamic = view === 'contents' ? await pgContentsColumns(pool) : [];
    const header = viewHeader(view, dynamic).map(guarded);
    const parsed: ParsedView = { header, rows: [] };
    for await (const page of (await rows.source(view, dynamic)).pages()) {
      for (const cells of page) parsed.rows.push(Object.fromEntries(header.map((h, i) => [h, typeof cells[i] === 'string' ? guarded(cells[i]) : (cells[i] ?? null)])));
    }
    actual[view] = parsed;
  }
  const diffs = differences(expected, actual);
  assert.deepEqual(diffs.slice(0, 20), [], `${label}: ${diffs.length} difference(s) from the oracle`);
}

test('keyed views: PostgreSQL in random batches equals the SQLite engine (rows, positions, months, changed), in several zones', { skip: PG_SKIP, timeout: 600_000 }, async (t) => {
  const pool = await setup(t);
  let rows = 0;
  await fc.assert(
    fc.asyncProperty(
      keyedScenario({ maxContents: 6, maxWebhooks: 40 }),
      fc.constantFrom(...ZONES),
      fc.oneof(fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 6 }), fc.constant([1000])),
      async (scenario, zone, sizes) => {
        await resetPg(pool);
        const events = logged(scenario.webhooks);
        if (events.length > 0) await appendPg(pool, events);
        const keyed = createPgKeyedProjection({ zone: async () => zone });
        await derivePg(pool, keyed, sizes);
        // The same batches: a daily row's changed_seq is the last event of the batch that moved it (as on SQLite).
        const sqlite = sqliteEngine();
        try {
          sqlite.derive(events, zone, sizes);
          rows += await assertSameViews(pool, sqlite, events, `zone ${zone}, batches ${sizes.join(',')}`);
          await assertMatchesOracle(pool, events, zone, `zone ${zone}, batches ${sizes.join(',')}`);
        } finally {
          sqlite.db.close();
        }
      },
    ),
    { numRuns: 40 },
  );
  // The runs compared rows, not empty views.
  assert.ok(rows > 100, `only ${rows} rows compared`);
});

test('keyed views: contents past MAX_DYNAMIC_COLUMNS get the same columns, cells and overflow as on SQLite', { skip: PG_SKIP, timeout: 300_000 }, async (t) => {
  const pool = await setup(t);
  let overflowed = 0;
  await fc.assert(
    fc.asyncProperty(keyedScenario({ maxContents: 6, maxWebhooks: 30 }), fc.constantFrom(2, 4, 7), fc.integer({ min: 1, max: 8 }), async (scenario, maxColumns, size) => {
      await resetPg(pool);
      const events = logged(scenario.webhooks);
      if (events.length === 0) return;
      await appendPg(pool, events);
      await derivePg(pool, createPgKeyedProjection({ zone: async () => 'UTC', maxDynamicColumns: maxColumns }), [size]);
      const sqlite = sqliteEngine(maxColumns);
      try {
        sqlite.derive(events, 'UTC', [size]);
        await assertSameViews(pool, sqlite, events, `MAX_DYNAMIC_COLUMNS ${maxColumns}, batches ${size}`);
        // Sorted here: the server's collation need not be SQLite's byte order.
        const sorted = (rows: Array<{ kind: string; key: string; first_seq: number }>) => rows.map((o) => JSON.stringify(o)).sort();
        const overflow = (await pool.query<{ kind: string; key: string; first_seq: string }>({ text: "SELECT kind, key, first_seq FROM column_overflow WHERE view = 'contents'" })).rows;
        const expected = sqlite.db.prepare("SELECT kind, key, first_seq FROM column_overflow WHERE view = 'contents'").all() as Array<{ kind: string; key: string; first_seq: number }>;
        assert.deepEqual(sorted(overflow.map((o) => ({ kind: o.kind, key: fromPgText(o.key), first_seq: Number(o.first_seq) }))), sorted(expected));
        overflowed += expected.length;
      } finally {
        sqlite.db.close();
      }
    }),
    { numRuns: 15 },
  );
  assert.ok(overflowed > 0, 'no key overflowed in any run');
});

test('keyed views: a derivation continued after a restart, and again after a wipe in another zone, equals SQLite', { skip: PG_SKIP, timeout: 300_000 }, async (t) => {
  const pool = await setup(t);
  await fc.assert(
    fc.asyncProperty(keyedScenario({ maxContents: 5, maxWebhooks: 30 }), fc.constantFrom(...ZONES), fc.constantFrom(...ZONES), fc.integer({ min: 1, max: 9 }), async (scenario, zone1, zone2, size) => {
      await resetPg(pool);
      const events = logged(scenario.webhooks);
      if (events.length === 0) return;
      const half = Math.ceil(events.length / 2);
      // Half the log, then the rest, each by a projection object of its own (nothing carried in memory).
      await appendPg(pool, events.slice(0, half));
      const cursor = await derivePg(pool, createPgKeyedProjection({ zone: async () => zone1 }), [size]);
      await appendPg(pool, events.slice(half));
      await derivePg(pool, createPgKeyedProjection({ zone: async () => zone1 }), [size + 1], cursor);
      const sqlite = sqliteEngine();
      try {
        sqlite.derive(events.slice(0, half), zone1, [size]);
        sqlite.derive(events.slice(half), zone1, [size + 1]);
        await assertSameViews(pool, sqlite, events, `zone ${zone1}, batches ${size}`);
        // A new REPORT_TIMEZONE: the keyed rows are wiped and derived again (contents' columns stay).
        const keyed = createPgKeyedProjection({ zone: async () => zone2 });
        await pool.withClient(async (client) => {
          await client.query('BEGIN');
          await keyed.wipe(client);
          await client.query('COMMIT');
        });
        await derivePg(pool, keyed, [size * 2]);
        sqlite.wipe();
        sqlite.derive(events, zone2, [size * 2]);
        await assertSameViews(pool, sqlite, events, `wiped, zone ${zone1} → ${zone2}`);
      } finally {
        sqlite.db.close();
      }
    }),
    { numRuns: 15 },
  );
});

test('keyed views: days closed by RETENTION_DAYS stay as they are, months before the first kept one are not used, and a wipe keeps the closed daily rows', { skip: PG_SKIP, timeout: 300_000 }, async (t) => {
  const pool = await setup(t);
  let closedRows = 0;
  await fc.assert(
    fc.asyncProperty(keyedScenario({ maxContents: 6, maxWebhooks: 40 }), fc.constantFrom(...ZONES), fc.integer({ min: 1, max: 8 }), fc.double({ min: 0, max: 1, noNaN: true }), async (scenario, zone, size, where) => {
      await resetPg(pool);
      await pool.query({ text: 'UPDATE retention_state SET kept_from_day = NULL, keyed_generation = 0' });
      const events = logged(scenario.webhooks);
      if (events.length < 2) return;
      const half = Math.ceil(events.length / 2);
      await appendPg(pool, events);
      const keyed = createPgKeyedProjection({ zone: async () => zone });
      // The first half, then a day closed, then the rest.
      const first = events.slice(0, half);
      await derivePgEvents(pool, keyed, first, size);
      const sqlite = sqliteEngine();
      try {
        sqlite.derive(first, zone, [size]);
        // A day after the first one seen: some daily rows are closed (all of them, past the last).
        const days = sqlite.db.prepare('SELECT DISTINCT day FROM daily_agent_rows ORDER BY day').pluck().all() as string[];
        const candidates = days.length === 0 ? ['2026-11-30'] : [...days.slice(1), `${days.at(-1)!}~`];
        const closed = candidates[Math.min(candidates.length - 1, Math.floor(where * candidates.length))]!;
        sqlite.db.prepare('UPDATE retention_state SET kept_from_day = ? WHERE id = 1').run(closed);
        await pool.query({ text: 'UPDATE retention_state SET kept_from_day = $1', values: [closed] });
        await derivePgEvents(pool, keyed, events.slice(half), size);
        sqlite.derive(events.slice(half), zone, [size]);
        await assertSameViews(pool, sqlite, events, `zone ${zone}, closed before ${closed}`);
        closedRows += sqlite.db.prepare('SELECT count(*) FROM daily_agent_rows WHERE day < ?').pluck().get(closed) as number;
        // A new derivation keeps the closed daily rows (renumbered first) and starts a new keyed generation.
        await resetKeyedPg(pool, keyed);
        await derivePgEvents(pool, keyed, events, size + 1);
        sqlite.wipe();
        sqlite.derive(events, zone, [size + 1]);
        await assertSameViews(pool, sqlite, events, `zone ${zone}, closed before ${closed}, derived again`);
        const generation = async () => Number((await pool.query<{ g: number }>({ text: 'SELECT keyed_generation AS g FROM retention_state' })).rows[0]!.g);
        assert.equal(await generation(), sqlite.db.prepare('SELECT keyed_generation FROM retention_state').pluck().get() as number);
      } finally {
        sqlite.db.close();
      }
    }),
    { numRuns: 20 },
  );
  assert.ok(closedRows > 0, 'no run closed a daily row');
});

/** The keyed rows wiped in one transaction (as the projector does for a new zone). */
async function resetKeyedPg(pool: PgPool, keyed: ReturnType<typeof createPgKeyedProjection>): Promise<void> {
  await pool.withClient(async (client) => {
    await client.query('BEGIN');
    await keyed.wipe(client);
    await client.query('COMMIT');
  });
}

/** These logged events (not read back from the log) in batches of `size`, one transaction each. */
async function derivePgEvents(pool: PgPool, keyed: ReturnType<typeof createPgKeyedProjection>, events: readonly LoggedWebhook[], size: number): Promise<void> {
  for (let i = 0; i < events.length; i += size) {
    await applyPg(pool, keyed, events.slice(i, i + size).map((e) => ({ seq: e.seq, type: e.type, receivedAt: e.receivedAt, payload: e.payload })));
  }
}

/** Derives `webhooks` on both engines in each of these batchings and compares everything; returns the rows compared. */
async function compareScenario(pool: PgPool, webhooks: KeyedWebhook[], zone: string, batchings: number[][]): Promise<number> {
  let compared = 0;
  for (const sizes of batchings) {
    await resetPg(pool);
    const events = logged(webhooks);
    await appendPg(pool, events);
    await derivePg(pool, createPgKeyedProjection({ zone: async () => zone }), sizes);
    const sqlite = sqliteEngine();
    try {
      sqlite.derive(events, zone, sizes);
      compared += await assertSameViews(pool, sqlite, events, `batches ${sizes.join(',')}`);
    } finally {
      sqlite.db.close();
    }
  }
  return compared;
}

const completion = (n: number, contentId: string, agent: string, created: string, details: Record<string, unknown>) => ({
  webhook_id: `w${n}`,
  trigger_reason: 'completed_action',
  content_id: contentId,
  data: { agent_name: agent, created_time: created, score_details: details },
});

test('a daily group whose extreme score leaves reads min/max again; others move towards new scores', { skip: PG_SKIP }, async (t) => {
  const pool = await setup(t);
  const at = (h: number) => `2026-11-30T${String(h).padStart(2, '0')}:00:00.000Z`;
  const webhooks: KeyedWebhook[] = [
    { payload: completion(1, 'c1', 'Ann', '2026-11-30T09:00:00Z', { m_score: 3, n_score: 1 }), receivedAt: at(9) },
    { payload: completion(2, 'c2', 'Ann', '2026-11-30T09:30:00Z', { m_score: 9, n_score: 1 }), receivedAt: at(10) },
    { payload: completion(3, 'c3', 'Ann', '2026-11-30T09:45:00Z', { m_score: 6, n_justification: 'text' }), receivedAt: at(11) },
    // The max leaves (re-scored lower), then the min leaves (its call moves to another day), then a new max comes.
    { payload: completion(4, 'c2', 'Ann', '2026-11-30T09:30:00Z', { m_score: 5 }), receivedAt: at(12) },
    { payload: completion(5, 'c1', 'Ann', '2026-12-01T09:00:00Z', {}), receivedAt: at(13) },
    { payload: completion(6, 'c1', 'Ann', '2026-11-30T09:00:00Z', { m_score: 10 }), receivedAt: at(14) },
    // Every numeric score of n leaves its group (its call moves to another agent): no extremes.
    { payload: completion(7, 'c2', 'Bob', '2026-11-30T09:30:00Z', { n_score: 'n/a' }), receivedAt: at(15) },
    { payload: completion(8, 'c1', 'Bob', '2026-11-30T09:00:00Z', {}), receivedAt: at(16) },
  ];
  const compared = await compareScenario(pool, webhooks, 'UTC', [[1], [2], [3, 1], [100]]);
  assert.ok(compared > 0);
  const rows = createPgKeyedRows(pool);
  const daily: unknown[][] = [];
  for await (const page of (await rows.source('daily_metrics', [])).pages()) daily.push(...page);
  assert.deepEqual(daily.find((r) => r[1] === 'Ann' && r[2] === 'm' && r[0] === '2026-11-30'), ['2026-11-30', 'Ann', 'm', 1, 6, 6, 6]);
  assert.deepEqual(daily.find((r) => r[1] === 'Bob' && r[2] === 'm'), ['2026-11-30', 'Bob', 'm', 2, 7.5, 5, 10]);
  assert.deepEqual(daily.find((r) => r[1] === 'Ann' && r[2] === 'n' && r[0] === '2026-11-30'), ['2026-11-30', 'Ann', 'n', 1, null, null, null]);
});

test('a call whose first_received_at moves to another month takes its metric rows along; both months are numbered again', { skip: PG_SKIP }, async (t) => {
  const pool = await setup(t);
  const webhooks: KeyedWebhook[] = [
    { payload: completion(1, 'c1', 'Ann', '2026-12-01T09:00:00Z', { a_score: 1, b_score: 2, c_justification: 'x' }), receivedAt: '2026-12-01T00:30:00.000Z' },
    { payload: completion(2, 'c2', 'Ann', '2026-12-01T09:00:00Z', { a_score: 3 }), receivedAt: '2026-12-01T01:00:00.000Z' },
    { payload: completion(3, 'c3', 'Ann', '2026-11-30T09:00:00Z', { b_score: 4 }), receivedAt: '2026-11-30T20:00:00.000Z' },
    // Released from quarantine: received before c1's first webhook, in November. No metrics: c1's metric rows are not rewritten.
    { payload: completion(4, 'c1', 'Ann', '2026-12-01T09:00:00Z', {}), receivedAt: '2026-11-30T23:00:00.000Z' },
    { payload: completion(5, 'c4', 'Ann', '2026-12-01T09:00:00Z', { a_score: 5 }), receivedAt: '2026-12-01T02:00:00.000Z' },
  ];
  await compareScenario(pool, webhooks, 'UTC', [[100], [2], [4, 1], [1]]);
  const months = async () => (await createPgKeyedRows(pool).source('content_scores', [])).months!.list;
  // c1's three metric rows left December for November (event 4, in a batch after the one that created c1).
  assert.deepEqual(await months(), [
    { month: '2026-11', total: 4, resetSeq: 4 },
    { month: '2026-12', total: 2, resetSeq: 4 },
  ]);
  // In New York every receive time is in November: nothing moves there.
  await compareScenario(pool, webhooks, 'America/New_York', [[1], [3]]);
  assert.deepEqual(await months(), [{ month: '2026-11', total: 6, resetSeq: 0 }]);
});

test('a batch costs a fixed number of round trips whatever its size; large scenarios equal SQLite', { skip: PG_SKIP, timeout: 300_000 }, async (t) => {
  const pool = await setup(t);
  const scenarios = fc.sample(keyedScenario({ maxContents: 40, maxWebhooks: 400 }), { numRuns: 3, seed: 20261130 });
  for (const [i, scenario] of scenarios.entries()) {
    await resetPg(pool);
    const events = logged(scenario.webhooks);
    await appendPg(pool, events);
    const keyed = createPgKeyedProjection({ zone: async () => 'America/New_York' });
    const sizes = [7, 150, 400];
    const counts: number[] = [];
    // The projector's loop, counting the statements each batch sends.
    for (let k = 0, cursor = 0; cursor < events.length; k++) {
      const batch = events.filter((e) => e.seq > cursor).slice(0, sizes[k % sizes.length]);
      let queries = 0;
      await pool.withClient(async (client) => {
        const counted = new Proxy(client, {
          get(target, prop, receiver) {
            if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
            return (...args: Parameters<typeof client.query>) => {
              queries++;
              return (client.query as (...a: unknown[]) => unknown)(...args);
            };
          },
        });
        await client.query('BEGIN');
        await keyed.applyBatch(counted, batch.map((e) => ({ seq: e.seq, type: e.type, receivedAt: e.receivedAt, payload: e.payload })));
        await client.query('COMMIT');
      });
      counts.push(queries);
      cursor = batch.at(-1)!.seq;
    }
    assert.ok(Math.max(...counts) <= 16, `scenario ${i}: statements per batch ${counts.join(', ')}`);
    const sqlite = sqliteEngine();
    try {
      sqlite.derive(events, 'America/New_York', sizes);
      assert.ok((await assertSameViews(pool, sqlite, events, `large scenario ${i}`)) > events.length / 2);
    } finally {
      sqlite.db.close();
    }
  }
});

test('an event that cannot feed the keyed views is named by its seq, and the batch writes nothing', { skip: PG_SKIP }, async (t) => {
  const pool = await setup(t);
  const keyed = createPgKeyedProjection({ zone: async () => 'UTC' });
  const good = { webhook_id: 'w1', trigger_reason: 'completed_action', content_id: 'c1', data: { agent_name: 'Ann', score_details: { tone_score: 7 } } };
  const items = [
    { seq: 1, type: 'completion' as const, receivedAt: '2026-11-30T10:00:00.000Z', payload: good },
    // Not an object where the schema has one.
    { seq: 2, type: 'red_flag' as const, receivedAt: '2026-11-30T10:01:00.000Z', payload: null },
    { seq: 3, type: 'low_score' as const, receivedAt: '2026-11-30T10:02:00.000Z', payload: undefined },
  ];
  await assert.rejects(applyPg(pool, keyed, items), (err: unknown) => err instanceof PgKeyedApplyError && err.seq === 2);
  await assert.rejects(applyPg(pool, keyed, [items[0]!, items[2]!]), (err: unknown) => err instanceof PgKeyedApplyError && err.seq === 3);
  const count = async () => Number((await pool.query<{ n: string }>({ text: 'SELECT (SELECT count(*) FROM content_rows) + (SELECT count(*) FROM daily_agent_rows) + (SELECT count(*) FROM view_columns) AS n' })).rows[0]!.n);
  assert.equal(await count(), 0);
  // Without them the batch goes through: one content, its day, its metric's two columns.
  await applyPg(pool, keyed, [items[0]!]);
  assert.equal(await count(), 4);
  const rows = createPgKeyedRows(pool);
  const src = await rows.source('contents', await pgContentsColumns(pool));
  const cells: unknown[] = [];
  for await (const page of src.pages()) cells.push(...page);
  assert.deepEqual(cells, [['c1', null, null, 'Ann', '2026-11-30T10:00:00.000Z', '2026-11-30T10:00:00.000Z', '2026-11-30T10:00:00.000Z', 1, true, false, false, null, null, null, null, 7, null]]);
});

test('text PostgreSQL cannot hold as such (U+0000) and its escape (U+FFFF) come back as sent, as on SQLite', { skip: PG_SKIP }, async (t) => {
  const pool = await setup(t);
  const odd = (s: string) => `${s}\u0000x\uffff0\uffff`;
  const payload = (n: number, agent: string) => ({
    webhook_id: `w${n}`,
    content_id: odd('c'),
    alert_type: 'red_flag',
    content_type: odd('Call'),
    file_name: odd('f'),
    agent_name: agent,
    red_flag_reason: odd('r'),
    total_score: n,
    score_details: { [`${odd('m')}_score`]: n, [`${odd('m')}_justification`]: odd('j'), [odd('plain')]: odd('text') },
    timestamp: `2026-11-30T1${n}:00:00Z`,
  });
  const events = logged([
    { payload: payload(1, odd('Ann')), receivedAt: '2026-11-30T10:00:00.000Z' },
    { payload: payload(2, odd('Bob')), receivedAt: '2026-11-30T11:00:00.000Z' },
    { payload: { ...payload(3, odd('Ann')), content_id: 'plain' }, receivedAt: '2026-11-30T12:00:00.000Z' },
  ]);
  await appendPg(pool, events);
  await derivePg(pool, createPgKeyedProjection({ zone: async () => 'UTC' }), [1]);
  const sqlite = sqliteEngine();
  try {
    sqlite.derive(events, 'UTC', [1]);
    assert.ok((await assertSameViews(pool, sqlite, events, 'odd text')) >= 6);
  } finally {
    sqlite.db.close();
  }
});

test('long keys (content ids, agent and metric names past a btree entry) are stored and found again', { skip: PG_SKIP }, async (t) => {
  const pool = await setup(t);
  const keyed = createPgKeyedProjection({ zone: async () => 'UTC' });
  const id = 'é'.repeat(1000);
  const agent = 'A'.repeat(5000);
  const metric = 'm'.repeat(4000);
  const payload = (n: number) => ({ webhook_id: `w${n}`, trigger_reason: 'completed_action', content_id: id, data: { agent_name: agent, score_details: { [`${metric}_score`]: n } } });
  await applyPg(pool, keyed, [{ seq: 1, type: 'completion', receivedAt: '2026-11-30T10:00:00.000Z', payload: payload(1) }]);
  await applyPg(pool, keyed, [{ seq: 2, type: 'completion', receivedAt: '2026-11-30T11:00:00.000Z', payload: payload(3) }]);
  const rows = createPgKeyedRows(pool);
  const read = async (view: 'contents' | 'daily_metrics') => {
    const out: unknown[][] = [];
    for await (const page of (await rows.source(view, [])).pages()) out.push(...page);
    return out;
  };
  const contents = await read('contents');
  assert.equal(contents.length, 1);
  assert.equal(contents[0]![7], 2);
  assert.deepEqual(await read('daily_metrics'), [['2026-11-30', agent, metric, 1, 3, 3, 3]]);
});
