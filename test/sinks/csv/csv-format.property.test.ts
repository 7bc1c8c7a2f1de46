import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BOM, renderCsv } from '../../../src/sinks/csv/csv-format.js';
import { assertCsv, cell, dialect, expectedCell, readCsv, shortText, text } from './csv-oracle.js';

/** As a file starts: the BOM (when asked), the header, then the rows (what write-view-csv does). */
const file = (header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number | null>>, d: { delimiter: string; bom: boolean; neutralize: boolean }) =>
  Buffer.from((d.bom ? BOM : '') + renderCsv([header, ...rows], d), 'utf8');

const table = fc.integer({ min: 1, max: 6 }).chain((width) =>
  fc.record({
    header: fc.array(text, { minLength: width, maxLength: width }),
    rows: fc.array(fc.array(cell, { minLength: width, maxLength: width }), { maxLength: 8 }),
  }),
);

test('property: any header and cells, in every dialect, read back cell for cell by csv-parse', () => {
  fc.assert(
    fc.property(table, dialect, ({ header, rows }, d) => {
      assertCsv(file(header, rows, d), d, header, rows, JSON.stringify(d));
    }),
    { numRuns: 300 },
  );
});

test('property: one cell alone on its line, first in the file, survives every dialect', () => {
  // The cell that opens the file meets BOM stripping; alone on a line, an empty or null cell makes an empty line.
  fc.assert(
    fc.property(fc.option(shortText, { nil: null }), dialect, (c, d) => {
      const bytes = Buffer.from((d.bom ? BOM : '') + renderCsv([[c], [c]], d), 'utf8');
      const want = expectedCell(c, d.neutralize);
      assert.deepEqual(readCsv(bytes, d.delimiter), [[want], [want]]);
    }),
    { numRuns: 300 },
  );
});
