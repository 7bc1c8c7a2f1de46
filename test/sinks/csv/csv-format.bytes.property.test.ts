/**
 * Byte for byte: renderCsv and writeViewCsv against a deliberately simple
 * writer written from the README's rules (one cell at a time, regular
 * expressions, Temporal for local times). The other property tests read the
 * bytes back with csv-parse; this one pins the exact bytes, so that a faster
 * writer can never change a file (a field quoted that was not, a number
 * spelled another way).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Cell } from '../../../src/model/cells.js';
import type { CsvDialect } from '../../../src/model/csv.js';
import { renderCsv } from '../../../src/sinks/csv/csv-format.js';
import { writeViewCsv } from '../../../src/sinks/csv/write-view-csv.js';
import { cell, dialect, temporalLocal, text, timeCell } from './csv-oracle.js';

/** Shortest round-trip digits (from toExponential, not String) placed without an exponent. */
function plainNumber(n: number): string {
  if (n === 0) return '0';
  const [mantissa, exp] = Math.abs(n).toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  const point = 1 + Number(exp);
  const sign = n < 0 ? '-' : '';
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits.padEnd(point, '0');
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

const quoted = (s: string) => `"${s.split('"').join('""')}"`;

function oracleCell(c: Cell, d: CsvDialect, isTime: boolean): string {
  if (c === null) return '';
  if (c === true) return 'true';
  if (c === false) return 'false';
  if (typeof c === 'number') return d.decimal === ',' ? plainNumber(c).replace('.', ',') : String(c);
  if (isTime && d.timeFormat === 'local') {
    const local = temporalLocal(c, d.timeZone);
    if (local !== undefined) return d.decimal === ',' ? local.replace('.', ',') : local;
  }
  if (c === '') return '""';
  if (d.guard && /^[=+\-@\t\r]/.test(c) && !/^[+-]?[0-9]+(\.[0-9]+)?$/.test(c)) return quoted(`'${c}`);
  const mustQuote = c.startsWith('\uFEFF') || c.includes('"') || c.includes('\r') || c.includes('\n') || c.includes(d.delimiter);
  return mustQuote ? quoted(c) : c;
}

function oracleCsv(rows: ReadonlyArray<ReadonlyArray<Cell>>, d: CsvDialect, isTime: readonly boolean[] = []): string {
  return rows.map((r) => `${r.map((c, i) => oracleCell(c, d, isTime[i] === true)).join(d.delimiter)}\r\n`).join('');
}

/** A table whose columns are each any cell or a time column, cut into pages of any size (empty ones too). */
const table = fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }).chain((isTime) =>
  fc.record({
    isTime: fc.constant(isTime),
    header: fc.array(text, { minLength: isTime.length, maxLength: isTime.length }),
    rows: fc.array(fc.tuple(...isTime.map((t) => (t ? timeCell : cell))), { maxLength: 12 }),
    cuts: fc.array(fc.nat({ max: 12 }), { maxLength: 4 }),
  }),
);

function paged<T>(rows: readonly T[], cuts: readonly number[]): T[][] {
  const at = [...new Set(cuts.map((c) => Math.min(c, rows.length)))].sort((a, b) => a - b);
  const pages: T[][] = [];
  let from = 0;
  for (const to of [...at, rows.length]) {
    pages.push(rows.slice(from, to));
    from = to;
  }
  return pages;
}

/** A slow reader with a tiny buffer: every write waits for 'drain', some callbacks come a turn later. */
function slowSink(): { out: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  let n = 0;
  const out = new Writable({
    highWaterMark: 64,
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      if (n++ % 2 === 0) setImmediate(done);
      else done();
    },
  });
  return { out, bytes: () => Buffer.concat(chunks) };
}

test('property: renderCsv writes exactly the bytes of the simple writer, in every dialect, with time columns', async () => {
  fc.assert(
    fc.property(table, dialect, ({ header, rows, isTime }, d) => {
      assert.equal(renderCsv([header], d), oracleCsv([header], d));
      assert.equal(renderCsv(rows, d, isTime), oracleCsv(rows, d, isTime));
    }),
    { numRuns: 500 },
  );
});

test('property: numbers, alone and among text, are spelled exactly as the simple writer spells them', async () => {
  const anyNumber = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.constantFrom(1e-7, -1e-7, 1.5e-7, 1e21, -1e21, 1.7976931348623157e308, 5e-324, -0, 0.1, 123456789.125));
  fc.assert(
    fc.property(fc.array(fc.oneof(anyNumber, text), { minLength: 1, maxLength: 5 }), dialect, (row, d) => {
      assert.equal(renderCsv([row], d), oracleCsv([row], d));
    }),
    { numRuns: 1000 },
  );
});

test('property: writeViewCsv through a slow reader: BOM, header and every page, byte for byte, and the row count', async () => {
  await fc.assert(
    fc.asyncProperty(table, dialect, async ({ header, rows, isTime, cuts }, d) => {
      const sink = slowSink();
      const progress: number[] = [];
      const written = await writeViewCsv({ pages: paged(rows, cuts), dialect: d, header, timeColumns: isTime, out: sink.out, onProgress: (r) => progress.push(r) });
      assert.equal(written, rows.length);
      assert.equal(progress.at(-1) ?? 0, rows.length);
      assert.ok(progress.every((p, i) => i === 0 || p >= progress[i - 1]!), 'progress never goes back');
      const want = (d.bom ? '\uFEFF' : '') + oracleCsv([header], d) + oracleCsv(rows, d, isTime);
      assert.ok(sink.bytes().equals(Buffer.from(want, 'utf8')), 'the bytes differ from the simple writer');
    }),
    { numRuns: 200 },
  );
});

test('writeViewCsv appending (no header): no BOM even when the dialect asks for one, rows only', async () => {
  const d: CsvDialect = { delimiter: ';', bom: true, guard: true, decimal: ',', timeFormat: 'iso', timeZone: 'UTC' };
  const rows: Cell[][] = [['=1+1', 8.5, null, true, ''], ['a;b', -3, 'x"y', false, '\uFEFFz']];
  const sink = slowSink();
  assert.equal(await writeViewCsv({ pages: [rows.slice(0, 1), [], rows.slice(1)], dialect: d, header: undefined, out: sink.out }), 2);
  assert.equal(sink.bytes().toString('utf8'), `"'=1+1";8,5;;true;""\r\n"a;b";-3;"x""y";false;"\uFEFFz"\r\n`);
});
