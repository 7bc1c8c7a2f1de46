/**
 * What an analyst or an admin does in a view's month folder: their files stay,
 * whatever their names; a symlinked folder and a file in place of the folder
 * are handled with a clear outcome.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { runSync } from '../../../src/jobs/sync.js';
import type { Partition } from '../../../src/model/partition.js';
import { createCsvTarget } from '../../../src/sinks/csv/csv-target.js';
import { writeProblem } from '../../../src/sinks/csv/file-batch.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { createStore } from '../../../src/store/create-store.js';
import type { Store } from '../../../src/store/store.js';
import { exported } from '../../helpers/export.js';
import { ingest } from '../../helpers/ingest.js';
import { assertMonthFiles, exportedMonth, monthsBetween } from '../../helpers/month-files.js';
import { tempDir } from '../../helpers/temp-dir.js';

const silent = pino({ level: 'silent' });
const MONTHS = monthsBetween('2026-01', '2026-04');
const TIMES = ['2026-01-15T12:00:00.000Z', '2026-02-15T12:00:00.000Z', '2026-03-15T12:00:00.000Z'];

function setup(t: TestContext) {
  const dir = tempDir(t);
  const store = createStore({ dbPath: join(dir, 'db.sqlite'), reportTimezone: 'UTC' });
  t.after(() => store.close());
  const csvDir = join(dir, 'exports');
  mkdirSync(csvDir);
  const target = (partition: Partition = 'month') => createCsvTarget({ dir: csvDir, delimiter: ',', bom: false, partition });
  return { dir, store, csvDir, target };
}

let next = 0;
async function ingestAt(store: Store, n: number, times: readonly string[]): Promise<void> {
  const payloads = Array.from({ length: n }, () => generateWebhook(next++, { seed: 11, idPrefix: 'fold-' }));
  await ingest(store, payloads, (i) => times[i % times.length]!);
}

async function sync(store: Store, target: ReturnType<typeof createCsvTarget>) {
  const r = await runSync({ store, target, logger: silent });
  assert.equal(r.status, 'ok', JSON.stringify(r));
  return r;
}

test("an analyst's files in a month folder are never removed, even named like month files or temp files; the view's own files stay exact", async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingestAt(store, 30, TIMES);
  await sync(store, target());
  const folder = join(csvDir, 'scores');
  // An archive month brought over from an old server (so that "From Folder" stacks it), a backup copy, notes, a subfolder.
  const mine: Record<string, string> = {
    'scores-2019-01.csv': 'webhook_id,received_at\r\nold,2019-01-02\r\n',
    'scores-2026-02.csv.tmp-mine': 'kept\n',
    'scores-2026-02.csv.bak': 'kept\n',
    'notes.txt': 'mine\n',
  };
  for (const [name, text] of Object.entries(mine)) writeFileSync(join(folder, name), text);
  mkdirSync(join(folder, 'archive'));
  writeFileSync(join(folder, 'archive', 'scores-2018-12.csv'), 'x\n');

  const check = () => {
    for (const [name, text] of Object.entries(mine)) assert.equal(readFileSync(join(folder, name), 'utf8'), text, `${name} is left as it is`);
    assert.ok(existsSync(join(folder, 'archive', 'scores-2018-12.csv')));
  };
  await ingestAt(store, 10, TIMES);
  await sync(store, target());
  check();
  // Switch to one file per view and back: the analyst's files stay, and so does their folder.
  await sync(store, target('none'));
  check();
  assert.equal(readFileSync(join(csvDir, 'scores.csv'), 'utf8'), await exported(store, 'scores'));
  assert.ok(!readdirSync(folder).some((n) => /^scores-2026-\d\d\.csv$/.test(n)), "ember-sync's month files are gone");
  await sync(store, target('month'));
  check();
  // The month files ember-sync wrote are exact.
  for (const month of ['2026-01', '2026-02', '2026-03']) assert.equal(readFileSync(join(folder, `scores-${month}.csv`), 'utf8'), await exportedMonth(store, 'scores', month, 'UTC'));
});

test('a month ember-sync wrote and that lost all its rows (another zone) is still removed', async (t) => {
  const dir = tempDir(t);
  const csvDir = join(dir, 'exports');
  mkdirSync(csvDir);
  const target = createCsvTarget({ dir: csvDir, delimiter: ',', bom: false, partition: 'month' });
  // 02:00Z on Feb 1 is January in New York.
  const utc = createStore({ dbPath: join(dir, 'db.sqlite'), reportTimezone: 'UTC' });
  await ingest(utc, Array.from({ length: 12 }, (_, i) => generateWebhook(i, { seed: 3, idPrefix: 'z-' })), () => '2026-02-01T02:00:00.000Z');
  await sync(utc, target);
  for (const view of ['scores', 'contents', 'content_scores'] as const) assert.ok(existsSync(join(csvDir, view, `${view}-2026-02.csv`)), `${view}: February in UTC`);
  utc.close();
  const ny = createStore({ dbPath: join(dir, 'db.sqlite'), reportTimezone: 'America/New_York' });
  t.after(() => ny.close());
  await sync(ny, target);
  for (const view of ['scores', 'workflows', 'red_flags', 'low_scores', 'completions', 'workflow_fields', 'contents', 'content_scores'] as const) {
    const names = existsSync(join(csvDir, view)) ? readdirSync(join(csvDir, view)) : [];
    assert.ok(!names.includes(`${view}-2026-02.csv`), `${view}: February (UTC) went with its rows`);
  }
  for (const view of ['scores', 'contents', 'content_scores'] as const) assert.ok(existsSync(join(csvDir, view, `${view}-2026-01.csv`)), `${view}: January in New York`);
});

test('a symlinked month folder: month files are written through it, and a switch to one file per view leaves the link (no ENOTDIR forever)', async (t) => {
  const { dir, store, csvDir, target } = setup(t);
  const elsewhere = join(dir, 'bigdisk-workflows');
  mkdirSync(elsewhere);
  symlinkSync(elsewhere, join(csvDir, 'workflows'));
  await ingestAt(store, 30, TIMES);
  await sync(store, target());
  assert.ok(readdirSync(elsewhere).some((n) => /^workflows-2026-\d\d\.csv$/.test(n)), 'month files land where the link points');
  await ingestAt(store, 5, TIMES);
  await sync(store, target('none'));
  assert.equal(readFileSync(join(csvDir, 'workflows.csv'), 'utf8'), await exported(store, 'workflows'));
  assert.ok(lstatSync(join(csvDir, 'workflows')).isSymbolicLink(), 'the link stays');
  assert.deepEqual(readdirSync(elsewhere), [], 'its month files went');
  // And it keeps syncing.
  await ingestAt(store, 5, TIMES);
  await sync(store, target('none'));
});

test('a file in place of a month folder: that view fails with a line saying what to do, the file is kept, the other views go on', async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingestAt(store, 20, TIMES);
  await sync(store, target());
  renameSync(join(csvDir, 'scores'), join(csvDir, 'scores-moved'));
  writeFileSync(join(csvDir, 'scores'), 'not a folder\n');
  await ingestAt(store, 10, TIMES);
  const r = await runSync({ store, target: target(), logger: silent });
  assert.equal(r.status, 'failed');
  const text = JSON.stringify(r);
  assert.match(text, /exports[/\\]scores is not a folder: the month files of scores go there; move it away/);
  assert.doesNotMatch(text, /ENOTDIR/);
  assert.equal(readFileSync(join(csvDir, 'scores'), 'utf8'), 'not a folder\n');
  await assertMonthFiles(store, csvDir, 'red_flags', 'UTC', MONTHS);
  // Moved back: the view catches up.
  rmSync(join(csvDir, 'scores'));
  renameSync(join(csvDir, 'scores-moved'), join(csvDir, 'scores'));
  await sync(store, target());
  await assertMonthFiles(store, csvDir, 'scores', 'UTC', MONTHS);
});

test('a folder made where a month file goes: that view fails naming it, the folder and what is in it are kept', async (t) => {
  const { store, csvDir, target } = setup(t);
  await ingestAt(store, 20, TIMES);
  await sync(store, target());
  const file = join(csvDir, 'scores', 'scores-2026-03.csv');
  rmSync(file);
  mkdirSync(file);
  writeFileSync(join(file, 'mine.txt'), 'mine\n');
  await ingestAt(store, 6, TIMES);
  const r = await runSync({ store, target: target(), logger: silent });
  assert.equal(r.status, 'failed');
  assert.match(JSON.stringify(r), /scores-2026-03\.csv is a folder, not a file ember-sync can replace: move it away/);
  assert.equal(readFileSync(join(file, 'mine.txt'), 'utf8'), 'mine\n');
  assert.deepEqual(readdirSync(join(csvDir, 'scores')).filter((n) => n.includes('.tmp-')), [], 'no temp left');
  rmSync(file, { recursive: true });
  await sync(store, target());
  await assertMonthFiles(store, csvDir, 'scores', 'UTC', MONTHS);
});

test('a folder the sync may not write in is named as such, not as the temp file it failed to open', async () => {
  const denied = Object.assign(new Error("EACCES: permission denied, open '/srv/exports/scores/scores-2026-11.csv.tmp-5684-eef55a15'"), { code: 'EACCES', path: '/srv/exports/scores/scores-2026-11.csv.tmp-5684-eef55a15' });
  assert.equal((writeProblem(denied) as Error).message, 'cannot write in /srv/exports/scores (EACCES: permission denied): let the user running ember-sync write there');
  const readOnly = Object.assign(new Error('EROFS'), { code: 'EROFS', path: '/mnt/ro/daily_agents.csv' });
  assert.match((writeProblem(readOnly) as Error).message, /^cannot write in \/mnt\/ro\/daily_agents\.csv \(EROFS: read-only file system\)/);
  const other = Object.assign(new Error('ENOSPC: no space left'), { code: 'ENOSPC', path: '/x' });
  assert.equal(writeProblem(other), other, 'other errors pass as they are');
});

test('month layout: a folder or a symlink named like the single file (<view>.csv) is someone else\'s: kept, and the view syncs', async (t) => {
  const { dir, store, csvDir, target } = setup(t);
  mkdirSync(join(csvDir, 'scores.csv'));
  writeFileSync(join(csvDir, 'scores.csv', 'keep.txt'), 'mine\n');
  writeFileSync(join(dir, 'theirs.csv'), 'theirs\n');
  symlinkSync(join(dir, 'theirs.csv'), join(csvDir, 'workflows.csv'));
  await ingestAt(store, 20, TIMES);
  await sync(store, target());
  await ingestAt(store, 5, TIMES);
  await sync(store, target());
  assert.equal(readFileSync(join(csvDir, 'scores.csv', 'keep.txt'), 'utf8'), 'mine\n');
  assert.ok(lstatSync(join(csvDir, 'workflows.csv')).isSymbolicLink());
  assert.equal(readFileSync(join(dir, 'theirs.csv'), 'utf8'), 'theirs\n');
  for (const month of ['2026-01', '2026-02', '2026-03']) assert.equal(readFileSync(join(csvDir, 'scores', `scores-${month}.csv`), 'utf8'), await exportedMonth(store, 'scores', month, 'UTC'));
});
