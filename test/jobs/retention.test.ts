/**
 * RETENTION_DAYS in the store: what a run deletes and keeps, on a real SQLite
 * file, with webhooks received at chosen times and a chosen "now".
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { createStore, type SqliteStore } from '../../src/store/create-store.js';
import { retentionHorizon, runRetention } from '../../src/jobs/retention.js';
import { rebuildViews } from '../../src/jobs/rebuild.js';
import { deliveriesFor } from '../../src/jobs/sync.js';
import { collectStatus } from '../../src/store/status.js';
import { replayQuarantine } from '../../src/jobs/replay.js';
import { createValidator } from '../../src/ingest/validate.js';
import { exported } from '../helpers/export.js';
import { ingest } from '../helpers/ingest.js';
import { tempDir } from '../helpers/temp-dir.js';

const NOW = new Date('2026-11-30T15:00:00.000Z');

/** A red-flag alert for call `content`, sent by EmberQA at `at` (its vendor time) for `agent`, with one metric score. */
function alert(id: string, content: string, at: string, agent: string, score: number): Record<string, unknown> {
  return {
    webhook_id: id,
    content_id: content,
    alert_type: 'red_flag',
    content_type: 'Call',
    file_name: `${content}.wav`,
    agent_name: agent,
    red_flag_reason: `customer quoted on ${at}`,
    total_score: score * 10,
    score_details: { empathy_score: score, empathy_justification: `"I want my money back" (${content})` },
    timestamp: at,
  };
}

async function openStore(t: TestContext, zone = 'UTC'): Promise<SqliteStore> {
  const dir = tempDir(t);
  const store = createStore({ dbPath: join(dir, 'ember-sync.db') });
  await store.adoptReportTimezone(zone);
  t.after(() => store.close());
  return store;
}

/** One call per listed day (received and scored at 12:00 UTC that day), then projected. */
async function callsOn(store: SqliteStore, days: string[], prefix = 'c'): Promise<void> {
  const payloads = days.map((d, i) => alert(`${prefix}-wh-${i}`, `${prefix}-${d}`, `${d}T12:00:00.000Z`, i % 2 ? 'Jane Smith' : 'John Doe', 1 + (i % 5)));
  await ingest(store, payloads, (i) => `${days[i]}T12:00:00.000Z`);
  await store.projection.catchUp();
}

const rows = (csv: string) => parse(csv, { columns: true }) as Record<string, string>[];
const count = (store: SqliteStore, sql: string) => store.db.prepare(sql).pluck().get() as number;

test('the horizon: today and N days before it, in REPORT_TIMEZONE; the cutoff is the first instant of the oldest kept day', () => {
  assert.deepEqual(retentionHorizon(NOW, 30, 'UTC'), { keptFromDay: '2026-10-31', cutoff: '2026-10-31T00:00:00.000Z', retainFrom: '2026-10' });
  // 02:00 UTC on Dec 1 is still Nov 30 in New York; the kept day starts at New York midnight (EDT until Nov 1).
  assert.deepEqual(retentionHorizon(new Date('2026-12-01T02:00:00Z'), 30, 'America/New_York'), { keptFromDay: '2026-10-31', cutoff: '2026-10-31T04:00:00.000Z', retainFrom: '2026-10' });
  // A DST change inside the window moves nothing: the day after the spring change in Berlin begins at 22:00 UTC.
  assert.equal(retentionHorizon(new Date('2026-04-29T10:00:00Z'), 30, 'Europe/Berlin').cutoff, '2026-03-29T22:00:00.000Z');
  assert.equal(retentionHorizon(new Date('2026-03-02T10:00:00Z'), 1, 'UTC').keptFromDay, '2026-03-01');
});

test('a run deletes old webhooks, their rows, old quarantine and whole old months of calls; daily summaries stay as they were', async (t) => {
  const store = await openStore(t);
  const days = ['2026-08-15', '2026-09-10', '2026-10-05', '2026-10-30', '2026-10-31', '2026-11-20', '2026-11-30'];
  await callsOn(store, days);
  store.db.transaction(() => {
    store.sqlite.events.quarantine({ webhookId: 'bad-old', receivedAt: '2026-09-01T00:00:00.000Z', reason: 'schema', errors: [], body: Buffer.from('{"old":1}') });
    store.sqlite.events.quarantine({ webhookId: 'bad-new', receivedAt: '2026-11-29T00:00:00.000Z', reason: 'schema', errors: [], body: Buffer.from('{"new":1}') });
  })();
  const dailyBefore = { agents: await exported(store, 'daily_agents'), metrics: await exported(store, 'daily_metrics') };
  const maxSeqBefore = (await store.events.counts()).lastSeq!;

  const result = await runRetention({ store, days: 30, now: NOW });
  assert.equal(result.keptFromDay, '2026-10-31');
  assert.equal(result.events, 4, 'webhooks received before Oct 31');
  assert.equal(result.quarantine, 1);
  // Whole months before October go: the Aug and Sep calls; October's calls stay until October is past the horizon.
  assert.equal(result.contents, 2);
  assert.equal(result.metricRows, 2);

  const kept = store.db.prepare('SELECT received_at FROM events ORDER BY seq').pluck().all();
  assert.deepEqual(kept, ['2026-10-31T12:00:00.000Z', '2026-11-20T12:00:00.000Z', '2026-11-30T12:00:00.000Z']);
  assert.deepEqual(rows(await exported(store, 'red_flags')).map((r) => r['received_at']), kept, 'append-only rows go with their events');
  assert.equal(rows(await exported(store, 'scores')).length, 3);
  assert.deepEqual(
    rows(await exported(store, 'contents')).map((r) => r['content_id']),
    ['c-2026-10-05', 'c-2026-10-30', 'c-2026-10-31', 'c-2026-11-20', 'c-2026-11-30'],
  );
  assert.deepEqual(store.db.prepare("SELECT part FROM keyed_parts WHERE view = 'contents' ORDER BY part").pluck().all(), ['2026-10', '2026-11']);
  assert.deepEqual(store.db.prepare('SELECT webhook_id FROM quarantine').pluck().all(), ['bad-new']);
  assert.equal(await exported(store, 'daily_agents'), dailyBefore.agents, 'daily summaries stay, byte for byte');
  assert.equal(await exported(store, 'daily_metrics'), dailyBefore.metrics);
  assert.equal(count(store, "SELECT count(*) FROM webhook_hours WHERE hour < '2026-10-31'"), 0, 'the chart counts of deleted hours go too');

  // Status: the oldest kept day and what the run did.
  const status = await collectStatus(store, ['csv'], { now: NOW, retentionDays: 30 });
  assert.equal(status.retention.oldest_kept_day, '2026-10-31');
  assert.equal(status.retention.days, 30);
  assert.match(status.retention.last_result ?? '', /deleted 4 webhooks, 1 quarantined payload, 2 calls \(2 metric rows\) before 2026-10-31/);
  assert.equal(status.retention.oldest_event_at, '2026-10-31T12:00:00.000Z');

  // Deliveries tell targets which months are gone.
  for (const d of await deliveriesFor(store, 'csv')) assert.equal(d.retainFrom, '2026-10', d.view);

  // A second run the same day finds nothing more; seq numbers are never given twice.
  const again = await runRetention({ store, days: 30, now: NOW });
  assert.deepEqual([again.events, again.quarantine, again.contents, again.metricRows], [0, 0, 0, 0]);
  assert.equal((await store.retention.state()).seqFloor, 4);
  assert.ok(maxSeqBefore > 4);
});

test('before any run: status shows the oldest webhook day as the oldest kept day, deliveries carry no retainFrom', async (t) => {
  const store = await openStore(t, 'America/New_York');
  await callsOn(store, ['2026-11-02', '2026-11-03']);
  const status = await collectStatus(store, ['csv'], { now: NOW, retentionDays: null });
  assert.deepEqual({ ...status.retention }, { days: null, oldest_kept_day: '2026-11-02', oldest_event_at: '2026-11-02T12:00:00.000Z', last_run_at: null, last_result: null });
  for (const d of await deliveriesFor(store, 'csv')) assert.equal('retainFrom' in d, false);
});

test('when every webhook was deleted, the next one gets a seq above all deleted ones (a target cursor never skips it)', async (t) => {
  const store = await openStore(t);
  await callsOn(store, ['2026-08-01', '2026-08-02', '2026-08-03']);
  const last = (await store.events.counts()).lastSeq!;
  // A target that delivered everything.
  store.db.prepare("INSERT INTO sync_state (target, view, delivered_seq) VALUES ('csv', 'red_flags', ?)").run(last);
  await runRetention({ store, days: 30, now: NOW });
  assert.equal((await store.events.counts()).events, 0);
  assert.equal(await store.projection.lag(), 0, 'nothing to derive (never below 0)');
  await callsOn(store, ['2026-11-30'], 'late');
  const seq = store.db.prepare('SELECT seq FROM events').pluck().get() as number;
  assert.equal(seq, last + 1);
  const red = (await deliveriesFor(store, 'csv')).find((d) => d.view === 'red_flags')!;
  assert.equal(red.pending, 1, 'the new webhook is pending for the target whose cursor was at the old last seq');
});

test('a late webhook for a deleted call: the closed day keeps its count, the call comes back as a new row of the current month', async (t) => {
  const store = await openStore(t);
  await callsOn(store, ['2026-08-10', '2026-11-25']);
  await runRetention({ store, days: 30, now: NOW });
  const closedDay = () => store.db.prepare("SELECT contents FROM daily_agent_rows WHERE day = '2026-08-10'").pluck().get();
  const agentsBefore = await exported(store, 'daily_agents');
  // EmberQA re-scores the August call now, with its August vendor time (its day is closed).
  await ingest(store, [alert('late-1', 'c-2026-08-10', '2026-08-10T12:00:00.000Z', 'John Doe', 5)], () => '2026-11-30T13:00:00.000Z');
  await store.projection.catchUp();
  assert.equal(await exported(store, 'daily_agents'), agentsBefore, 'the closed day counts the call once, as before');
  const contents = rows(await exported(store, 'contents'));
  assert.deepEqual(
    contents.map((r) => [r['content_id'], r['first_received_at']]),
    [
      ['c-2026-11-25', '2026-11-25T12:00:00.000Z'],
      ['c-2026-08-10', '2026-11-30T13:00:00.000Z'],
    ],
  );
  assert.equal(closedDay(), 1);
});

test('a call moving from a closed day to an open day counts on the open day; the closed day stays', async (t) => {
  const store = await openStore(t);
  // Received Oct 31 (kept), first scored Oct 20 by its vendor time (a closed day), then re-scored Nov 29.
  await ingest(store, [alert('m-1', 'moving', '2026-10-20T12:00:00.000Z', 'John Doe', 2)], () => '2026-10-31T12:00:00.000Z');
  await store.projection.catchUp();
  await runRetention({ store, days: 30, now: NOW });
  const closed = store.db.prepare("SELECT contents FROM daily_agent_rows WHERE day = '2026-10-20'").pluck().get();
  await ingest(store, [alert('m-2', 'moving', '2026-11-29T12:00:00.000Z', 'John Doe', 4)], () => '2026-11-29T12:30:00.000Z');
  await store.projection.catchUp();
  assert.equal(store.db.prepare("SELECT contents FROM daily_agent_rows WHERE day = '2026-10-20'").pluck().get(), closed);
  assert.equal(store.db.prepare("SELECT contents FROM daily_agent_rows WHERE day = '2026-11-29'").pluck().get(), 1);
  assert.equal(store.db.prepare("SELECT avg_score FROM daily_metric_rows WHERE day = '2026-11-29' AND metric = 'empathy'").pluck().get(), 4);
});

test('rebuild after retention: closed daily rows kept (renumbered first), the rest derived from the kept log, a new keyed epoch', async (t) => {
  const store = await openStore(t);
  await callsOn(store, ['2026-08-15', '2026-09-10', '2026-11-01', '2026-11-20', '2026-11-30']);
  await runRetention({ store, days: 30, now: NOW });
  const epoch = await store.keyedEpoch();
  const closedAgents = rows(await exported(store, 'daily_agents')).filter((r) => r['day']! < '2026-10-31');
  const openAgents = rows(await exported(store, 'daily_agents')).filter((r) => r['day']! >= '2026-10-31');
  const before = { contents: await exported(store, 'contents'), scores: await exported(store, 'scores'), metrics: await exported(store, 'daily_metrics') };

  await rebuildViews({ store });
  const after = rows(await exported(store, 'daily_agents'));
  assert.deepEqual(after, [...closedAgents, ...openAgents], 'closed days first, as they were; open days derived again');
  assert.equal(await exported(store, 'contents'), before.contents);
  assert.equal(await exported(store, 'scores'), before.scores);
  assert.equal(await exported(store, 'daily_metrics'), before.metrics);
  assert.deepEqual(store.db.prepare('SELECT rid FROM daily_agent_rows ORDER BY rid').pluck().all(), [1, 2, 3, 4, 5], 'positions dense');
  assert.notEqual(await store.keyedEpoch(), epoch, 'targets write the keyed views whole');

  // Without retention a rebuild keeps the epoch (rows identical, positions too).
  const plain = await openStore(t);
  await callsOn(plain, ['2026-11-01', '2026-11-02']);
  const e0 = await plain.keyedEpoch();
  await rebuildViews({ store: plain });
  assert.equal(await plain.keyedEpoch(), e0);
});

test('a new REPORT_TIMEZONE after retention keeps the closed daily rows; the open days are regrouped', async (t) => {
  const store = await openStore(t);
  await callsOn(store, ['2026-08-15', '2026-11-20']);
  await runRetention({ store, days: 30, now: NOW });
  assert.equal(await store.adoptReportTimezone('Asia/Tokyo'), true);
  await store.projection.catchUp();
  const days = rows(await exported(store, 'daily_agents')).map((r) => r['day']);
  assert.deepEqual(days, ['2026-08-15', '2026-11-20']);
  // Tokyo: the Nov 20 12:00 UTC call is on Nov 20 21:00 local: same day; the zone of the rows is Tokyo now.
  assert.equal(await store.reportTimezone(), 'Asia/Tokyo');
});

test('the boundary never moves back: a larger RETENTION_DAYS later deletes nothing more and restores nothing', async (t) => {
  const store = await openStore(t);
  await callsOn(store, ['2026-09-01', '2026-11-20']);
  await runRetention({ store, days: 30, now: NOW });
  const r = await runRetention({ store, days: 365, now: NOW });
  assert.equal(r.keptFromDay, '2026-10-31');
  assert.equal((await store.retention.state()).keptFromDay, '2026-10-31');
});

test('webhooks not yet derived are derived before their days close (the daily rows count them)', async (t) => {
  const store = await openStore(t);
  await ingest(store, [alert('u-1', 'u', '2026-08-01T12:00:00.000Z', 'John Doe', 3)], () => '2026-08-01T12:00:00.000Z');
  assert.equal(await store.projection.lag(), 1);
  const r = await runRetention({ store, days: 30, now: NOW });
  assert.equal(r.events, 1);
  assert.equal(store.db.prepare("SELECT contents FROM daily_agent_rows WHERE day = '2026-08-01'").pluck().get(), 1);
});

test('an event the keyed views have not reached (a new zone being derived) is not deleted', async (t) => {
  const store = await openStore(t);
  await callsOn(store, ['2026-08-01']);
  // As if the keyed views were behind: retention deletes only what both cursors passed.
  store.db.prepare('UPDATE projector_state SET keyed_seq = 0').run();
  store.db.prepare('DELETE FROM content_rows').run();
  const deleted = await store.retention.deleteEvents('2026-10-31T00:00:00.000Z', 100);
  assert.equal(deleted, 0);
});

test('a new database frees space incrementally: the file shrinks after a run', async (t) => {
  const store = await openStore(t);
  assert.equal(store.sqlite.retention.autoVacuum(), 2);
  const big = 'x'.repeat(20_000);
  const payloads = Array.from({ length: 300 }, (_, i) => ({ ...alert(`v-${i}`, `v-${i}`, '2026-08-01T12:00:00.000Z', 'John Doe', 3), summary: big }));
  await ingest(store, payloads, () => '2026-08-01T12:00:00.000Z');
  await store.projection.catchUp();
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  const pages = () => store.db.pragma('page_count', { simple: true }) as number;
  const before = pages();
  const r = await runRetention({ store, days: 30, now: NOW });
  assert.equal(r.vacuumOff, false);
  assert.ok(r.freedBytes > 300 * 10_000, `freed ${r.freedBytes} bytes`);
  assert.ok(pages() < before / 2, `${pages()} pages of ${before}`);
  assert.equal(store.sqlite.retention.freePages(), 0);
});

test('a database from before retention: its webhooks enter the by-age table in steps during the first run, then are deleted like the others', async (t) => {
  const store = await openStore(t);
  await callsOn(store, ['2026-08-01', '2026-08-02', '2026-11-29']);
  // As migration 7 leaves a database that already had these events: none of them in event_ages yet.
  store.db.prepare('DELETE FROM event_ages').run();
  store.db.prepare('UPDATE retention_state SET aged_seq = 0, ages_until_seq = (SELECT max(seq) FROM events)').run();
  // New webhooks after the migration are entered by the trigger.
  await callsOn(store, ['2026-08-03'], 'after');
  const r = await runRetention({ store, days: 30, now: NOW });
  assert.equal(r.events, 3);
  assert.deepEqual(store.db.prepare('SELECT received_at FROM events').pluck().all(), ['2026-11-29T12:00:00.000Z']);
  assert.deepEqual(store.db.prepare('SELECT aged_seq = ages_until_seq FROM retention_state').pluck().get(), 1);
});

test('the by-age table follows the log: inserts, retried parked events moved to a new seq, deletions', async (t) => {
  const store = await openStore(t);
  await callsOn(store, ['2026-11-01', '2026-11-02']);
  // A parked event retried moves to a new seq (projection.retryParked): the trigger follows the move.
  store.db.prepare("INSERT INTO parked_events (seq, error, parked_at) VALUES (1, 'x', '2026-11-01T00:00:00Z')").run();
  store.db.prepare('DELETE FROM red_flag_rows WHERE seq = 1').run();
  store.db.prepare('DELETE FROM score_rows WHERE seq = 1').run();
  await store.projection.retryParked();
  const same = () =>
    store.db.prepare('SELECT count(*) FROM events e LEFT JOIN event_ages a ON a.seq = e.seq AND a.received_at = e.received_at WHERE a.seq IS NULL').pluck().get() === 0 &&
    store.db.prepare('SELECT count(*) FROM event_ages').pluck().get() === store.db.prepare('SELECT count(*) FROM events').pluck().get();
  assert.deepEqual(store.db.prepare('SELECT seq FROM events ORDER BY seq').pluck().all(), [2, 3]);
  assert.ok(same());
  await runRetention({ store, days: 1, now: NOW });
  assert.equal((await store.events.counts()).events, 0);
  assert.ok(same());
});

/** A completion of `content` by `agent` scored at `created` (its vendor time), empathy `score`. */
function completion(id: string, content: string, created: string, agent: string, score: number): Record<string, unknown> {
  return {
    webhook_id: id,
    trigger_reason: 'completed_action',
    content_id: content,
    data: { score_details: { empathy_score: score, empathy_justification: 'quote' }, original_filename: `${content}.wav`, agent_name: agent, reason_for_call: 'x', created_time: created },
  };
}

test('a call first received in a deleted month but re-scored inside the kept days stays whole: it moves to the first kept month, its open day keeps counting it once, min/max stay right', async (t) => {
  const store = await openStore(t);
  const at = (iso: string) => () => iso;
  await ingest(store, [completion('x-1', 'X', '2026-03-10T12:00:00.000Z', 'Ann', 5)], at('2026-03-10T12:00:00.000Z'));
  await ingest(store, [completion('x-2', 'X', '2026-04-20T12:00:00.000Z', 'Ann', 5)], at('2026-04-20T12:00:00.000Z'));
  await store.projection.catchUp();
  const r = await runRetention({ store, days: 30, now: new Date('2026-05-05T12:00:00.000Z') });
  assert.equal(r.keptFromDay, '2026-04-05');
  assert.equal(r.movedCalls, 1);
  assert.equal(r.contents, 0, 'X is not deleted: a webhook of it is kept');
  assert.deepEqual(store.db.prepare("SELECT part, part_pos FROM content_rows WHERE content_id = 'X'").get(), { part: '2026-04', part_pos: 1 });
  assert.deepEqual(store.db.prepare("SELECT part, part_pos FROM content_score_rows WHERE content_id = 'X'").all(), [{ part: '2026-04', part_pos: 1 }]);
  assert.deepEqual(store.db.prepare("SELECT part, total FROM keyed_parts WHERE view = 'contents'").all(), [{ part: '2026-04', total: 1 }]);
  assert.match((await store.retention.state()).lastResult ?? '', /1 call of deleted months still active moved to 2026-04/);
  // The move has a seq of its own, above every event's: a target whose cursor was at the last event sees the month
  // changed; the projector's cursors moved there, so the next sync's cursor passes it.
  const moveSeq = store.db.prepare("SELECT changed_seq FROM content_rows WHERE content_id = 'X'").pluck().get() as number;
  assert.ok(moveSeq > (await store.events.counts()).lastSeq!);
  assert.equal(await store.projection.cursor(), moveSeq);
  assert.equal(await store.projection.keyedCursor(), moveSeq);
  const contentsDelivery = (await deliveriesFor(store, 'sheets')).find((d) => d.view === 'contents')!;
  assert.equal(contentsDelivery.toSeq, moveSeq);
  assert.ok(contentsDelivery.kind === 'keyed' && (await contentsDelivery.rows.months!.changedSince(moveSeq - 1)).has('2026-04'));

  const group = () => store.db.prepare("SELECT contents, avg_score, min_score, max_score FROM daily_metric_rows WHERE day = '2026-04-20' AND agent_key = 'Ann'").get();
  // A new call on the same day and agent, then the same call under another agent: a score leaves Ann's group.
  await ingest(store, [completion('y-1', 'Y', '2026-04-20T13:00:00.000Z', 'Ann', 1)], at('2026-05-05T12:10:00.000Z'));
  await store.projection.catchUp();
  assert.deepEqual(group(), { contents: 2, avg_score: 3, min_score: 1, max_score: 5 });
  await ingest(store, [completion('y-2', 'Y', '2026-04-20T13:00:00.000Z', 'Bob', 1)], at('2026-05-05T12:20:00.000Z'));
  await store.projection.catchUp();
  assert.deepEqual(group(), { contents: 1, avg_score: 5, min_score: 5, max_score: 5 }, 'min/max read again from the rows: X is still there');
  // A late webhook for X: still one call on its day, and its row stays in the kept month.
  await ingest(store, [completion('x-3', 'X', '2026-04-20T12:00:00.000Z', 'Ann', 4)], at('2026-05-05T12:30:00.000Z'));
  await store.projection.catchUp();
  assert.deepEqual(group(), { contents: 1, avg_score: 4, min_score: 4, max_score: 4 });
  assert.deepEqual(store.db.prepare("SELECT part, first_received_at FROM content_rows WHERE content_id = 'X'").get(), { part: '2026-04', first_received_at: '2026-03-10T12:00:00.000Z' });
  assert.deepEqual(store.db.prepare("SELECT part FROM keyed_parts WHERE view = 'contents' ORDER BY part").pluck().all(), ['2026-04', '2026-05']);
});

test('a payload first quarantined before the cutoff but sent again since is released with its last receipt (not into a deleted month and closed day)', async (t) => {
  const store = await openStore(t);
  await callsOn(store, ['2026-11-29']);
  const body = Buffer.from(JSON.stringify(alert('q-1', 'q-call', '2026-11-29T08:00:00.000Z', 'John Doe', 4)));
  // Quarantined 60 days ago (say, under an older schema), the same bytes again yesterday.
  store.db.transaction(() => {
    store.sqlite.events.quarantine({ webhookId: 'q-1', receivedAt: '2026-10-01T08:00:00.000Z', reason: 'schema', errors: [], body });
    store.sqlite.events.quarantine({ webhookId: 'q-1', receivedAt: '2026-11-29T08:00:00.000Z', reason: 'schema', errors: [], body });
  })();
  await runRetention({ store, days: 30, now: NOW });
  assert.equal(store.db.prepare('SELECT count(*) FROM quarantine').pluck().get(), 1, 'kept: last received inside the kept days');
  const result = await replayQuarantine({ store, validator: createValidator() });
  assert.equal(result.released, 1);
  assert.equal(store.db.prepare("SELECT received_at FROM events WHERE webhook_id = 'q-1'").pluck().get(), '2026-11-29T08:00:00.000Z');
  await store.projection.catchUp();
  assert.equal(store.db.prepare("SELECT part FROM content_rows WHERE content_id = 'q-call'").pluck().get(), '2026-11');
  assert.equal(store.db.prepare("SELECT contents FROM daily_agent_rows WHERE day = '2026-11-29' AND agent_key = 'John Doe'").pluck().get(), 2);
});

test('pending rows of contents and content_scores count rows that exist: the calls of deleted months are pending for no target', async (t) => {
  const store = await openStore(t);
  await callsOn(store, ['2026-08-15', '2026-09-10', '2026-11-20']);
  // A target that holds every row (cursor at the last event, all rows delivered).
  const last = (await store.events.counts()).lastSeq!;
  for (const [view, rows] of [['contents', 3], ['content_scores', 3]] as const) {
    store.db.prepare("INSERT INTO sync_state (target, view, delivered_seq, delivered_rows) VALUES ('csv', ?, ?, ?)").run(view, last, rows);
  }
  const pending = async () => Object.fromEntries((await deliveriesFor(store, 'csv')).filter((d) => d.view === 'contents' || d.view === 'content_scores').map((d) => [d.view, d.pending]));
  assert.deepEqual(await pending(), { contents: 0, content_scores: 0 });
  await runRetention({ store, days: 30, now: NOW });
  assert.deepEqual(await pending(), { contents: 0, content_scores: 0 }, 'before the target removed the deleted months');
  for (const view of ['contents', 'content_scores']) store.db.prepare("UPDATE sync_state SET delivered_rows = 1 WHERE target = 'csv' AND view = ?").run(view);
  assert.deepEqual(await pending(), { contents: 0, content_scores: 0 }, 'after');
  await callsOn(store, ['2026-11-30'], 'new');
  assert.deepEqual(await pending(), { contents: 1, content_scores: 1 });
});

test('a reader elsewhere holding the WAL: the run waits, then stops with what to do (the WAL does not grow without end); after the reader ends it goes on', async (t) => {
  const store = await openStore(t);
  await callsOn(store, ['2026-08-01', '2026-08-02', '2026-11-29']);
  // Another connection (an sqlite3 shell) in a read transaction, after some writes the checkpoint cannot copy.
  const reader = new Database(store.path, { readonly: true });
  t.after(() => reader.close());
  reader.prepare('BEGIN').run();
  reader.prepare('SELECT count(*) FROM events').get();
  await callsOn(store, ['2026-11-30'], 'while-reading');
  assert.ok(store.sqlite.retention.walBacklog() > 0, 'the checkpoint could not copy what the reader still sees');
  await assert.rejects(runRetention({ store, days: 30, now: NOW, maxWalBytes: 1, walWaitMs: 300 }), /another process holds a read transaction on the database .* retention stops here and goes on at its next check/);
  reader.prepare('COMMIT').run();
  const r = await runRetention({ store, days: 30, now: NOW, maxWalBytes: 1, walWaitMs: 2000 });
  assert.equal(r.events, 2);
});
