/**
 * The keyed views (contents, content_scores, daily_agents, daily_metrics) as
 * src derives them, compared with the oracle of test/helpers/keyed-oracle.ts
 * (which reads the raw payloads with its own code). Webhooks go through the
 * store's ingest path (or real HTTP); the receive times are read back from
 * the events table, so the comparison tests the derivation, not the clock.
 * Each view is read as an analyst gets it: `exported(store, view)`, CSV.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { createStore, type SqliteStore } from '../../src/store/create-store.js';
import { collect } from '../helpers/collect.js';
import { ingest } from '../helpers/ingest.js';
import { startTestService } from '../helpers/service.js';
import { tempDir } from '../helpers/temp-dir.js';
import { dayIn, expectedKeyedViews, KEYED_FIXED_COLUMNS, KEYED_VIEW_NAMES, type KeyedViewName, type OracleRow } from '../helpers/keyed-oracle.js';
import { differences, logOf, readViews, type ParsedView } from '../helpers/keyed-compare.js';
import { keyedScenario, type KeyedScenario } from '../helpers/keyed-arbitraries.js';

type Json = Record<string, unknown>;

const ZONES = ['UTC', 'America/New_York', 'Europe/Berlin'] as const;
const RUNS_PER_ZONE = 30;

/**
 * A store whose keyed views use `zone` as REPORT_TIMEZONE. Written for either
 * form of the API: a `reportTimezone` option of createStore, or the server's
 * `await store.adoptReportTimezone(zone)` (the zone recorded in the database).
 */
function openStore(dir: string, zone: string): SqliteStore {
  const options = { dbPath: join(dir, 'ember-sync.db'), reportTimezone: zone };
  const store = createStore(options);
  const adopt = (store as { adoptReportTimezone?: (zone: string) => unknown }).adoptReportTimezone;
  if (typeof adopt === 'function') adopt.call(store, zone);
  return store;
}

// ---------------------------------------------------------------- comparing (reading and diffing: test/helpers/keyed-compare.ts)

function assertMatchesOracle(store: SqliteStore, zone: string, actual: Record<KeyedViewName, ParsedView>, label: string): void {
  const log = logOf(store);
  const expected = expectedKeyedViews(log, zone);
  const diffs = differences(expected, actual);
  if (diffs.length > 0) {
    const shown = diffs.slice(0, 25).join('\n  ');
    assert.fail(`${label} (zone ${zone}, ${log.length} webhooks): ${diffs.length} difference(s)\n  ${shown}${diffs.length > 25 ? '\n  …' : ''}`);
  }
}

/**
 * Byte-identical exports, view by view. Daily views' row order is src's
 * choice, but a rebuild must make the same choice as the incremental
 * projection did (targets hold the rows at their positions): a difference in
 * order alone is reported as such.
 */
function assertSameExports(before: Record<KeyedViewName, string>, after: Record<KeyedViewName, string>, what: string): void {
  const problems: string[] = [];
  for (const view of KEYED_VIEW_NAMES) {
    if (after[view] === before[view]) continue;
    const lines = (s: string) => s.split('\r\n').sort().join('\r\n');
    problems.push(`${view}: ${lines(after[view]) === lines(before[view]) ? 'the same rows in another order' : 'other rows'}\n--- before\n${before[view]}--- after\n${after[view]}`);
  }
  if (problems.length > 0) assert.fail(`${what} changed the export of ${problems.length} keyed view(s):\n${problems.join('\n')}`);
}

/**
 * The month partitions of contents and content_scores: each month holds the
 * rows whose (content's) first_received_at falls in it in `zone`, in the
 * view's order, at places 1..n; the months' rows are the view's rows.
 */
async function assertMonthsMatch(store: SqliteStore, zone: string, label: string): Promise<void> {
  const expected = expectedKeyedViews(logOf(store), zone);
  const monthOfContent = new Map(expected.contents.rows.map((r) => [String(r['content_id']), dayIn(String(r['first_received_at']), zone).slice(0, 7)]));
  const registry = await store.projection.columns();
  const problems: string[] = [];
  for (const view of ['contents', 'content_scores'] as const) {
    const key = (r: ReadonlyArray<unknown> | OracleRow) => (view === 'contents' ? [0] : [0, 3]).map((i) => (Array.isArray(r) ? r[i] : (r as OracleRow)[KEYED_FIXED_COLUMNS[view][i]!])).join('|');
    const want = new Map<string, string[]>();
    for (const row of expected[view].rows) {
      const m = monthOfContent.get(String(row['content_id']))!;
      want.set(m, [...(want.get(m) ?? []), key(row)]);
    }
    const keyed = (await store.views.snapshot(view, registry)).keyed!;
    const months = keyed.months!;
    const whole = new Map((await collect(keyed.pages())).flat().map((cells) => [key(cells), JSON.stringify(cells)]));
    const got = new Map<string, string[]>();
    for (const { month, total } of months.list) {
      const rows = months.rows(month);
      const cells = (await collect(rows.pages())).flat();
      const positions = (await collect(rows.changed(0, 0))).flat().map((p) => p.position);
      if (cells.length !== total) problems.push(`${view} ${month}: total ${total}, ${cells.length} rows`);
      if (JSON.stringify(positions) !== JSON.stringify(cells.map((_, i) => i + 1))) problems.push(`${view} ${month}: places ${JSON.stringify(positions)}`);
      for (const c of cells) if (whole.get(key(c)) !== JSON.stringify(c)) problems.push(`${view} ${month}: row ${key(c)} differs from the view's`);
      if (total > 0) got.set(month, cells.map(key));
    }
    if (JSON.stringify([...got].sort()) !== JSON.stringify([...want].sort())) problems.push(`${view}: months ${JSON.stringify([...got].sort())}, expected ${JSON.stringify([...want].sort())}`);
  }
  if (problems.length > 0) assert.fail(`${label} (zone ${zone}): ${problems.slice(0, 20).join('\n  ')}`);
}

// ---------------------------------------------------------------- generated sequences through the store

for (const zone of ZONES) {
  test(`property (${zone}): keyed views equal the oracle, projected in several batches; a full rebuild exports the same bytes`, async (t: TestContext) => {
    const root = tempDir(t, 'ember-sync-keyed-');
    await fc.assert(
      fc.asyncProperty(keyedScenario({ maxWebhooks: 40 }), fc.nat(), fc.integer({ min: 1, max: 6 }), async ({ webhooks }: KeyedScenario, splitPick, chunk) => {
        const store = openStore(mkdtempSync(join(root, 'run-')), zone);
        try {
          // Part of the log, projected (in chunks of a few events), then the rest: batch edges anywhere.
          const split = splitPick % (webhooks.length + 1);
          await ingest(store, webhooks.slice(0, split).map((w) => w.payload), (i) => webhooks[i]!.receivedAt);
          await store.projection.catchUp(chunk);
          await ingest(store, webhooks.slice(split).map((w) => w.payload), (i) => webhooks[split + i]!.receivedAt);
          await store.projection.catchUp(chunk);
          const first = await readViews(store);
          assertMatchesOracle(store, zone, first.parsed, 'incremental');
          await assertMonthsMatch(store, zone, 'incremental');

          await store.projection.rebuild();
          const again = await readViews(store);
          assertMatchesOracle(store, zone, again.parsed, 'after rebuild');
          await assertMonthsMatch(store, zone, 'after rebuild');
          assertSameExports(first.csv, again.csv, 'a full rebuild');
        } finally {
          store.close();
        }
      }),
      { numRuns: RUNS_PER_ZONE, includeErrorInReport: true },
    );
  });
}

// ---------------------------------------------------------------- through real HTTP, zone from REPORT_TIMEZONE

test('property: webhooks POSTed to the real service (REPORT_TIMEZONE=America/New_York, received_at from its clock) give the oracle\'s keyed views', async (t) => {
  const service = await startTestService(t, { REPORT_TIMEZONE: 'America/New_York' });
  let run = 0;
  await fc.assert(
    fc.asyncProperty(keyedScenario({ maxWebhooks: 25, idPrefix: '' }), async ({ webhooks }) => {
      // One service for all runs: ids and content ids get a per-run prefix (the oracle reads the whole log).
      const r = run++;
      for (const w of webhooks) {
        const p: Json = { ...w.payload, webhook_id: `http-${r}-${String(w.payload['webhook_id'])}`, content_id: `r${r}-${String(w.payload['content_id'])}` };
        const res = await service.post(JSON.stringify(p));
        const answer = await res.text();
        assert.equal(res.status, 200, answer);
      }
      const { parsed } = await readViews(service.store);
      assertMatchesOracle(service.store, 'America/New_York', parsed, 'http');
    }),
    { numRuns: 6, includeErrorInReport: true },
  );
});

// ---------------------------------------------------------------- hand-made cases

test('a Sunday 23:30 call in New York is Sunday in daily views of America/New_York and Monday of UTC', async (t) => {
  const payload = {
    webhook_id: 'ny-1', content_id: 'call-ny', alert_type: 'low_score', content_type: 'Call', total_score: 45, total_score_threshold: 70, file_name: 'x.wav', agent_name: ' John  Doe',
    summary: null, score_details: { empathy_score: 7 }, timestamp: '2026-11-29T23:30:00-05:00',
  };
  for (const [zone, day] of [['America/New_York', '2026-11-29'], ['UTC', '2026-11-30'], ['Europe/Berlin', '2026-11-30']] as const) {
    const store = openStore(tempDir(t), zone);
    t.after(() => store.close());
    await ingest(store, [payload], () => '2026-11-30T04:31:00.000Z');
    const { parsed } = await readViews(store);
    assert.equal(parsed.contents.rows[0]?.['scored_at'], '2026-11-30T04:30:00.000Z');
    assert.deepEqual(parsed.daily_agents.rows, [{ day, agent_name: 'John Doe', contents: 1, completed: 0, red_flags: 0, low_scores: 1, avg_total_score: 45 }]);
    assert.deepEqual(parsed.daily_metrics.rows, [{ day, agent_name: 'John Doe', metric: 'empathy', contents: 1, avg_score: 7, min_score: 7, max_score: 7 }]);
    assertMatchesOracle(store, zone, parsed, 'sunday');
  }
});

test('a re-score that moves a call to the next day leaves a zero row for the day it left, across separate projections', async (t) => {
  const store = openStore(tempDir(t), 'UTC');
  t.after(() => store.close());
  await ingest(store, [{ webhook_id: 'm-1', trigger_reason: 'completed_action', content_id: 'call-1', data: { agent_name: 'John Doe', created_time: '2026-11-29T20:00:00Z', score_details: { empathy_score: 4 } } }], () => '2026-11-29T20:01:00.000Z');
  await readViews(store); // projected on its own
  await ingest(store, [{ webhook_id: 'm-2', trigger_reason: 'completed_action', content_id: 'call-1', data: { agent_name: 'john doe', created_time: '2026-11-30T09:00:00Z', score_details: { empathy_score: 8 } } }], () => '2026-11-30T09:01:00.000Z');
  const { parsed } = await readViews(store);
  const agents = new Map(parsed.daily_agents.rows.map((r) => [`${r['day']}|${r['agent_name']}`, r]));
  assert.deepEqual(agents.get('2026-11-29|John Doe'), { day: '2026-11-29', agent_name: 'John Doe', contents: 0, completed: 0, red_flags: 0, low_scores: 0, avg_total_score: null });
  assert.deepEqual(agents.get('2026-11-30|john doe'), { day: '2026-11-30', agent_name: 'john doe', contents: 1, completed: 1, red_flags: 0, low_scores: 0, avg_total_score: null });
  assert.equal(agents.size, 2);
  assertMatchesOracle(store, 'UTC', parsed, 're-score');
});

test('metrics whose columns collide with fixed ones (total, low) crash nothing, and the fixed columns keep their values', async (t) => {
  const store = openStore(tempDir(t), 'UTC');
  t.after(() => store.close());
  await ingest(store, [
    { webhook_id: 'col-1', content_id: 'c', alert_type: 'low_score', content_type: 'Call', total_score: 33, total_score_threshold: 50, file_name: 'f', agent_name: 'A', summary: 's',
      score_details: { total_score: 7, total_justification: 'sum', low_score: 2, empathy_score: 5 }, timestamp: '2026-11-29T10:00:00Z' },
  ], () => '2026-11-29T10:01:00.000Z');
  const { parsed } = await readViews(store);
  const row = parsed.contents.rows[0]!;
  assert.equal(row['total_score'], 33);
  assert.equal(row['low_score'], true);
  assert.equal(row['empathy_score'], 5);
  assert.deepEqual(parsed.contents.header.slice(0, KEYED_FIXED_COLUMNS.contents.length), [...KEYED_FIXED_COLUMNS.contents]);
  assert.equal(new Set(parsed.contents.header).size, parsed.contents.header.length, 'no column name twice');
  assert.equal(parsed.contents.header.length, KEYED_FIXED_COLUMNS.contents.length + 6);
  assert.deepEqual(parsed.content_scores.rows.map((r) => [r['metric'], r['score'], r['justification']]), [['total', 7, 'sum'], ['low', 2, null], ['empathy', 5, null]]);
  assertMatchesOracle(store, 'UTC', parsed, 'collision');
});

test('workflow completions are not part of the keyed views', async (t) => {
  const store = openStore(tempDir(t), 'UTC');
  t.after(() => store.close());
  await ingest(store, [
    { webhook_id: 'wf-1', trigger_reason: 'completed_action', content_id: 'w', data: { output_schema: { a: { value: 'x', reasoning: null } }, agent_name: 'A', created_time: '2026-11-29T10:00:00Z', score_details: { empathy_score: 1 } } },
  ], () => '2026-11-29T10:01:00.000Z');
  const { parsed } = await readViews(store);
  for (const view of KEYED_VIEW_NAMES) assert.deepEqual(parsed[view].rows, [], view);
  assert.deepEqual(parsed.contents.header, [...KEYED_FIXED_COLUMNS.contents]);
});
