import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { BOM, renderCsv, type CsvDialect } from '../../../src/sinks/csv/csv-format.js';
import type { Cell } from '../../../src/model/cells.js';
import { DEFAULT_CSV_DIALECT } from '../../../src/model/csv.js';

/** ember-sync's default dialect: `,`, no BOM, guard on, `.` decimal, iso times. */
const D: CsvDialect = { ...DEFAULT_CSV_DIALECT };

/** As a file starts: the BOM (when asked) then the rows. */
async function render(rows: Cell[][], dialect: CsvDialect): Promise<Buffer> {
  return Buffer.from((dialect.bom ? BOM : '') + renderCsv(rows, dialect), 'utf8');
}

/** csv-parse, telling an empty quoted field ("") from an empty unquoted one (null). */
function readBack(buf: Buffer, delimiter = ','): Array<Array<string | null>> {
  return parse(buf, {
    delimiter,
    bom: true,
    relax_column_count: false,
    cast: (value, ctx) => (value === '' && !ctx.quoting ? null : value),
  }) as Array<Array<string | null>>;
}

const tricky: Cell[] = ['plain', 'a,b', 'say "hi"', 'line1\nline2', 'crlf\r\nend', 'ünïcödé – 中文', 'emoji 🔥👍🏽', '', null, 0, -3.25, 1e21, 42];

test('every cell reads back with a real CSV parser (RFC 4180, CRLF records)', async () => {
  const buf = await render([['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7', 'h8', 'h9', 'h10', 'h11', 'h12', 'h13'], tricky], { ...D, delimiter: ',' });
  assert.ok(buf.toString('utf8').includes('\r\n'), 'records end with CRLF');
  const [header, row] = readBack(buf);
  assert.equal(header!.length, 13);
  assert.deepEqual(row, ['plain', 'a,b', 'say "hi"', 'line1\nline2', 'crlf\r\nend', 'ünïcödé – 中文', 'emoji 🔥👍🏽', '', null, '0', '-3.25', '1e+21', '42']);
  // Numbers are written as numbers (no quotes), empty string and null stay apart.
  assert.match(buf.toString('utf8'), /,"",,0,-3.25,1e\+21,42\r\n$/);
});

test('formula-looking strings are neutralised and quoted; numbers and plain decimal text are not; --raw leaves them', async () => {
  const cells: Cell[] = ['=1+2', '+1a', '-1+1', '@SUM(A1)', '\tTAB', '\rCR', '=HYPERLINK("http://x","y")', 'a=1', -1, 'safe'];
  const neutral = readBack(await render([cells], { ...D, delimiter: ',' }))[0]!;
  assert.deepEqual(neutral, ["'=1+2", "'+1a", "'-1+1", "'@SUM(A1)", "'\tTAB", "'\rCR", `'=HYPERLINK("http://x","y")`, 'a=1', '-1', 'safe']);
  const text = (await render([cells], { ...D, delimiter: ',' })).toString('utf8');
  assert.ok(text.startsWith(`"'=1+2","'+1a","'-1+1","'@SUM(A1)"`), 'each neutralised field is quoted');
  assert.match(text, /,-1,safe\r\n$/, 'the number -1 is a number, not a formula');
  const raw = readBack(await render([cells], { ...D, delimiter: ',', guard: false }))[0]!;
  assert.deepEqual(raw, ['=1+2', '+1a', '-1+1', '@SUM(A1)', '\tTAB', '\rCR', '=HYPERLINK("http://x","y")', 'a=1', '-1', 'safe']);
});

test('the guard lets plain decimal text through (sign, digits, optional . and digits) and nothing more', async () => {
  const plain = ['-1250.50', '+3', '-0.5', '-12', '+0', '-007', '1.5', '42'];
  const guarded = ['=1+1', '-1+1', '-2-3', '+1 (555)', '@SUM(A1:A2)', '- 5', '-1e5', '+1E+3', '-.5', '-5.', '--1', '-1,5', '-1%', '-', '+', '-١٢', '-1\n', '\t1', '\r1'];
  for (const t of plain) assert.equal(renderCsv([[t]], D), `${t}\r\n`, t);
  for (const t of guarded) assert.equal(readBack(Buffer.from(renderCsv([[t]], D)), ',')[0]![0], `'${t}`, JSON.stringify(t));
  // The exception belongs to the guard: without it nothing changes anyway.
  for (const t of [...plain, ...guarded]) assert.equal(readBack(Buffer.from(renderCsv([[t]], { ...D, guard: false })), ',')[0]![0], t, JSON.stringify(t));
});

test('booleans are true and false, never quoted or guarded', async () => {
  assert.equal(renderCsv([[true, false, null, 'true']], D), 'true,false,,true\r\n');
  assert.equal(renderCsv([[true, false]], { ...D, delimiter: ';', decimal: ',' }), 'true;false\r\n');
});

test('a decimal comma: numbers get a comma and no exponent, text is never touched; refused with , as delimiter', async () => {
  const comma: CsvDialect = { ...D, delimiter: ';', decimal: ',' };
  assert.equal(renderCsv([[8.6, -1250.5, 42, 0, -0, 1e-7, -1.5e-7, 1e21, 1.25e22, 0.1]], comma), '8,6;-1250,5;42;0;0;0,0000001;-0,00000015;1000000000000000000000;12500000000000000000000;0,1\r\n');
  assert.equal(renderCsv([['8.6', '-1250.50', '1,5', 'a.b']], comma), '8.6;-1250.50;1,5;a.b\r\n', 'text keeps its point (and its comma)');
  assert.equal(renderCsv([['8,6']], { ...comma, delimiter: '|' }), '8,6\r\n');
  assert.equal(renderCsv([['8,6']], { ...comma, delimiter: '\t' }), '8,6\r\n');
  // The point keeps JavaScript's own form: exponents are numbers to every reader, and existing files stay continuable.
  assert.equal(renderCsv([[1e-7, 1e21, 8.6]], D), '1e-7,1e+21,8.6\r\n');
  assert.throws(() => renderCsv([[1.5]], { ...D, decimal: ',' }), /decimal comma needs ; \| or tab/);
});

test('time columns: iso as received; local on the wall clock of the zone; anything else left as text (guarded)', async () => {
  const row: Cell[] = ['2026-11-30T09:24:41.923Z', '2026-11-30T09:24:41.923Z', 'Call 12', '=NOW()', '2026-02-30T10:00:00.000Z', null, 7];
  const isTime = [true, false, true, true, true, true, true];
  assert.equal(renderCsv([row], D, isTime), `2026-11-30T09:24:41.923Z,2026-11-30T09:24:41.923Z,Call 12,"'=NOW()",2026-02-30T10:00:00.000Z,,7\r\n`);
  const local: CsvDialect = { ...D, timeFormat: 'local', timeZone: 'America/New_York' };
  assert.equal(renderCsv([row], local, isTime), `2026-11-30 04:24:41.923,2026-11-30T09:24:41.923Z,Call 12,"'=NOW()",2026-02-30T10:00:00.000Z,,7\r\n`);
  assert.equal(renderCsv([row], { ...local, guard: false }, isTime).split(',')[3], '=NOW()');
  // With a decimal comma the seconds' fraction takes it too (German Excel and LibreOffice read `41,923`).
  assert.equal(renderCsv([['2026-11-30T09:24:41.923Z', 2.5]], { ...local, delimiter: ';', decimal: ',' }, [true, false]), '2026-11-30 04:24:41,923;2,5\r\n');
  // Without time columns (the header) nothing is converted.
  assert.equal(renderCsv([['2026-11-30T09:24:41.923Z']], local), '2026-11-30T09:24:41.923Z\r\n');
  // A vendor time with an offset, a Sunday evening in New York, the repeated hour of the fall-back.
  assert.equal(renderCsv([['2026-11-29T23:30:00-05:00', '2026-11-01T05:30:00.000Z', '2026-11-01T06:30:00.000Z']], local, [true, true, true]), '2026-11-29 23:30:00.000,2026-11-01 01:30:00.000,2026-11-01 01:30:00.000\r\n');
  // A wall clock past year 9999 cannot be written as yyyy: the cell stays as received.
  assert.equal(renderCsv([['9999-12-31T23:59:59.000Z']], { ...local, timeZone: 'Asia/Tokyo' }, [true]), '9999-12-31T23:59:59.000Z\r\n');
});

test('semicolon and tab delimiters, and the byte order mark', async () => {
  for (const delimiter of [';', '\t', '|']) {
    const buf = await render([['a;b', 'c\td', 'e|f', 1.5, null]], { ...D, delimiter });
    assert.deepEqual(readBack(buf, delimiter)[0], ['a;b', 'c\td', 'e|f', '1.5', null], JSON.stringify(delimiter));
  }
  const withBom = await render([['x']], { ...D, bom: true });
  assert.deepEqual([...withBom.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  assert.deepEqual(readBack(withBom), [['x']]);
  const without = await render([['x']], { ...D, delimiter: ',' });
  assert.equal(without[0], 0x78);
});

test('a lone LF or CR is quoted, in values and in header cells (a reader must not split the record)', async () => {
  for (const delimiter of [',', ';', '\t', '|']) {
    for (const guard of [true, false]) {
      const dialect = { ...D, delimiter, guard };
      const header = ['plain', 'key\nwith LF', 'key\rwith CR', `key${delimiter}delim`, 'key"quote'];
      const row: Cell[] = ['a\nb', 'c\rd', 'e\r\nf', `g${delimiter}h`, 'i"j'];
      const text = renderCsv([header, row], dialect);
      assert.equal(text, ['plain', '"key\nwith LF"', '"key\rwith CR"', `"key${delimiter}delim"`, '"key""quote"'].join(delimiter) + '\r\n' + ['"a\nb"', '"c\rd"', '"e\r\nf"', `"g${delimiter}h"`, '"i""j"'].join(delimiter) + '\r\n', JSON.stringify(dialect));
      // Records end at CR, LF or CRLF outside quotes, as in a spreadsheet.
      const back = parse(Buffer.from(text), { delimiter, record_delimiter: ['\r\n', '\n', '\r'] }) as string[][];
      assert.deepEqual(back, [header, row]);
    }
  }
});

test('a cell starting with U+FEFF is quoted: a reader stripping a byte order mark must not eat it', async () => {
  const dialect = { ...D, delimiter: ',' };
  assert.equal(renderCsv([['\uFEFFkey', 'x\uFEFF']], dialect), '"\uFEFFkey",x\uFEFF\r\n');
  assert.deepEqual(readBack(await render([['\uFEFFkey', 'b']], dialect)), [['\uFEFFkey', 'b']]);
  assert.deepEqual(readBack(await render([['\uFEFFkey', 'b']], { ...dialect, bom: true })), [['\uFEFFkey', 'b']]);
});

test('the formula guard quotes its cell even when nothing else would; numbers, plain decimals and --raw are left alone', async () => {
  const text = renderCsv([['=a', '-1', -1, '\r', '\tx', '@', '+', '-1x']], { ...D, delimiter: ';' });
  assert.equal(text, `"'=a";-1;-1;"'\r";"'\tx";"'@";"'+";"'-1x"\r\n`);
  assert.equal(renderCsv([['=a', '-1', -1, '@']], { ...D, delimiter: ';', guard: false }), '=a;-1;-1;@\r\n');
});
