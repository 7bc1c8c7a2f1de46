/**
 * Tests of the fake Sheets API itself, driven by the REAL client library
 * (@googleapis/sheets + google-auth-library + gaxios) pointed at it with rootUrl.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, test } from 'node:test';
import { sheets, type sheets_v4 } from '@googleapis/sheets';
import { JWT, OAuth2Client } from 'google-auth-library';
import { startFakeSheets, type FakeSheets } from './fake-sheets.js';

const SCOPE = 'https://www.googleapis.com/auth/spreadsheets';
let fake: FakeSheets;
let api: sheets_v4.Sheets;
let ids = 0;

before(async () => {
  fake = await startFakeSheets();
  fake.allowToken('good-token');
  api = client('good-token');
});
after(async () => {
  await fake.close();
});

function client(token: string, retry = false): sheets_v4.Sheets {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: token, expiry_date: Date.now() + 3600e3 });
  return sheets({ version: 'v4', auth, rootUrl: fake.url, retry });
}

/** A fresh spreadsheet per test (one fake server for the file). */
function newSpreadsheet(defaultSheet = true): string {
  const id = `ss-${++ids}`;
  fake.createSpreadsheet(id, { title: `Book ${ids}`, defaultSheet, timeZone: 'Europe/Paris' });
  return id;
}

interface ApiErr {
  message: string;
  status?: number;
  code?: string | number;
  response?: { status: number; headers: Headers; data: unknown };
}
/** The call must fail with a GaxiosError carrying this HTTP status (and message, when given). */
async function rejects(p: Promise<unknown>, status: number, message?: RegExp): Promise<ApiErr> {
  try {
    await p;
  } catch (e) {
    const err = e as ApiErr;
    assert.equal(err.constructor.name, 'GaxiosError');
    assert.equal(err.status, status, err.message);
    assert.equal(err.response?.status, status);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected HTTP ${status}`);
}

const last = (): FakeSheets['requests'][number] => fake.requests[fake.requests.length - 1]!;

test('spreadsheets.get answers Google-shaped metadata', async () => {
  const id = newSpreadsheet();
  const res = await api.spreadsheets.get({ spreadsheetId: id, fields: 'spreadsheetId,properties(title,timeZone),sheets.properties', includeGridData: false });
  assert.equal(res.status, 200);
  assert.equal(res.data.spreadsheetId, id);
  assert.equal(res.data.properties?.title, `Book ${ids}`);
  assert.equal(res.data.properties?.timeZone, 'Europe/Paris');
  assert.deepEqual(res.data.sheets?.map((s) => s.properties), [
    // Like Google, frozenRowCount is absent (not 0) when nothing is frozen.
    { sheetId: 0, title: 'Sheet1', index: 0, sheetType: 'GRID', gridProperties: { rowCount: 1000, columnCount: 26 } },
  ]);
  assert.equal(last().kind, 'get');
  assert.equal(last().status, 200);
  assert.ok(last().bytesOut > 100);
  assert.equal(last().query.fields, 'spreadsheetId,properties(title,timeZone),sheets.properties');

  const empty = newSpreadsheet(false);
  const res2 = await api.spreadsheets.get({ spreadsheetId: empty });
  assert.deepEqual(res2.data.sheets, []);
});

test('batchUpdate: addSheet, appendDimension, frozen rows, repeatCell number format', async () => {
  const id = newSpreadsheet();
  const res = await api.spreadsheets.batchUpdate({
    spreadsheetId: id,
    requestBody: { requests: [{ addSheet: { properties: { title: 'Runs log', gridProperties: { rowCount: 10, columnCount: 4, frozenRowCount: 1 } } } }] },
  });
  assert.equal(last().kind, 'batchUpdate');
  const props = res.data.replies?.[0]?.addSheet?.properties;
  assert.equal(props?.title, 'Runs log');
  assert.equal(props?.index, 1);
  assert.deepEqual(props?.gridProperties, { rowCount: 10, columnCount: 4, frozenRowCount: 1 });
  const sheetId = props!.sheetId!;
  assert.ok(Number.isInteger(sheetId) && sheetId > 0);

  const res2 = await api.spreadsheets.batchUpdate({
    spreadsheetId: id,
    requestBody: {
      requests: [
        { appendDimension: { sheetId, dimension: 'ROWS', length: 90 } },
        { appendDimension: { sheetId, dimension: 'COLUMNS', length: 2 } },
        { updateSheetProperties: { properties: { sheetId, gridProperties: { frozenRowCount: 2 } }, fields: 'gridProperties.frozenRowCount' } },
        // Column B from row 2 down, open-ended: it follows the grid as rows are added.
        {
          repeatCell: {
            range: { sheetId, startRowIndex: 1, startColumnIndex: 1, endColumnIndex: 2 },
            cell: { userEnteredFormat: { numberFormat: { type: 'DATE_TIME', pattern: 'yyyy-mm-dd hh:mm:ss' } } },
            fields: 'userEnteredFormat.numberFormat',
          },
        },
      ],
    },
  });
  assert.deepEqual(res2.data.replies, [{}, {}, {}, {}]);
  const tab = fake.tab(id, 'Runs log')!;
  assert.equal(tab.rowCount, 100);
  assert.equal(tab.columnCount, 6);
  assert.equal(tab.frozenRowCount, 2);
  assert.deepEqual(fake.cellFormat(id, 'Runs log', 'B2'), { type: 'DATE_TIME', pattern: 'yyyy-mm-dd hh:mm:ss' });
  assert.deepEqual(fake.cellFormat(id, 'Runs log', 'B100'), { type: 'DATE_TIME', pattern: 'yyyy-mm-dd hh:mm:ss' });
  assert.equal(fake.cellFormat(id, 'Runs log', 'B1'), undefined);
  assert.equal(fake.cellFormat(id, 'Runs log', 'C2'), undefined);
  assert.deepEqual(fake.tabs(id), ['Sheet1', 'Runs log']);

  // The format shows in FORMATTED_VALUE reads and in tab().formats; UNFORMATTED keeps the serial.
  await api.spreadsheets.values.update({
    spreadsheetId: id,
    range: "'Runs log'!A1:B2",
    valueInputOption: 'RAW',
    requestBody: { values: [['id', 'at'], ['r1', 45292.5]] },
  });
  const formatted = await api.spreadsheets.values.get({ spreadsheetId: id, range: "'Runs log'!A1:B2" });
  assert.deepEqual(formatted.data.values, [['id', 'at'], ['r1', '2024-01-01 12:00:00']]);
  const unformatted = await api.spreadsheets.values.get({ spreadsheetId: id, range: "'Runs log'!A1:B2", valueRenderOption: 'UNFORMATTED_VALUE' });
  assert.deepEqual(unformatted.data.values, [['id', 'at'], ['r1', 45292.5]]);
  assert.equal(unformatted.data.range, "'Runs log'!A1:B2");
  assert.deepEqual(fake.tab(id, 'Runs log')!.formats, [
    [undefined, undefined],
    [undefined, { type: 'DATE_TIME', pattern: 'yyyy-mm-dd hh:mm:ss' }],
  ]);

  const meta = await api.spreadsheets.get({ spreadsheetId: id });
  assert.deepEqual(meta.data.sheets?.[1]?.properties?.gridProperties, { rowCount: 100, columnCount: 6, frozenRowCount: 2 });
});

test('batchUpdate is atomic: one invalid request applies nothing', async () => {
  const id = newSpreadsheet();
  const err = await rejects(
    api.spreadsheets.batchUpdate({
      spreadsheetId: id,
      requestBody: {
        requests: [
          { appendDimension: { sheetId: 0, dimension: 'ROWS', length: 5 } },
          { addSheet: { properties: { title: 'Data' } } },
          { addSheet: { properties: { title: 'data' } } },
        ],
      },
    }),
    400,
    /^Invalid requests\[2\]\.addSheet: A sheet with the name "data" already exists\. Please enter another name\.$/,
  );
  assert.deepEqual(err.response?.data, {
    error: { code: 400, message: 'Invalid requests[2].addSheet: A sheet with the name "data" already exists. Please enter another name.', status: 'INVALID_ARGUMENT' },
  });
  assert.deepEqual(fake.tabs(id), ['Sheet1']);
  assert.equal(fake.tab(id, 'Sheet1')!.rowCount, 1000);

  await rejects(
    api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ addSheet: { properties: { title: 'Sheet1' } } }] } }),
    400,
    /A sheet with the name "Sheet1" already exists/,
  );
  // Formats set in a failed batch are rolled back too.
  await rejects(
    api.spreadsheets.batchUpdate({
      spreadsheetId: id,
      requestBody: {
        requests: [
          { repeatCell: { range: { sheetId: 0 }, cell: { userEnteredFormat: { numberFormat: { type: 'NUMBER', pattern: '0.00' } } }, fields: 'userEnteredFormat.numberFormat' } },
          { deleteDimension: { range: { sheetId: 0, dimension: 'ROWS', startIndex: 0, endIndex: 1000 } } },
        ],
      },
    }),
    400,
    /Invalid requests\[1\]\.deleteDimension: You can't delete all the rows on the sheet\./,
  );
  assert.equal(fake.cellFormat(id, 'Sheet1', 'A1'), undefined);
});

test('values.update / batchUpdate / batchGet round trip: numbers, strings, null keeps, "" clears', async () => {
  const id = newSpreadsheet();
  await api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ addSheet: { properties: { title: 'My Sheet' } } }] } });
  const up = await api.spreadsheets.values.update({
    spreadsheetId: id,
    range: "'My Sheet'!A1",
    valueInputOption: 'RAW',
    requestBody: { values: [['name', 'n', 'flag', 'note'], ['a', 1.5, true, 'keep'], ['b', -2, false, 'x'], ['c', 0, null, 'y']] },
  });
  assert.equal(last().kind, 'values.update');
  // The range reaches the server percent-encoded; the recorded path is decoded.
  assert.equal(last().rawUrl, '/v4/spreadsheets/' + id + '/values/%27My%20Sheet%27%21A1?valueInputOption=RAW');
  assert.equal(last().path, `/v4/spreadsheets/${id}/values/'My Sheet'!A1`);
  assert.deepEqual(last().ranges, ["'My Sheet'!A1"]);
  assert.equal(up.data.updatedRange, "'My Sheet'!A1:D4");
  assert.equal(up.data.updatedCells, 15);

  const bu = await api.spreadsheets.values.batchUpdate({
    spreadsheetId: id,
    requestBody: {
      valueInputOption: 'RAW',
      data: [
        // null leaves B2 as it was, "" clears D2.
        { range: "'My Sheet'!B2:D2", values: [[null, null, '']] },
        { range: 'Sheet1!A1:B1', values: [['only', 42]] },
      ],
    },
  });
  assert.equal(last().kind, 'values.batchUpdate');
  assert.equal(bu.data.totalUpdatedCells, 3);
  assert.equal(bu.data.totalUpdatedSheets, 2);
  assert.equal(bu.data.responses?.length, 2);

  const got = await api.spreadsheets.values.batchGet({
    spreadsheetId: id,
    ranges: ["'My Sheet'!A:D", 'Sheet1', 'Sheet1!C5:D9'],
    valueRenderOption: 'UNFORMATTED_VALUE',
  });
  assert.equal(last().kind, 'values.batchGet');
  assert.match(last().rawUrl, /ranges=%27My%20Sheet%27%21A%3AD&ranges=Sheet1&ranges=Sheet1%21C5%3AD9/);
  const [mine, sheet1, nothing] = got.data.valueRanges!;
  assert.equal(mine!.range, "'My Sheet'!A1:D1000");
  assert.deepEqual(mine!.values, [
    ['name', 'n', 'flag', 'note'],
    ['a', 1.5, true], // D2 cleared: trailing empties are omitted
    ['b', -2, false, 'x'],
    ['c', 0, '', 'y'], // an empty cell inside a row is ""
  ]);
  assert.equal(sheet1!.range, 'Sheet1!A1:Z1000');
  assert.deepEqual(sheet1!.values, [['only', 42]]);
  assert.equal(nothing!.range, 'Sheet1!C5:D9');
  assert.equal('values' in nothing!, false, 'a range without values has no values key');

  const formatted = await api.spreadsheets.values.get({ spreadsheetId: id, range: "'My Sheet'!B2:C4" });
  assert.deepEqual(formatted.data.values, [['1.5', 'TRUE'], ['-2', 'FALSE'], ['0']]);
  const cols = await api.spreadsheets.values.get({ spreadsheetId: id, range: "'My Sheet'!A1:B3", majorDimension: 'COLUMNS', valueRenderOption: 'UNFORMATTED_VALUE' });
  assert.deepEqual(cols.data.values, [['name', 'a', 'b'], ['n', 1.5, -2]]);

  assert.deepEqual(fake.tab(id, 'My Sheet')!.values, [
    ['name', 'n', 'flag', 'note'],
    ['a', 1.5, true],
    ['b', -2, false, 'x'],
    ['c', 0, null, 'y'],
  ]);

  // Quotes inside a title are doubled; leading/trailing empty rows inside a range.
  await api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ addSheet: { properties: { title: "It's" } } }] } });
  await api.spreadsheets.values.update({ spreadsheetId: id, range: "'It''s'!A2", valueInputOption: 'RAW', requestBody: { values: [['x']] } });
  const q = await api.spreadsheets.values.get({ spreadsheetId: id, range: "'It''s'!A1:A5" });
  assert.equal(q.data.range, "'It''s'!A1:A5");
  assert.deepEqual(q.data.values, [[], ['x']]);
  const open = await api.spreadsheets.values.get({ spreadsheetId: id, range: "'My Sheet'!A2:F" });
  assert.equal(open.data.range, "'My Sheet'!A2:F1000");
  assert.equal(open.data.values?.length, 3);

  await rejects(api.spreadsheets.values.get({ spreadsheetId: id, range: 'Nope!A1' }), 400, /^Unable to parse range: Nope!A1$/);
  await rejects(
    api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A1:B2', valueInputOption: 'RAW', requestBody: { values: [[1, 2, 3]] } }),
    400,
    /^Requested writing within range \['Sheet1'!A1:B2\], but tried writing to column \[C\]$/,
  );
  await rejects(api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A1', requestBody: { values: [[1]] } }), 400, /'valueInputOption' is required/);
});

test('RAW keeps "=1+2" as text; USER_ENTERED makes a formula and parses numbers and dates', async () => {
  const id = newSpreadsheet();
  const row = ['=1+2', '007', '2024-01-02', 'TRUE', "'=not a formula", '=HYPERLINK("https://x.test","link")', '1,234.5', '12%'];
  await api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A1', valueInputOption: 'RAW', requestBody: { values: [row] } });
  await api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A2', valueInputOption: 'USER_ENTERED', requestBody: { values: [row] } });
  const tab = fake.tab(id, 'Sheet1')!;
  assert.deepEqual(tab.values[0], row);
  assert.deepEqual(tab.values[1], [{ formula: '=1+2' }, 7, 45293, true, '=not a formula', { formula: '=HYPERLINK("https://x.test","link")' }, 1234.5, 0.12]);
  assert.deepEqual(tab.formats[1]![2], { type: 'DATE', pattern: 'yyyy-mm-dd' });

  const unf = await api.spreadsheets.values.get({ spreadsheetId: id, range: 'Sheet1!A1:H2', valueRenderOption: 'UNFORMATTED_VALUE' });
  assert.deepEqual(unf.data.values, [row, [3, 7, 45293, true, '=not a formula', 'link', 1234.5, 0.12]]);
  const fmt = await api.spreadsheets.values.get({ spreadsheetId: id, range: 'Sheet1!A2:H2' });
  assert.deepEqual(fmt.data.values, [['3', '7', '2024-01-02', 'TRUE', '=not a formula', 'link', '1,234.50', '12%']]);
  const formulas = await api.spreadsheets.values.get({ spreadsheetId: id, range: 'Sheet1!A2:B2', valueRenderOption: 'FORMULA' });
  assert.deepEqual(formulas.data.values, [['=1+2', 7]]);
});

test('writing outside the grid: 400 with Google\'s message, nothing written', async () => {
  const id = newSpreadsheet();
  await rejects(
    api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A1001', valueInputOption: 'RAW', requestBody: { values: [['x']] } }),
    400,
    /^Range \(Sheet1!A1001\) exceeds grid limits\. Max rows: 1000, max columns: 26$/,
  );
  await rejects(
    api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A999', valueInputOption: 'RAW', requestBody: { values: [['a'], ['b'], ['c']] } }),
    400,
    /^Range \(Sheet1!A999\) exceeds grid limits\. Max rows: 1000, max columns: 26$/,
  );
  await api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ addSheet: { properties: { title: 'New tab', gridProperties: { rowCount: 3, columnCount: 2 } } } }] } });
  const err = await rejects(
    api.spreadsheets.values.batchUpdate({
      spreadsheetId: id,
      requestBody: { valueInputOption: 'RAW', data: [{ range: 'Sheet1!A1', values: [['ok']] }, { range: "'New tab'!A1:C1", values: [['a', 'b', 'c']] }] },
    }),
    400,
    /^Invalid data\[1\]: Range \('New tab'!A1:C1\) exceeds grid limits\. Max rows: 3, max columns: 2$/,
  );
  assert.equal((err.response?.data as { error: { status: string } }).error.status, 'INVALID_ARGUMENT');
  assert.equal(fake.tab(id, 'Sheet1')!.values.length, 0, 'the valid range of the failed batch was not written either');
  // Reads past the grid are refused the same way.
  await rejects(api.spreadsheets.values.get({ spreadsheetId: id, range: "'New tab'!A1:A4" }), 400, /exceeds grid limits\. Max rows: 3, max columns: 2/);
  await rejects(
    api.spreadsheets.batchUpdate({
      spreadsheetId: id,
      requestBody: { requests: [{ repeatCell: { range: { sheetId: 0, startRowIndex: 1000, startColumnIndex: 0, endColumnIndex: 2 }, cell: {}, fields: 'userEnteredFormat.numberFormat' } }] },
    }),
    400,
    /^Invalid requests\[0\]\.repeatCell: Range \(Sheet1!A1001:B\) exceeds grid limits\. Max rows: 1000, max columns: 26$/,
  );
});

test('a cell of 50,001 characters is refused; 50,000 is accepted', async () => {
  const id = newSpreadsheet();
  await api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A1', valueInputOption: 'RAW', requestBody: { values: [['x'.repeat(50_000)]] } });
  await rejects(
    api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A2', valueInputOption: 'RAW', requestBody: { values: [['ok', 'y'.repeat(50_001)]] } }),
    400,
    /^Your input contains more than the maximum of 50000 characters in a single cell\.$/,
  );
  assert.equal(fake.tab(id, 'Sheet1')!.values.length, 1);
  assert.ok(last().bytesIn > 50_001);
});

test('the 10,000,000-cell limit counts every tab\'s grid, including a new tab\'s empty 1000x26', async () => {
  const id = newSpreadsheet();
  await rejects(
    api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ appendDimension: { sheetId: 0, dimension: 'ROWS', length: 400_000 } }] } }),
    400,
    /^Invalid requests\[0\]\.appendDimension: This action would increase the number of cells in the workbook above the limit of 10000000 cells\.$/,
  );
  await api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ appendDimension: { sheetId: 0, dimension: 'ROWS', length: 383_000 } }] } });
  assert.equal(fake.totalCells(id), 384_000 * 26);
  await rejects(
    api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ addSheet: { properties: { title: 'More' } } }] } }),
    400,
    /limit of 10000000 cells/,
  );
  await api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ addSheet: { properties: { title: 'Small', gridProperties: { rowCount: 100, columnCount: 10 } } } }] } });
  assert.equal(fake.totalCells(id), 384_000 * 26 + 1000);
});

test('auth: no header 403 (missing API key), unknown or revoked bearer 401', async () => {
  const id = newSpreadsheet();
  const noAuth = sheets({ version: 'v4', rootUrl: fake.url, retry: false });
  await rejects(noAuth.spreadsheets.get({ spreadsheetId: id }), 403, /^The request is missing a valid API key\.$/);
  const err = await rejects(client('wrong-token').spreadsheets.get({ spreadsheetId: id }), 401, /^Request had invalid authentication credentials\./);
  assert.equal((err.response?.data as { error: { status: string } }).error.status, 'UNAUTHENTICATED');
  assert.equal(last().status, 401);
  assert.equal(last().kind, 'get');
  fake.allowToken('short-lived');
  await client('short-lived').spreadsheets.get({ spreadsheetId: id });
  fake.revokeToken('short-lived');
  await rejects(client('short-lived').spreadsheets.get({ spreadsheetId: id }), 401);
});

test('share state: forbidden 403, unknown spreadsheet 404', async () => {
  const id = newSpreadsheet();
  fake.setForbidden(id, true);
  const err = await rejects(api.spreadsheets.values.get({ spreadsheetId: id, range: 'Sheet1!A1' }), 403, /^The caller does not have permission$/);
  assert.deepEqual(err.response?.data, { error: { code: 403, message: 'The caller does not have permission', status: 'PERMISSION_DENIED' } });
  assert.equal(err.code, 403);
  fake.setForbidden(id, false);
  await api.spreadsheets.values.get({ spreadsheetId: id, range: 'Sheet1!A1' });
  const nf = await rejects(api.spreadsheets.get({ spreadsheetId: 'no-such-id' }), 404, /^Requested entity was not found\.$/);
  assert.equal((nf.response?.data as { error: { status: string } }).error.status, 'NOT_FOUND');
});

test('injected 429: Retry-After reaches the client; POST is not retried, GET is retried without waiting for it', async () => {
  const id = newSpreadsheet();
  fake.injectFault({ status: 429, retryAfter: 7, match: (r) => r.kind === 'values.batchUpdate' });
  const retrying = client('good-token', true); // the client's default: retry on
  const before = fake.requests.length;
  const err = await rejects(
    retrying.spreadsheets.values.batchUpdate({ spreadsheetId: id, requestBody: { valueInputOption: 'RAW', data: [{ range: 'Sheet1!A1', values: [[1]] }] } }),
    429,
    /^Quota exceeded for quota metric 'Write requests'/,
  );
  assert.equal(err.response?.headers.get('retry-after'), '7');
  assert.equal((err.response?.data as { error: { status: string } }).error.status, 'RESOURCE_EXHAUSTED');
  assert.equal(fake.requests.length - before, 1, 'gaxios does not retry a POST');
  assert.equal(last().status, 429);
  assert.equal(last().faulted, true);
  assert.equal(fake.tab(id, 'Sheet1')!.values.length, 0);

  fake.injectFault({ status: 429, retryAfter: 30, match: (r) => r.kind === 'values.get' });
  const t0 = Date.now();
  const ok = await retrying.spreadsheets.values.get({ spreadsheetId: id, range: 'Sheet1!A1' });
  assert.equal(ok.status, 200);
  assert.ok(Date.now() - t0 < 5_000, 'Retry-After: 30 was ignored by gaxios');
  assert.deepEqual(fake.requests.slice(-2).map((r) => r.status), [429, 200]);

  // count: 0 cancels what is still queued with that status; clearFaults() drops everything.
  fake.injectFault({ status: 500, count: 100 });
  fake.injectFault({ status: 500, count: 0 });
  await api.spreadsheets.get({ spreadsheetId: id });
  fake.injectFault({ status: 503, count: 100 });
  fake.clearFaults();
  await api.spreadsheets.get({ spreadsheetId: id });
});

test('faults: 503 after the write was applied (response lost), dropped connection', async () => {
  const id = newSpreadsheet();
  fake.injectFault({ status: 503, afterApply: true, match: (r) => r.kind === 'values.update' });
  await rejects(
    api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A1', valueInputOption: 'RAW', requestBody: { values: [['written anyway']] } }),
    503,
    /^The service is currently unavailable\.$/,
  );
  assert.deepEqual(fake.tab(id, 'Sheet1')!.values, [['written anyway']]);

  fake.injectFault({ status: 0, destroy: true });
  try {
    await api.spreadsheets.get({ spreadsheetId: id });
    assert.fail('expected a network error');
  } catch (e) {
    const err = e as ApiErr;
    assert.equal(err.constructor.name, 'GaxiosError');
    assert.equal(err.response, undefined);
    assert.equal(err.status, undefined);
  }
  assert.equal(last().status, 0);

  // A slow answer trips the client's timeout: gaxios aborts (AbortError, no status).
  fake.injectFault({ status: 200, delayMs: 300 });
  try {
    await api.spreadsheets.get({ spreadsheetId: id }, { timeout: 100 });
    assert.fail('expected a timeout');
  } catch (e) {
    const err = e as ApiErr & { error?: Error };
    assert.equal(err.constructor.name, 'GaxiosError');
    assert.equal(err.error?.name, 'AbortError');
    assert.equal(err.status, undefined);
  }
  // The fake still answers (and records) the slow request once its delay is over.
  const recorded = fake.requests.length;
  while (fake.requests.length === recorded) await new Promise((r) => setTimeout(r, 20));
  assert.equal(last().status, 200);

  // 502 is Google's HTML error page: response.data is a string, not the JSON envelope.
  fake.injectFault({ status: 502 });
  const html = await rejects(api.spreadsheets.get({ spreadsheetId: id }), 502);
  assert.equal(typeof html.response?.data, 'string');
});

test('values.append exists (and guesses a table), recorded as its own kind', async () => {
  const id = newSpreadsheet();
  fake.setCells(id, 'Sheet1', 'A1', [['h1', 'h2'], ['a', 1], ['b', 2], [], ['stray', 9]]);
  const res = await api.spreadsheets.values.append({
    spreadsheetId: id,
    range: 'Sheet1!A1',
    valueInputOption: 'RAW',
    insertDataOption: 'OVERWRITE',
    requestBody: { values: [['c', 3]] },
  });
  assert.equal(last().kind, 'values.append');
  assert.equal(res.data.tableRange, 'Sheet1!A1:B3');
  assert.equal(res.data.updates?.updatedRange, 'Sheet1!A4:B4');
  // The gap made append write into row 4, right above the stray row: the misplacement it is known for.
  assert.deepEqual(fake.tab(id, 'Sheet1')!.values, [['h1', 'h2'], ['a', 1], ['b', 2], ['c', 3], ['stray', 9]]);
});

test('analyst helpers: setCells, insertRows shift values and formats, sortRows, renameTab', async () => {
  const id = newSpreadsheet();
  await api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A1', valueInputOption: 'RAW', requestBody: { values: [['k', 'v'], ['x', 3], ['y', 1], ['z', 2]] } });
  await api.spreadsheets.batchUpdate({
    spreadsheetId: id,
    requestBody: {
      requests: [
        { repeatCell: { range: { sheetId: 0, startRowIndex: 1, endRowIndex: 4, startColumnIndex: 1, endColumnIndex: 2 }, cell: { userEnteredFormat: { numberFormat: { type: 'NUMBER', pattern: '0.00' } } }, fields: 'userEnteredFormat(numberFormat)' } },
      ],
    },
  });
  fake.insertRows(id, 'Sheet1', 1, 2);
  const tab = fake.tab(id, 'Sheet1')!;
  assert.equal(tab.rowCount, 1002);
  assert.deepEqual(tab.values, [['k', 'v'], [], [], ['x', 3], ['y', 1], ['z', 2]]);
  assert.equal(fake.cellFormat(id, 'Sheet1', 'B2'), undefined);
  assert.deepEqual(fake.cellFormat(id, 'Sheet1', 'B4'), { type: 'NUMBER', pattern: '0.00' });
  assert.deepEqual(fake.cellFormat(id, 'Sheet1', 'B6'), { type: 'NUMBER', pattern: '0.00' });
  assert.equal(fake.cellFormat(id, 'Sheet1', 'B7'), undefined);

  fake.setCells(id, 'Sheet1', "'Sheet1'!A2:B2", [['analyst note', { formula: '=B4*2' }]]);
  const read = await api.spreadsheets.values.get({ spreadsheetId: id, range: 'Sheet1!A1:B6' });
  assert.deepEqual(read.data.values, [['k', 'v'], ['analyst note', '6'], [], ['x', '3.00'], ['y', '1.00'], ['z', '2.00']]);

  fake.sortRows(id, 'Sheet1', { startRow: 3, column: 1 });
  assert.deepEqual(fake.tab(id, 'Sheet1')!.values.slice(3), [['y', 1], ['z', 2], ['x', 3]]);

  fake.renameTab(id, 'Sheet1', 'Renamed');
  const meta = await api.spreadsheets.get({ spreadsheetId: id });
  assert.equal(meta.data.sheets?.[0]?.properties?.title, 'Renamed');
  assert.equal(meta.data.sheets?.[0]?.properties?.sheetId, 0);
  fake.setCells(id, 'Renamed', 'AA1003', [['typed below the grid']]);
  assert.equal(fake.tab(id, 'Renamed')!.rowCount, 1003);
  assert.equal(fake.tab(id, 'Renamed')!.columnCount, 27);
  assert.throws(() => fake.setCells(id, 'Renamed', "'Other'!A1", [['x']]), /Unable to parse range/);
});

test('tab titles are unique without regard to case, like Google: addSheet and renames are refused, ranges resolve in any case', async () => {
  const id = newSpreadsheet();
  await api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ addSheet: { properties: { title: 'scores', sheetId: 7 } } }] } });
  for (const request of [{ addSheet: { properties: { title: 'Scores' } } }, { updateSheetProperties: { properties: { sheetId: 0, title: 'SCORES' }, fields: 'title' } }]) {
    const err = await api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [request] } }).then(
      () => assert.fail('accepted'),
      (e: ApiErr) => e,
    );
    assert.equal(err.status, 400);
    assert.match(err.message, /A sheet with the name "S(cores|CORES)" already exists/);
  }
  fake.renameTab(id, 'scores', 'Scores');
  assert.deepEqual(fake.tabs(id), ['Sheet1', 'Scores'], 'a tab may change the case of its own title');
  assert.throws(() => fake.renameTab(id, 'Sheet1', 'SCORES'), /exists/);
  await api.spreadsheets.values.update({ spreadsheetId: id, range: "'scores'!A1", valueInputOption: 'RAW', requestBody: { values: [['x']] } });
  assert.deepEqual(fake.tab(id, 'Scores')!.values, [['x']]);
});

test('filters and hidden rows keep rows in place and values reads return them; a filter with a sort sorts', async () => {
  const id = newSpreadsheet();
  await api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A1', valueInputOption: 'RAW', requestBody: { values: [['k', 'v'], ['x', 3], ['y', 1], ['z', 2]] } });
  await api.spreadsheets.batchUpdate({
    spreadsheetId: id,
    requestBody: {
      requests: [
        { updateDimensionProperties: { range: { sheetId: 0, dimension: 'ROWS', startIndex: 1, endIndex: 2 }, properties: { hiddenByUser: true }, fields: 'hiddenByUser' } },
        { setBasicFilter: { filter: { range: { sheetId: 0, startRowIndex: 0, endRowIndex: 4, startColumnIndex: 0, endColumnIndex: 2 }, filterSpecs: [{ columnIndex: 0, filterCriteria: { hiddenValues: ['z'] } }] } } },
      ],
    },
  });
  let tab = fake.tab(id, 'Sheet1')!;
  assert.deepEqual(tab.hiddenRows, [1]);
  assert.deepEqual(tab.basicFilter, { r0: 0, r1: 4, c0: 0, c1: 2, filteredRows: [3] });
  const read = await api.spreadsheets.values.get({ spreadsheetId: id, range: 'Sheet1!A1:B4', valueRenderOption: 'UNFORMATTED_VALUE' });
  assert.deepEqual(read.data.values, [['k', 'v'], ['x', 3], ['y', 1], ['z', 2]], 'hidden and filtered rows are read, in place');
  fake.insertRows(id, 'Sheet1', 1, 1);
  tab = fake.tab(id, 'Sheet1')!;
  assert.deepEqual([tab.hiddenRows, tab.basicFilter?.filteredRows, tab.basicFilter?.r1], [[2], [4], 5], 'they move with their rows');
  await api.spreadsheets.batchUpdate({
    spreadsheetId: id,
    requestBody: { requests: [{ clearBasicFilter: { sheetId: 0 } }, { setBasicFilter: { filter: { range: { sheetId: 0, startRowIndex: 0, endRowIndex: 5 }, sortSpecs: [{ dimensionIndex: 1, sortOrder: 'DESCENDING' }] } } }] },
  });
  assert.deepEqual(fake.tab(id, 'Sheet1')!.values, [['k', 'v'], ['x', 3], ['z', 2], ['y', 1]], 'the rows under the header, sorted (the empty row last)');
});

test('service account: the real JWT client signs an assertion, the fake verifies it and issues a token', async () => {
  const id = newSpreadsheet();
  const keyPair = (): { publicKey: string; privateKey: string } =>
    generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  const good = keyPair();
  const other = keyPair();
  const email = 'ember-sync@project.iam.gserviceaccount.com';
  fake.addServiceAccount(email, good.publicKey);

  const seen: string[] = [];
  const jwtClient = (key: string, scopes?: string[]): JWT => {
    const jwt = new JWT({ email, key, ...(scopes ? { scopes } : {}) });
    // gtoken hard-codes https://oauth2.googleapis.com/token; the transporter also carries the API calls.
    jwt.transporter.interceptors.request.add({
      resolved: async (cfg) => {
        seen.push(`${cfg.url instanceof URL ? 'URL' : typeof cfg.url} ${String(cfg.url)}`);
        if (String(cfg.url) === 'https://oauth2.googleapis.com/token') cfg.url = new URL(fake.tokenUrl);
        return cfg;
      },
    });
    return jwt;
  };

  const jwt = jwtClient(good.privateKey, [SCOPE]);
  const sa = sheets({ version: 'v4', auth: jwt, rootUrl: fake.url, retry: false });
  const before = fake.requests.length;
  await sa.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A1', valueInputOption: 'RAW', requestBody: { values: [['by service account']] } });
  await sa.spreadsheets.get({ spreadsheetId: id });
  const mine = fake.requests.slice(before);
  assert.deepEqual(mine.map((r) => `${r.kind} ${r.status}`), ['token 200', 'values.update 200', 'get 200'], 'one token, reused');
  const form = mine[0]!.body as Record<string, string>;
  assert.equal(form.grant_type, 'urn:ietf:params:oauth:grant-type:jwt-bearer');
  const claims = JSON.parse(Buffer.from(form.assertion!.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  assert.equal(claims.iss, email);
  assert.equal(claims.aud, 'https://oauth2.googleapis.com/token');
  assert.equal(claims.scope, SCOPE);
  assert.equal(seen[0], 'URL https://oauth2.googleapis.com/token', 'gaxios 7 hands interceptors a URL object');
  assert.ok(seen.some((s) => s.startsWith(`URL ${fake.url}v4/spreadsheets/${id}`)));
  assert.equal((await jwt.getAccessToken()).token?.startsWith('ya29.fake-'), true);
  assert.deepEqual(fake.tab(id, 'Sheet1')!.values, [['by service account']]);

  // A key the fake does not know for this account: invalid_grant, surfaced as a GaxiosError from the token call.
  const bad = sheets({ version: 'v4', auth: jwtClient(other.privateKey, [SCOPE]), rootUrl: fake.url, retry: false });
  const err = await rejects(bad.spreadsheets.get({ spreadsheetId: id }), 400, /^invalid_grant: Invalid JWT Signature\.$/);
  assert.deepEqual(err.response?.data, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
  assert.equal(last().kind, 'token');
  assert.equal(last().status, 400);

  // Without scopes the JWT client sends no Authorization header at all.
  const noScopes = sheets({ version: 'v4', auth: jwtClient(good.privateKey), rootUrl: fake.url, retry: false });
  await rejects(noScopes.spreadsheets.get({ spreadsheetId: id }), 403, /missing a valid API key/);
  // A read-only token cannot write.
  const ro = sheets({ version: 'v4', auth: jwtClient(good.privateKey, [`${SCOPE}.readonly`]), rootUrl: fake.url, retry: false });
  await ro.spreadsheets.get({ spreadsheetId: id });
  await rejects(
    ro.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A1', valueInputOption: 'RAW', requestBody: { values: [['x']] } }),
    403,
    /^Request had insufficient authentication scopes\.$/,
  );
});

test('requests are recorded with kind, bytes and status; quotas answer 429', async () => {
  const id = newSpreadsheet();
  fake.resetRequests();
  await api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A1', valueInputOption: 'RAW', requestBody: { values: [['a', 'b']] } });
  await api.spreadsheets.values.get({ spreadsheetId: id, range: 'Sheet1!A1:B1' });
  assert.deepEqual(fake.requests.map((r) => [r.method, r.kind, r.status, r.spreadsheetId]), [
    ['PUT', 'values.update', 200, id],
    ['GET', 'values.get', 200, id],
  ]);
  const [put, get] = fake.requests;
  assert.equal(put!.bytesIn, Buffer.byteLength(JSON.stringify({ values: [['a', 'b']] })));
  assert.equal(get!.bytesIn, 0);
  assert.ok(get!.bytesOut > 0 && get!.at <= Date.now() && get!.ms >= 0);

  fake.setQuota({ writesPerMinute: 2 });
  try {
    for (let i = 0; i < 2; i++) await api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!C1', valueInputOption: 'RAW', requestBody: { values: [[i]] } });
    await rejects(api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!C1', valueInputOption: 'RAW', requestBody: { values: [[9]] } }), 429, /Write requests per minute per user/);
    await api.spreadsheets.values.get({ spreadsheetId: id, range: 'Sheet1!C1' }); // reads are not limited here
  } finally {
    fake.setQuota(undefined);
  }
});

test('limits can be lowered per fake; faults can match the ranges or body of a request', async () => {
  const id = newSpreadsheet();
  const before = fake.setLimits({ maxColumns: 5 });
  try {
    assert.equal(before.maxColumns, 5);
    await rejects(
      api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ addSheet: { properties: { title: 'wide', gridProperties: { rowCount: 2, columnCount: 6 } } } }] } }),
      400,
      /above the limit of 5\.$/,
    );
    await api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ addSheet: { properties: { title: 'narrow', gridProperties: { rowCount: 2, columnCount: 5 } } } }] } });
    fake.setLimits({ maxCells: fake.totalCells(id) + 1 });
    await rejects(
      api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ addSheet: { properties: { title: 'one more', gridProperties: { rowCount: 1, columnCount: 2 } } } }] } }),
      400,
      /above the limit of \d+ cells/,
    );
  } finally {
    fake.setLimits({ maxColumns: 18_278, maxCells: 10_000_000 });
  }

  // A fault for the requests that touch one tab only: by range, and by body.
  fake.injectFault({ status: 400, count: 2, match: (r) => r.ranges.some((x) => x.startsWith("'narrow'!")) || JSON.stringify(r.body).includes('"title":"blocked"') });
  await rejects(api.spreadsheets.values.batchUpdate({ spreadsheetId: id, requestBody: { valueInputOption: 'RAW', data: [{ range: "'narrow'!A1", values: [['x']] }] } }), 400);
  await api.spreadsheets.values.batchUpdate({ spreadsheetId: id, requestBody: { valueInputOption: 'RAW', data: [{ range: 'Sheet1!A1', values: [['y']] }] } });
  await rejects(api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ addSheet: { properties: { title: 'blocked' } } }] } }), 400);
  assert.deepEqual(fake.tabs(id), ['Sheet1', 'narrow']);
  assert.deepEqual(fake.tab(id, 'Sheet1')!.values, [['y']]);
});

test('booleans: RAW true/false stay booleans, UNFORMATTED_VALUE answers JSON booleans, FORMATTED_VALUE TRUE/FALSE', async () => {
  const id = newSpreadsheet();
  await api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A1', valueInputOption: 'RAW', requestBody: { values: [[true, false, 'true', 1]] } });
  const raw = await api.spreadsheets.values.get({ spreadsheetId: id, range: 'Sheet1!A1:D1', valueRenderOption: 'UNFORMATTED_VALUE' });
  assert.deepEqual(raw.data.values, [[true, false, 'true', 1]], 'a boolean is neither text nor a number');
  const shown = await api.spreadsheets.values.get({ spreadsheetId: id, range: 'Sheet1!A1:D1' });
  assert.deepEqual(shown.data.values, [['TRUE', 'FALSE', 'true', '1']]);
  assert.deepEqual(fake.tab(id, 'Sheet1')!.values, [[true, false, 'true', 1]]);
});

test('the write log tells which cells requests wrote (and which they left alone); the time zone is settable', async () => {
  const id = newSpreadsheet();
  fake.resetRequests();
  await api.spreadsheets.values.batchUpdate({
    spreadsheetId: id,
    requestBody: { valueInputOption: 'RAW', data: [{ range: 'Sheet1!A2:C3', values: [['a', 1], ['b']] }, { range: 'Sheet1!B10', values: [[null, '']] }] },
  });
  await api.spreadsheets.values.clear({ spreadsheetId: id, range: 'Sheet1!A20:B21' });
  fake.setCells(id, 'Sheet1', 'A30', [['typed by hand']]);
  assert.deepEqual(
    fake.writes.map((w) => [w.title, w.r0, w.r1, w.c0, w.c1, w.kind]),
    [
      ['Sheet1', 1, 2, 0, 1, 'values.batchUpdate'],
      ['Sheet1', 9, 9, 1, 2, 'values.batchUpdate'],
      ['Sheet1', 19, 20, 0, 1, 'other'],
    ],
    'analyst helpers are not requests: not in the log',
  );
  assert.deepEqual(fake.writtenRows(id, 'Sheet1'), [1, 2, 9, 19, 20]);
  fake.resetRequests();
  assert.deepEqual(fake.writes, []);

  assert.equal((await api.spreadsheets.get({ spreadsheetId: id, fields: 'properties.timeZone' })).data.properties?.timeZone, 'Europe/Paris');
  fake.setTimeZone(id, 'America/Chicago');
  assert.equal((await api.spreadsheets.get({ spreadsheetId: id, fields: 'properties.timeZone' })).data.properties?.timeZone, 'America/Chicago');
});

test('developer metadata on a tab: created (atomically with the tab), read with spreadsheets.get, updated and deleted by filter', async () => {
  const id = newSpreadsheet(false);
  const made = await api.spreadsheets.batchUpdate({
    spreadsheetId: id,
    requestBody: {
      requests: [
        { addSheet: { properties: { sheetId: 42, title: 'contents' } } },
        { createDeveloperMetadata: { developerMetadata: { metadataKey: 'ember-sync', metadataValue: 'v1', location: { sheetId: 42 }, visibility: 'DOCUMENT' } } },
      ],
    },
  });
  const created = made.data.replies?.[1]?.createDeveloperMetadata?.developerMetadata;
  assert.equal(created?.metadataKey, 'ember-sync');
  assert.deepEqual(created?.location, { locationType: 'SHEET', sheetId: 42 });
  const metadataId = created!.metadataId!;
  const got = await api.spreadsheets.get({ spreadsheetId: id, fields: 'sheets(properties(sheetId,title),developerMetadata(metadataId,metadataKey,metadataValue))' });
  assert.deepEqual(got.data.sheets?.[0]?.developerMetadata?.map((m) => [m.metadataId, m.metadataKey, m.metadataValue]), [[metadataId, 'ember-sync', 'v1']]);

  await api.spreadsheets.batchUpdate({
    spreadsheetId: id,
    requestBody: { requests: [{ updateDeveloperMetadata: { dataFilters: [{ developerMetadataLookup: { metadataId } }], developerMetadata: { metadataValue: 'v2' }, fields: 'metadataValue' } }] },
  });
  assert.equal(fake.tab(id, 'contents')!.developerMetadata[0]!.metadataValue, 'v2');
  // Nothing matches: refused, and the batch applies nothing.
  await rejects(
    api.spreadsheets.batchUpdate({
      spreadsheetId: id,
      requestBody: {
        requests: [
          { updateDeveloperMetadata: { dataFilters: [{ developerMetadataLookup: { metadataId } }], developerMetadata: { metadataValue: 'v3' }, fields: 'metadataValue' } },
          { updateDeveloperMetadata: { dataFilters: [{ developerMetadataLookup: { metadataId: metadataId + 1 } }], developerMetadata: { metadataValue: 'x' }, fields: 'metadataValue' } },
        ],
      },
    }),
    400,
  );
  assert.equal(fake.tab(id, 'contents')!.developerMetadata[0]!.metadataValue, 'v2');
  await api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ deleteDeveloperMetadata: { dataFilter: { developerMetadataLookup: { metadataKey: 'ember-sync', metadataLocation: { sheetId: 42 } } } } }] } });
  assert.deepEqual(fake.tab(id, 'contents')!.developerMetadata, []);
});

test('protected ranges: warning-only ranges added and listed per tab, editors refused with warningOnly, writes still go through, gone with the tab', async () => {
  const id = newSpreadsheet();
  const added = await api.spreadsheets.batchUpdate({
    spreadsheetId: id,
    requestBody: {
      requests: [
        { addSheet: { properties: { sheetId: 11, title: 'synced', gridProperties: { rowCount: 5, columnCount: 3 } } } },
        { addProtectedRange: { protectedRange: { range: { sheetId: 11 }, description: 'ours', warningOnly: true } } },
      ],
    },
  });
  const reply = added.data.replies?.[1]?.addProtectedRange?.protectedRange;
  assert.equal(reply?.warningOnly, true);
  assert.equal(typeof reply?.protectedRangeId, 'number');
  const meta = await api.spreadsheets.get({ spreadsheetId: id });
  const synced = meta.data.sheets?.find((s) => s.properties?.title === 'synced');
  assert.deepEqual(
    synced?.protectedRanges?.map((r) => [r.description, r.warningOnly, r.range?.sheetId]),
    [['ours', true, 11]],
  );
  // The caller is an editor: a warning-only range never blocks the API's writes.
  await api.spreadsheets.values.update({ spreadsheetId: id, range: 'synced!A1', valueInputOption: 'RAW', requestBody: { values: [['x']] } });
  assert.equal(fake.tab(id, 'synced')!.values[0]![0], 'x');
  await rejects(
    api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ addProtectedRange: { protectedRange: { range: { sheetId: 11 }, warningOnly: true, editors: { users: ['a@example.com'] } } } }] } }),
    400,
    /Editors are not supported with warning_only protection/,
  );
  await api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ deleteSheet: { sheetId: 11 } }] } });
  assert.equal(fake.tab(id, 'synced'), undefined);
  assert.equal((await api.spreadsheets.get({ spreadsheetId: id })).data.sheets?.some((s) => (s.protectedRanges ?? []).length > 0), false);
});

test('filter views keep every cell in place (their sort and criteria are the viewer\'s); deleteFilterView removes one', async () => {
  const id = newSpreadsheet();
  await api.spreadsheets.values.update({ spreadsheetId: id, range: 'Sheet1!A1:B4', valueInputOption: 'RAW', requestBody: { values: [['n', 'k'], [3, 'c'], [1, 'a'], [2, 'b']] } });
  const before = fake.tab(id, 'Sheet1')!.values;
  const res = await api.spreadsheets.batchUpdate({
    spreadsheetId: id,
    requestBody: { requests: [{ addFilterView: { filter: { title: 'sorted', range: { sheetId: 0, startRowIndex: 0 }, sortSpecs: [{ dimensionIndex: 0, sortOrder: 'ASCENDING' }], filterSpecs: [{ columnIndex: 1, filterCriteria: { hiddenValues: ['a'] } }] } } }] },
  });
  const fv = res.data.replies?.[0]?.addFilterView?.filter;
  assert.equal(fv?.title, 'sorted');
  assert.deepEqual(fake.tab(id, 'Sheet1')!.values, before, 'nothing moved');
  assert.equal(fake.tab(id, 'Sheet1')!.filterViews.length, 1);
  await api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ deleteFilterView: { filterId: fv!.filterViewId! } }] } });
  assert.equal(fake.tab(id, 'Sheet1')!.filterViews.length, 0);
});

test('developer metadata on the spreadsheet itself: created, read at the top of spreadsheets.get, updated by id, kept when tabs go', async () => {
  const id = newSpreadsheet();
  await api.spreadsheets.batchUpdate({
    spreadsheetId: id,
    requestBody: { requests: [{ addSheet: { properties: { sheetId: 5, title: 'gone' } } }, { createDeveloperMetadata: { developerMetadata: { metadataKey: 'k', metadataValue: 'v1', location: { spreadsheet: true }, visibility: 'DOCUMENT' } } }] },
  });
  let meta = (await api.spreadsheets.get({ spreadsheetId: id })).data;
  const m = meta.developerMetadata?.[0];
  assert.deepEqual([m?.metadataKey, m?.metadataValue, m?.location?.locationType], ['k', 'v1', 'SPREADSHEET']);
  await api.spreadsheets.batchUpdate({
    spreadsheetId: id,
    requestBody: { requests: [{ deleteSheet: { sheetId: 5 } }, { updateDeveloperMetadata: { dataFilters: [{ developerMetadataLookup: { metadataId: m!.metadataId! } }], developerMetadata: { metadataValue: 'v2' }, fields: 'metadataValue' } }] },
  });
  meta = (await api.spreadsheets.get({ spreadsheetId: id })).data;
  assert.deepEqual(meta.developerMetadata?.map((x) => x.metadataValue), ['v2']);
  await api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ deleteDeveloperMetadata: { dataFilter: { developerMetadataLookup: { metadataKey: 'k' } } } }] } });
  assert.equal((await api.spreadsheets.get({ spreadsheetId: id })).data.developerMetadata, undefined);
});

test('tab order: addSheet at an index, updateSheetProperties moves a tab; deleteSheet closes the gap', async () => {
  const id = newSpreadsheet();
  await api.spreadsheets.batchUpdate({
    spreadsheetId: id,
    requestBody: { requests: [{ addSheet: { properties: { sheetId: 2, title: 'b' } } }, { addSheet: { properties: { sheetId: 3, title: 'a', index: 1 } } }, { addSheet: { properties: { sheetId: 4, title: 'first', index: 0 } } }] },
  });
  assert.deepEqual(fake.tabs(id), ['first', 'Sheet1', 'a', 'b']);
  await api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [{ deleteSheet: { sheetId: 0 } }, { updateSheetProperties: { properties: { sheetId: 2, index: 0 }, fields: 'index' } }] } });
  assert.deepEqual(fake.tabs(id), ['b', 'first', 'a']);
  const meta = (await api.spreadsheets.get({ spreadsheetId: id })).data;
  assert.deepEqual(meta.sheets?.map((s) => [s.properties?.title, s.properties?.index]), [['b', 0], ['first', 1], ['a', 2]]);
});
