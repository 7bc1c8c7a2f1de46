import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Cell } from '../../../src/model/cells.js';
import type { CsvDialect } from '../../../src/model/csv.js';
import { BOM, positional, renderCsv } from '../../../src/sinks/csv/csv-format.js';
import { assertCsv, cell, dialect, expectedCell, numericText, readCsv, shortText, text, timeCell, wellFormed } from './csv-oracle.js';

/** As a file starts: the BOM (when asked), the header, then the rows (what write-view-csv does: the header has no time columns). */
const file = (header: readonly string[], rows: ReadonlyArray<ReadonlyArray<Cell>>, d: CsvDialect, isTime?: readonly boolean[]) =>
  Buffer.from((d.bom ? BOM : '') + renderCsv([header], d) + renderCsv(rows, d, isTime), 'utf8');

/** A table whose columns are each text-and-anything or a time column (ISO instants, some not). */
const table = fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }).chain((isTime) =>
  fc.record({
    isTime: fc.constant(isTime),
    header: fc.array(text, { minLength: isTime.length, maxLength: isTime.length }),
    rows: fc.array(fc.tuple(...isTime.map((t) => (t ? timeCell : cell))), { maxLength: 8 }),
  }),
);

test('property: any header and cells, in every dialect, with time columns, read back cell for cell by csv-parse', async () => {
  fc.assert(
    fc.property(table, dialect, ({ header, rows, isTime }, d) => {
      assertCsv(file(header, rows, d, isTime), d, header, rows, JSON.stringify(d), isTime);
    }),
    { numRuns: 500 },
  );
});

test('property: one cell alone on its line, first in the file, survives every dialect', async () => {
  // The cell that opens the file meets BOM stripping; alone on a line, an empty or null cell makes an empty line.
  fc.assert(
    fc.property(fc.option(shortText, { nil: null }), dialect, (c, d) => {
      const bytes = Buffer.from((d.bom ? BOM : '') + renderCsv([[c], [c]], d), 'utf8');
      const want = expectedCell(c, d);
      assert.deepEqual(readCsv(bytes, d.delimiter), [[want], [want]]);
    }),
    { numRuns: 300 },
  );
});

test('property: text gets exactly one leading quote mark, only when it starts like a formula and is not a plain decimal; never changed otherwise, whatever the decimal', async () => {
  fc.assert(
    fc.property(fc.oneof(numericText, shortText), dialect, (t, d) => {
      const [[got]] = readCsv(Buffer.from(renderCsv([[t]], d), 'utf8'), d.delimiter) as [[string]];
      const formulaStart = /^[=+\-@\t\r]/.test(t);
      const plain = /^[+-]?[0-9]+(\.[0-9]+)?$/.test(t);
      assert.equal(got, wellFormed(d.guard && formulaStart && !plain ? `'${t}` : t));
    }),
    { numRuns: 1000 },
  );
});

test('property: every number with a decimal comma is plain digits that read back as the same number; with a point, as JavaScript prints it', async () => {
  const anyNumber = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.constantFrom(1e-7, -1e-7, 1.5e-7, 1e21, -1e21, 1.7976931348623157e308, 5e-324, -5e-324, 0.1, -0, 123456789.125));
  fc.assert(
    fc.property(anyNumber, fc.constantFrom(';', '\t', '|'), (n, delimiter) => {
      const comma = renderCsv([[n]], { delimiter, bom: false, guard: true, decimal: ',', timeFormat: 'iso', timeZone: 'UTC' });
      assert.match(comma, /^-?[0-9]+(,[0-9]+)?\r\n$/, String(n));
      // `===`, not Object.is: -0 is written 0, as String(-0) always did (no spreadsheet has a negative zero).
      assert.ok(Number(comma.slice(0, -2).replace(',', '.')) === n, `${comma} is ${n}`);
      assert.equal(renderCsv([[n]], { delimiter, bom: false, guard: true, decimal: '.', timeFormat: 'iso', timeZone: 'UTC' }), `${String(n)}\r\n`);
      const p = positional(n);
      assert.ok(!/e/i.test(p), p);
      assert.ok(Number(p) === n, `${p} is ${n}`);
    }),
    { numRuns: 2000 },
  );
});
