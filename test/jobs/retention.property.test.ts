/**
 * RETENTION_DAYS against an independent oracle, property-based.
 *
 * A generated scenario (test/helpers/keyed-arbitraries.ts) has its receive
 * times spread over 2–5 months (vendor times inside the payloads stay as they
 * are), is ingested into a fresh store in REPORT_TIMEZONE `zone`, and a run of
 * retention with N and "now" chosen so that the cutoff falls inside that span
 * (and now after every receive time). What is expected is computed from the
 * generated log only: the keyed views by expectedKeyedViews
 * (test/helpers/keyed-oracle.ts, imports nothing from src), the `scores` rows
 * by expectedScoreRows below (README "Views"), days and day starts by Intl and
 * Temporal (not by src/model/time.ts).
 *
 * Checked, in this order:
 * 1. before retention: the four keyed views equal the oracle of the whole log;
 * 2. after the run: its horizon is F = today − N, the cutoff F's first
 *    instant; the events are exactly the generated webhooks received at or
 *    after the cutoff; `scores` holds exactly the rows of those; the daily
 *    views export the same bytes as before (so the days < F are the same rows
 *    with the same values); contents/content_scores are the rows they were,
 *    minus those of every content whose month (of first_received_at in the
 *    zone) is before F's month and that is wholly past retention (none of its
 *    webhooks received from the cutoff on, scored on a day < F): a call of
 *    such a month that is still active stays as it was (README: it moves to
 *    the first kept month); no month before F's is listed any more;
 * 3. webhooks about new calls, before any rebuild: the rows of closed days
 *    stay as they were; open days, contents and content_scores move as the
 *    oracle of the whole log (deleted webhooks included: the open days' rows
 *    were summed from them) plus these says;
 * 4. after rebuildViews: contents and content_scores equal the oracle of the
 *    kept log (rows and order); the daily views are the closed rows (days < F,
 *    as they were, first, in their old order) followed by the oracle's daily
 *    rows of the kept log of days >= F (a set by key, as in
 *    test/store/keyed-views.test.ts);
 * 5. more webhooks (new calls, or in some runs calls of the first scenario
 *    again: after a rebuild every call counted on an open day has its row),
 *    projected: the same statement with the kept log grown; a second rebuild
 *    gives it again and exports the same bytes;
 * 6. a second run later, its F2 >= F: step 2's checks again, then a rebuild:
 *    step 4's statement with F2, the closed rows being those of days < F2 as
 *    the second run found them.
 * Separately, the horizon alone (retentionHorizon) against Temporal, over
 * many instants and N.
 *
 * One deliberate weakening, a design choice of src (README "Rebuild after
 * retention"; src/store/projection.ts `rebuild` keeps the column registry, a
 * contract with the targets): after a rebuild the header of `contents` is the
 * one of every webhook ever received (metric columns of deleted webhooks
 * stay, empty), not the header the kept log alone would give. The rows are
 * compared under that header.
 *
 * The stores live on tmpfs when there is one: every commit is fsynced
 * (synchronous=FULL), which the durability tests cover, not this one.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Temporal } from '@js-temporal/polyfill';
import fc from 'fast-check';
import { parse } from 'csv-parse/sync';
import { createStore, type SqliteStore } from '../../src/store/create-store.js';
import { retentionHorizon, runRetention } from '../../src/jobs/retention.js';
import { rebuildViews } from '../../src/jobs/rebuild.js';
import { exported } from '../helpers/export.js';
import { ingest } from '../helpers/ingest.js';
import { tempDir } from '../helpers/temp-dir.js';
import { dayIn, expectedKeyedViews, type KeyedViewName, type KeyedViews, type LogEntry, type OracleCell, type OracleRow } from '../helpers/keyed-oracle.js';
import { differences, readViews, sameCell, type ParsedView } from '../helpers/keyed-compare.js';
import { keyedScenario, type KeyedWebhook } from '../helpers/keyed-arbitraries.js';

const ZONES = ['UTC', 'America/New_York', 'Europe/Berlin'] as const;
const RUNS_PER_ZONE = Number(process.env['RETENTION_PROPERTY_RUNS'] ?? 60);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

type Json = Record<string, unknown>;

// ---------------------------------------------------------------- calendar (Temporal, not src)

/** The first instant (ms) of calendar day `day` in `zone` (the first that exists when a DST change skips midnight). */
const startOfDay = (day: string, zone: string): number => Temporal.PlainDate.from(day).toZonedDateTime({ timeZone: zone }).epochMilliseconds;
const plusDays = (day: string, n: number): string => Temporal.PlainDate.from(day).add({ days: n }).toString();
const monthOf = (iso: string, zone: string): string => dayIn(iso, zone).slice(0, 7);
const iso = (ms: number) => new Date(ms).toISOString();

// ---------------------------------------------------------------- the `scores` view, from the payloads

const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const cellOf = (v: unknown): OracleCell => (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) ? v : null);
const SCORES_HEADER = ['webhook_id', 'received_at', 'source', 'content_id', 'agent_name', 'metric', 'score', 'justification'];

/**
 * README "Views": `scores` has one row per metric of a webhook's score_details
 * (any webhook, workflows included), `metric` the key without `_score` /
 * `_justification` (a pair is one row, placed where the metric first shows),
 * a key with neither suffix a metric of its own (number → score, text →
 * justification); `source` the webhook's view; agent_name as sent.
 */
function expectedScoreRows(log: ReadonlyArray<LogEntry & { webhook_id: string }>): OracleRow[] {
  const out: OracleRow[] = [];
  for (const e of log) {
    const p = e.payload as Json;
    let source: string;
    let holder: Json;
    if (p['alert_type'] === 'red_flag') [source, holder] = ['red_flags', p];
    else if (p['alert_type'] === 'low_score') [source, holder] = ['low_scores', p];
    else {
      const data = isRecord(p['data']) ? p['data'] : {};
      [source, holder] = [data['output_schema'] !== undefined ? 'workflows' : 'completions', data];
    }
    const details = holder['score_details'];
    if (!isRecord(details)) continue;
    const base = { webhook_id: e.webhook_id, received_at: e.received_at, source, content_id: String(p['content_id']), agent_name: cellOf(holder['agent_name']) };
    const pairs = new Map<string, OracleRow>();
    for (const [key, value] of Object.entries(details)) {
      const suffix = ['_score', '_justification'].find((s) => key.endsWith(s) && key.length > s.length);
      if (suffix === undefined) {
        out.push({ ...base, metric: key, score: typeof value === 'number' ? value : null, justification: typeof value === 'number' ? null : cellOf(value) });
        continue;
      }
      const metric = key.slice(0, -suffix.length);
      let row = pairs.get(metric);
      if (!row) {
        row = { ...base, metric, score: null, justification: null };
        pairs.set(metric, row);
        out.push(row);
      }
      row[suffix === '_score' ? 'score' : 'justification'] = cellOf(value);
    }
  }
  return out;
}

async function scoresDifferences(store: SqliteStore, log: ReadonlyArray<LogEntry & { webhook_id: string }>): Promise<string[]> {
  const records = parse(await exported(store, 'scores'), { cast: (value, ctx) => (value === '' && !ctx.quoting ? null : value) }) as Array<Array<string | null>>;
  const header = records[0] ?? [];
  const out: string[] = [];
  if (JSON.stringify(header) !== JSON.stringify(SCORES_HEADER)) out.push(`scores header ${JSON.stringify(header)}`);
  const got = records.slice(1).map((cells) => Object.fromEntries(header.map((h, i) => [h, h === 'score' && cells[i] != null ? Number(cells[i]) : (cells[i] ?? null)])) as OracleRow);
  const want = expectedScoreRows(log);
  const show = (r: OracleRow) => `${String(r['webhook_id'])}/${String(r['metric'])}`;
  if (got.length !== want.length) out.push(`scores: expected ${want.length} rows (${want.map(show).join(' ')}), got ${got.length} (${got.map(show).join(' ')})`);
  want.forEach((w, i) => {
    const g = got[i];
    if (!g) return;
    for (const c of SCORES_HEADER) if (!sameCell(w[c] ?? null, g[c] ?? null)) out.push(`scores row ${i + 1} (${show(w)}) ${c}: expected ${JSON.stringify(w[c])}, got ${JSON.stringify(g[c])}`);
  });
  return out;
}

// ---------------------------------------------------------------- scenario

interface Generated extends KeyedWebhook {
  webhookId: string;
}
const logEntries = (ws: ReadonlyArray<Generated>): Array<LogEntry & { webhook_id: string }> => ws.map((w) => ({ webhook_id: w.webhookId, received_at: w.receivedAt, payload: w.payload }));

/** Receive times t ↦ anchor + (t − anchor)·k, anchor the earliest, k so that the whole span is `spanDays`. */
function spread(webhooks: ReadonlyArray<KeyedWebhook>, spanDays: number): Generated[] {
  const ts = webhooks.map((w) => Date.parse(w.receivedAt));
  const anchor = Math.min(...ts);
  const span = Math.max(...ts) - anchor;
  const k = span > 0 ? (spanDays * DAY) / span : 1;
  return webhooks.map((w, i) => ({ payload: w.payload, webhookId: String(w.payload['webhook_id']), receivedAt: iso(anchor + Math.round((ts[i]! - anchor) * k)) }));
}

/**
 * A later scenario, received from `from` on with its own spacing; webhook ids
 * prefixed, and content ids too unless `oldCalls` (then its calls may be
 * calls of the first scenario: `call-1`, `c2`… are drawn from the same few).
 */
function lateBatch(webhooks: ReadonlyArray<KeyedWebhook>, prefix: string, from: number, oldCalls = false): Generated[] {
  const ts = webhooks.map((w) => Date.parse(w.receivedAt));
  const min = Math.min(...ts);
  return webhooks.map((w, i) => {
    const contentId = String(w.payload['content_id']);
    const payload: Json = { ...w.payload, webhook_id: `${prefix}${String(w.payload['webhook_id'])}`, content_id: oldCalls ? contentId : `${prefix}${contentId}` };
    return { payload, webhookId: String(payload['webhook_id']), receivedAt: iso(from + (ts[i]! - min)) };
  });
}

const scenarioArb = fc.record({
  main: keyedScenario({ maxWebhooks: 40 }),
  spanDays: fc.integer({ min: 60, max: 150 }),
  /** Where F falls in the span, per mille (a little outside it: nothing or everything deleted). */
  cutAt: fc.integer({ min: -50, max: 1050 }),
  /** Move the webhook nearest the cutoff exactly onto it, or 1 ms before it. */
  edge: fc.constantFrom('none', 'none', 'at', 'before'),
  /** N beyond the days from F to the last receive (now is after every webhook). */
  extraDays: fc.integer({ min: 0, max: 40 }),
  /** Where "now" falls in its local day, per mille. */
  nowAt: fc.integer({ min: 0, max: 999 }),
  chunk: fc.integer({ min: 1, max: 8 }),
  lateA: keyedScenario({ maxWebhooks: 10, maxContents: 3 }),
  lateB: keyedScenario({ maxWebhooks: 10, maxContents: 3 }),
  /** lateB may be about calls of the first scenario (deleted or kept): after a rebuild every kept call has its row. */
  lateBOldCalls: fc.boolean(),
  gap: fc.integer({ min: 1, max: 3 * DAY }),
  /** The second run: where F2 falls between F and the last receive, per mille, and its own N and now. */
  cutAt2: fc.integer({ min: 0, max: 1000 }),
  extraDays2: fc.integer({ min: 0, max: 40 }),
  nowAt2: fc.integer({ min: 0, max: 999 }),
});
type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

async function openStore(dir: string, zone: string): Promise<SqliteStore> {
  const store = createStore({ dbPath: join(dir, 'ember-sync.db') });
  await store.adoptReportTimezone(zone);
  return store;
}

async function ingestAll(store: SqliteStore, ws: ReadonlyArray<Generated>, chunk: number): Promise<void> {
  await ingest(store, ws.map((w) => w.payload), (i) => ws[i]!.receivedAt);
  await store.projection.catchUp(chunk);
}

// ---------------------------------------------------------------- expectations

const DAILY = ['daily_agents', 'daily_metrics'] as const;
type Closed = Record<(typeof DAILY)[number], OracleRow[]>;
const isOpen = (keptFromDay: string) => (r: OracleRow) => String(r['day']) >= keptFromDay;

/**
 * The oracle's contents under the header the store has (README: a rebuild
 * keeps the column registry, a contract with the targets, so metric columns
 * of deleted webhooks stay): columns the kept log does not know are empty.
 */
function underHeader(views: KeyedViews, header: string[]): KeyedViews {
  const known = new Set(views.contents.header);
  assert.deepEqual(views.contents.header.filter((h) => !header.includes(h)), [], 'the kept log has no column the whole log lacks');
  const rows = views.contents.rows.map((r) => Object.fromEntries(header.map((h) => [h, known.has(h) ? (r[h] ?? null) : null])) as OracleRow);
  return { ...views, contents: { ...views.contents, header: [...header], rows } };
}

/**
 * contents / content_scores rows that a run with oldest kept day F and
 * `cutoff` keeps: their content's month (its first_received_at in `zone`, as
 * `contents` says) is F's month or later, or the call is still active (its
 * last webhook received from the cutoff on, or scored on a day >= F).
 */
function keptBy(contents: ReadonlyArray<OracleRow>, keptFromDay: string, cutoff: string, zone: string): (r: OracleRow) => boolean {
  const kept = new Map(
    contents.map((r) => {
      const month = monthOf(String(r['first_received_at']), zone);
      const active = String(r['last_received_at']) >= cutoff || dayIn(String(r['scored_at']), zone) >= keptFromDay;
      return [String(r['content_id']), month >= keptFromDay.slice(0, 7) || active];
    }),
  );
  return (r) => {
    const k = kept.get(String(r['content_id']));
    assert.ok(k !== undefined, `no content ${String(r['content_id'])}`);
    return k;
  };
}

function fail(label: string, ctx: string, diffs: string[]): void {
  if (diffs.length === 0) return;
  assert.fail(`${label} (${ctx}): ${diffs.length} difference(s)\n  ${diffs.slice(0, 25).join('\n  ')}${diffs.length > 25 ? '\n  …' : ''}`);
}

/**
 * The daily views' rows of days < F are `closed` (as they were, in their
 * order; with `closedFirst` also before every other row, as a rebuild puts
 * them); their other rows are, as a set by key, the rows of `expected` of
 * days >= F. contents / content_scores are those of `expected` (rows in order).
 */
function compareAfterClose(label: string, ctx: string, actual: Record<KeyedViewName, ParsedView>, expected: KeyedViews, closed: Closed, keptFromDay: string, closedFirst: boolean): void {
  const diffs: string[] = [];
  const rest = { ...actual };
  const want: KeyedViews = { ...expected };
  const open = isOpen(keptFromDay);
  for (const view of DAILY) {
    const rows = actual[view].rows;
    const got = closedFirst ? rows.slice(0, closed[view].length) : rows.filter((r) => !open(r));
    if (JSON.stringify(got) !== JSON.stringify(closed[view])) {
      diffs.push(`${view}: the rows of closed days (< ${keptFromDay}) are not ${closedFirst ? 'first and ' : ''}as they were\n    expected ${JSON.stringify(closed[view])}\n    got      ${JSON.stringify(got)}`);
    }
    rest[view] = { header: actual[view].header, rows: closedFirst ? rows.slice(closed[view].length) : rows.filter(open) };
    want[view] = { header: expected[view].header, rows: expected[view].rows.filter(open) };
  }
  diffs.push(...differences(want, rest));
  fail(label, ctx, diffs);
}

async function assertLog(store: SqliteStore, ws: ReadonlyArray<Generated>, ctx: string): Promise<void> {
  const got = (store.db.prepare('SELECT webhook_id FROM events').pluck().all() as string[]).sort();
  assert.deepEqual(got, ws.map((w) => w.webhookId).sort(), `the events table holds the webhooks received from the cutoff on (${ctx})`);
  fail('scores', ctx, await scoresDifferences(store, logEntries(ws)));
}

interface Horizon {
  keptFromDay: string;
  cutoffMs: number;
  days: number;
  now: Date;
}

/** F = the day of instant `at` in `zone`, N such that today (F + N) is `extra` days after the day of `latest`; now at `nowAt` per mille of today. */
function horizon(zone: string, at: number, latest: number, extra: number, nowAt: number, notBefore?: string): Horizon {
  let keptFromDay = dayIn(iso(at), zone);
  if (notBefore !== undefined && keptFromDay < notBefore) keptFromDay = notBefore;
  const days = Math.max(1, Temporal.PlainDate.from(keptFromDay).until(dayIn(iso(latest), zone)).days) + extra;
  const today = plusDays(keptFromDay, days);
  const start = startOfDay(today, zone);
  const now = new Date(start + Math.floor(((startOfDay(plusDays(today, 1), zone) - start) * nowAt) / 1000));
  return { keptFromDay, cutoffMs: startOfDay(keptFromDay, zone), days, now };
}

/**
 * One run of retention, checked: its horizon; the events and `scores` rows
 * left are those of the webhooks received from the cutoff on; the daily views
 * export the same bytes; contents / content_scores are the rows they were
 * minus those of contents whose month is before F's; no such month is listed.
 * Returns the daily rows of the closed days (as they were) and the kept log.
 */
async function retain(store: SqliteStore, zone: string, h: Horizon, log: ReadonlyArray<Generated>, ctx: string): Promise<{ closed: Closed; kept: Generated[]; before: Record<KeyedViewName, ParsedView>; keep: (r: OracleRow) => boolean }> {
  const before = await readViews(store);
  const result = await runRetention({ store, days: h.days, now: h.now });
  assert.deepEqual({ keptFromDay: result.keptFromDay, cutoff: result.cutoff }, { keptFromDay: h.keptFromDay, cutoff: iso(h.cutoffMs) }, `the run's horizon (${ctx})`);
  const kept = log.filter((w) => Date.parse(w.receivedAt) >= h.cutoffMs);
  await assertLog(store, kept, ctx);
  const after = await readViews(store);
  for (const view of DAILY) assert.equal(after.csv[view], before.csv[view], `${view}: the daily rows stay as they were, byte for byte (${ctx})`);
  const retainFrom = h.keptFromDay.slice(0, 7);
  const keep = keptBy(before.parsed.contents.rows, h.keptFromDay, iso(h.cutoffMs), zone);
  for (const view of ['contents', 'content_scores'] as const) {
    assert.deepEqual(after.parsed[view].header, before.parsed[view].header, `${view} header (${ctx})`);
    assert.deepEqual(after.parsed[view].rows, before.parsed[view].rows.filter(keep), `${view}: the rows of the months from ${retainFrom} on and of active calls, as they were (${ctx})`);
  }
  const registry = await store.projection.columns();
  for (const view of ['contents', 'content_scores'] as const) {
    const old = (await store.views.snapshot(view, registry)).keyed!.months!.list.filter((m) => m.total > 0 && m.month < retainFrom);
    assert.deepEqual(old, [], `${view}: months before ${retainFrom} still listed (${ctx})`);
  }
  const closed = Object.fromEntries(DAILY.map((v) => [v, before.parsed[v].rows.filter((r) => !isOpen(h.keptFromDay)(r))])) as Closed;
  return { closed, kept, before: before.parsed, keep };
}

/** Every webhook ever ingested gives the header of contents (the registry); the kept ones its rows and the open days. */
async function rebuildAndCheck(store: SqliteStore, zone: string, all: ReadonlyArray<Generated>, kept: ReadonlyArray<Generated>, closed: Closed, keptFromDay: string, label: string, ctx: string) {
  await rebuildViews({ store });
  const rebuilt = await readViews(store);
  const expected = underHeader(expectedKeyedViews(logEntries(kept), zone), expectedKeyedViews(logEntries(all), zone).contents.header);
  compareAfterClose(label, ctx, rebuilt.parsed, expected, closed, keptFromDay, true);
  await assertLog(store, kept, `${label}, ${ctx}`);
  return { rebuilt, expected };
}

// ---------------------------------------------------------------- the property

interface Stats {
  runs: number;
  deleted: number;
  closedRows: number;
  deletedContents: number;
  movedContents: number;
  oldCallsAgain: number;
  secondRunMoved: number;
}

async function checkOne(root: string, zone: string, s: Scenario, stats: Stats): Promise<void> {
  let log = spread(s.main.webhooks, s.spanDays);
  const times = log.map((w) => Date.parse(w.receivedAt));
  const first = Math.min(...times);
  const last = Math.max(...times);
  const h1 = horizon(zone, first + Math.round(((last - first) * s.cutAt) / 1000), last, s.extraDays, s.nowAt);
  if (s.edge !== 'none') {
    let nearest = 0;
    for (let i = 1; i < log.length; i++) if (Math.abs(times[i]! - h1.cutoffMs) < Math.abs(times[nearest]! - h1.cutoffMs)) nearest = i;
    log = log.map((w, i) => (i === nearest ? { ...w, receivedAt: iso(s.edge === 'at' ? h1.cutoffMs : h1.cutoffMs - 1) } : w));
  }
  const F = h1.keptFromDay;
  const ctx = `zone ${zone}, F ${F}, cutoff ${iso(h1.cutoffMs)}, N ${h1.days}, now ${h1.now.toISOString()}, ${log.length} webhooks from ${iso(first)} to ${iso(last)}`;

  const store = await openStore(mkdtempSync(join(root, 'run-')), zone);
  try {
    // 1. The whole log, projected in chunks: the oracle's views.
    await ingestAll(store, log, s.chunk);
    fail('before retention', ctx, differences(expectedKeyedViews(logEntries(log), zone), (await readViews(store)).parsed));

    // 2. Retention.
    const run1 = await retain(store, zone, h1, log, `first run, ${ctx}`);
    const { closed } = run1;
    let kept = run1.kept;

    // 3. New calls before any rebuild: closed days stay; open days move as the whole log (deleted webhooks included:
    // the daily rows were summed from them) and these say; the new calls join contents.
    const lateA = lateBatch(s.lateA.webhooks, 'a-', h1.now.getTime() + s.gap);
    await ingestAll(store, lateA, s.chunk);
    const all = [...log, ...lateA];
    const wholeA = expectedKeyedViews(logEntries(all), zone);
    // The calls the run kept, and the new ones (their month is after F's).
    const keptIds = new Set(run1.before.contents.rows.filter(run1.keep).map((r) => String(r['content_id'])));
    const oldIds = new Set(run1.before.contents.rows.map((r) => String(r['content_id'])));
    const keepA = (r: OracleRow) => keptIds.has(String(r['content_id'])) || !oldIds.has(String(r['content_id']));
    const expectedA: KeyedViews = {
      ...wholeA,
      contents: { ...wholeA.contents, rows: wholeA.contents.rows.filter(keepA) },
      content_scores: { ...wholeA.content_scores, rows: wholeA.content_scores.rows.filter(keepA) },
    };
    compareAfterClose('new calls after retention, before a rebuild', ctx, (await readViews(store)).parsed, expectedA, closed, F, false);
    kept = [...kept, ...lateA];

    // 4. Rebuild: contents from the kept log; the closed daily rows first as they were, the rest from the kept log.
    await rebuildAndCheck(store, zone, all, kept, closed, F, 'after rebuild', ctx);

    // 5. More webhooks (new calls, or calls of the first scenario again), projected, then a second rebuild: the same
    // statement, and the same bytes as the incremental projection.
    const lateB = lateBatch(s.lateB.webhooks, 'b-', h1.now.getTime() + s.gap + 4 * DAY, s.lateBOldCalls);
    await ingestAll(store, lateB, s.chunk);
    all.push(...lateB);
    kept = [...kept, ...lateB];
    const withB = await readViews(store);
    const expectedB = underHeader(expectedKeyedViews(logEntries(kept), zone), expectedKeyedViews(logEntries(all), zone).contents.header);
    compareAfterClose('webhooks after the rebuild', `${s.lateBOldCalls ? 'old calls too, ' : ''}${ctx}`, withB.parsed, expectedB, closed, F, true);
    const { rebuilt } = await rebuildAndCheck(store, zone, all, kept, closed, F, 'after a second rebuild', ctx);
    for (const view of Object.keys(rebuilt.csv) as KeyedViewName[]) assert.equal(rebuilt.csv[view], withB.csv[view], `${view}: a second rebuild exports the same bytes (${ctx})`);

    // 6. A later run moves the boundary (F2 >= F): the rows of days < F2 are closed as they were, then a rebuild.
    const keptTimes = kept.map((w) => Date.parse(w.receivedAt));
    const lastAll = Math.max(...all.map((w) => Date.parse(w.receivedAt)));
    const from = keptTimes.length > 0 ? Math.min(...keptTimes) : h1.cutoffMs;
    const h2 = horizon(zone, from + Math.round(((lastAll - from) * s.cutAt2) / 1000), lastAll, s.extraDays2, s.nowAt2, F);
    const ctx2 = `second run: F2 ${h2.keptFromDay}, cutoff ${iso(h2.cutoffMs)}, N ${h2.days}, now ${h2.now.toISOString()}; ${ctx}`;
    const run2 = await retain(store, zone, h2, kept, ctx2);
    await rebuildAndCheck(store, zone, all, run2.kept, run2.closed, h2.keptFromDay, 'after the second run and a rebuild', ctx2);

    stats.runs++;
    if (run1.kept.length < log.length) stats.deleted++;
    stats.closedRows += closed.daily_agents.length + closed.daily_metrics.length;
    if (run1.before.contents.rows.some((r) => !run1.keep(r))) stats.deletedContents++;
    if (run1.before.contents.rows.some((r) => run1.keep(r) && monthOf(String(r['first_received_at']), zone) < F.slice(0, 7))) stats.movedContents++;
    if (s.lateBOldCalls && lateB.some((w) => log.some((m) => m.payload['content_id'] === w.payload['content_id']))) stats.oldCallsAgain++;
    if (h2.keptFromDay > F) stats.secondRunMoved++;
  } finally {
    store.close();
  }
}

for (const zone of ZONES) {
  test(`property (${zone}): retention deletes and keeps what the oracle says; a rebuild keeps the closed days and derives the rest from the kept log`, async (t: TestContext) => {
    const root = existsSync('/dev/shm') ? mkdtempSync(join('/dev/shm', 'ember-sync-retention-')) : tempDir(t, 'ember-sync-retention-');
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const stats: Stats = { runs: 0, deleted: 0, closedRows: 0, deletedContents: 0, movedContents: 0, oldCallsAgain: 0, secondRunMoved: 0 };
    const started = performance.now();
    await fc.assert(
      // Shrinking a failure tries whole stores again (about 0.1 s each): bounded, so that a failure is reported in a minute or so.
      fc.asyncProperty(fc.limitShrink(scenarioArb, 300), (s) => checkOne(root, zone, s, stats)),
      { numRuns: RUNS_PER_ZONE, includeErrorInReport: true },
    );
    t.diagnostic(`${RUNS_PER_ZONE} runs in ${Math.round(performance.now() - started)} ms: ${JSON.stringify(stats)}`);
  });
}

test('property: the horizon is today in the zone minus N calendar days, and its first instant (Temporal as the oracle)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...ZONES),
      fc.integer({ min: Date.parse('2020-01-01T00:00:00Z'), max: Date.parse('2100-01-01T00:00:00Z') }),
      fc.oneof(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 36_500 })),
      (zone, nowMs, days) => {
        const today = Temporal.Instant.fromEpochMilliseconds(nowMs).toZonedDateTimeISO(zone).toPlainDate();
        const keptFromDay = today.subtract({ days }).toString();
        const got = retentionHorizon(new Date(nowMs), days, zone);
        assert.deepEqual(got, { keptFromDay, cutoff: iso(startOfDay(keptFromDay, zone)), retainFrom: keptFromDay.slice(0, 7) }, `now ${iso(nowMs)} (${today.toString()} in ${zone}), N ${days}`);
      },
    ),
    { numRuns: 2_000, includeErrorInReport: true },
  );
});

test('the horizon across the end of February: N calendar days of the real calendar, leap year or not', () => {
  // The shrunk counterexamples of the property above, and their neighbours.
  const cases: Array<[string, number, string, string]> = [
    ['2027-03-01T12:00:00Z', 1, 'UTC', '2027-02-28'],
    ['2026-03-10T12:00:00Z', 30, 'UTC', '2026-02-08'],
    ['2025-01-10T12:00:00Z', 365, 'UTC', '2024-01-11'],
    ['2024-03-01T12:00:00Z', 1, 'UTC', '2024-02-29'],
    ['2027-03-01T04:00:00Z', 1, 'America/New_York', '2027-02-27'],
  ];
  for (const [now, days, zone, keptFromDay] of cases) {
    assert.equal(retentionHorizon(new Date(now), days, zone).keptFromDay, keptFromDay, `now ${now} in ${zone}, N ${days}`);
  }
});
