import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { runSync } from '../../../src/jobs/sync.js';
import { VIEW_NAMES } from '../../../src/model/views.js';
import { createSheetsAuth } from '../../../src/sinks/sheets/auth.js';
import { toSerial } from '../../../src/sinks/sheets/cells.js';
import { createSheetsTarget } from '../../../src/sinks/sheets/sheets-target.js';
import { vendorJson } from '../../helpers/fixtures.js';
import { ingest } from '../../helpers/ingest.js';
import { assertTabEqualsView, mixed, rawApi, setup, SHEET, viewCount } from './harness.js';

const silent = pino({ level: 'silent' });

test('first sync creates the tabs and writes every view; later syncs append; a new metric adds a column at the end', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target();
  await ingest(store, [vendorJson('red-flag'), vendorJson('low-score'), vendorJson('completion-call'), vendorJson('completion-workflow'), ...mixed(0, 40)]);
  const first = await runSync({ store, target: sheets, logger: silent });
  assert.equal(first.status, 'ok', JSON.stringify(first));
  assert.deepEqual(fake.tabs(SHEET).sort(), [...VIEW_NAMES].sort());
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view);
  const grid = fake.tab(SHEET, 'workflows')!;
  assert.equal(grid.rowCount, 1 + (await viewCount(store, 'workflows')), 'exact grid: no empty default rows');
  assert.equal(grid.columnCount, (await store.views.snapshot('workflows')).header.length);
  assert.equal(fake.requests.filter((r) => r.kind === 'values.append').length, 0, 'never values.append');

  // A new metric: a column at the end, earlier rows blank there; rows appended below.
  const extra = { ...vendorJson('low-score'), webhook_id: 'new-metric-1', score_details: { greeting_quality_score: 5, greeting_quality_justification: 'ok', upsell_score: 9, upsell_justification: 'offered premium' } };
  await ingest(store, [extra, ...mixed(100, 10)]);
  fake.requests.length = 0;
  const second = await runSync({ store, target: sheets, logger: silent });
  assert.equal(second.status, 'ok', JSON.stringify(second));
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view);
  const header = fake.tab(SHEET, 'low_scores')!.values[0]!;
  assert.deepEqual(header.slice(-2), ['upsell_score', 'upsell_justification']);
  assert.ok(fake.requests.length <= 4, `a steady sync takes at most 4 requests (took ${fake.requests.length})`);

  // Nothing new: no writes at all.
  fake.requests.length = 0;
  const third = await runSync({ store, target: sheets, logger: silent });
  assert.equal(third.status === 'ok' && third.rows, 0);
  assert.equal(fake.requests.filter((r) => r.kind !== 'get').length, 0);
});

test('a tab named like a view that holds someone else\'s data is left alone', async (t) => {
  const { fake, store, target } = await setup(t);
  await rawApi(fake).spreadsheets.batchUpdate({ spreadsheetId: SHEET, requestBody: { requests: [{ addSheet: { properties: { title: 'scores' } } }] } });
  fake.setCells(SHEET, 'scores', "'scores'!A1:B2", [['my', 'table'], [1, 2]]);
  await ingest(store, mixed(0, 5));
  const result = await runSync({ store, target: target(), logger: silent });
  assert.equal(result.status, 'failed');
  assert.match((await store.sync.viewErrors('sheets')).find((e) => e.view === 'scores')?.last_error ?? '', /already holds data that ember-sync did not write/);
  assert.deepEqual(fake.tab(SHEET, 'scores')!.values.slice(0, 2), [['my', 'table'], [1, 2]]);
  await assertTabEqualsView(fake, store, 'red_flags');
});

test('long text is cut with a marker, formulas stay text, times are date-time cells', async (t) => {
  const { fake, store, target } = await setup(t);
  const long = 'é'.repeat(60_000);
  await ingest(store, [{ ...vendorJson('red-flag'), webhook_id: 'long-1', red_flag_reason: '=HYPERLINK("http://evil.example","click")', score_details: { professionalism_score: 2, professionalism_justification: long } }]);
  assert.equal((await runSync({ store, target: target(), logger: silent })).status, 'ok');
  const tab = fake.tab(SHEET, 'red_flags')!;
  const header = tab.values[0] as string[];
  const row = tab.values[1]!;
  assert.equal(row[header.indexOf('red_flag_reason')], '=HYPERLINK("http://evil.example","click")', 'RAW: text, not a formula');
  const cut = row[header.indexOf('professionalism_justification')] as string;
  assert.equal(cut.length, 50_000);
  assert.match(cut, /truncated by ember-sync: 60000 characters/);
  assert.equal(typeof row[header.indexOf('received_at')], 'number');
  assert.equal(row[header.indexOf('timestamp')], toSerial('2025-01-16T15:30:45.123Z'), 'the vendor timestamp as a serial number');
  assert.ok(Math.abs((row[header.indexOf('timestamp')] as number) - 45673.646355590) < 1e-9);
  const scores = fake.tab(SHEET, 'scores')!;
  assert.equal((scores.values[1]![7] as string).length, 50_000);
});

test('429 with Retry-After then success; repeated 500s fail the sync, status says why, the next sync delivers exactly once', async (t) => {
  const { fake, store, target } = await setup(t);
  await ingest(store, mixed(0, 20));
  const retries: Array<{ status: number | undefined; delayMs: number }> = [];
  const sheets = target({ retry: { baseMs: 5, capMs: 50, onRetry: (i) => retries.push(i) } });
  fake.injectFault({ status: 429, retryAfter: 1, count: 1, match: (r) => r.kind === 'values.batchUpdate' });
  const ok = await runSync({ store, target: sheets, logger: silent });
  assert.equal(ok.status, 'ok', JSON.stringify(ok));
  assert.equal(retries[0]?.status, 429);
  assert.ok(retries[0]!.delayMs >= 1000, 'waited at least Retry-After');
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view);

  await ingest(store, mixed(50, 15));
  fake.injectFault({ status: 500, count: 100, match: (r) => r.kind === 'values.batchUpdate' });
  const failed = await runSync({ store, target: sheets, logger: silent });
  assert.equal(failed.status, 'failed');
  assert.match(failed.status === 'failed' ? failed.error ?? '' : '', /failed with 500 after retrying/);
  assert.match((await store.sync.lastRun('sheets'))?.error ?? '', /500/);
  assert.ok((await store.sync.viewErrors('sheets')).length > 0);
  fake.injectFault({ status: 500, count: 0 });
  const healed = await runSync({ store, target: sheets, logger: silent });
  assert.equal(healed.status, 'ok', JSON.stringify(healed));
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view);
  assert.equal((await store.sync.viewErrors('sheets')).length, 0, 'errors cleared once delivered');
});

test("an analyst's edits in our area are detected and never overwritten", async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target();
  await ingest(store, mixed(0, 20));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  const before = fake.tab(SHEET, 'scores')!;
  const next = before.values.length; // first empty row (0-based)
  // Typed into the row where the next scores go.
  fake.setCells(SHEET, 'scores', `'scores'!A${next + 1}:B${next + 1}`, [['my note', 42]]);
  // Rows inserted at the top of red_flags.
  fake.insertRows(SHEET, 'red_flags', 1, 2);
  await ingest(store, mixed(100, 10));
  const result = await runSync({ store, target: sheets, logger: silent });
  assert.equal(result.status, 'failed');
  const errors = Object.fromEntries((await store.sync.viewErrors('sheets')).map((e) => [e.view, e.last_error]));
  assert.match(errors['scores'] ?? '', /row \d+ of tab "scores" holds data that ember-sync did not write/);
  assert.match(errors['red_flags'] ?? '', /were moved/);
  assert.deepEqual(fake.tab(SHEET, 'scores')!.values[next]!.slice(0, 2), ['my note', 42], 'their cells are intact');
  assert.equal((await store.sync.cursor('sheets', 'scores')).deliveredRows, before.values.length - 1, 'the cursor did not move');
  // Other views went on.
  await assertTabEqualsView(fake, store, 'low_scores');
  await assertTabEqualsView(fake, store, 'workflow_fields');
});

test('403 names the service account to share with; 404 points at SHEETS_SPREADSHEET_ID; the 10M-cell limit stops before writing', async (t) => {
  const { fake, store, dir } = await setup(t);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const email = 'ember-sync@test-project.iam.gserviceaccount.com';
  fake.addServiceAccount(email, publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const keyFile = join(dir, 'key.json');
  writeFileSync(keyFile, JSON.stringify({ type: 'service_account', client_email: email, private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }) }));
  const auth = createSheetsAuth({ sheetsAccessToken: undefined, googleApplicationCredentials: keyFile, googleOauthTokenUrl: fake.tokenUrl });
  const make = (spreadsheetId: string) => createSheetsTarget({ spreadsheetId, auth, rootUrl: fake.url, limiter: { minIntervalMs: 0 }, retry: { baseMs: 5 } });
  await ingest(store, mixed(0, 5));

  // The real JWT flow through the fake token endpoint works.
  assert.equal((await runSync({ store, target: make(SHEET), logger: silent })).status, 'ok');
  assert.ok(fake.requests.some((r) => r.kind === 'token'));

  fake.createSpreadsheet('sheet-not-shared-000');
  fake.setForbidden('sheet-not-shared-000', true);
  const forbidden = await runSync({ store, target: make('sheet-not-shared-000'), logger: silent });
  assert.match(forbidden.status === 'failed' ? forbidden.error ?? '' : 'no', new RegExp(`Share the sheet with the service account ${email.replace(/\./g, '\\.')}`));
  const missing = await runSync({ store, target: make('sheet-does-not-exist'), logger: silent });
  assert.match(missing.status === 'failed' ? missing.error ?? '' : 'no', /was not found\. Check SHEETS_SPREADSHEET_ID/);

  fake.createSpreadsheet('sheet-almost-full-00', { defaultSheet: false });
  const full = 'sheet-almost-full-00';
  // An analyst's own tab that already takes all of the budget: no view fits (a view that
  // still fits goes on, see sheets-isolation.test.ts).
  await rawApi(fake).spreadsheets.batchUpdate({ spreadsheetId: full, requestBody: { requests: [{ addSheet: { properties: { title: 'big', gridProperties: { rowCount: 100_000, columnCount: 100 } } } }] } });
  const writesBefore = fake.requests.filter((r) => r.kind === 'batchUpdate' || r.kind.startsWith('values.')).length;
  const over = await runSync({ store, target: make(full), logger: silent });
  assert.match(over.status === 'failed' ? over.error ?? '' : 'no', /over Google's limit of 10,000,000; nothing was written/);
  assert.equal(fake.requests.filter((r) => r.kind === 'batchUpdate' || r.kind.startsWith('values.')).length, writesBefore, 'no write was sent');
});
