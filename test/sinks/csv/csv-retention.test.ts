/**
 * RETENTION_DAYS and the CSV target: the engine hands each delivery
 * `retainFrom` (the first month the store still keeps); the target removes the
 * month files it wrote for earlier months, never writes them again, and leaves
 * the daily views and anyone else's files alone. The store here keeps every
 * row (its own deletion is tested with the store), which is the harder case
 * for the target: rows of a removed month are still handed out and must not
 * bring its file back.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Temporal } from '@js-temporal/polyfill';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { pino } from 'pino';
import { catchUpAsync } from '../../../src/jobs/projector.js';
import { deliveriesFor, runSync } from '../../../src/jobs/sync.js';
import type { Cell } from '../../../src/model/cells.js';
import { splitByMonth, type Partition } from '../../../src/model/partition.js';
import type { SyncTarget, ViewDelivery } from '../../../src/model/sync.js';
import { VIEW_NAMES, type ViewName } from '../../../src/model/views.js';
import { createCsvTarget } from '../../../src/sinks/csv/csv-target.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { createStore } from '../../../src/store/create-store.js';
import type { Store } from '../../../src/store/store.js';
import { exported } from '../../helpers/export.js';
import { ingest } from '../../helpers/ingest.js';
import { exportedMonth, monthPath, monthsBetween } from '../../helpers/month-files.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { viewInDb } from './csv-oracle.js';

const silent = pino({ level: 'silent' });
const ZONE = 'America/New_York';
const SPLIT = VIEW_NAMES.filter(splitByMonth);
const DAILY = VIEW_NAMES.filter((v) => !splitByMonth(v));
/** The months the data of these tests can fall in (New York time). */
const MONTHS = monthsBetween('2025-11', '2026-04');
/** What the engine would hand out under RETENTION_DAYS: December and January are gone, February (the boundary month) is kept. */
const RETAIN_FROM = '2026-02';

/**
 * December to March in New York, with instants on both sides of the
 * retainFrom boundary: 04:59:59.999Z on Feb 1 is still January there (UTC-5),
 * 05:00Z is February.
 */
const TIMES = ['2025-12-10T12:00:00.000Z', '2026-01-01T04:30:00.000Z', '2026-01-15T12:00:00.000Z', '2026-02-01T04:59:59.999Z', '2026-02-01T05:00:00.000Z', '2026-02-20T12:00:00.000Z', '2026-03-10T12:00:00.000Z'];

function setup(t: TestContext) {
  const dir = tempDir(t);
  const store = createStore({ dbPath: join(dir, 'db.sqlite'), reportTimezone: ZONE });
  t.after(() => store.close());
  const csvDir = join(dir, 'exports');
  const csv = (partition: Partition = 'month', delimiter = ',') => createCsvTarget({ dir: csvDir, delimiter, bom: false, partition });
  return { store, csvDir, csv };
}

/**
 * The target as the engine drives it under RETENTION_DAYS: every delivery
 * gets `retainFrom` (none when undefined), optionally changed further (a new
 * epoch). Same name, so the cursors are the csv target's.
 */
function retaining(inner: SyncTarget, retainFrom: string | undefined, tweak: (d: ViewDelivery) => ViewDelivery = (d) => d): SyncTarget {
  return {
    name: inner.name,
    deliver: (views, control) => inner.deliver(views.map((d) => tweak(retainFrom === undefined ? d : { ...d, retainFrom })), control),
    notices: () => inner.notices?.() ?? [],
  };
}

let next = 0;
/** `n` webhooks received at the given times (cycled), some about a content seen before (keyed rows change). */
async function ingestAt(store: Store, n: number, times: readonly string[], metrics?: readonly string[]): Promise<void> {
  const payloads = Array.from({ length: n }, () => {
    const i = next++;
    const w = generateWebhook(i, { seed: 9, idPrefix: 'ret-', ...(metrics ? { metrics } : {}) }) as unknown as Record<string, unknown>;
    return i % 5 === 4 ? { ...w, content_id: (generateWebhook(i - 2, { seed: 9 }) as unknown as Record<string, unknown>)['content_id'] } : w;
  });
  await ingest(store, payloads, (i) => times[i % times.length]!);
}

async function sync(store: Store, target: SyncTarget) {
  const r = await runSync({ store, target, logger: silent });
  assert.equal(r.status, 'ok', JSON.stringify(r));
  return r;
}

/** Data rows of a CSV text, read back with csv-parse. */
const rowsOf = (text: string, delimiter = ','): string[][] => (parse(text, { delimiter, relax_column_count: false }) as string[][]).slice(1);

/**
 * Every split view: a file for each month >= retainFrom with rows, equal to
 * that month's export, none for an earlier month (unless someone else's, in
 * `foreign`), and the cursor's state lists exactly the files written, its rows
 * theirs. Every daily view: one file equal to the whole view (retention never
 * touches it).
 */
async function assertRetained(store: Store, csvDir: string, retainFrom: string | undefined, o: { delimiter?: string; foreign?: readonly string[] } = {}): Promise<void> {
  const delimiter = o.delimiter ?? ',';
  const foreign = o.foreign ?? [];
  for (const view of SPLIT) {
    const expected: string[] = [];
    let rows = 0;
    for (const month of MONTHS) {
      const file = monthPath(csvDir, view, month);
      const name = `${view}-${month}.csv`;
      if (foreign.includes(`${view}/${name}`)) continue;
      const want = await exportedMonth(store, view, month, ZONE, delimiter);
      const n = rowsOf(want, delimiter).length;
      if ((retainFrom !== undefined && month < retainFrom) || n === 0) {
        assert.ok(!existsSync(file), `${view} ${month}: no file (${n} rows in the store, retainFrom ${retainFrom ?? 'absent'})`);
        continue;
      }
      assert.ok(existsSync(file), `${view} ${month}: ${n} rows, but no file`);
      const got = readFileSync(file, 'utf8');
      assert.equal(got, want, `${name} equals the export of that month`);
      assert.deepEqual(rowsOf(got, delimiter), rowsOf(want, delimiter));
      expected.push(name);
      rows += n;
    }
    const ours = (existsSync(join(csvDir, view)) ? readdirSync(join(csvDir, view)) : []).filter((n) => !foreign.includes(`${view}/${n}`)).sort();
    assert.deepEqual(ours, expected.sort(), `${view}/ holds exactly the kept month files`);
    const cursor = await store.sync.cursor('csv', view);
    const state = cursor.state as { files: Record<string, { rows: number }> };
    assert.deepEqual(Object.keys(state.files).sort(), expected.map((n) => `${view}/${n}`).sort(), `${view}: the state lists exactly the kept files`);
    assert.equal(cursor.deliveredRows, rows, `${view}: the cursor counts the rows of the kept files`);
  }
  for (const view of DAILY) assert.equal(readFileSync(join(csvDir, `${view}.csv`), 'utf8'), await exported(store, view, delimiter), `${view}.csv: the whole view, old days included`);
  const temps = (readdirSync(csvDir, { recursive: true }) as string[]).filter((f) => f.includes('.tmp-'));
  assert.deepEqual(temps, [], 'no temp file left');
}

/** inode, change time and size of a file: whether anything wrote it. */
const stampOf = (path: string) => {
  const st = statSync(path, { bigint: true });
  return `${st.ino}:${st.ctimeNs}:${st.size}`;
};

/** The month files of the split views that hold months before `month`. */
const filesBefore = (csvDir: string, month: string): string[] =>
  SPLIT.flatMap((view) => (existsSync(join(csvDir, view)) ? readdirSync(join(csvDir, view)) : []).filter((n) => (/-(\d{4}-\d{2})\.csv$/.exec(n)?.[1] ?? '9999') < month).map((n) => `${view}/${n}`));

test('months before retainFrom are removed for append-only and keyed month views; retainFrom itself and later months stay; daily files are not touched', async (t) => {
  const { store, csvDir, csv } = setup(t);
  await ingestAt(store, 60, TIMES);
  await sync(store, csv());
  await assertRetained(store, csvDir, undefined);
  const old = filesBefore(csvDir, RETAIN_FROM);
  // The data covers both kinds of split views in removed months, and the boundary month on both sides.
  for (const f of ['scores/scores-2025-12.csv', 'scores/scores-2026-01.csv', 'red_flags/red_flags-2026-01.csv', 'contents/contents-2025-12.csv', 'contents/contents-2026-01.csv', 'content_scores/content_scores-2026-01.csv']) assert.ok(old.includes(f), `${f} was written`);
  for (const view of ['scores', 'contents'] as const) assert.ok(existsSync(monthPath(csvDir, view, RETAIN_FROM)), `${view}: the retainFrom month has a file`);
  const daily = new Map(DAILY.map((v) => [v, stampOf(join(csvDir, `${v}.csv`))]));

  const target = createCsvTarget({ dir: csvDir, delimiter: ',', bom: false, partition: 'month' });
  const r = await sync(store, retaining(target, RETAIN_FROM));
  await assertRetained(store, csvDir, RETAIN_FROM);
  assert.deepEqual(filesBefore(csvDir, RETAIN_FROM), []);
  for (const [v, stamp] of daily) assert.equal(stampOf(join(csvDir, `${v}.csv`)), stamp, `${v}.csv was not rewritten`);
  // The operator is told, per view, what went.
  const notices = r.notices ?? [];
  assert.equal(notices.length, new Set(old.map((f) => f.split('/')[0])).size, notices.join('\n'));
  for (const n of notices) assert.match(n, /^\w+: removed \d+ month file\(s\) before 2026-02 \(RETENTION_DAYS\): /);
  assert.ok(notices.some((n) => n.includes('scores/scores-2025-12.csv')));

  // Then idle: nothing read, nothing written, nothing more said.
  const before = new Map((readdirSync(csvDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.csv')).map((f) => [f, stampOf(join(csvDir, f))]));
  const idle = await sync(store, retaining(target, RETAIN_FROM));
  assert.equal(idle.rows, 0);
  assert.equal(idle.notices, undefined);
  for (const [f, stamp] of before) assert.equal(stampOf(join(csvDir, f)), stamp, `${f} untouched by an idle sync`);
});

test("a file someone else put there with a month-like name is kept, and a removed month brought back by hand is theirs: never removed, never written", async (t) => {
  const { store, csvDir, csv } = setup(t);
  await ingestAt(store, 40, TIMES);
  await sync(store, csv());
  // From an old server: a month we never wrote, in a month retention removes.
  const analyst = join(csvDir, 'scores', 'scores-2025-06.csv');
  writeFileSync(analyst, 'mine\r\n1\r\n');
  await sync(store, retaining(csv(), RETAIN_FROM));
  assert.equal(readFileSync(analyst, 'utf8'), 'mine\r\n1\r\n');
  // Someone restores a removed month from a backup: the state no longer lists it, so it is theirs now.
  const restored = monthPath(csvDir, 'contents', '2025-12');
  writeFileSync(restored, 'restored\r\n');
  await ingestAt(store, 10, TIMES);
  await sync(store, retaining(csv(), RETAIN_FROM));
  await sync(store, retaining(csv(), RETAIN_FROM));
  assert.equal(readFileSync(analyst, 'utf8'), 'mine\r\n1\r\n');
  assert.equal(readFileSync(restored, 'utf8'), 'restored\r\n');
  await assertRetained(store, csvDir, RETAIN_FROM, { foreign: ['scores/scores-2025-06.csv', 'contents/contents-2025-12.csv'] });
});

test('a crash after the unlinks, before the cursor commit: the next sync finishes without failing', async (t) => {
  const { store, csvDir, csv } = setup(t);
  await ingestAt(store, 40, TIMES);
  await sync(store, csv());
  const old = filesBefore(csvDir, RETAIN_FROM);
  assert.ok(old.length > 0);
  // A delivery whose cursor is never committed (the process died right after removing the files).
  await catchUpAsync(store.projection);
  const outcomes = await csv().deliver((await deliveriesFor(store, 'csv')).map((d) => ({ ...d, retainFrom: RETAIN_FROM })));
  assert.ok(outcomes.every((o) => o.ok), JSON.stringify(outcomes));
  assert.deepEqual(filesBefore(csvDir, RETAIN_FROM), []);
  // The confirmed state still lists the removed files.
  const listed: string[] = [];
  for (const v of SPLIT) listed.push(...Object.keys(((await store.sync.cursor('csv', v)).state as { files: object }).files));
  for (const f of old) assert.ok(listed.includes(f), `${f} still in the confirmed state`);

  await ingestAt(store, 5, TIMES.slice(-2));
  const r = await sync(store, retaining(csv(), RETAIN_FROM));
  assert.equal(r.notices, undefined, 'nothing left to remove');
  await assertRetained(store, csvDir, RETAIN_FROM);
});

test('a cursor whose rows already leave out the removed months still reads: old files removed, kept ones not rewritten', async (t) => {
  const { store, csvDir, csv } = setup(t);
  await ingestAt(store, 40, TIMES);
  await sync(store, csv());
  const kept = new Map((readdirSync(csvDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.csv') && !filesBefore(csvDir, RETAIN_FROM).includes(f)).map((f) => [f, stampOf(join(csvDir, f))]));
  await catchUpAsync(store.projection);
  const deliveries = (await deliveriesFor(store, 'csv')).map((d): ViewDelivery => {
    const files = (d.cursor.state as { files: Record<string, { rows: number }> }).files;
    // As if whoever deleted the months had taken their rows off the cursor.
    const rows = Object.entries(files).reduce((n, [rel, e]) => n + ((/-(\d{4}-\d{2})\.csv$/.exec(rel)?.[1] ?? '9999') < RETAIN_FROM ? 0 : e.rows), 0);
    return { ...d, retainFrom: RETAIN_FROM, cursor: { ...d.cursor, deliveredRows: rows } };
  });
  const outcomes = await csv().deliver(deliveries);
  assert.ok(outcomes.every((o) => o.ok), JSON.stringify(outcomes));
  assert.deepEqual(filesBefore(csvDir, RETAIN_FROM), []);
  for (const [f, stamp] of kept) assert.equal(stampOf(join(csvDir, f)), stamp, `${f} not rewritten`);
});

test('removal waits for the lock check: a run that lost its lock removes nothing, the next one removes', async (t) => {
  const { store, csvDir, csv } = setup(t);
  await ingestAt(store, 40, TIMES);
  await sync(store, csv());
  const old = filesBefore(csvDir, RETAIN_FROM);
  await catchUpAsync(store.projection);
  for (const d of await deliveriesFor(store, 'csv')) {
    if (!splitByMonth(d.view)) continue;
    // The first check (before stale temp files are cleared) passes; the next one, right before the removal, finds the lock gone.
    let checks = 0;
    const fence = async () => {
      if (checks++ > 0) throw new Error('the sync lock was taken over');
    };
    const [o] = await csv().deliver([{ ...d, retainFrom: RETAIN_FROM }], { fence });
    assert.ok(o && !o.ok && /taken over/.test(o.error), `${d.view}: stopped at the lock check`);
    assert.equal(checks, 2, `${d.view}: one check before the removal`);
  }
  assert.deepEqual(filesBefore(csvDir, RETAIN_FROM), old, 'every old month file is still there');
  await sync(store, retaining(csv(), RETAIN_FROM));
  await assertRetained(store, csvDir, RETAIN_FROM);
});

test('later syncs never bring an old month back: new rows dated in it, a kept file edited or removed, a new column, dialect or epoch (full rewrites)', async (t) => {
  const { store, csvDir, csv } = setup(t);
  await ingestAt(store, 40, TIMES);
  await sync(store, csv());
  await sync(store, retaining(csv(), RETAIN_FROM));
  await assertRetained(store, csvDir, RETAIN_FROM);

  // Rows the store still hands out for a removed month (a clock set back, a store that deletes later).
  await ingestAt(store, 15, ['2026-01-20T12:00:00.000Z', '2025-12-31T12:00:00.000Z', '2026-03-15T12:00:00.000Z']);
  await sync(store, retaining(csv(), RETAIN_FROM));
  await assertRetained(store, csvDir, RETAIN_FROM);

  // A kept file edited, another removed: rewritten from the view, the old months still not.
  writeFileSync(monthPath(csvDir, 'scores', '2026-02'), 'edited\r\n');
  rmSync(monthPath(csvDir, 'contents', '2026-02'));
  await sync(store, retaining(csv(), RETAIN_FROM));
  await assertRetained(store, csvDir, RETAIN_FROM);

  // A new column: the wide views are written whole.
  await ingestAt(store, 10, TIMES, ['retention_probe']);
  await sync(store, retaining(csv(), RETAIN_FROM));
  await assertRetained(store, csvDir, RETAIN_FROM);

  // Another delimiter: every view written whole.
  await sync(store, retaining(csv('month', ';'), RETAIN_FROM));
  await assertRetained(store, csvDir, RETAIN_FROM, { delimiter: ';' });

  // A new derivation of the keyed views (epoch): written whole.
  const newEpoch = (d: ViewDelivery): ViewDelivery => (d.kind === 'keyed' ? { ...d, epoch: `${d.epoch}:retention-test` } : d);
  await sync(store, retaining(csv('month', ';'), RETAIN_FROM, newEpoch));
  await assertRetained(store, csvDir, RETAIN_FROM, { delimiter: ';' });
  assert.deepEqual(filesBefore(csvDir, RETAIN_FROM), []);
});

test('retainFrom moving on removes the next month; retainFrom absent changes nothing; CSV_PARTITION=none ignores it', async (t) => {
  const { store, csvDir, csv } = setup(t);
  await ingestAt(store, 40, TIMES);
  // Absent: exactly the month layout as before, old months and all, nothing said.
  const plain = await sync(store, retaining(csv(), undefined));
  assert.equal(plain.notices, undefined);
  await assertRetained(store, csvDir, undefined);
  await ingestAt(store, 10, TIMES);
  await sync(store, retaining(csv(), undefined));
  await assertRetained(store, csvDir, undefined);
  assert.ok(existsSync(monthPath(csvDir, 'scores', '2025-12')));

  await sync(store, retaining(csv(), '2026-01'));
  await assertRetained(store, csvDir, '2026-01');
  assert.ok(existsSync(monthPath(csvDir, 'scores', '2026-01')), 'the retainFrom month is kept');
  await sync(store, retaining(csv(), '2026-02'));
  await assertRetained(store, csvDir, '2026-02');

  // One file per view (settings refuse RETENTION_DAYS with it, but a delivery with retainFrom must not break it).
  await sync(store, retaining(csv('none'), '2026-03'));
  for (const view of VIEW_NAMES) assert.equal(readFileSync(join(csvDir, `${view}.csv`), 'utf8'), await exported(store, view), `${view}.csv equals the whole view`);
});

test('a retainFrom that is not a month fails the split views and removes nothing', async (t) => {
  const { store, csvDir, csv } = setup(t);
  await ingestAt(store, 20, TIMES);
  await sync(store, csv());
  const old = filesBefore(csvDir, RETAIN_FROM);
  const r = await runSync({ store, target: retaining(csv(), '2026-2'), logger: silent });
  assert.equal(r.status, 'failed');
  const failed = r.status === 'failed' ? r.views.filter((v) => v.error).map((v) => v.view) : [];
  assert.deepEqual(failed.sort(), [...SPLIT].sort());
  assert.deepEqual(filesBefore(csvDir, RETAIN_FROM), old);
});

/** `yyyy-mm` of an instant in a zone, by Temporal (not model/time.ts). */
const monthIn = (iso: string, zone: string) => Temporal.Instant.from(iso).toZonedDateTimeISO(zone).toPlainDate().toString().slice(0, 7);
/** The column each split view is split by (content_scores by its content's first_received_at). */
const SPLIT_BY: Partial<Record<ViewName, string>> = { contents: 'first_received_at', content_scores: 'first_received_at' };

/** The files every split view must have: one per month with rows in the store (by Temporal), from retainFrom on. */
async function expectedFiles(store: Store, zone: string, retainFrom: string | undefined): Promise<Map<ViewName, Map<string, number>>> {
  const contents = await viewInDb(store, 'contents');
  const firstAt = contents.header.indexOf('first_received_at');
  const monthOfContent = new Map(contents.rows.map((r) => [r[0] as string, monthIn(r[firstAt] as string, zone)]));
  const out = new Map<ViewName, Map<string, number>>();
  for (const view of SPLIT) {
    const { header, rows } = view === 'contents' ? contents : await viewInDb(store, view);
    const at = header.indexOf(SPLIT_BY[view] ?? 'received_at');
    const months = new Map<string, number>();
    for (const r of rows as Cell[][]) {
      const month = view === 'content_scores' ? monthOfContent.get(r[0] as string)! : monthIn(r[at] as string, zone);
      if (retainFrom !== undefined && month < retainFrom) continue;
      months.set(month, (months.get(month) ?? 0) + 1);
    }
    out.set(view, months);
  }
  return out;
}

const PROPERTY_MONTHS = monthsBetween('2025-09', '2026-03');
const propertyStep = fc.record({
  /** Received times anywhere in the months (also in months retention removed already). */
  times: fc.array(fc.date({ min: new Date('2025-09-01T12:00:00Z'), max: new Date('2026-03-30T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()), { maxLength: 6 }),
  /** How many months retention moves on (0: stays; retainFrom is absent until it first moves). */
  advance: fc.constantFrom(0, 0, 1, 2),
  /** A delivery that dies before its cursor commit, before the sync. */
  crash: fc.boolean(),
});

test('property: the month files are exactly the months with rows from retainFrom on, across appends, crashes and retention moving on; daily files whole', async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('UTC', 'America/New_York', 'Asia/Kathmandu'), fc.array(propertyStep, { minLength: 1, maxLength: 4 }), async (zone, steps) => {
      const dir = mkdtempSync(join(tmpdir(), 'ember-sync-ret-'));
      const store = createStore({ dbPath: join(dir, 'db.sqlite'), reportTimezone: zone });
      try {
        const csvDir = join(dir, 'exports');
        const csv = () => createCsvTarget({ dir: csvDir, delimiter: ',', bom: false, partition: 'month' });
        let kept = 0;
        let retainFrom: string | undefined;
        for (const s of steps) {
          const payloads = s.times.map(() => generateWebhook(n++, { seed: 11, idPrefix: 'retp-' }));
          await ingest(store, payloads, (i) => s.times[i]!);
          if (s.advance > 0) {
            kept = Math.min(kept + s.advance, PROPERTY_MONTHS.length - 1);
            retainFrom = PROPERTY_MONTHS[kept];
          }
          const target = retaining(csv(), retainFrom);
          if (s.crash) {
            await catchUpAsync(store.projection);
            await target.deliver(await deliveriesFor(store, 'csv'));
          }
          await sync(store, target);
          for (const [view, months] of await expectedFiles(store, zone, retainFrom)) {
            const names = [...months.keys()].map((m) => `${view}-${m}.csv`).sort();
            assert.deepEqual(existsSync(join(csvDir, view)) ? readdirSync(join(csvDir, view)).sort() : [], names, `${view}/ (retainFrom ${retainFrom ?? 'absent'})`);
            for (const [month, rows] of months) assert.equal(rowsOf(readFileSync(monthPath(csvDir, view, month), 'utf8')).length, rows, `${view}-${month}.csv rows`);
            assert.equal((await store.sync.cursor('csv', view)).deliveredRows, [...months.values()].reduce((a, b) => a + b, 0), `${view}: cursor rows`);
          }
          for (const view of DAILY) assert.equal(rowsOf(readFileSync(join(csvDir, `${view}.csv`), 'utf8')).length, (await viewInDb(store, view)).rows.length, `${view}.csv holds every row`);
        }
      } finally {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 15 },
  );
});
