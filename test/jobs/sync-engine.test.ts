import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { pino } from 'pino';
import { deliveriesFor, runSync } from '../../src/jobs/sync.js';
import type { SyncTarget, ViewOutcome } from '../../src/model/sync.js';
import { VIEW_NAMES } from '../../src/model/views.js';
import { createCsvTarget } from '../../src/sinks/csv/csv-target.js';
import { generateWebhook } from '../../src/simulate/generate.js';
import { createStore, type SqliteStore } from '../../src/store/create-store.js';
import { collectStatus } from '../../src/store/status.js';
import type { Store } from '../../src/store/store.js';
import { collect } from '../helpers/collect.js';
import { ingest } from '../helpers/ingest.js';
import { tempDir } from '../helpers/temp-dir.js';
import { exported } from '../helpers/export.js';

const silent = pino({ level: 'silent' });

function openStore(t: TestContext, options: { busyTimeoutMs?: number; maxDynamicColumns?: number } = {}): SqliteStore {
  const store = createStore({ dbPath: join(tempDir(t), 'ember-sync.db'), ...options });
  t.after(() => store.close());
  return store;
}


/** Every file parses with one width for header and rows (csv-parse refuses a ragged file) and equals the export. */
async function assertFilesAreExports(store: SqliteStore, dir: string): Promise<void> {
  for (const view of VIEW_NAMES) {
    const text = readFileSync(join(dir, `${view}.csv`), 'utf8');
    const rows = parse(text) as string[][];
    for (const r of rows) assert.equal(r.length, rows[0]!.length, `${view}: header width = row width`);
    assert.equal(text, await exported(store, view), `${view}.csv equals the export`);
  }
}

const webhooks = (from: number, n: number) => Array.from({ length: n }, (_, i) => generateWebhook(from + i, { seed: 3, idPrefix: 'e-' }));
const withKey = (i: number, key: string) => ({ ...generateWebhook(i, { kind: 'low_score', idPrefix: 'k-' }), score_details: { [key]: 7, empathy_score: 5 } });

/** A real target whose delivery waits for the test (to interleave other work with a sync). */
function gated(inner: SyncTarget, before?: () => Promise<void> | void) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  const target: SyncTarget = {
    name: inner.name,
    async deliver(views, control) {
      await before?.();
      entered();
      await gate;
      return inner.deliver(views, control);
    },
  };
  return { target, release, inside };
}

test('regression: a column added while a sync runs never makes a row wider than its header (one column list per delivery)', async (t) => {
  const store = openStore(t);
  const dir = tempDir(t);
  await ingest(store, webhooks(0, 30));
  // While the target works (it awaits file I/O), the server's projector adds a column.
  const csv = createCsvTarget({ dir, delimiter: ',', bom: false });
  const target: SyncTarget = {
    name: 'csv',
    async deliver(views, control) {
      await ingest(store, [withKey(100, 'brand_new_metric_score')]);
      await store.projection.catchUp();
      return csv.deliver(views, control);
    },
  };
  const first = await runSync({ store, target, logger: silent });
  assert.equal(first.status, 'ok', JSON.stringify(first));
  for (const view of VIEW_NAMES) {
    const rows = parse(readFileSync(join(dir, `${view}.csv`)), { relax_column_count: true }) as string[][];
    for (const r of rows) assert.equal(r.length, rows[0]!.length, `${view}: every row as wide as the header`);
  }
  const second = await runSync({ store, target: csv, logger: silent });
  assert.equal(second.status, 'ok');
  await assertFilesAreExports(store, dir);
  assert.ok(readFileSync(join(dir, 'low_scores.csv'), 'utf8').split('\r\n')[0]!.endsWith('brand_new_metric_score'));
});

test('regression: a sync that lost its lock to another process commits nothing; the new holder’s cursors stand', async (t) => {
  const store = openStore(t);
  const dir = tempDir(t);
  await ingest(store, webhooks(0, 20));
  const slow = gated(createCsvTarget({ dir, delimiter: ',', bom: false }));
  const a = runSync({ store, target: slow.target, logger: silent, heartbeatMs: 60_000 });
  await slow.inside;
  // A silent holder: its heartbeat is older than the stale limit, so another sync takes the lock over.
  store.db.prepare("UPDATE sync_locks SET heartbeat_at = '2000-01-01T00:00:00.000Z'").run();
  await ingest(store, webhooks(100, 5));
  const b = await runSync({ store, target: createCsvTarget({ dir, delimiter: ',', bom: false }), logger: silent });
  assert.equal(b.status, 'ok');
  const afterB = await Promise.all(VIEW_NAMES.map(async (v) => await store.sync.cursor('csv', v)));
  slow.release();
  const lost = await a;
  assert.equal(lost.status, 'failed');
  assert.match(lost.status === 'failed' ? (lost.error ?? '') : '', /taken over/);
  assert.deepEqual(await Promise.all(VIEW_NAMES.map(async (v) => await store.sync.cursor('csv', v))), afterB, 'the stale run committed no cursor');
  assert.equal(await store.sync.lockHolder('csv'), undefined, 'and did not remove the lock of another run (none is held now)');
  const c = await runSync({ store, target: createCsvTarget({ dir, delimiter: ',', bom: false }), logger: silent });
  assert.equal(c.status, 'ok');
  await assertFilesAreExports(store, dir);
});

test('regression: a heartbeat that fails (database busy) aborts the sync instead of crashing the process', async (t) => {
  const store = openStore(t, { busyTimeoutMs: 20 });
  const dir = tempDir(t);
  await ingest(store, webhooks(0, 10));
  const other = new Database(store.path, { timeout: 20 });
  t.after(() => other.close());
  const slow = gated(createCsvTarget({ dir, delimiter: ',', bom: false }));
  const run = runSync({ store, target: slow.target, logger: silent, heartbeatMs: 10 });
  await slow.inside;
  other.exec('BEGIN IMMEDIATE');
  await new Promise((r) => setTimeout(r, 100)); // several heartbeats fail with SQLITE_BUSY
  other.exec('ROLLBACK');
  slow.release();
  const result = await run;
  assert.equal(result.status, 'failed');
  assert.match(result.status === 'failed' ? (result.error ?? '') : '', /heartbeat failed/);
  assert.deepEqual(await Promise.all(VIEW_NAMES.map(async (v) => (await store.sync.cursor('csv', v)).deliveredSeq)), VIEW_NAMES.map(() => 0), 'nothing committed');
  assert.equal((await runSync({ store, target: createCsvTarget({ dir, delimiter: ',', bom: false }), logger: silent })).status, 'ok', 'the next sync runs normally');
  await assertFilesAreExports(store, dir);
});

test('regression: a failure when the run starts releases the lock and stops the heartbeat', async (t) => {
  const store = openStore(t);
  await ingest(store, webhooks(0, 3));
  const original = store.sync.startRun;
  store.sync.startRun = () => {
    throw new Error('disk I/O error');
  };
  const result = await runSync({ store, target: createCsvTarget({ dir: tempDir(t), delimiter: ',', bom: false }), logger: silent, heartbeatMs: 5 });
  assert.equal(result.status, 'failed');
  assert.equal(await store.sync.lockHolder('csv'), undefined, 'the lock is released');
  store.sync.startRun = original;
  assert.equal((await runSync({ store, target: createCsvTarget({ dir: tempDir(t), delimiter: ',', bom: false }), logger: silent })).status, 'ok');
});

test('regression: an event that cannot be projected is parked with its error; the rest flow; replay brings it back as a new row', async (t) => {
  const store = openStore(t);
  const dir = tempDir(t);
  const poison = { ...generateWebhook(5, { kind: 'red_flag', idPrefix: 'p-' }), content_id: 'poison' };
  // A fault of this one event at projection time (a rule the row breaks), made real inside SQLite.
  store.db.exec("CREATE TRIGGER poison BEFORE INSERT ON red_flag_rows WHEN NEW.content_id = 'poison' BEGIN SELECT RAISE(ABORT, 'row refused'); END");
  await ingest(store, [...webhooks(0, 5), poison, ...webhooks(10, 5)]);
  assert.equal(await store.projection.catchUp(), 11);
  assert.equal(await store.projection.lag(), 0, 'the projector went past it');
  assert.equal(await store.projection.parkedCount(), 1);
  const status = await collectStatus(store, ['csv']);
  assert.equal(status.projector.parked, 1);
  assert.match(status.projector.parked_events[0]!.error, /row refused/);
  assert.equal(status.projector.parked_events[0]!.webhook_id, poison.webhook_id);
  assert.equal(store.db.prepare("SELECT count(*) FROM scores WHERE content_id = 'poison'").pluck().get(), 0, 'nothing of it half-written');

  const target = createCsvTarget({ dir, delimiter: ',', bom: false });
  assert.equal((await runSync({ store, target, logger: silent })).status, 'ok', 'syncs go on');
  await assertFilesAreExports(store, dir);

  // Still failing: stays parked (with its new error); fixed: moved to the end of the log and projected.
  assert.deepEqual(await store.projection.retryParked(), { moved: 0, still: 1 });
  store.db.exec('DROP TRIGGER poison');
  const { replayQuarantine } = await import('../../src/jobs/replay.js');
  const { createValidator } = await import('../../src/ingest/validate.js');
  const replayed = await replayQuarantine({ store, validator: createValidator() });
  assert.deepEqual(replayed.parked, { moved: 1, still: 0 });
  assert.equal(await store.projection.parkedCount(), 0);
  assert.equal(store.db.prepare("SELECT count(*) FROM red_flags WHERE content_id = 'poison'").pluck().get(), 1);
  const next = await runSync({ store, target, logger: silent });
  assert.equal(next.status, 'ok');
  assert.ok(next.status === 'ok' && next.views.find((v) => v.view === 'red_flags')!.rows === 1, 'delivered as a new row, past the cursor');
  await assertFilesAreExports(store, dir);
  // Rebuild gives the same rows.
  const before = await exported(store, 'red_flags');
  await store.projection.rebuild();
  assert.equal(await exported(store, 'red_flags'), before);
});

test('regression: MAX_DYNAMIC_COLUMNS caps a wide view; keys past it stay in the long views and status counts them', async (t) => {
  const store = openStore(t);
  const fields = Object.fromEntries(Array.from({ length: 9_140 }, (_, i) => [`field_${i}`, { value: `v${i}`, reasoning: null }]));
  const wide = { webhook_id: 'wide-1', trigger_reason: 'completed_action', content_id: 'c', data: { output_schema: fields, status: 'complete' } };
  await ingest(store, [wide, ...Array.from({ length: 5 }, (_, i) => generateWebhook(i, { kind: 'completion' }))]);
  await store.projection.catchUp();
  const reg = await store.projection.columns();
  assert.equal(reg.workflows.length, 500, 'the default cap');
  assert.equal(reg.workflows.at(-1)!.name, 'field_249_reasoning', 'whole value/reasoning pairs, in payload order');
  assert.equal(store.db.prepare("SELECT count(*) FROM workflow_fields WHERE webhook_id = 'wide-1'").pluck().get(), 9_140, 'every field stays in the long view');
  assert.equal((await collectStatus(store, ['csv'])).columns_over_cap.workflows, 2 * 9_140 - 500);
  const { header, rows } = await store.views.snapshot('workflows');
  assert.equal(header.length, 5 + 500);
  for await (const page of rows.pages({ toSeq: await store.projection.cursor() })) for (const r of page) assert.equal(r.length, header.length);

  const small = openStore(t, { maxDynamicColumns: 3 });
  await ingest(small, [{ ...generateWebhook(1, { kind: 'low_score' }), score_details: { a_score: 1, a_justification: 'x', b_score: 2, b_justification: 'y' } }]);
  await small.projection.catchUp();
  assert.deepEqual((await small.projection.columns()).low_scores.map((c) => c.name), ['a_score', 'a_justification', 'b_score']);
  assert.equal(small.db.prepare('SELECT count(*) FROM scores').pluck().get(), 2, 'both metrics, whole, in scores');
  assert.equal((await small.projection.overflow()).low_scores, 1);
});

test('regression: rows delivered in status is a lifetime total, not the sum of the runs still in history', async (t) => {
  const store = openStore(t);
  const dir = tempDir(t);
  const target = createCsvTarget({ dir, delimiter: ',', bom: false });
  let expected = 0;
  for (let round = 0; round < 3; round++) {
    await ingest(store, webhooks(round * 10, 10));
    const r = await runSync({ store, target, logger: silent });
    assert.equal(r.status, 'ok');
    expected += r.status === 'ok' ? r.rows : 0;
  }
  assert.equal((await collectStatus(store, ['csv'])).targets['csv']!.rows_delivered, expected);
  // Old runs are pruned from history (1,000 kept): the total does not move.
  store.db.prepare('DELETE FROM sync_runs').run();
  assert.equal((await collectStatus(store, ['csv'])).targets['csv']!.rows_delivered, expected);
});

test('regression: a key over the cap that gets its column after the cap is raised is no longer counted as over it', async (t) => {
  const dbPath = join(tempDir(t), 'ember-sync.db');
  const payload = (i: number) => ({ ...generateWebhook(i, { kind: 'low_score', idPrefix: 'cap-' }), score_details: { a_score: 1, b_score: 2, c_score: 3 } });
  const low = createStore({ dbPath, maxDynamicColumns: 1 });
  await ingest(low, [payload(1)]);
  await low.projection.catchUp();
  assert.equal((await low.projection.overflow()).low_scores, 2);
  low.close();
  const high = createStore({ dbPath, maxDynamicColumns: 10 });
  t.after(() => high.close());
  await ingest(high, [payload(2)]);
  await high.projection.catchUp();
  assert.deepEqual((await high.projection.columns()).low_scores.map((c) => c.name), ['a_score', 'b_score', 'c_score']);
  assert.equal((await high.projection.overflow()).low_scores, undefined, 'nothing is over the cap now');
});

test('regression: a lock left by an earlier life of this very pid (a restarted container’s PID 1) is taken over at once', async (t) => {
  const store = openStore(t);
  await ingest(store, webhooks(0, 3));
  const { hostname } = await import('node:os');
  // Same host, same pid, fresh heartbeat: only the owner id says it is not this process.
  store.db
    .prepare("INSERT INTO sync_locks (target, owner, pid, host, acquired_at, heartbeat_at, generation) VALUES ('csv', ?, ?, ?, ?, ?, 1)")
    .run(`${hostname()}:${process.pid}:previous:x`, process.pid, hostname(), new Date().toISOString(), new Date().toISOString());
  const r = await runSync({ store, target: createCsvTarget({ dir: tempDir(t), delimiter: ',', bom: false }), logger: silent });
  assert.equal(r.status, 'ok', JSON.stringify(r));
});

test('a sync stopped from outside (server shutdown) commits nothing and says why', async (t) => {
  const store = openStore(t);
  await ingest(store, webhooks(0, 5));
  const stop = new AbortController();
  stop.abort(new Error('the server is shutting down'));
  const r = await runSync({ store, target: createCsvTarget({ dir: tempDir(t), delimiter: ',', bom: false }), logger: silent, signal: stop.signal });
  assert.equal(r.status, 'failed');
  assert.match(r.status === 'failed' ? (r.error ?? '') : '', /shutting down/);
  assert.deepEqual(await Promise.all(VIEW_NAMES.map(async (v) => (await store.sync.cursor('csv', v)).deliveredSeq)), VIEW_NAMES.map(() => 0));
  assert.equal(await store.sync.lockHolder('csv'), undefined);
});

test('regression: a write that a taken-over run had in flight lands late over a keyed view: the next syncs deliver those rows again', async (t) => {
  const store = openStore(t);
  // A target that records what it writes per key, like a sheet: the last write to a position wins.
  const sheet = new Map<string, unknown[]>();
  const recorder = (): SyncTarget => ({
    name: 'csv',
    async deliver(views) {
      const out: ViewOutcome[] = [];
      for (const d of views) {
        if (d.kind === 'keyed' && d.view === 'contents') for await (const page of d.rows.changed(d.cursor.deliveredSeq, d.cursor.deliveredRows)) for (const r of page) sheet.set(String(r.position), r.cells);
        out.push({ view: d.view, ok: true as const, receipt: { rows: d.pending, totalRows: d.kind === 'keyed' ? d.rows.total : d.cursor.deliveredRows + d.pending, state: null } });
      }
      return out;
    },
  });
  const call = (n: number, score: number) => ({ webhook_id: `late-${n}`, trigger_reason: 'completed_action', content_id: 'c1', data: { agent_name: 'Ann', score_details: { empathy_score: score } } });
  await ingest(store, [call(1, 1)]);
  // A reads the rows (score 1) and stalls before its write reaches the sheet.
  let stalled: (() => void) | undefined;
  const late: SyncTarget = {
    name: 'csv',
    async deliver(views, control) {
      // It has read its rows (score 1) when it stalls.
      for (const d of views) if (d.kind === 'keyed') await collect(d.rows.changed(d.cursor.deliveredSeq, d.cursor.deliveredRows));
      await new Promise<void>((r) => (stalled = r));
      await control?.fence?.(); // it checked its lock before sending…
      return views.map((d) => ({ view: d.view, ok: false as const, error: 'unused' }));
    },
  };
  const a = runSync({ store, target: late, logger: silent, heartbeatMs: 60_000 });
  while (!stalled) await new Promise((r) => setTimeout(r, 5));
  store.db.prepare("UPDATE sync_locks SET heartbeat_at = '2000-01-01T00:00:00.000Z'").run();
  await ingest(store, [call(2, 9)]);
  assert.equal((await runSync({ store, target: recorder(), logger: silent })).status, 'ok', 'B took the lock over and wrote score 9');
  assert.equal(await store.sync.repairFrom('csv', 'contents'), 0, 'the takeover opened a repair from where A started');
  // …and its write lands now, after B's: score 1 again at row 1.
  const rowOfA = [...sheet.get('1')!];
  rowOfA[VIEW_SCORE_COLUMN] = 1;
  sheet.set('1', rowOfA);
  stalled!();
  assert.equal((await a).status, 'failed');
  // The next sync writes every row changed since A's start again: the sheet holds the truth.
  assert.equal((await runSync({ store, target: recorder(), logger: silent })).status, 'ok');
  assert.equal(sheet.get('1')![VIEW_SCORE_COLUMN], 9);
  assert.equal(await store.sync.repairFrom('csv', 'contents'), undefined, 'the repair ends after two syncs');
  // Then a sync delivers only what changed again.
  let written = 0;
  await runSync({ store, target: { name: 'csv', deliver: async (views) => views.map((d) => ((written += d.pending), { view: d.view, ok: true as const, receipt: { rows: d.pending, totalRows: d.kind === 'keyed' ? d.rows.total : d.cursor.deliveredRows + d.pending, state: null } })) }, logger: silent });
  assert.equal(written, 0);
});

/** Where empathy_score sits in contents: after the 15 fixed columns, the first metric's score. */
const VIEW_SCORE_COLUMN = 15;

test('a target that takes some views (SHEETS_VIEWS) is handed only those; the others keep their cursors, so a view chosen later gets its whole history; pending counts the chosen views', async (t) => {
  const store = openStore(t);
  const dir = tempDir(t);
  await ingest(store, Array.from({ length: 12 }, (_, i) => generateWebhook(i, { seed: 4, idPrefix: 'sv-' })));
  const csv = createCsvTarget({ dir, delimiter: ',', bom: false });
  const some: SyncTarget = { name: 'csv', views: ['red_flags', 'contents'], deliver: (views, control) => csv.deliver(views, control) };
  const handed: string[][] = [];
  const spy: SyncTarget = { ...some, deliver: (views, control) => (handed.push(views.map((v) => v.view)), some.deliver(views, control)) };
  const r = await runSync({ store, target: spy, logger: silent });
  assert.equal(r.status, 'ok');
  assert.deepEqual(handed, [['red_flags', 'contents']]);
  assert.deepEqual(r.status === 'ok' ? r.views.map((v) => v.view) : [], ['red_flags', 'contents']);
  assert.equal((await store.sync.cursor('csv', 'scores')).deliveredSeq, 0, 'a view not taken keeps its cursor');
  const status = await collectStatus(store, ['csv'], { viewsOf: () => ['red_flags', 'contents'] });
  assert.equal(status.targets.csv?.rows_pending, 0, 'nothing pending among the views it takes');
  assert.ok(((await collectStatus(store, ['csv'])).targets.csv?.rows_pending ?? 0) > 0, 'the other views are pending for a target that takes all');

  await ingest(store, Array.from({ length: 3 }, (_, i) => generateWebhook(100 + i, { seed: 4, idPrefix: 'sv-' })));
  // Every view chosen now: scores arrives whole, from its first row.
  assert.equal((await runSync({ store, target: csv, logger: silent })).status, 'ok');
  await assertFilesAreExports(store, dir);
});

test('a repair after a takeover writes whole the months renumbered since the silent run started (their late write may hold old places)', async (t) => {
  const store = openStore(t);
  const call = (id: string, i: number) => ({ ...generateWebhook(i, { kind: 'completion', idPrefix: `rp-${id}-` }), content_id: id });
  await ingest(store, [call('a', 1), call('b', 2)], (i) => ['2026-10-20T10:00:00.000Z', '2026-11-20T10:00:00.000Z'][i]!);
  assert.equal((await runSync({ store, target: createCsvTarget({ dir: tempDir(t), delimiter: ',', bom: false, partition: 'month' }), logger: silent })).status, 'ok');
  const from = await store.projection.cursor();
  // A live run was taken over at `from`; then a clock going back moves call b to October (both months renumbered).
  store.db.prepare("UPDATE sync_state SET repair_from_seq = ?, repair_runs = 2 WHERE target = 'csv' AND view = 'contents'").run(from);
  await ingest(store, [call('b', 3)], () => '2026-10-25T10:00:00.000Z');
  await ingest(store, [call('c', 4)], () => '2026-09-10T10:00:00.000Z');
  await store.projection.catchUp();
  const d = (await deliveriesFor(store, 'csv')).find((x) => x.view === 'contents')!;
  assert.equal(d.kind, 'keyed');
  const list = d.kind === 'keyed' ? d.rows.months!.list : [];
  const byMonth = Object.fromEntries(list.map((m) => [m.month, m.resetSeq]));
  assert.equal(byMonth['2026-10'], Number.MAX_SAFE_INTEGER, 'renumbered after the repair point: written whole');
  assert.equal(byMonth['2026-11'], Number.MAX_SAFE_INTEGER);
  assert.equal(byMonth['2026-09'], 0, 'a month only added to keeps its places');
  const plain = (await deliveriesFor(store, 'sheets')).find((x) => x.view === 'contents')!;
  assert.ok(plain.kind === 'keyed' && plain.rows.months!.list.every((m) => m.resetSeq < Number.MAX_SAFE_INTEGER), 'a target without a repair sees the real reset points');
});

test('the lock heartbeat never overlaps itself: a beat the database is slow to answer is not joined by the next one', async (t) => {
  const store = openStore(t);
  await ingest(store, webhooks(0, 3));
  let running = 0;
  let most = 0;
  let beats = 0;
  const slowBeats: Store = {
    ...store,
    sync: {
      ...store.sync,
      async heartbeat(ticket, now) {
        running++;
        most = Math.max(most, running);
        beats++;
        await new Promise((r) => setTimeout(r, 25));
        running--;
        return store.sync.heartbeat(ticket, now);
      },
    },
  };
  const target: SyncTarget = {
    name: 'csv',
    async deliver(views) {
      // Deliver for as long as it takes to see three beats (however slow the machine), then a little more.
      const deadline = Date.now() + 10_000;
      while (beats < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 50));
      return views.map((d) => ({ view: d.view, ok: true as const, receipt: { rows: d.pending, totalRows: d.kind === 'keyed' ? d.rows.total : d.cursor.deliveredRows + d.pending, state: null } }));
    },
  };
  const r = await runSync({ store: slowBeats, target, logger: silent, heartbeatMs: 5 });
  assert.equal(r.status, 'ok');
  assert.ok(beats >= 3, `the run beat while it delivered (${beats})`);
  assert.equal(most, 1, 'one beat at a time');
});
