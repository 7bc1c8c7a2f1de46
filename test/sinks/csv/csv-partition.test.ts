import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parse } from 'csv-parse/sync';
import { pino } from 'pino';
import { catchUpAsync } from '../../../src/jobs/projector.js';
import { deliveriesFor, runSync } from '../../../src/jobs/sync.js';
import { splitByMonth, type Partition } from '../../../src/model/partition.js';
import { VIEW_NAMES } from '../../../src/model/views.js';
import { createCsvTarget } from '../../../src/sinks/csv/csv-target.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { createStore } from '../../../src/store/create-store.js';
import type { Store } from '../../../src/store/store.js';
import { exported } from '../../helpers/export.js';
import { ingest } from '../../helpers/ingest.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { assertMonthFiles, exportedMonth, monthPath, monthsBetween } from '../../helpers/month-files.js';

const silent = pino({ level: 'silent' });
const ZONE = 'America/New_York';
const SPLIT = VIEW_NAMES.filter(splitByMonth);
const WHOLE = VIEW_NAMES.filter((v) => !splitByMonth(v));
/** The months the data of these tests can fall in (New York time). */
const MONTHS = monthsBetween('2025-12', '2026-05');

/**
 * Instants around New York month boundaries: 04:30Z on the 1st is still the
 * last evening of the month before there (UTC-5), 05:30Z is the new month.
 */
const TIMES = ['2026-01-15T12:00:00.000Z', '2026-02-01T04:30:00.000Z', '2026-02-01T05:30:00.000Z', '2026-02-20T08:00:00.000Z', '2026-03-01T04:59:59.999Z', '2026-03-01T05:00:00.000Z', '2026-03-20T12:00:00.000Z'];

function setup(t: TestContext, zone = ZONE) {
  const dir = tempDir(t);
  const store = createStore({ dbPath: join(dir, 'db.sqlite'), reportTimezone: zone });
  t.after(() => store.close());
  const csvDir = join(dir, 'exports');
  const target = (partition: Partition = 'month') => createCsvTarget({ dir: csvDir, delimiter: ',', bom: false, partition });
  return { store, csvDir, target };
}

let next = 0;
/** `n` webhooks received at the given times (cycled), some updating a content seen before (keyed rows change). */
async function ingestAt(store: Store, n: number, times: readonly string[]): Promise<void> {
  const payloads = Array.from({ length: n }, () => {
    const i = next++;
    const w = generateWebhook(i, { seed: 5, idPrefix: 'part-' }) as unknown as Record<string, unknown>;
    // Every fifth webhook is about the content of an earlier one (same call alerted then completed).
    return i % 5 === 4 ? { ...w, content_id: (generateWebhook(i - 2, { seed: 5 }) as unknown as Record<string, unknown>)['content_id'] } : w;
  });
  await ingest(store, payloads, (i) => times[i % times.length]!);
}

async function sync(store: Store, target: ReturnType<typeof createCsvTarget>) {
  const r = await runSync({ store, target, logger: silent });
  assert.equal(r.status, 'ok', JSON.stringify(r));
  return r;
}

/** Every split view as per-month exports, every daily view whole: the whole month layout. */
async function assertMonthLayout(store: Store, csvDir: string, zone = ZONE): Promise<void> {
  for (const view of SPLIT) {
    const rows = await assertMonthFiles(store, csvDir, view, zone, MONTHS);
    assert.equal(rows, (await store.sync.cursor('csv', view)).deliveredRows, `${view}: the cursor counts the rows of its month files`);
  }
  for (const view of WHOLE) assert.equal(readFileSync(join(csvDir, `${view}.csv`), 'utf8'), await exported(store, view), `${view}.csv stays one file`);
  assertNoTemps(csvDir);
}

async function assertWholeLayout(store: Store, csvDir: string): Promise<void> {
  for (const view of VIEW_NAMES) assert.equal(readFileSync(join(csvDir, `${view}.csv`), 'utf8'), await exported(store, view), `${view}.csv equals the view`);
  for (const view of SPLIT) assert.ok(!existsSync(join(csvDir, view)), `${view}/ (the month layout) is gone`);
  assertNoTemps(csvDir);
}

function assertNoTemps(csvDir: string): void {
  const temps = (readdirSync(csvDir, { recursive: true }) as string[]).filter((f) => f.includes('.tmp-'));
  assert.deepEqual(temps, [], 'no temp file left');
}

/** inode and change time of every file under the folder: what changed between two looks. */
function stamps(csvDir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of readdirSync(csvDir, { recursive: true }) as string[]) {
    const st = statSync(join(csvDir, f), { bigint: true });
    if (st.isFile()) out.set(f, `${st.ino}:${st.ctimeNs}:${st.size}`);
  }
  return out;
}
const changedBetween = (a: Map<string, string>, b: Map<string, string>) => [...b.keys()].filter((f) => a.get(f) !== b.get(f)).sort();

test('month files equal the per-month export (New York months), first sync and appends; daily views stay whole', async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingestAt(store, 30, TIMES.slice(0, 4));
  await sync(store, target());
  await assertMonthLayout(store, csvDir);
  // Rows near a boundary land in the local month: 04:30Z on Feb 1 is January in New York.
  assert.ok(existsSync(monthPath(csvDir, 'red_flags', '2026-01')) || existsSync(monthPath(csvDir, 'scores', '2026-01')));
  assert.ok(!existsSync(monthPath(csvDir, 'scores', '2026-03')));

  await ingestAt(store, 25, TIMES.slice(2));
  await sync(store, target());
  await assertMonthLayout(store, csvDir);
  const state = (await store.sync.cursor('csv', 'scores')).state as { layout: string; files: Record<string, { rows: number }> };
  assert.equal(state.layout, `month:${ZONE}`);
  assert.deepEqual(Object.keys(state.files), ['2026-01', '2026-02', '2026-03'].map((m) => `scores/scores-${m}.csv`));

  // An idle sync reads and writes nothing.
  const before = stamps(csvDir);
  const idle = await sync(store, target());
  assert.equal(idle.rows, 0);
  assert.deepEqual(changedBetween(before, stamps(csvDir)), []);
});

test('a sync after 1,000 new webhooks rewrites only the current month files (and the daily views)', async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingestAt(store, 200, TIMES);
  await sync(store, target());
  const before = stamps(csvDir);
  await ingestAt(store, 1000, ['2026-03-25T12:00:00.000Z', '2026-03-31T23:00:00.000Z']);
  const r = await sync(store, target());
  assert.ok(r.rows > 1000);
  const changed = changedBetween(before, stamps(csvDir));
  assert.deepEqual(changed, [...SPLIT.map((v) => `${v}/${v}-2026-03.csv`), ...WHOLE.map((v) => `${v}.csv`)].sort(), 'exactly the March files and the daily views');
  await assertMonthLayout(store, csvDir);
});

test('CSV_PARTITION none → month → none: the new layout is complete before the old one goes, and a stop in between is finished by the next sync', async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingestAt(store, 40, TIMES);
  await sync(store, target('none'));
  await assertWholeLayout(store, csvDir);

  for (const [to, check] of [
    ['month', () => assertMonthLayout(store, csvDir)],
    ['none', () => assertWholeLayout(store, csvDir)],
  ] as const) {
    await ingestAt(store, 10, TIMES.slice(3));
    await catchUpAsync(store.projection);
    for (const d of await deliveriesFor(store, 'csv')) {
      if (!splitByMonth(d.view)) continue;
      // What the new layout must hold, from the exports (the store does not change meanwhile).
      const want = new Map<string, string>();
      if (to === 'none') want.set(join(csvDir, `${d.view}.csv`), await exported(store, d.view));
      else for (const m of MONTHS) {
        const text = await exportedMonth(store, d.view, m, ZONE);
        if (text.includes('\r\n', text.indexOf('\r\n') + 2)) want.set(monthPath(csvDir, d.view, m), text);
      }
      const complete = () => [...want].every(([file, text]) => existsSync(file) && readFileSync(file, 'utf8') === text);
      // The lock is lost the first time it is checked with the new layout complete: right before the old one is removed.
      let stopped = false;
      const fence = async () => {
        if (complete()) {
          stopped = true;
          throw new Error('the sync lock was taken over');
        }
      };
      const [o] = await target(to).deliver([d], { fence });
      assert.ok(stopped, `${d.view}: the lock was checked once the new layout was complete`);
      assert.ok(!o!.ok && /taken over/.test(o!.error), `${d.view}: stopped before removing the old layout`);
      // Both layouts are there: the old one untouched.
      assert.ok(existsSync(join(csvDir, `${d.view}.csv`)), `${d.view}.csv still there`);
      assert.ok(readdirSync(join(csvDir, d.view)).some((f) => f.endsWith('.csv')), `${d.view}/ still there`);
    }
    // The next sync finishes the switch.
    await sync(store, target(to));
    await check();
    const idle = stamps(csvDir);
    await sync(store, target(to));
    assert.deepEqual(changedBetween(idle, stamps(csvDir)), [], 'then idle');
  }
});

test('a crash between the rename of a month file and the cursor commit never duplicates rows', async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingestAt(store, 30, TIMES);
  await sync(store, target());
  for (let round = 0; round < 3; round++) {
    await ingestAt(store, 15, TIMES.slice(4 + (round % 3)));
    // A delivery whose cursor is never committed (the process died right after the renames).
    await catchUpAsync(store.projection);
    const outcomes = await target().deliver(await deliveriesFor(store, 'csv'));
    assert.ok(outcomes.every((o) => o.ok));
    if (round === 1) await ingestAt(store, 5, ['2026-04-02T12:00:00.000Z']);
    await sync(store, target());
    await assertMonthLayout(store, csvDir);
  }
  // Rows a crashed run appended to a month file with nothing new since: cut back to the confirmed part.
  const file = monthPath(csvDir, 'scores', '2026-03');
  const confirmed = readFileSync(file, 'utf8');
  appendFileSync(file, confirmed.split('\r\n')[1] + '\r\n');
  await sync(store, target());
  await assertMonthLayout(store, csvDir);
});

test('a run that loses its lock between two month renames renames nothing more; the next sync completes it without duplicates', async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingestAt(store, 30, TIMES);
  await sync(store, target());
  // New rows for two months of every append-only view.
  await ingestAt(store, 20, ['2026-02-25T12:00:00.000Z', '2026-03-25T12:00:00.000Z']);
  await catchUpAsync(store.projection);
  const scores = (await deliveriesFor(store, 'csv')).find((d) => d.view === 'scores')!;
  const before = stamps(csvDir);
  let calls = 0;
  // The first check clears temp files, the second comes before the first rename: lost before the second rename.
  const fence = async () => {
    if (++calls > 2) throw new Error('the sync lock was taken over');
  };
  const [o] = await target().deliver([scores], { fence });
  assert.ok(!o!.ok && /taken over/.test(o!.error));
  assert.deepEqual(changedBetween(before, stamps(csvDir)), ['scores/scores-2026-02.csv'], 'one month renamed, then nothing');
  assertNoTemps(csvDir);
  await sync(store, target());
  await assertMonthLayout(store, csvDir);
});

test('a month file edited or removed by hand is rewritten; the other months are left alone', async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingestAt(store, 60, TIMES);
  await sync(store, target());
  const jan = monthPath(csvDir, 'scores', '2026-01');
  const feb = monthPath(csvDir, 'contents', '2026-02');
  // Same size, a letter changed (and no new rows for January).
  const text = readFileSync(jan, 'utf8');
  const at = text.indexOf('a', text.length >> 1);
  writeFileSync(jan, text.slice(0, at) + 'b' + text.slice(at + 1));
  rmSync(feb);
  const before = stamps(csvDir);
  await sync(store, target());
  await assertMonthLayout(store, csvDir);
  assert.deepEqual(changedBetween(before, stamps(csvDir)), ['contents/contents-2026-02.csv', 'scores/scores-2026-01.csv']);

  // With new rows for that month: the edit is seen while the old part is copied.
  const mar = monthPath(csvDir, 'red_flags', '2026-03');
  writeFileSync(mar, readFileSync(mar, 'utf8').replace(/\r\n[^\r]*\r\n$/, '\r\n'));
  await ingestAt(store, 20, ['2026-03-21T12:00:00.000Z']);
  await sync(store, target());
  await assertMonthLayout(store, csvDir);
});

test('keyed rows that change are spliced into their own month; a content seen again later stays in its first month', async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingestAt(store, 40, TIMES.slice(0, 3));
  await sync(store, target());
  const before = stamps(csvDir);
  // Completions of January's contents arrive in March: their rows change in place, in January's files.
  const contentsJan = parse(readFileSync(monthPath(csvDir, 'contents', '2026-01'), 'utf8')) as string[][];
  const ids = contentsJan.slice(1, 4).map((r) => r[0]!);
  await ingest(
    store,
    ids.map((id, i) => ({ ...generateWebhook(900 + i, { seed: 5, kind: 'completion', idPrefix: 'again-' }), content_id: id }) as unknown as object),
    () => '2026-03-05T12:00:00.000Z',
  );
  await sync(store, target());
  await assertMonthLayout(store, csvDir);
  const changed = changedBetween(before, stamps(csvDir));
  assert.ok(changed.includes('contents/contents-2026-01.csv'));
  assert.ok(!changed.includes('contents/contents-2026-02.csv'), 'February has no changed content');
  assert.ok(!changed.includes('scores/scores-2026-01.csv'), 'append-only January gets no new rows');
});

test('a content whose webhook arrives with an earlier clock moves to that month: both months are written whole, once', async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingestAt(store, 30, TIMES.slice(2, 4));
  await sync(store, target());
  const feb = parse(readFileSync(monthPath(csvDir, 'contents', '2026-02'), 'utf8')) as string[][];
  const moved = feb[1]![0]!;
  // A completion of that call, stamped in January by a clock that went backwards.
  await ingest(store, [{ ...generateWebhook(950, { seed: 5, kind: 'completion', idPrefix: 'early-' }), content_id: moved } as unknown as object], () => '2026-01-20T12:00:00.000Z');
  await sync(store, target());
  await assertMonthLayout(store, csvDir);
  const jan = parse(readFileSync(monthPath(csvDir, 'contents', '2026-01'), 'utf8')) as string[][];
  assert.ok(jan.some((r) => r[0] === moved), 'the content is in January now');
  assert.ok(!(parse(readFileSync(monthPath(csvDir, 'contents', '2026-02'), 'utf8')) as string[][]).some((r) => r[0] === moved), 'and no longer in February');
  const idle = stamps(csvDir);
  assert.equal((await sync(store, target())).rows, 0);
  assert.deepEqual(changedBetween(idle, stamps(csvDir)), []);
});

test('another REPORT_TIMEZONE moves rows to their months in the new zone (one rewrite), UTC included', async (t) => {
  const dir = tempDir(t);
  const dbPath = join(dir, 'db.sqlite');
  const csvDir = join(dir, 'exports');
  const target = createCsvTarget({ dir: csvDir, delimiter: ',', bom: false, partition: 'month' });
  let store = createStore({ dbPath, reportTimezone: ZONE });
  try {
    await ingestAt(store, 30, TIMES);
    await sync(store, target);
    await assertMonthLayout(store, csvDir, ZONE);
  } finally {
    await store.close();
  }
  store = createStore({ dbPath, reportTimezone: 'UTC' });
  try {
    await sync(store, target);
    await assertMonthLayout(store, csvDir, 'UTC');
  } finally {
    await store.close();
  }
});

test('an empty view has no month file; a view written whole keeps its header-only file', async (t) => {
  const { store, csvDir, target } = setup(t);
  await sync(store, target());
  for (const view of SPLIT) assert.deepEqual(existsSync(join(csvDir, view)) ? readdirSync(join(csvDir, view)) : [], [], `${view}: no month yet`);
  for (const view of WHOLE) assert.equal(readFileSync(join(csvDir, `${view}.csv`), 'utf8'), await exported(store, view));
  await sync(store, target('none'));
  await assertWholeLayout(store, csvDir);
});
