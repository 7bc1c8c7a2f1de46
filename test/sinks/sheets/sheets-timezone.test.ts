/**
 * REPORT_TIMEZONE in the Sheets target: date-time cells are serials of its
 * wall clock, days are date cells, and a tab written in another zone is
 * written again (never a tab that mixes two wall clocks).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { runSync } from '../../../src/jobs/sync.js';
import { localSerial } from '../../../src/model/time.js';
import { VIEW_NAMES } from '../../../src/model/views.js';
import type { SheetViewState } from '../../../src/sinks/sheets/plan-views.js';
import { vendorJson } from '../../helpers/fixtures.js';
import { ingest } from '../../helpers/ingest.js';
import { assertTabEqualsView, mixed, setup, SHEET } from './harness.js';
import { makeDelivery, someRows, HEADER } from './make-delivery.js';

const silent = pino({ level: 'silent' });

test('a whole store synced with REPORT_TIMEZONE America/New_York: every tab equals its view in New York time, booleans and days typed', async (t) => {
  const { fake, store, target } = await setup(t);
  await store.adoptReportTimezone('America/New_York');
  const sheets = target({ reportTimezone: 'America/New_York' });
  await ingest(store, [vendorJson('red-flag'), vendorJson('low-score'), vendorJson('completion-call'), ...mixed(0, 30)]);
  const first = await runSync({ store, target: sheets, logger: silent });
  assert.equal(first.status, 'ok', JSON.stringify(first));
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view, 'America/New_York');
  const tab = fake.tab(SHEET, 'red_flags')!;
  const header = tab.values[0] as string[];
  assert.equal(tab.values[1]![header.indexOf('timestamp')], localSerial('2025-01-16T15:30:45.123Z', 'America/New_York'), '10:30:45.123 in New York');
  const contents = fake.tab(SHEET, 'contents')!;
  const flags = contents.values.slice(1).map((r) => r[(contents.values[0] as string[]).indexOf('red_flag')]);
  assert.ok(flags.some((v) => v === true), 'booleans as booleans');
  assert.ok(flags.every((v) => v === true || v === false || v === null || v === undefined));
  const day = fake.tab(SHEET, 'daily_agents')!.values[1]![0];
  assert.equal(typeof day, 'number', 'a day is a date cell');

  // Steady syncs go on in the same zone.
  await ingest(store, mixed(100, 10));
  const second = await runSync({ store, target: sheets, logger: silent });
  assert.equal(second.status, 'ok', JSON.stringify(second));
  for (const view of VIEW_NAMES) await assertTabEqualsView(fake, store, view, 'America/New_York');
});

test('an append-only tab written in UTC is written again when REPORT_TIMEZONE changes, then appended to as before', async (t) => {
  const { fake, target } = await setup(t);
  const rows = someRows(8);
  const first = makeDelivery({ view: 'red_flags', header: HEADER, rows: rows.slice(0, 5) });
  const [a] = await target().deliver([first]);
  assert.ok(a?.ok);
  const utc = fake.tab(SHEET, 'red_flags')!.values;
  assert.equal(utc[1]![1], localSerial(rows[0]![1] as string, 'UTC'));

  // A sync in UTC writes three more rows and dies before its commit; the next runs with America/New_York.
  const state = a.receipt.state as SheetViewState;
  assert.equal(state.timeZone, 'UTC');
  const [crashed] = await target().deliver([makeDelivery({ view: 'red_flags', header: HEADER, rows, delivered: 5, state })]);
  assert.ok(crashed?.ok);
  const ny = target({ reportTimezone: 'America/New_York' });
  fake.resetRequests();
  const [b] = await ny.deliver([makeDelivery({ view: 'red_flags', header: HEADER, rows, delivered: 5, state })]);
  assert.ok(b?.ok, JSON.stringify(b));
  assert.deepEqual([b.receipt.rows, b.receipt.totalRows], [3, 8]);
  assert.deepEqual(fake.writtenRows(SHEET, 'red_flags'), [1, 2, 3, 4, 5, 6, 7, 8], 'every row again, in the new zone');
  const values = fake.tab(SHEET, 'red_flags')!.values;
  rows.forEach((r, i) => assert.equal(values[i + 1]![1], localSerial(r[1] as string, 'America/New_York')));
  assert.equal((b.receipt.state as SheetViewState).timeZone, 'America/New_York');

  // A crash after a retime: the rows ahead hold the new zone's rows; the old state's zone is still accepted.
  const more = someRows(10);
  const [c] = await ny.deliver([makeDelivery({ view: 'red_flags', header: HEADER, rows: more, delivered: 8, state: b.receipt.state as SheetViewState })]);
  assert.ok(c?.ok);
  const [again] = await ny.deliver([makeDelivery({ view: 'red_flags', header: HEADER, rows: more, delivered: 8, state: b.receipt.state as SheetViewState })]);
  assert.ok(again?.ok, JSON.stringify(again));
  assert.equal(fake.tab(SHEET, 'red_flags')!.values.length, 11);
});

test('a retime of an append-only tab that died half-way, then REPORT_TIMEZONE back: the tab is written again in the zone of the state', async (t) => {
  const { fake, target } = await setup(t);
  const rows = someRows(6);
  const [a] = await target().deliver([makeDelivery({ view: 'red_flags', header: HEADER, rows })]);
  assert.ok(a?.ok);
  const state = a.receipt.state as SheetViewState;
  // A retime in New York time written, never committed; then a sync in UTC again, with nothing new.
  const [crashed] = await target({ reportTimezone: 'America/New_York' }).deliver([makeDelivery({ view: 'red_flags', header: HEADER, rows, delivered: 6, state })]);
  assert.ok(crashed?.ok);
  assert.equal(fake.tab(SHEET, 'red_flags')!.values[1]![1], localSerial(rows[0]![1] as string, 'America/New_York'));
  const [back] = await target().deliver([makeDelivery({ view: 'red_flags', header: HEADER, rows, delivered: 6, state })]);
  assert.ok(back?.ok, JSON.stringify(back));
  const values = fake.tab(SHEET, 'red_flags')!.values;
  rows.forEach((r, i) => assert.equal(values[i + 1]![1], localSerial(r[1] as string, 'UTC')));
});
