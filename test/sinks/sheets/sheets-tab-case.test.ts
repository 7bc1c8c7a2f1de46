/**
 * Google compares tab titles without regard to case: a synced tab renamed to
 * another case ("scores" → "Scores") is ours renamed, and a tab of someone
 * else's named like a view in another case is in the way. Either way the view
 * stops with an error saying what to do — never Google's raw "already exists"
 * from an addSheet it refuses — and the other views go on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { runSync } from '../../../src/jobs/sync.js';
import { VIEW_NAMES, type ViewName } from '../../../src/model/views.js';
import type { Store } from '../../../src/store/store.js';
import type { FakeSheets } from '../../fakes/fake-sheets.js';
import { ingest } from '../../helpers/ingest.js';
import { assertTabEqualsView, mixed, rawApi, setup, SHEET } from './harness.js';

const silent = pino({ level: 'silent' });
const errorsOf = async (store: Store) => Object.fromEntries((await store.sync.viewErrors('sheets')).map((e) => [e.view, e.last_error ?? '']));
/** No request was refused (an addSheet Google would refuse shows as a 400), and none but the metadata and read-back named `title`. */
function assertNothingSentFor(fake: FakeSheets, title: string): void {
  assert.deepEqual(
    fake.requests.filter((r) => r.status >= 400).map((r) => r.status),
    [],
    'no request refused',
  );
  const named = fake.requests.filter(
    (r) =>
      r.kind !== 'get' &&
      ((r.ranges ?? []).some((x) => x.toLowerCase().startsWith(`'${title.toLowerCase()}'!`)) ||
        JSON.stringify(r.body ?? {})
          .toLowerCase()
          .includes(`"title":"${title.toLowerCase()}"`)),
  );
  assert.deepEqual(
    named.map((r) => r.kind),
    [],
    `nothing sent for ${title}`,
  );
}
const others = async (fake: FakeSheets, store: Store, view: ViewName) => {
  for (const v of VIEW_NAMES) if (v !== view) await assertTabEqualsView(fake, store, v);
};

test('a synced tab renamed to another case: the view stops, saying to rename it back (or delete it); renamed back, it goes on', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target();
  await ingest(store, mixed(0, 20));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  const values = structuredClone(fake.tab(SHEET, 'scores')!.values);
  const rows = (await store.sync.cursor('sheets', 'scores')).deliveredRows;

  fake.renameTab(SHEET, 'scores', 'Scores');
  await ingest(store, mixed(100, 10));
  fake.resetRequests();
  const result = await runSync({ store, target: sheets, logger: silent });
  assert.equal(result.status, 'failed');
  assert.match((await errorsOf(store))['scores'] ?? '', /^the tab "scores" was renamed to "Scores"; .*rename "Scores" back to "scores" \(or delete it to have it rebuilt from SQLite\)/);
  assertNothingSentFor(fake, 'scores');
  assert.deepEqual(
    fake.tabs(SHEET).filter((x) => x.toLowerCase() === 'scores'),
    ['Scores'],
    'no second tab',
  );
  assert.deepEqual(fake.tab(SHEET, 'Scores')!.values, values, 'its cells are intact');
  assert.equal((await store.sync.cursor('sheets', 'scores')).deliveredRows, rows, 'the cursor did not move');
  await others(fake, store, 'scores');

  fake.renameTab(SHEET, 'Scores', 'scores');
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view);
});

test('the renamed tab deleted instead: the next sync rebuilds it under the view name', async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target();
  await ingest(store, mixed(0, 10));
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  fake.renameTab(SHEET, 'workflows', 'Workflows');
  // Said at once, even with nothing new for the view.
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'failed');
  assert.match((await errorsOf(store))['workflows'] ?? '', /renamed to "Workflows"/);
  await ingest(store, mixed(100, 10));
  fake.deleteTab(SHEET, 'Workflows');
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  await assertTabEqualsView(fake, store, 'workflows');
});

test("someone else's tab named like a view in another case is in the way: the view says so, the others are created", async (t) => {
  const { fake, store, target } = await setup(t);
  const sheets = target();
  await rawApi(fake).spreadsheets.batchUpdate({ spreadsheetId: SHEET, requestBody: { requests: [{ addSheet: { properties: { title: 'Red_Flags' } } }] } });
  fake.setCells(SHEET, 'Red_Flags', 'A1', [['my pivot']]);
  await ingest(store, mixed(0, 20));
  fake.resetRequests();
  const result = await runSync({ store, target: sheets, logger: silent });
  assert.equal(result.status, 'failed');
  assert.match(
    (await errorsOf(store))['red_flags'] ?? '',
    /^a tab "Red_Flags" is in the way of tab "red_flags": Google Sheets tab names ignore case, so "red_flags" cannot be added next to it; rename "Red_Flags" \(or delete it\) and the next sync creates "red_flags"/,
  );
  assertNothingSentFor(fake, 'red_flags');
  assert.deepEqual(fake.tab(SHEET, 'Red_Flags')!.values, [['my pivot']]);
  await others(fake, store, 'red_flags');

  // Also once the view has a tab of its own that is gone, and someone else's took a name in another case.
  fake.deleteTab(SHEET, 'scores');
  await rawApi(fake).spreadsheets.batchUpdate({ spreadsheetId: SHEET, requestBody: { requests: [{ addSheet: { properties: { title: 'SCORES' } } }] } });
  await ingest(store, mixed(100, 5));
  fake.resetRequests();
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'failed');
  assert.match((await errorsOf(store))['scores'] ?? '', /^a tab "SCORES" is in the way of tab "scores"/);
  assertNothingSentFor(fake, 'scores');

  fake.renameTab(SHEET, 'Red_Flags', 'my red flags');
  fake.deleteTab(SHEET, 'SCORES');
  assert.equal((await runSync({ store, target: sheets, logger: silent })).status, 'ok');
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view);
});
