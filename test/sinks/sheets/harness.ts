/**
 * Shared set-up of the Sheets target tests: a fake Sheets API on loopback, a
 * store in a temp dir, and targets built with test limiter/retry settings (no
 * real sleeps).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { sheets, type sheets_v4 } from '@googleapis/sheets';
import { OAuth2Client } from 'google-auth-library';
import type { ViewDelivery, ViewOutcome } from '../../../src/model/sync.js';
import { isKeyedView, VIEW_NAMES, type LogViewName, type ViewName } from '../../../src/model/views.js';
import { createSheetsAuth } from '../../../src/sinks/sheets/auth.js';
import { DATE_PATTERN, DATE_TIME_PATTERN, toSheetRow } from '../../../src/sinks/sheets/cells.js';
import { columnKinds } from '../../../src/model/views.js';
import { createSheetsTarget, type SheetsTargetOptions } from '../../../src/sinks/sheets/sheets-target.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { createStore } from '../../../src/store/create-store.js';
import type { Store } from '../../../src/store/store.js';
import { startFakeSheets, type FakeSheets, type FakeSheetsOptions } from '../../fakes/fake-sheets.js';
import { tempDir } from '../../helpers/temp-dir.js';

export const SHEET = 'sheet-0123456789abcdef';
export const TOKEN = 'test-access-token';

export async function setup(t: TestContext, fakeOptions: FakeSheetsOptions = {}) {
  const fake = await startFakeSheets(fakeOptions);
  t.after(() => fake.close());
  fake.createSpreadsheet(SHEET);
  fake.allowToken(TOKEN);
  const dir = tempDir(t);
  const store = createStore({ dbPath: join(dir, 'db.sqlite') });
  t.after(() => store.close());
  const target = (extra: Partial<SheetsTargetOptions> = {}) =>
    createSheetsTarget({
      spreadsheetId: SHEET,
      auth: createSheetsAuth({ sheetsAccessToken: TOKEN, googleApplicationCredentials: undefined, googleOauthTokenUrl: undefined }),
      rootUrl: fake.url,
      limiter: { minIntervalMs: 0 },
      retry: { baseMs: 5, capMs: 50 },
      ...extra,
    });
  return { fake, store, dir, target };
}

/** The real client library, as an analyst's script or another tool would use it. */
export function rawApi(fake: FakeSheets): sheets_v4.Sheets {
  const oauth = new OAuth2Client();
  oauth.setCredentials({ access_token: TOKEN });
  return sheets({ version: 'v4', auth: oauth, rootUrl: fake.url });
}

export const mixed = (from: number, n: number, prefix = 'w-') => Array.from({ length: n }, (_, i) => generateWebhook(from + i, { seed: 11, idPrefix: prefix }) as unknown as Record<string, unknown>);

/** What runSync hands a target (after projecting what is pending): every view after the target's cursor, header and rows from one column snapshot. */
export async function deliveries(store: Store, target = 'sheets'): Promise<ViewDelivery[]> {
  await store.projection.catchUp();
  const toSeq = await store.projection.cursor();
  const registry = await store.projection.columns();
  const epoch = await store.keyedEpoch();
  const zone = await store.reportTimezone();
  const out: ViewDelivery[] = [];
  for (const view of VIEW_NAMES) {
    const cursor = await store.sync.cursor(target, view);
    const { header, rows, keyed } = await store.views.snapshot(view, registry);
    if (isKeyedView(view) && keyed) out.push({ kind: 'keyed', view, header, cursor, toSeq, zone, epoch, pending: await keyed.countChanged(cursor.deliveredSeq, cursor.deliveredRows), rows: keyed });
    else out.push({ kind: 'log', view: view as LogViewName, header, cursor, toSeq, zone, pending: await rows.count({ fromSeq: cursor.deliveredSeq, toSeq }), rows });
  }
  return out;
}

/**
 * Commits a delivery's outcomes as runSync does: under the target's lock, the
 * ok views' cursors move to `toSeq` with their receipts, the others' errors
 * are recorded.
 */
export async function commitOutcomes(store: Store, target: string, toSeq: number, outcomes: readonly ViewOutcome[]): Promise<void> {
  const ticket = await store.sync.tryLock(target, store.sync.newOwner());
  assert.ok(ticket, `the ${target} lock is free`);
  try {
    await store.sync.commitRun(
      ticket,
      toSeq,
      outcomes.map((o) => (o.ok ? { view: o.view, ok: true, totalRows: o.receipt.totalRows, rows: o.receipt.rows, state: o.receipt.state } : { view: o.view, ok: false, error: o.error })),
    );
  } finally {
    await store.sync.unlock(ticket);
  }
}

/** How many rows a view has: an append-only view's rows up to `toSeq` (default: the projector's cursor), a keyed view's keys now. */
export async function viewCount(store: Store, view: ViewName, toSeq?: number): Promise<number> {
  const { rows, keyed } = await store.views.snapshot(view);
  return keyed ? keyed.total : rows.count({ toSeq: toSeq ?? (await store.projection.cursor()) });
}

/**
 * The tab equals the view cell for cell, types included (times as serial
 * numbers of the wall clock in `zone` with a date-time format, days as date
 * serials with a date format, booleans as booleans).
 */
export async function assertTabEqualsView(fake: FakeSheets, store: Store, view: ViewName, zone = 'UTC'): Promise<void> {
  const { header, rows } = await store.views.snapshot(view);
  const tab = fake.tab(SHEET, view);
  assert.ok(tab, `tab ${view} exists`);
  const kinds = columnKinds(view, header);
  const expected: unknown[][] = [header];
  for await (const page of rows.pages({ toSeq: await store.projection.cursor() })) for (const row of page) expected.push(toSheetRow(row, kinds, zone));
  const norm = (rows: unknown[][]) =>
    rows.map((r) => {
      const c = r.map((v) => (v === undefined || v === '' ? null : v));
      while (c.length && c.at(-1) === null) c.pop();
      return c;
    });
  const actual = norm(tab.values).filter((r, i) => i < expected.length || r.length > 0);
  assert.deepEqual(actual, norm(expected), `${view}: the tab equals the view`);
  assert.equal(tab.frozenRowCount, 1, `${view}: header frozen`);
  kinds.forEach((kind, col) => {
    if (kind === 'plain' || expected.length < 2) return;
    assert.equal(tab.formats[1]?.[col]?.type, kind === 'time' ? 'DATE_TIME' : 'DATE', `${view}.${header[col]} is a ${kind} column`);
    assert.equal(tab.formats[1]?.[col]?.pattern, kind === 'time' ? DATE_TIME_PATTERN : DATE_PATTERN);
  });
}
