import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createStore } from '../../../src/store/create-store.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { isKeyedView, VIEW_NAMES } from '../../../src/model/views.js';
import { keyColumns } from '../../../src/sinks/sheets/plan-views.js';
import { startFakeSheets } from '../../fakes/fake-sheets.js';
import { runCli } from '../../helpers/cli.js';
import { ingest } from '../../helpers/ingest.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { viewCount } from './harness.js';

const SHEET = 'sheet-cli-0123456789';
const TOKEN = 'cli-access-token';

async function seed(dbPath: string, from: number, n: number): Promise<void> {
  const store = createStore({ dbPath });
  await ingest(store, Array.from({ length: n }, (_, i) => generateWebhook(from + i, { seed: 21, idPrefix: 'cli-' })));
  await store.close();
}

test('a sheets sync killed after the write but before the cursor commit: the next sync leaves no duplicate and no gap', async (t) => {
  const fake = await startFakeSheets();
  t.after(() => fake.close());
  fake.createSpreadsheet(SHEET);
  fake.allowToken(TOKEN);
  const dataDir = tempDir(t);
  const dbPath = join(dataDir, 'ember-sync.db');
  // One tab per view (month tabs have tests of their own), and the status tab.
  const env = { DATA_DIR: dataDir, SHEETS_SPREADSHEET_ID: SHEET, SHEETS_ACCESS_TOKEN: TOKEN, SHEETS_API_ROOT_URL: fake.url, SYNC_TARGETS: 'sheets', SHEETS_PARTITION: 'none' };
  await seed(dbPath, 0, 12);
  // The very first sync dies after creating the tabs and writing them: tabs without a record.
  const firstKilled = await runCli(['sync', '--target', 'sheets'], { ...env, EMBER_SYNC_FAULT: 'after-deliver' });
  assert.equal(firstKilled.signal, 'SIGKILL');
  assert.deepEqual([...fake.tabs(SHEET)].sort(), [...VIEW_NAMES, 'ember-sync'].sort());
  const first = await runCli(['sync', '--target', 'sheets'], env);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /sheets\tok\t\d+ rows delivered/);

  await seed(dbPath, 100, 9);
  const killed = await runCli(['sync', '--target', 'sheets'], { ...env, EMBER_SYNC_FAULT: 'after-deliver' });
  assert.equal(killed.signal, 'SIGKILL');
  const store = createStore({ dbPath });
  t.after(() => store.close());
  const toSeq = await store.projection.cursor();
  const inSheet = fake.tab(SHEET, 'scores')!.values.filter((r) => r.length > 0).length - 1;
  assert.equal(inSheet, await viewCount(store, 'scores', toSeq), 'the killed sync had written the new rows');
  assert.ok((await store.sync.cursor('sheets', 'scores')).deliveredRows < inSheet, 'but its cursor did not move');

  const again = await runCli(['sync', '--target', 'sheets'], env);
  assert.equal(again.code, 0, again.stderr);
  for (const view of VIEW_NAMES) {
    const values = fake.tab(SHEET, view)!.values.filter((r) => r.length > 0);
    const ids = values.slice(1).map((r) => r[0]);
    assert.equal(ids.length, await viewCount(store, view, toSeq), `${view}: no gap`);
    // A keyed view: one row per key; a wide view: one row per webhook.
    const keys = isKeyedView(view) ? values.slice(1).map((r) => JSON.stringify(keyColumns(view).map((k) => r[k]))) : ids;
    if (view !== 'scores' && view !== 'workflow_fields') assert.equal(new Set(keys).size, keys.length, `${view}: no duplicate`);
  }
  const scoreKeys = fake.tab(SHEET, 'scores')!.values.slice(1).filter((r) => r.length > 0).map((r) => `${r[0]}/${r[5]}`);
  assert.equal(new Set(scoreKeys).size, scoreKeys.length, 'scores: no duplicate (webhook, metric)');
  const status = await runCli(['status', '--json'], env);
  const st = JSON.parse(status.stdout) as { targets: { sheets: { rows_pending: number; last_run: { ok: boolean } } } };
  assert.equal(st.targets.sheets.rows_pending, 0);
  assert.equal(st.targets.sheets.last_run.ok, true);
});

test('an invalid key file stops the start with exit 2 naming GOOGLE_APPLICATION_CREDENTIALS', async (t) => {
  const dataDir = tempDir(t);
  const bad = join(dataDir, 'key.json');
  writeFileSync(bad, '{"type":"authorized_user"}');
  for (const [file, re] of [[join(dataDir, 'missing.json'), /no such file/], [bad, /not a service-account key/]] as const) {
    const r = await runCli(['serve'], { DATA_DIR: dataDir, PORT: '0', SHEETS_SPREADSHEET_ID: SHEET, GOOGLE_APPLICATION_CREDENTIALS: file });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^ember-sync: invalid setting GOOGLE_APPLICATION_CREDENTIALS: /);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  // `sync` works where serve made a database.
  createStore({ dbPath: join(dataDir, 'ember-sync.db') }).close();
  const noCreds = await runCli(['sync', '--target', 'sheets'], { DATA_DIR: dataDir, SHEETS_SPREADSHEET_ID: SHEET });
  assert.equal(noCreds.code, 2);
  assert.match(noCreds.stderr, /GOOGLE_APPLICATION_CREDENTIALS/);
});
