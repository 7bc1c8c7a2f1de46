import assert from 'node:assert/strict';
import { existsSync, readFileSync, appendFileSync, rmSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { pino } from 'pino';
import { runSync } from '../../src/jobs/sync.js';
import { createCsvTarget } from '../../src/sinks/csv/csv-target.js';
import { createStore, type SqliteStore } from '../../src/store/create-store.js';
import { generateWebhook } from '../../src/simulate/generate.js';
import { VIEW_NAMES } from '../../src/model/views.js';
import { runCli } from '../helpers/cli.js';
import { ingest } from '../helpers/ingest.js';
import { startTestService } from '../helpers/service.js';
import { tempDir } from '../helpers/temp-dir.js';
import { exported } from '../helpers/export.js';
import { assertMonthFiles, monthsBetween } from '../helpers/month-files.js';
import { splitByMonth } from '../../src/model/partition.js';

const silent = pino({ level: 'silent' });



/** Every file equals the view (CSV_PARTITION=none) or its month's export (month, the default of the CLI and server; data of the last weeks). */
async function assertFilesEqualViews(store: SqliteStore, dir: string, delimiter = ',', layout: 'none' | 'month' = 'none'): Promise<void> {
  const month = (ms: number) => new Date(ms).toISOString().slice(0, 7);
  for (const view of VIEW_NAMES) {
    if (layout === 'month' && splitByMonth(view)) await assertMonthFiles(store, dir, view, await store.reportTimezone(), monthsBetween(month(Date.now() - 40 * 86_400_000), month(Date.now() + 86_400_000)));
    else assert.equal(readFileSync(join(dir, `${view}.csv`), 'utf8'), await exported(store, view, delimiter), `${view}.csv equals the view`);
  }
}

/** The rows of a view over its month files, oldest month first (headers left out). */
function monthRows(dir: string, view: string): string[][] {
  const folder = join(dir, view);
  return readdirSync(folder)
    .filter((f) => f.endsWith('.csv'))
    .sort()
    .flatMap((f) => (parse(readFileSync(join(folder, f))) as string[][]).slice(1));
}

const lowScore = (i: number, details: Record<string, number | string>) => ({ ...generateWebhook(i, { kind: 'low_score', idPrefix: 'ls-' }), score_details: details });

test('columns stay in order as metrics come and go, also across a restart; old rows are blank in new columns', async (t) => {
  const dir = tempDir(t);
  const dbPath = join(dir, 'db.sqlite');
  const csvDir = join(dir, 'exports');
  const target = createCsvTarget({ dir: csvDir, delimiter: ',', bom: false });
  let store = createStore({ dbPath });
  await ingest(store, [
    lowScore(1, { greeting_score: 8, greeting_justification: 'ok' }),
    lowScore(2, { greeting_score: 7, greeting_justification: 'fine' }),
    lowScore(3, { greeting_score: 6, greeting_justification: 'meh', empathy_score: 9, empathy_justification: 'warm' }),
    lowScore(4, { empathy_score: 5, empathy_justification: 'cold', greeting_score: 5, greeting_justification: 'x' }),
    lowScore(5, { empathy_score: 4, empathy_justification: 'no greeting this time' }),
  ]);
  assert.equal((await runSync({ store, target, logger: silent })).status, 'ok');
  const rows = () => parse(readFileSync(join(csvDir, 'low_scores.csv')), { cast: (v, c) => (v === '' && !c.quoting ? null : v) }) as Array<Array<string | null>>;
  const fixed = ['webhook_id', 'received_at', 'timestamp', 'content_id', 'content_type', 'file_name', 'agent_name', 'total_score', 'total_score_threshold', 'summary'];
  let r = rows();
  assert.deepEqual(r[0], [...fixed, 'greeting_score', 'greeting_justification', 'empathy_score', 'empathy_justification']);
  assert.deepEqual(r[1]!.slice(10), ['8', 'ok', null, null], 'row 1 blank in the columns that came later');
  assert.deepEqual(r[4]!.slice(10), ['5', 'x', '5', 'cold'], 'key order in the payload does not move columns');
  assert.deepEqual(r[5]!.slice(10), [null, null, '4', 'no greeting this time'], 'a metric that stops appearing keeps its column');
  store.close();

  // Restart: a new process opens the same database; a new metric appends a column at the end.
  store = createStore({ dbPath });
  await ingest(store, [lowScore(6, { resolution_score: 3, resolution_justification: 'unresolved', greeting_score: 2, greeting_justification: 'late' })]);
  assert.equal((await runSync({ store, target, logger: silent })).status, 'ok');
  r = rows();
  assert.deepEqual(r[0], [...fixed, 'greeting_score', 'greeting_justification', 'empathy_score', 'empathy_justification', 'resolution_score', 'resolution_justification']);
  assert.equal(r.length, 7);
  assert.deepEqual(r[1]!.slice(10), ['8', 'ok', null, null, null, null], 'older rows are rewritten, blank in the new columns');
  assert.deepEqual(r[6]!.slice(10), ['2', 'late', null, null, '3', 'unresolved']);
  await assertFilesEqualViews(store, csvDir);
  store.close();
});

test('incremental syncs append exactly the new rows; repairs a file removed or edited by hand; follows a dialect change', async (t) => {
  const dir = tempDir(t);
  const store = createStore({ dbPath: join(dir, 'db.sqlite') });
  t.after(() => store.close());
  const csvDir = join(dir, 'exports');
  const target = createCsvTarget({ dir: csvDir, delimiter: ',', bom: false });
  const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => generateWebhook(from + i, { seed: 3, idPrefix: 'inc-' }));

  // A view with no rows yet gets a header-only file.
  let result = await runSync({ store, target, logger: silent });
  assert.equal(result.status, 'ok');
  assert.equal(readFileSync(join(csvDir, 'workflows.csv'), 'utf8'), 'webhook_id,received_at,content_id,status,cost\r\n');

  await ingest(store, batch(0, 40));
  result = await runSync({ store, target, logger: silent });
  assert.equal(result.status === 'ok' && result.views.find((v) => v.view === 'scores')!.rows, store.db.prepare('SELECT count(*) FROM score_rows').pluck().get());
  await assertFilesEqualViews(store, csvDir);

  for (let round = 0; round < 3; round++) {
    await ingest(store, batch(100 + round * 10, 10));
    await runSync({ store, target, logger: silent });
    await assertFilesEqualViews(store, csvDir);
  }
  result = await runSync({ store, target, logger: silent });
  assert.equal(result.status === 'ok' && result.rows, 0, 'nothing new, nothing delivered');

  rmSync(join(csvDir, 'scores.csv'));
  appendFileSync(join(csvDir, 'red_flags.csv'), 'an analyst typed here\r\n');
  await runSync({ store, target, logger: silent });
  await assertFilesEqualViews(store, csvDir);

  const semicolon = createCsvTarget({ dir: csvDir, delimiter: ';', bom: true });
  await ingest(store, batch(500, 5));
  await runSync({ store, target: semicolon, logger: silent });
  const scores = readFileSync(join(csvDir, 'scores.csv'));
  assert.deepEqual([...scores.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'rewritten with a BOM');
  assert.equal(scores.subarray(3).toString('utf8'), await exported(store, 'scores', ';'));
  assert.deepEqual(readdirSync(csvDir).filter((f) => f.includes('.tmp-')), [], 'no temp files left');
});

test('a sync killed after writing the files but before committing its cursor: the next sync leaves no duplicate and no gap', async (t) => {
  const dataDir = tempDir(t);
  const env = { DATA_DIR: dataDir };
  const dbPath = join(dataDir, 'ember-sync.db');
  let store = createStore({ dbPath });
  await ingest(store, Array.from({ length: 30 }, (_, i) => generateWebhook(i, { seed: 9, idPrefix: 'k-' })));
  store.close();
  assert.equal((await runCli(['sync'], env)).code, 0);

  store = createStore({ dbPath });
  await ingest(store, Array.from({ length: 25 }, (_, i) => generateWebhook(100 + i, { seed: 9, idPrefix: 'k-' })));
  const before = (await store.sync.cursor('csv', 'scores')).deliveredSeq;
  store.close();
  const killed = await runCli(['sync'], { ...env, EMBER_SYNC_FAULT: 'after-deliver' });
  assert.equal(killed.signal, 'SIGKILL', 'the sync died at the fault point');

  store = createStore({ dbPath });
  t.after(() => store.close());
  const cursor = await store.sync.cursor('csv', 'scores');
  assert.equal(cursor.deliveredSeq, before, 'the cursor did not move');
  const inFile = monthRows(join(dataDir, 'exports'), 'scores').length;
  const inView = store.sqlite.views.count('scores', { toSeq: await store.projection.cursor() });
  assert.equal(inFile, inView, 'the crashed sync had already put the new rows in the file');
  assert.ok(cursor.deliveredRows < inFile, 'while the cursor still counts the old ones: a naive retry would duplicate them');
  // The lock of the killed process is taken over (its pid is dead), and the sync repairs.
  const again = await runCli(['sync'], env);
  assert.equal(again.code, 0, again.stderr);
  await assertFilesEqualViews(store, join(dataDir, 'exports'), ',', 'month');
  const ids = monthRows(join(dataDir, 'exports'), 'red_flags').map((r) => ({ webhook_id: r[0]! }));
  assert.equal(new Set(ids.map((r) => r.webhook_id)).size, ids.length, 'no duplicate rows');
  assert.equal(ids.length, store.db.prepare("SELECT count(*) FROM events WHERE type = 'red_flag'").pluck().get());
});

test('two syncs started at once deliver once', async (t) => {
  const dataDir = tempDir(t);
  const dbPath = join(dataDir, 'ember-sync.db');
  const store = createStore({ dbPath });
  t.after(() => store.close());
  await ingest(store, Array.from({ length: 200 }, (_, i) => generateWebhook(i, { seed: 5, idPrefix: 'two-' })));
  const [a, b] = await Promise.all([runCli(['sync'], { DATA_DIR: dataDir }), runCli(['sync'], { DATA_DIR: dataDir })]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const delivered = [a, b].map((r) => Number(/csv\tok\t(\d+) rows delivered/.exec(r.stdout)?.[1]));
  let total = 0;
  for (const v of VIEW_NAMES) {
    const { rows, keyed } = await store.views.snapshot(v);
    total += keyed ? keyed.total : await rows.count({ toSeq: await store.projection.cursor() });
  }
  assert.deepEqual(delivered.sort((x, y) => x - y), [0, total], 'one delivered everything, the other found nothing new');
  await assertFilesEqualViews(store, join(dataDir, 'exports'), ',', 'month');
});

test('the server runs the sync on SYNC_SCHEDULE', async (t) => {
  const s = await startTestService(t, { SYNC_SCHEDULE: '* * * * * *' });
  const body = JSON.stringify(generateWebhook(1, { kind: 'red_flag' }));
  assert.equal((await s.post(body)).status, 200);
  const folder = join(s.dataDir, 'exports', 'red_flags');
  type St = { targets: { csv: { last_success_at: string | null; rows_pending: number; rows_delivered: number } } };
  const status = async () => (await (await fetch(s.listenUrl + '/api/status', { headers: { authorization: `Bearer ${s.adminToken}` } })).json()) as St;
  // The file is renamed into place just before the cursor commits: wait for the sync to finish, not for the file.
  const deadline = Date.now() + 15_000;
  let st = await status();
  while (Date.now() < deadline && !(st.targets.csv.rows_pending === 0 && st.targets.csv.rows_delivered > 0)) {
    await new Promise((r) => setTimeout(r, 200));
    st = await status();
  }
  assert.ok(st.targets.csv.last_success_at, 'a scheduled sync succeeded');
  assert.equal(st.targets.csv.rows_pending, 0);
  assert.ok(existsSync(folder), 'month files, the default layout');
  assert.deepEqual(monthRows(join(s.dataDir, 'exports'), 'red_flags').map((r) => r[0]), [JSON.parse(body).webhook_id]);
});

test('regression: a scheduled sync skipped because another process holds the lock says so in the log', async (t) => {
  const s = await startTestService(t, { SYNC_SCHEDULE: '* * * * * *', LOG_LEVEL: 'warn' });
  // Another live holder (another host, fresh heartbeat): not stale, not dead here.
  s.store.db
    .prepare("INSERT INTO sync_locks (target, owner, pid, host, acquired_at, heartbeat_at, generation) VALUES ('csv', 'other', 1, 'other-host', ?, ?, 1)")
    .run(new Date().toISOString(), new Date(Date.now() + 60_000).toISOString());
  const deadline = Date.now() + 10_000;
  while (!s.logs.some((l) => l.includes('skipped'))) {
    if (Date.now() > deadline) throw new Error(`no skip logged:\n${s.logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const line = JSON.parse(s.logs.find((l) => l.includes('skipped'))!) as { msg: string; holder: string };
  assert.match(line.msg, /another sync holds its lock/);
  assert.match(line.holder, /pid 1 on other-host/);
});
