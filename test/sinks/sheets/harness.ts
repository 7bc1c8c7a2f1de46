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
import type { ViewDelivery } from '../../../src/model/sync.js';
import { VIEW_NAMES, type ViewName } from '../../../src/model/views.js';
import { createSheetsAuth } from '../../../src/sinks/sheets/auth.js';
import { DATE_TIME_PATTERN, timeColumns, toSheetRow } from '../../../src/sinks/sheets/cells.js';
import { createSheetsTarget, type SheetsTargetOptions } from '../../../src/sinks/sheets/sheets-target.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { createStore, type Store } from '../../../src/store/create-store.js';
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
export function deliveries(store: Store, target = 'sheets'): ViewDelivery[] {
  store.projection.catchUp();
  const toSeq = store.projection.cursor();
  const registry = store.projection.columns();
  return VIEW_NAMES.map((view) => {
    const cursor = store.sync.cursor(target, view);
    const { header, rows } = store.views.snapshot(view, registry);
    return { view, header, cursor, toSeq, pending: rows.count({ fromSeq: cursor.deliveredSeq, toSeq }), rows };
  });
}

/** The tab equals the view cell for cell, types included (times as serial numbers with a date-time format). */
export function assertTabEqualsView(fake: FakeSheets, store: Store, view: ViewName): void {
  const { header, rows } = store.views.snapshot(view);
  const tab = fake.tab(SHEET, view);
  assert.ok(tab, `tab ${view} exists`);
  const isTime = timeColumns(view, header);
  const expected: unknown[][] = [header];
  for (const page of rows.pages({ toSeq: store.projection.cursor() })) for (const row of page) expected.push(toSheetRow(row, isTime));
  const norm = (rows: unknown[][]) =>
    rows.map((r) => {
      const c = r.map((v) => (v === undefined || v === '' ? null : v));
      while (c.length && c.at(-1) === null) c.pop();
      return c;
    });
  const actual = norm(tab.values).filter((r, i) => i < expected.length || r.length > 0);
  assert.deepEqual(actual, norm(expected), `${view}: the tab equals the view`);
  assert.equal(tab.frozenRowCount, 1, `${view}: header frozen`);
  isTime.forEach((time, col) => {
    if (!time || expected.length < 2) return;
    assert.equal(tab.formats[1]?.[col]?.type, 'DATE_TIME', `${view}.${header[col]} is a date-time column`);
    assert.equal(tab.formats[1]?.[col]?.pattern, DATE_TIME_PATTERN);
  });
}
