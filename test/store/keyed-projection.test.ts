import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createStore, type SqliteStore } from '../../src/store/create-store.js';
import { collect } from '../helpers/collect.js';
import { exported } from '../helpers/export.js';
import { ingest } from '../helpers/ingest.js';
import { tempDir } from '../helpers/temp-dir.js';

const call = (id: string, agent: string, at: string, i: number) => ({
  webhook_id: `w-${id}-${i}`,
  trigger_reason: 'completed_action',
  content_id: id,
  data: { original_filename: `${id}.wav`, agent_name: agent, created_time: at, score_details: { empathy_score: i % 10, empathy_justification: 'ok' } },
});

function open(dir: string, zone?: string): SqliteStore {
  return createStore({ dbPath: join(dir, 'ember-sync.db'), ...(zone ? { reportTimezone: zone } : {}) });
}

test('a new REPORT_TIMEZONE regroups the daily rows from the raw log; the append-only views and their cursor stay', async (t) => {
  const dir = tempDir(t);
  const store = open(dir);
  // 23:30 on Sunday 2026-11-29 in New York is Monday 04:30 in UTC.
  await ingest(store, [call('c1', 'Ann', '2026-11-29T23:30:00-05:00', 1), call('c2', 'Ann', '2026-11-29T12:00:00-05:00', 2)]);
  await store.projection.catchUp();
  const utcDays = await exported(store, 'daily_agents');
  assert.match(utcDays, /2026-11-30,Ann,1/);
  assert.match(utcDays, /2026-11-29,Ann,1/);
  const scores = await exported(store, 'scores');
  const cursor = await store.projection.cursor();
  const epoch = await store.keyedEpoch();
  store.close();

  const ny = open(dir, 'America/New_York');
  t.after(() => ny.close());
  assert.equal(await ny.reportTimezone(), 'America/New_York');
  assert.notEqual(await ny.keyedEpoch(), epoch, 'a new zone is a new epoch: targets rewrite the keyed views');
  assert.equal(await ny.projection.cursor(), cursor, 'the append-only views are not projected again');
  assert.ok(await ny.projection.lag() > 0, 'the keyed views are pending again');
  await ny.projection.catchUp();
  assert.equal(await exported(ny, 'scores'), scores);
  const nyDays = await exported(ny, 'daily_agents');
  assert.match(nyDays, /^2026-11-29,Ann,2,2,0,0,$/m, 'both calls are on Sunday in New York');
  assert.doesNotMatch(nyDays, /2026-11-30/);
  // The same zone again changes nothing.
  assert.equal(await ny.adoptReportTimezone('America/New_York'), false);
});

test('an event that fails while feeding the keyed views is parked alone; the rest of its batch is projected', async (t) => {
  const store = open(tempDir(t));
  t.after(() => store.close());
  // A failure SQLite raises for one agent only, while its daily row is created.
  store.db.exec(`CREATE TRIGGER boom BEFORE INSERT ON daily_agent_rows WHEN NEW.agent_key = 'Boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`);
  await ingest(store, [call('c1', 'Ann', '2026-11-29T10:00:00Z', 1), call('c2', 'Boom', '2026-11-29T11:00:00Z', 2), call('c3', 'Bob', '2026-11-29T12:00:00Z', 3)]);
  await store.projection.catchUp();
  assert.equal(await store.projection.lag(), 0);
  assert.deepEqual(
    (await store.projection.parked()).map((p) => [p.webhook_id, /boom/.test(p.error)]),
    [['w-c2-2', true]],
  );
  const contents = await exported(store, 'contents');
  assert.match(contents, /^c1,/m);
  assert.match(contents, /^c3,/m);
  assert.doesNotMatch(contents, /^c2,/m, 'nothing of the parked event in the keyed views');
  assert.doesNotMatch(await exported(store, 'completions'), /w-c2-2/, 'nor in the append-only views');
  assert.match(await exported(store, 'daily_agents'), /^2026-11-29,Bob,1,1,0,0,$/m);
});

test('regression: numbers past ±1e9 are no scores for averages nor extremes, whatever the batches; a rebuild gives the same daily rows', async (t) => {
  const store = open(tempDir(t));
  t.after(() => store.close());
  const scored = (n: number, id: string, details: Record<string, number>) => ({ webhook_id: `big-${n}`, trigger_reason: 'completed_action', content_id: id, data: { agent_name: 'Ann', created_time: '2026-11-29T10:00:00Z', score_details: details } });
  await ingest(store, [scored(1, 'b', { x: 1e300, talk_time: 5e9 })]);
  await store.projection.catchUp();
  await ingest(store, [scored(2, 'a', { x: 5, talk_time: 120 }), scored(3, 'c', { x: 1e-7, talk_time: 60 })]);
  await store.projection.catchUp();
  const before = await exported(store, 'daily_metrics');
  assert.match(before, /^2026-11-29,Ann,x,3,2\.5,1e-7,5$/m, 'x: three calls have it, two have a score (1e-7 counts, to the millionth in the average)');
  assert.match(before, /^2026-11-29,Ann,talk_time,3,90,60,120$/m);
  await store.projection.rebuild();
  assert.equal(await exported(store, 'daily_metrics'), before);
});

test('month partitions: rows take places in their month; a content whose first_received_at moves to another month renumbers both months and marks them reset', async (t) => {
  const store = open(tempDir(t), 'America/New_York');
  t.after(() => store.close());
  const months = async (view: 'contents' | 'content_scores') => (await store.views.snapshot(view, await store.projection.columns())).keyed!.months!;
  const ids = async (view: 'contents' | 'content_scores', month: string) => (await collect((await months(view)).rows(month).pages())).flat().map((r) => `${String(r[0])}${view === 'content_scores' ? `/${String(r[3])}` : ''}`);
  // 2026-12-01T04:00Z is still November 30 in New York; 06:00Z is December 1.
  await ingest(store, [call('a', 'Ann', '2026-11-30T10:00:00Z', 1), call('b', 'Bob', '2026-12-01T10:00:00Z', 2), call('c', 'Cy', '2026-12-01T11:00:00Z', 3)], (i) => ['2026-12-01T04:00:00.000Z', '2026-12-01T06:00:00.000Z', '2026-12-01T07:00:00.000Z'][i]!);
  await store.projection.catchUp();
  assert.deepEqual((await months('contents')).list.map((m) => [m.month, m.total, m.resetSeq]), [['2026-11', 1, 0], ['2026-12', 2, 0]]);
  assert.deepEqual(await ids('contents', '2026-12'), ['b', 'c']);
  assert.deepEqual(await ids('content_scores', '2026-12'), ['b/empathy', 'c/empathy']);
  const seqBefore = await store.projection.cursor();
  assert.deepEqual([...(await (await months('contents')).changedSince(seqBefore))], [], 'nothing changed since');

  // A clock that went back: b's second webhook was received (by this clock) in November: b moves there.
  await ingest(store, [{ ...call('b', 'Bob', '2026-12-01T10:00:00Z', 4), webhook_id: 'w-b-late' }], () => '2026-11-30T20:00:00.000Z');
  await store.projection.catchUp();
  const list = (await months('contents')).list;
  assert.deepEqual(list.map((m) => [m.month, m.total]), [['2026-11', 2], ['2026-12', 1]]);
  assert.ok(list.every((m) => m.resetSeq > seqBefore), 'both months were renumbered after what a target confirmed');
  assert.deepEqual(await ids('contents', '2026-11'), ['a', 'b'], 'by the view order (rid), not by arrival in the month');
  assert.deepEqual(await ids('contents', '2026-12'), ['c']);
  assert.deepEqual(await ids('content_scores', '2026-11'), ['a/empathy', 'b/empathy'], "a content's metric rows follow it");
  assert.deepEqual((await collect((await months('contents')).rows('2026-12').changed(seqBefore, 1))).flat().map((p) => [p.position, p.cells[0]]), [], 'c itself did not change');
  assert.deepEqual((await months('content_scores')).list.map((m) => [m.month, m.total]), [['2026-11', 2], ['2026-12', 1]]);

  // New rows of an unmoved month come at its end, without a reset.
  const seqMid = await store.projection.cursor();
  await ingest(store, [call('d', 'Di', '2026-12-02T10:00:00Z', 5)], () => '2026-12-02T15:00:00.000Z');
  await store.projection.catchUp();
  const dec = (await months('contents')).list.find((m) => m.month === '2026-12')!;
  assert.ok(dec.resetSeq <= seqMid);
  assert.deepEqual((await collect((await months('contents')).rows('2026-12').changed(seqMid, 1))).flat().map((p) => [p.position, p.cells[0]]), [[2, 'd']]);
  assert.deepEqual([...(await (await months('contents')).changedSince(seqMid))], ['2026-12']);
});
