/**
 * The PostgreSQL projection against the SQLite one (the oracle): the same
 * generated webhooks (hostile text, NUL, lone surrogates, -0, many and
 * colliding dynamic keys, keys that look like SQL, MAX_DYNAMIC_COLUMNS
 * overflow) projected in batches of any size give every append-only view the
 * same header and the same rows, cell for cell and type for type, in any
 * slice and received_at window.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { NewEvent } from '../../../src/model/writes.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { objectOf, scoreDetailsArb, text, validPayload, withWebhookId, type ValidCase } from '../../helpers/arbitraries.js';
import { createProjection } from '../../../src/store/projection.js';
import { createPgProjection } from '../../../src/store/pg/pg-projection.js';
import { createPgViewRows } from '../../../src/store/pg/pg-view-rows.js';
import { createViewRows } from '../../../src/store/view-rows.js';
import { assertSameViews, twinStores, type Twin } from './pg-projection-harness.js';
import { PG_SKIP } from './pg-test-db.js';

/** Keys an SQL builder would choke on: they must only ever be values. */
const SQL_KEYS = [
  "'); DROP TABLE events; --",
  '"; DELETE FROM view_columns; --',
  '$1',
  '$$',
  '?',
  ':name',
  '@since',
  'select',
  'SELECT * FROM events',
  'dyn',
  'seq',
  'cells',
  'ord',
  'view_columns.key',
  "O'Brien",
  'a"b',
  'back\\slash',
  '{1,2}',
  'NULL',
  '\u0000',
  'nul\u0000key',
  '\uffff',
  'esc\uffff0',
  'esc\uffff\u0000',
];
const sqlKey = fc.tuple(fc.constantFrom(...SQL_KEYS), fc.constantFrom('', '', '_score', '_justification'), fc.constantFrom('', ' (2)', 'é', '🔥')).map(([k, s, x]) => k + x + s);

/** A red flag whose score_details are SQL-looking and unicode keys (values of the schema's kinds). */
const sqlKeyed: fc.Arbitrary<ValidCase> = fc
  .tuple(validPayload, fc.array(fc.tuple(sqlKey, fc.oneof(text, fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(-0))), { minLength: 1, maxLength: 12 }))
  .map(([base, entries]) => {
    const details = objectOf(entries);
    const payload = { ...base.payload };
    if (base.type === 'red_flag' || base.type === 'low_score') payload['score_details'] = details;
    else payload['data'] = { ...(payload['data'] as Record<string, unknown>), score_details: details };
    return { type: base.type, payload };
  });
/** Many keys in one webhook: a view's columns pass the cap at once. */
const manyKeys: fc.Arbitrary<ValidCase> = scoreDetailsArb({ maxKeys: 300 }).map((details) => ({ type: 'red_flag', payload: { ...generateWebhook(1, { kind: 'red_flag' }), score_details: details } }));

const webhook = fc.oneof({ weight: 6, arbitrary: validPayload }, { weight: 2, arbitrary: sqlKeyed }, { weight: 1, arbitrary: manyKeys });

/** The body as a sender writes it: JSON.stringify writes -0 as 0, a vendor may send -0 (JSON.parse keeps it). */
function jsonBody(payload: unknown): Buffer {
  const mark = '\u0000negative zero\u0000';
  return Buffer.from(JSON.stringify(payload, (_k, v: unknown) => (Object.is(v, -0) ? mark : v)).replaceAll(JSON.stringify(mark), '-0'));
}

/** received_at: ISO UTC as the receiver writes it, over a few days (the windows cut through them). */
const receivedAt = fc.integer({ min: 0, max: 3 * 86_400_000 }).map((ms) => new Date(Date.UTC(2026, 10, 28) + ms).toISOString());

test('oracle: PostgreSQL shows exactly the rows SQLite shows, for any batch size, cap and slice', { skip: PG_SKIP, timeout: 600_000 }, async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(webhook, receivedAt), { minLength: 1, maxLength: 30 }),
      fc.constantFrom(500, 500, 12, 3, 1),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 4 }),
      fc.tuple(fc.nat(), fc.option(receivedAt), fc.option(receivedAt), fc.integer({ min: 1, max: 7 })),
      async (cases, maxDynamicColumns, batch, appends, [from, since, until, pageSize]) => {
        const twin = await twinStores(t, { maxDynamicColumns });
        const events: NewEvent[] = cases.map(([c, at], i) => ({
          webhookId: `wh-${i}`,
          type: c.type,
          receivedAt: at,
          body: jsonBody(withWebhookId(c.payload, `wh-${i}`)),
        }));
        // Appended in a few goes, each projected before the next (registry grown across batches and appends).
        const per = Math.ceil(events.length / appends);
        for (let i = 0; i < events.length; i += per) {
          await twin.append(events.slice(i, i + per));
          await twin.sqlite.projection.catchUp();
          let n = 0;
          for (let k = await twin.projection.projectBatch(batch); k > 0; k = await twin.projection.projectBatch(batch)) n += k;
          if (n !== Math.min(per, events.length - i)) throw new Error(`projected ${n} events of ${Math.min(per, events.length - i)}`);
        }
        const fromSeq = from % (events.length + 1);
        await assertSameViews(twin, [
          {},
          { fromSeq, pageSize },
          { fromSeq, since: since ?? undefined, until: until ?? undefined, pageSize },
          { since: since ?? undefined },
          { until: until ?? undefined, pageSize: 1 },
        ]);
      },
    ),
    { numRuns: Number(process.env['EMBER_SYNC_PG_ORACLE_RUNS'] ?? 25), endOnFailure: true },
  );
});

test('oracle: a cap passed by one webhook, then raised: columns, overflow and rows as SQLite has them', { skip: PG_SKIP }, async (t) => {
  const details = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}_score`, i]));
  const fields = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, { value: `v${i}`, reasoning: i % 2 ? null : `r${i}` }]));
  const body = (i: number, p: Record<string, unknown>) => ({
    webhookId: `w${i}`,
    type: p['alert_type'] === 'red_flag' ? ('red_flag' as const) : ('workflow' as const),
    receivedAt: new Date(Date.UTC(2026, 10, 30, 0, 0, i)).toISOString(),
    body: Buffer.from(JSON.stringify(p)),
  });
  const events = [
    body(1, { ...generateWebhook(1, { kind: 'red_flag' }), webhook_id: 'w1', score_details: details }),
    body(2, { webhook_id: 'w2', trigger_reason: 'completed_action', content_id: 'c2', data: { output_schema: fields, status: 'complete' } }),
    body(3, { ...generateWebhook(3, { kind: 'red_flag' }), webhook_id: 'w3', score_details: { ...details, extra_score: 1 } }),
  ];
  const small = await twinStores(t, { maxDynamicColumns: 7 });
  await small.append(events);
  await small.sqlite.projection.catchUp();
  await small.projection.catchUp(2);
  await assertSameViews(small, [{}, { fromSeq: 1, pageSize: 1 }]);
  assert.ok(((await small.projection.overflow()).red_flags ?? 0) > 0, 'the cap was passed');

  // MAX_DYNAMIC_COLUMNS raised: keys that overflowed get their columns when they come again, and leave the overflow.
  const sqliteProjection = createProjection(small.db, { maxDynamicColumns: 500 });
  const projection = createPgProjection(small.pool, { maxDynamicColumns: 500, keyed: null });
  const raised: Twin = {
    ...small,
    projection,
    views: createPgViewRows(small.pool, () => projection.columns()),
    sqlite: { projection: sqliteProjection, views: createViewRows(small.db, () => sqliteProjection.columns()) },
  };
  await raised.append([body(4, { ...generateWebhook(4, { kind: 'red_flag' }), webhook_id: 'w4', score_details: details })]);
  await raised.sqlite.projection.catchUp();
  assert.equal(await raised.projection.catchUp(), 1);
  await assertSameViews(raised, [{}, { fromSeq: 2, pageSize: 2 }]);
  assert.equal((await raised.projection.overflow()).red_flags ?? 0, 1, 'only extra_score (not sent again) is still over');
});
