import assert from 'node:assert/strict';
import { test } from 'node:test';
import { a1, columnLetter, quoteSheet } from '../../../src/sinks/sheets/a1.js';
import { fitCell, MAX_CELL_CHARS, sameRow, toSerial, toSheetRow } from '../../../src/sinks/sheets/cells.js';
import { timeColumns } from '../../../src/model/views.js';

test('A1 notation: column letters and quoted sheet names', async () => {
  assert.deepEqual([0, 25, 26, 51, 52, 701, 702].map(columnLetter), ['A', 'Z', 'AA', 'AZ', 'BA', 'ZZ', 'AAA']);
  assert.equal(quoteSheet("It's"), "'It''s'");
  assert.equal(a1('scores', 0, 0, 9, 7), "'scores'!A1:H10");
});

test('times become serial numbers, long text is cut with a visible marker, formulas stay text', async () => {
  assert.equal(toSerial('1899-12-30T00:00:00Z'), 0);
  assert.equal(toSerial('2025-01-16T12:00:00.000Z'), 45673.5);
  assert.equal(toSerial('2025-01-16T13:00:00+01:00'), 45673.5, 'offsets are converted to UTC');
  const header = ['webhook_id', 'received_at', 'timestamp', 'summary', 'score'];
  const row = toSheetRow(['id-1', '2025-01-16T12:00:00.000Z', '2025-01-16T12:00:00.000Z', '=HYPERLINK("http://x","y")', 7], timeColumns('red_flags', header));
  assert.deepEqual(row, ['id-1', 45673.5, 45673.5, '=HYPERLINK("http://x","y")', 7]);
  const long = 'x'.repeat(60_000);
  const cut = fitCell(long);
  assert.equal(cut.length, MAX_CELL_CHARS);
  assert.match(cut, /truncated by ember-sync: 60000 characters/);
  assert.equal(fitCell('short'), 'short');
});

test('sameRow compares what was written with what Sheets reads back', async () => {
  assert.ok(sameRow(['a', 1, null], ['a', 1]));
  assert.ok(sameRow(['a', 45673.5], ['a', 45673.50000000001]));
  assert.ok(!sameRow(['a', 1], ['a', 2]));
  assert.ok(!sameRow(['a', null], ['a', 'typed by hand']));
  assert.ok(!sameRow(['a'], undefined));
  assert.ok(sameRow([null, null], undefined));
});

test('regression: only a view’s fixed time columns are times; a dynamic column of the same name and loose text stay text', async () => {
  // completions has no fixed `timestamp`: a score_details key of that name is a plain column.
  const header = ['webhook_id', 'received_at', 'content_id', 'original_filename', 'score_uuid', 'created_time', 'agent_name', 'reason_for_call', 'timestamp'];
  assert.deepEqual(timeColumns('completions', header), [false, true, false, false, false, true, false, false, false]);
  const row = toSheetRow(['w', '2025-01-16T12:00:00.000Z', 'c', null, null, 'Call 12', null, null, 'May 5'], timeColumns('completions', header));
  assert.deepEqual(row, ['w', 45673.5, 'c', null, null, 'Call 12', null, null, 'May 5'], 'text that Date.parse would take for a date stays text');
  assert.equal(toSerial('Call 12'), undefined);
  assert.equal(toSerial('2025-01-16'), undefined, 'a date without a time is not a date-time');
  assert.equal(toSerial('2025-01-16T12:00:00'), undefined, 'no zone, no instant');
});

test('regression: a cut long text never ends in half an emoji (a lone surrogate Sheets cannot hold)', async () => {
  for (let pad = 0; pad < 4; pad++) {
    const text = 'x'.repeat(MAX_CELL_CHARS - 120 + pad) + '🔥'.repeat(200);
    const cut = fitCell(text);
    assert.ok((cut as string & { isWellFormed(): boolean }).isWellFormed(), `pad ${pad}`);
    assert.ok(cut.length <= MAX_CELL_CHARS);
  }
});
