import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import type { ViewDelivery } from '../../../src/model/sync.js';
import { VIEW_NAMES } from '../../../src/model/views.js';
import { catchUpAsync } from '../../../src/jobs/projector.js';
import { deliveriesFor, runSync } from '../../../src/jobs/sync.js';
import { createCsvTarget } from '../../../src/sinks/csv/csv-target.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { createStore } from '../../../src/store/create-store.js';
import type { Store, ViewConfirmation } from '../../../src/store/store.js';
import { ingest } from '../../helpers/ingest.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { exported } from '../../helpers/export.js';

const silent = pino({ level: 'silent' });
const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => generateWebhook(from + i, { seed: 11, idPrefix: 'tgt-' }));

function setup(t: TestContext) {
  const dir = tempDir(t);
  const store = createStore({ dbPath: join(dir, 'db.sqlite') });
  t.after(() => store.close());
  const csvDir = join(dir, 'exports');
  return { store, csvDir, target: createCsvTarget({ dir: csvDir, delimiter: ',', bom: false }) };
}


async function assertFilesEqualViews(store: Store, dir: string): Promise<void> {
  for (const view of VIEW_NAMES) assert.equal(readFileSync(join(dir, `${view}.csv`), 'utf8'), await exported(store, view), `${view}.csv equals the view`);
}

/** Changes one ASCII letter in the middle of the file to another: same size, and its mtime put back as it was. */
function editMiddle(file: string): void {
  const before = statSync(file);
  const bytes = readFileSync(file);
  let at = Math.floor(bytes.length / 2);
  while (!/[a-z]/.test(String.fromCharCode(bytes[at]!))) at++;
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from(bytes[at] === 0x78 ? 'y' : 'x'), 0, 1, at);
  closeSync(fd);
  // As `touch -r` or an editor that keeps timestamps would (to the microsecond utimes offers).
  utimesSync(file, before.atimeMs / 1000, before.mtimeMs / 1000);
  assert.equal(statSync(file).size, before.size);
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The deliveries runSync would hand the target now (one column snapshot, cursors as committed). */
async function deliveries(store: Store): Promise<ViewDelivery[]> {
  await catchUpAsync(store.projection);
  return deliveriesFor(store, 'csv');
}

test('a byte edited by hand in the middle of a file, size and mtime kept, is repaired by the next sync', async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingest(store, batch(0, 40));
  assert.equal((await runSync({ store, target, logger: silent })).status, 'ok');
  const file = join(csvDir, 'scores.csv');
  assert.ok(statSync(file).size > 3 * 4096, 'the middle is far from the last 4 KB');

  // Nothing new to deliver: the sync still sees the edit.
  editMiddle(file);
  assert.notEqual(readFileSync(file, 'utf8'), await exported(store, 'scores'));
  assert.equal((await runSync({ store, target, logger: silent })).status, 'ok');
  await assertFilesEqualViews(store, csvDir);

  // With new rows to append: the copy of the old part does not match its hash, so the file is rewritten.
  editMiddle(file);
  await ingest(store, batch(100, 5));
  assert.equal((await runSync({ store, target, logger: silent })).status, 'ok');
  await assertFilesEqualViews(store, csvDir);
});

test('the state holds the hash and size of the whole file, continued over appended rows', async (t) => {
  const { store, csvDir, target } = setup(t);
  for (let round = 0; round < 3; round++) {
    await ingest(store, batch(round * 10, 10));
    await runSync({ store, target, logger: silent });
    for (const view of VIEW_NAMES) {
      const file = join(csvDir, `${view}.csv`);
      const state = (await store.sync.cursor('csv', view)).state as { files: Record<string, { bytes: number; sha256: string; rows: number }> };
      assert.deepEqual(Object.keys(state.files), [`${view}.csv`], `${view}: one file`);
      const entry = state.files[`${view}.csv`]!;
      assert.equal(entry.bytes, statSync(file).size, `${view}: size`);
      assert.equal(entry.sha256, sha256(file), `${view}: hash of the whole file`);
      assert.equal(entry.rows, (await store.sync.cursor('csv', view)).deliveredRows, `${view}: rows`);
    }
  }
  await assertFilesEqualViews(store, csvDir);
});

test('an untouched file with nothing new is left as it is (same inode); rows a crashed sync appended are cut and written once', async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingest(store, batch(0, 20));
  await runSync({ store, target, logger: silent });
  const file = join(csvDir, 'red_flags.csv');
  const ino = statSync(file).ino;
  assert.equal((await runSync({ store, target, logger: silent })).status, 'ok');
  assert.equal(statSync(file).ino, ino, 'not rewritten');

  // A crashed sync renamed a file holding the next rows but never committed its cursor.
  await ingest(store, batch(200, 10));
  const next = (await exported(store, 'red_flags')).slice(readFileSync(file, 'utf8').length);
  assert.ok(next.length > 0);
  appendFileSync(file, next);
  assert.equal(readFileSync(file, 'utf8'), await exported(store, 'red_flags'));
  assert.equal((await runSync({ store, target, logger: silent })).status, 'ok');
  await assertFilesEqualViews(store, csvDir);
});

test('full rewrite on a new column, another dialect, a missing file; a header-only file for an empty view', async (t) => {
  const { store, csvDir, target } = setup(t);
  await runSync({ store, target, logger: silent });
  assert.equal(readFileSync(join(csvDir, 'workflows.csv'), 'utf8'), 'webhook_id,received_at,content_id,status,cost\r\n');
  await ingest(store, batch(0, 20));
  await runSync({ store, target, logger: silent });
  await ingest(store, [{ ...generateWebhook(500, { kind: 'low_score', idPrefix: 'col-' }), score_details: { brand_new_score: 3 } }]);
  rmSync(join(csvDir, 'scores.csv'));
  await runSync({ store, target, logger: silent });
  await assertFilesEqualViews(store, csvDir);
  assert.match(readFileSync(join(csvDir, 'low_scores.csv'), 'utf8').split('\r\n')[0]!, /,brand_new_score$/);

  const semicolon = createCsvTarget({ dir: csvDir, delimiter: ';', bom: true });
  await runSync({ store, target: semicolon, logger: silent });
  const scores = readFileSync(join(csvDir, 'scores.csv'));
  assert.deepEqual([...scores.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  assert.ok(scores.subarray(3).toString('utf8').startsWith('webhook_id;received_at;'));
  assert.deepEqual(readdirSync(csvDir).filter((f) => f.includes('.tmp-')), [], 'no temp files left');
});

test('an aborted delivery renames nothing more: the view being written keeps its old file, later views are not started', async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingest(store, batch(0, 20));
  await runSync({ store, target, logger: silent });
  const before = Object.fromEntries(VIEW_NAMES.map((v) => [v, readFileSync(join(csvDir, `${v}.csv`), 'utf8')]));
  await ingest(store, batch(100, 20));

  // The lock is lost while the second view's last page is read: after every page, just before the rename.
  const abort = new AbortController();
  const views = await deliveries(store);
  const second = views[1]!;
  if (second.kind !== 'log') throw new Error('the second view is an append-only one');
  const pages = second.rows.pages.bind(second.rows);
  second.rows = {
    count: second.rows.count.bind(second.rows),
    async *pages(slice) {
      yield* pages(slice);
      abort.abort(new Error('the sync lock was taken over'));
    },
  };
  const outcomes = await target.deliver(views, { signal: abort.signal });
  assert.equal(outcomes[0]!.ok, true, 'the first view was delivered before the abort');
  assert.ok(!outcomes[1]!.ok && /taken over/.test(outcomes[1]!.error), JSON.stringify(outcomes[1]));
  for (const o of outcomes.slice(2)) assert.ok(!o.ok && /not delivered: the sync was stopped \(the sync lock was taken over\)/.test(o.error), JSON.stringify(o));
  for (const v of VIEW_NAMES.slice(1)) assert.equal(readFileSync(join(csvDir, `${v}.csv`), 'utf8'), before[v], `${v}.csv untouched`);
  assert.notEqual(readFileSync(join(csvDir, `${VIEW_NAMES[0]}.csv`), 'utf8'), before[VIEW_NAMES[0]!]);
  assert.deepEqual(readdirSync(csvDir).filter((f) => f.includes('.tmp-')), [], 'the temp file was removed');

  // Aborted before it starts: nothing is written at all.
  const fresh = join(csvDir, 'never');
  const other = createCsvTarget({ dir: fresh, delimiter: ',', bom: false });
  const gone = new AbortController();
  gone.abort(new Error('stopped'));
  const none = await other.deliver(await deliveries(store), { signal: gone.signal });
  assert.ok(none.every((o) => !o.ok));
  assert.ok(!existsSync(fresh));

  // The next sync delivers everything, once.
  assert.equal((await runSync({ store, target, logger: silent })).status, 'ok');
  await assertFilesEqualViews(store, csvDir);
});

// Found while probing lone surrogates for the property tests: SQLite gave the key back as three U+FFFD, so
// after a restart the same key no longer matched its column and every later event with it was parked.
// Fixed in src/flatten (keys and text leave flatten well-formed).
test(
  'regression: a score_details key holding a lone surrogate keeps reaching the file after a restart',
  async (t) => {
    const dir = tempDir(t);
    const dbPath = join(dir, 'db.sqlite');
    const csvDir = join(dir, 'exports');
    const target = createCsvTarget({ dir: csvDir, delimiter: ',', bom: false });
    const payload = (i: number) => ({ ...generateWebhook(i, { kind: 'low_score', idPrefix: 'lone-' }), score_details: { 'k\uD800_score': i } });
    for (let restart = 0; restart < 2; restart++) {
      const store = createStore({ dbPath });
      try {
        await ingest(store, [payload(restart)]);
        assert.equal((await runSync({ store, target, logger: silent })).status, 'ok');
        assert.equal(store.db.prepare('SELECT count(*) FROM parked_events').pluck().get(), 0, 'no event parked');
        const lines = readFileSync(join(csvDir, 'low_scores.csv'), 'utf8').trimEnd().split('\r\n');
        assert.equal(lines.length, restart + 2, 'header and one row per webhook');
      } finally {
        await store.close();
      }
    }
  },
);

test('a state written before month partitions (one file per view) is continued, not rewritten, with partition none', async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingest(store, batch(0, 20));
  await runSync({ store, target, logger: silent });
  // Put back each view's state as the earlier target recorded it: the file's own fields, no file map.
  const toSeq = await store.projection.cursor();
  const legacyStates: ViewConfirmation[] = [];
  for (const view of VIEW_NAMES) {
    const c = await store.sync.cursor('csv', view);
    const { header, dialect, epoch, files } = c.state as { header: string[]; dialect: string; epoch?: string; files: Record<string, { bytes: number; sha256: string; stamp: string; checkpoints?: number[] }> };
    const { bytes, sha256, stamp, checkpoints } = files[`${view}.csv`]!;
    const legacy = { bytes, sha256, header, dialect, stamp, ...(epoch === undefined ? {} : { epoch }), ...(checkpoints === undefined ? {} : { checkpoints }) };
    legacyStates.push({ view, ok: true, totalRows: c.deliveredRows, rows: 0, state: legacy });
  }
  // Committed as a run commits them: under the target's lock, all views in one transaction.
  const ticket = (await store.sync.tryLock('csv', store.sync.newOwner()))!;
  await store.sync.commitRun(ticket, toSeq, legacyStates);
  await store.sync.unlock(ticket);
  const inodes = () => VIEW_NAMES.map((v) => statSync(join(csvDir, `${v}.csv`)).ino);
  const before = inodes();
  const idle = await runSync({ store, target, logger: silent });
  assert.equal(idle.status === 'ok' && idle.rows, 0, 'nothing rewritten');
  assert.deepEqual(inodes(), before, 'the files are left as they are');
  for (const view of VIEW_NAMES) assert.equal(((await store.sync.cursor('csv', view)).state as { v: number }).v, 2, `${view}: the state is in the new format`);
  await ingest(store, batch(100, 5));
  const pending = (await deliveries(store)).reduce((n, d) => n + d.pending, 0);
  const r = await runSync({ store, target, logger: silent });
  assert.equal(r.status === 'ok' && r.rows, pending, 'only the new and changed rows are written (no file rewritten whole)');
  await assertFilesEqualViews(store, csvDir);
});
