/**
 * Keyed views (contents, content_scores, daily_agents, daily_metrics) in the
 * Sheets target, against the fake Sheets API with the real client: rows at
 * fixed positions updated where they are, new keys at the end, exactly once
 * with the read-back checks, a new epoch rewriting the tab.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { localSerial } from '../../../src/model/time.js';
import { MAX_READ_RANGES } from '../../../src/sinks/sheets/plan-views.js';
import type { SheetViewState } from '../../../src/sinks/sheets/plan-views.js';
import { rawApi, setup, SHEET } from './harness.js';
import { assertTabEqualsModel, contentRow, contentsModel, Cursor, syncKeyed } from './keyed-harness.js';
import { KeyedModel } from './make-delivery.js';

const kinds = (fake: { requests: Array<{ kind: string }> }) => fake.requests.map((r) => r.kind);

test('first sync creates the tab with every row; later syncs update changed rows where they are and add new keys, leaving the rest untouched', async (t) => {
  const { fake, target } = await setup(t);
  const sheets = target({ growSlackRows: 10 });
  const model = contentsModel(40);
  const cursor = new Cursor();

  const first = await syncKeyed(sheets, model, cursor);
  assert.ok(first.ok, JSON.stringify(first));
  assert.deepEqual(first.ok && [first.receipt.rows, first.receipt.totalRows], [40, 40]);
  assert.deepEqual(kinds(fake), ['get', 'batchUpdate', 'values.batchUpdate']);
  assertTabEqualsModel(fake, model);
  const state = cursor.state as SheetViewState;
  assert.equal(state.nextRow, 41);
  assert.equal(state.epoch, 'e1');
  assert.equal(state.timeZone, 'UTC');

  // Three contents change, two new ones arrive.
  for (const p of [3, 17, 30]) model.set(p, contentRow(p - 1, 1));
  model.add(contentRow(40));
  model.add(contentRow(41));
  fake.resetRequests();
  model.reads = 0;
  const second = await syncKeyed(sheets, model, cursor);
  assert.ok(second.ok, JSON.stringify(second));
  assert.deepEqual(second.ok && [second.receipt.rows, second.receipt.totalRows], [5, 42]);
  assertTabEqualsModel(fake, model);
  assert.deepEqual(fake.writtenRows(SHEET, 'contents'), [3, 17, 30, 41, 42], 'only the changed rows and the new ones were written');
  assert.deepEqual(kinds(fake), ['get', 'values.batchGet', 'batchUpdate', 'values.batchUpdate'], 'the grid grew (with slack)');
  // The read-back: the header, the anchors and the updated rows (merged when close); the new keys go past the
  // grid (41 rows), where nothing can be: not read.
  const ranges = fake.requests[1]!.ranges!;
  assert.equal(ranges[0], "'contents'!A1:O5");
  assert.equal(ranges.at(-1), "'contents'!A41:O41", ranges.join(' '));
  assert.ok(model.reads <= 3 * 5, `the delivery was read for its changed rows only (${model.reads} rows read)`);

  // Within the slack: get, read-back, write.
  model.set(10, contentRow(9, 2));
  model.add(contentRow(42));
  fake.resetRequests();
  assert.ok((await syncKeyed(sheets, model, cursor)).ok);
  assert.deepEqual(kinds(fake), ['get', 'values.batchGet', 'values.batchUpdate']);
  assert.deepEqual(fake.writtenRows(SHEET, 'contents'), [10, 43]);
  assertTabEqualsModel(fake, model);

  // Nothing changed: the metadata read only.
  fake.resetRequests();
  const idle = await syncKeyed(sheets, model, cursor);
  assert.deepEqual(idle.ok && idle.receipt.rows, 0);
  assert.deepEqual(kinds(fake), ['get']);
});

test('a crash between the write and the cursor commit: the next sync writes again over its own rows, also when they changed meanwhile', async (t) => {
  const { fake, target } = await setup(t);
  const sheets = target();
  const model = contentsModel(20);
  const cursor = new Cursor();
  assert.ok((await syncKeyed(sheets, model, cursor)).ok);

  model.set(5, contentRow(4, 1));
  model.set(12, contentRow(11, 3)); // total_score null now: the cell must be cleared, not left as it was
  for (let i = 20; i < 25; i++) model.add(contentRow(i));
  // Delivered, then the process dies before the commit.
  assert.ok((await syncKeyed(sheets, model, cursor, false)).ok);
  assertTabEqualsModel(fake, model);
  // Meanwhile the same rows change again, and more keys arrive.
  model.set(5, contentRow(4, 2));
  model.set(22, contentRow(21, 1));
  model.add(contentRow(25));
  const again = await syncKeyed(sheets, model, cursor);
  assert.ok(again.ok, JSON.stringify(again));
  assertTabEqualsModel(fake, model);

  // The same delivery twice (a crash after the second write): still exactly the view.
  model.set(1, contentRow(0, 1));
  assert.ok((await syncKeyed(sheets, model, cursor, false)).ok);
  assert.ok((await syncKeyed(sheets, model, cursor)).ok);
  assertTabEqualsModel(fake, model);
  assert.equal((cursor.state as SheetViewState).nextRow, 27);
});

test('a sorted tab stops the view with an error saying which tab and what to do; nothing is written to it', async (t) => {
  const { fake, target } = await setup(t);
  const sheets = target();
  const model = contentsModel(30);
  const cursor = new Cursor();
  assert.ok((await syncKeyed(sheets, model, cursor)).ok);
  // An analyst sorts the rows by total_score, highest first.
  fake.sortRows(SHEET, 'contents', { startRow: 1, column: 11, descending: true });
  const sorted = fake.tab(SHEET, 'contents')!.values;
  model.set(7, contentRow(6, 1));
  model.add(contentRow(30));
  fake.resetRequests();
  const out = await syncKeyed(sheets, model, cursor);
  assert.equal(out.ok, false);
  assert.match(out.ok ? '' : out.error, /the rows of tab "contents" were moved \(sorted, or rows inserted or deleted( above)?\): row \d+ no longer holds .*undo the change.*or delete the tab to have it rebuilt/);
  assert.deepEqual(fake.writtenRows(SHEET, 'contents'), [], 'nothing written');
  assert.deepEqual(fake.tab(SHEET, 'contents')!.values, sorted);
  assert.equal(cursor.deliveredRows, 30, 'the cursor did not move');

  // Deleting the tab has it rebuilt from the view.
  fake.deleteTab(SHEET, 'contents');
  assert.ok((await syncKeyed(sheets, model, cursor)).ok);
  assertTabEqualsModel(fake, model);
});

test('a sort that moves only rows this sync does not update is seen by the anchors', async (t) => {
  const { fake, target } = await setup(t);
  const sheets = target();
  const model = contentsModel(60);
  const cursor = new Cursor();
  assert.ok((await syncKeyed(sheets, model, cursor)).ok);
  // Sort rows 2..60 by file name descending: row 1 (updated below) stays; the anchors spread over the tab do not.
  fake.sortRows(SHEET, 'contents', { startRow: 2, column: 2, descending: true });
  model.set(1, contentRow(0, 1));
  const out = await syncKeyed(sheets, model, cursor);
  assert.equal(out.ok, false);
  assert.match(out.ok ? '' : out.error, /the rows of tab "contents" were moved/);
});

test('rows typed into the area where new keys go are never overwritten', async (t) => {
  const { fake, target } = await setup(t);
  const sheets = target();
  const model = contentsModel(5);
  const cursor = new Cursor();
  assert.ok((await syncKeyed(sheets, model, cursor)).ok);
  fake.setCells(SHEET, 'contents', 'A8:B8', [['my note', 42]]);
  model.add(contentRow(5));
  model.add(contentRow(6));
  model.add(contentRow(7));
  const out = await syncKeyed(sheets, model, cursor);
  assert.equal(out.ok, false);
  assert.match(out.ok ? '' : out.error, /^row 8 of tab "contents" holds data that ember-sync did not write there/);
  assert.deepEqual(fake.tab(SHEET, 'contents')!.values[7], ['my note', 42]);
});

test('a new epoch rewrites the whole tab and clears the rows below it that were ours', async (t) => {
  const { fake, target } = await setup(t);
  const sheets = target();
  const model = new KeyedModel('daily_agents', ['day', 'agent_name', 'contents', 'completed', 'red_flags', 'low_scores', 'avg_total_score']);
  const day = (d: number) => `2025-03-${String(d).padStart(2, '0')}`;
  for (let d = 1; d <= 9; d++) for (const a of ['John Doe', 'Jane Smith']) model.add([day(d), a, d, d % 2, 0, 1, 71.5]);
  const cursor = new Cursor();
  assert.ok((await syncKeyed(sheets, model, cursor)).ok);
  assertTabEqualsModel(fake, model);
  // Days are date cells: serials of the day, with a yyyy-mm-dd format.
  assert.equal(fake.tab(SHEET, 'daily_agents')!.values[1]![0], 45717);
  assert.deepEqual(fake.cellFormat(SHEET, 'daily_agents', 'A2'), { type: 'DATE', pattern: 'yyyy-mm-dd' });

  // Derived again in another zone: other days, other positions, fewer rows.
  const rows = [];
  for (let d = 9; d >= 2; d--) rows.push([day(d), 'Jane Smith', d + 1, 0, 1, 0, null]);
  model.reorder(rows, 'e2');
  fake.resetRequests();
  const out = await syncKeyed(sheets, model, cursor);
  assert.ok(out.ok, JSON.stringify(out));
  assert.deepEqual([out.receipt.rows, out.receipt.totalRows], [8, 8]);
  assertTabEqualsModel(fake, model);
  assert.equal(fake.tab(SHEET, 'daily_agents')!.values.length, 9, 'rows 10..19 that were ours are cleared');
  assert.equal((cursor.state as SheetViewState).epoch, 'e2');
  assert.ok(fake.requests.length <= 4);

  // And the next epoch keeps going incrementally.
  model.set(3, [day(7), 'Jane Smith', 99, 1, 1, 1, 50]);
  fake.resetRequests();
  assert.ok((await syncKeyed(sheets, model, cursor)).ok);
  assert.deepEqual(fake.writtenRows(SHEET, 'daily_agents'), [3]);
  assertTabEqualsModel(fake, model);
});

test('a tab we have no record of: taken over when empty or under our header (rows below the view cleared); someone else\'s is refused', async (t) => {
  const { fake, target } = await setup(t);
  const sheets = target();
  const model = contentsModel(6);
  // A first sync that died before its commit, with a view that has fewer rows now (another epoch).
  const big = contentsModel(10);
  assert.ok((await syncKeyed(sheets, big, new Cursor())).ok);
  const cursor = new Cursor();
  const out = await syncKeyed(sheets, model, cursor);
  assert.ok(out.ok, JSON.stringify(out));
  assertTabEqualsModel(fake, model);

  // Someone else's tab under the name of a view: refused, untouched.
  const other = new KeyedModel('content_scores', ['content_id', 'agent_name', 'scored_at', 'metric', 'score', 'justification', 'updated_at']);
  other.add(['c-1', 'A', null, 'greeting', 5, 'ok', null]);
  await rawApi(fake).spreadsheets.batchUpdate({ spreadsheetId: SHEET, requestBody: { requests: [{ addSheet: { properties: { title: 'content_scores' } } }] } });
  fake.setCells(SHEET, 'content_scores', 'A1:B2', [['my', 'table'], [1, 2]]);
  const refused = await syncKeyed(sheets, other, new Cursor());
  assert.equal(refused.ok, false);
  assert.match(refused.ok ? '' : refused.error, /already holds data that ember-sync did not write/);
  assert.deepEqual(fake.tab(SHEET, 'content_scores')!.values, [['my', 'table'], [1, 2]]);
});

test('booleans are written and read back as booleans (false is not empty, not 0, not "FALSE")', async (t) => {
  const { fake, target } = await setup(t);
  const sheets = target();
  const model = contentsModel(6);
  const cursor = new Cursor();
  assert.ok((await syncKeyed(sheets, model, cursor)).ok);
  const row = fake.tab(SHEET, 'contents')!.values[1]!;
  const col = (name: string) => model.header.indexOf(name);
  assert.equal(row[col('completed')], false);
  assert.equal(row[col('red_flag')], true);
  assert.equal(row[col('low_score')], false);
  const read = await rawApi(fake).spreadsheets.values.get({ spreadsheetId: SHEET, range: "'contents'!I2:K2", valueRenderOption: 'UNFORMATTED_VALUE' });
  assert.deepEqual(read.data.values, [[false, true, false]]);
  // A boolean flips: the read-back still sees our row (anchors hash booleans as booleans).
  model.set(1, contentRow(0, 1));
  model.add(contentRow(6));
  const next = await syncKeyed(sheets, model, cursor);
  assert.ok(next.ok, JSON.stringify(next));
  assertTabEqualsModel(fake, model);
  assert.equal(fake.tab(SHEET, 'contents')!.values[1]![col('completed')], true);
});

test('date-time cells hold the New York wall clock for reportTimezone America/New_York, on both sides of each DST change', async (t) => {
  const { fake, target } = await setup(t);
  const sheets = target({ reportTimezone: 'America/New_York' });
  const model = new KeyedModel('content_scores', ['content_id', 'agent_name', 'scored_at', 'metric', 'score', 'justification', 'updated_at']);
  const times = [
    '2025-03-09T06:59:59.000Z', // 01:59:59 EST
    '2025-03-09T07:00:00.000Z', // 03:00:00 EDT (02:xx does not exist)
    '2025-11-02T05:30:00.000Z', // 01:30 EDT
    '2025-11-02T06:30:00.000Z', // 01:30 EST (the hour repeats)
    '2025-01-16T12:00:00.000Z', // 07:00 EST
    '2025-07-16T12:00:00.000Z', // 08:00 EDT
  ];
  times.forEach((at, i) => model.add([`c-${i}`, 'Ng', at, 'greeting', i, null, at]));
  const cursor = new Cursor();
  assert.ok((await syncKeyed(sheets, model, cursor)).ok);
  assertTabEqualsModel(fake, model, 'America/New_York');
  const got = fake.tab(SHEET, 'content_scores')!.values.slice(1).map((r) => r[2] as number);
  const wall = (y: number, mo: number, d: number, h: number, mi: number, s: number) => Date.UTC(y, mo - 1, d, h, mi, s) / 86_400_000 + 25_569;
  const want = [wall(2025, 3, 9, 1, 59, 59), wall(2025, 3, 9, 3, 0, 0), wall(2025, 11, 2, 1, 30, 0), wall(2025, 11, 2, 1, 30, 0), wall(2025, 1, 16, 7, 0, 0), wall(2025, 7, 16, 8, 0, 0)];
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-9, `${times[i]}: ${v} is not ${want[i]}`));
  times.forEach((at, i) => assert.ok(Math.abs(got[i]! - localSerial(at, 'America/New_York')!) < 1e-9));
  assert.equal((cursor.state as SheetViewState).timeZone, 'America/New_York');

  // The same rows written by a target in UTC (REPORT_TIMEZONE changed back): the tab is rewritten in UTC.
  const utc = target();
  fake.resetRequests();
  const out = await syncKeyed(utc, model, cursor);
  assert.ok(out.ok, JSON.stringify(out));
  assertTabEqualsModel(fake, model, 'UTC');
  assert.deepEqual(fake.writtenRows(SHEET, 'content_scores'), [0, 1, 2, 3, 4, 5, 6]);
});

test('the spreadsheet\'s own time zone: a notice when it differs from REPORT_TIMEZONE, none when they agree', async (t) => {
  const { fake, target } = await setup(t);
  const model = contentsModel(2);
  const ny = target({ reportTimezone: 'America/New_York' });
  assert.deepEqual(ny.notices?.(), []);
  fake.setTimeZone(SHEET, 'America/Chicago');
  assert.ok((await syncKeyed(ny, model, new Cursor())).ok);
  assert.deepEqual(ny.notices?.(), [
    "the spreadsheet's time zone is America/Chicago but REPORT_TIMEZONE is America/New_York: date-time cells show New York wall-clock times; set File → Settings → Time zone to America/New_York (or REPORT_TIMEZONE to America/Chicago)",
  ]);
  fake.setTimeZone(SHEET, 'US/Eastern'); // another name of the same zone
  await ny.deliver([]);
  assert.deepEqual(ny.notices?.(), []);
  // The fake's default zone Etc/GMT is UTC.
  fake.setTimeZone(SHEET, 'Etc/GMT');
  const utc = target();
  await utc.deliver([]);
  assert.deepEqual(utc.notices?.(), []);
  await ny.deliver([]);
  assert.equal(ny.notices?.().length, 1, 'collected per deliver');
});

test('a steady sync of a big tab: a few hundred changed rows scattered over it cost at most 4 requests and a bounded read-back', async (t) => {
  const { fake, target } = await setup(t, { keepBodies: false });
  const sheets = target({ growSlackRows: 200 });
  const model = contentsModel(6000);
  const cursor = new Cursor();
  assert.ok((await syncKeyed(sheets, model, cursor)).ok);
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let round = 1; round <= 3; round++) {
    for (let k = 0; k < 300; k++) {
      const p = 1 + rnd(model.rows.length);
      model.set(p, contentRow(p - 1, round));
    }
    for (let k = 0; k < 20; k++) model.add(contentRow(model.rows.length));
    fake.resetRequests();
    model.reads = 0;
    const out = await syncKeyed(sheets, model, cursor);
    assert.ok(out.ok, JSON.stringify(out));
    assert.ok(fake.requests.length <= 4, kinds(fake).join(', '));
    const readBack = fake.requests.find((r) => r.kind === 'values.batchGet')!;
    assert.ok(readBack.ranges!.length <= MAX_READ_RANGES, `${readBack.ranges!.length} ranges`);
    assert.ok(!readBack.ranges!.some((r) => r === "'contents'" || /!A1:O60\d\d$/.test(r)), 'never the whole tab');
    assert.ok(readBack.ranges!.filter((r) => /^'contents'!A\d+:A\d+$/.test(r)).length > 10, 'the key cells (column A) of updated rows, not their whole rows');
    const changed = out.ok ? out.receipt.rows : 0;
    assert.ok(model.reads <= 3 * changed + 3 * 250, `read ${model.reads} rows of the view for ${changed} changed`);
  }
  assertTabEqualsModel(fake, model);
});

test('a rewrite that died half-way, then REPORT_TIMEZONE back as it was: the marker on the tab says so, and the tab is rewritten again', async (t) => {
  const { fake, target } = await setup(t);
  const model = contentsModel(12);
  const cursor = new Cursor();
  assert.ok((await syncKeyed(target(), model, cursor)).ok);
  const marker = () => JSON.parse(fake.tab(SHEET, 'contents')!.developerMetadata.find((m) => m.metadataKey === 'ember-sync')!.metadataValue!) as { rewrite: string; zone: string; rows: number };
  assert.equal(marker().rewrite, (cursor.state as SheetViewState).rewrite, 'the first write set the marker the state records');

  // REPORT_TIMEZONE becomes America/New_York: the rewrite writes every row, and the process dies before the commit.
  assert.ok((await syncKeyed(target({ reportTimezone: 'America/New_York' }), model, cursor, false)).ok);
  assert.equal(marker().zone, 'America/New_York');
  assertTabEqualsModel(fake, model, 'America/New_York');
  // Back to UTC, nothing changed in the view: the state (UTC) alone would call this sync idle.
  fake.resetRequests();
  const back = await syncKeyed(target(), model, cursor);
  assert.ok(back.ok, JSON.stringify(back));
  assertTabEqualsModel(fake, model, 'UTC');
  assert.deepEqual(fake.writtenRows(SHEET, 'contents'), Array.from({ length: 13 }, (_, i) => i));
  assert.equal(marker().rewrite, (cursor.state as SheetViewState).rewrite);
  // Steady again: no request past the metadata read.
  fake.resetRequests();
  assert.ok((await syncKeyed(target(), model, cursor)).ok);
  assert.deepEqual(kinds(fake), ['get']);
});

test('a rewrite for a new epoch that died after writing more rows than the next epoch has: the marker says how far, those rows are cleared', async (t) => {
  const { fake, target } = await setup(t);
  const sheets = target({ growSlackRows: 20 });
  const model = contentsModel(5);
  const cursor = new Cursor();
  assert.ok((await syncKeyed(sheets, model, cursor)).ok);
  model.reorder(contentsModel(15).rows.reverse(), 'e2');
  assert.ok((await syncKeyed(sheets, model, cursor, false)).ok, 'written, never committed');
  model.reorder(contentsModel(8).rows, 'e3');
  const out = await syncKeyed(sheets, model, cursor);
  assert.ok(out.ok, JSON.stringify(out));
  assertTabEqualsModel(fake, model);
  assert.equal(fake.tab(SHEET, 'contents')!.values.length, 9, 'rows 10..16 the dead rewrite wrote are cleared');
});
