import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { BOM, renderCsv, type CsvDialect } from '../../../src/sinks/csv/csv-format.js';
import type { Cell } from '../../../src/model/cells.js';

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
  const buf = await render([['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7', 'h8', 'h9', 'h10', 'h11', 'h12', 'h13'], tricky], { delimiter: ',', bom: false, neutralize: true });
  assert.ok(buf.toString('utf8').includes('\r\n'), 'records end with CRLF');
  const [header, row] = readBack(buf);
  assert.equal(header!.length, 13);
  assert.deepEqual(row, ['plain', 'a,b', 'say "hi"', 'line1\nline2', 'crlf\r\nend', 'ünïcödé – 中文', 'emoji 🔥👍🏽', '', null, '0', '-3.25', '1e+21', '42']);
  // Numbers are written as numbers (no quotes), empty string and null stay apart.
  assert.match(buf.toString('utf8'), /,"",,0,-3.25,1e\+21,42\r\n$/);
});

test('formula-looking strings are neutralised and quoted; numbers are not; --raw leaves them', async () => {
  const cells: Cell[] = ['=1+2', '+1', '-1', '@SUM(A1)', '\tTAB', '\rCR', '=HYPERLINK("http://x","y")', 'a=1', -1, 'safe'];
  const neutral = readBack(await render([cells], { delimiter: ',', bom: false, neutralize: true }))[0]!;
  assert.deepEqual(neutral, ["'=1+2", "'+1", "'-1", "'@SUM(A1)", "'\tTAB", "'\rCR", `'=HYPERLINK("http://x","y")`, 'a=1', '-1', 'safe']);
  const text = (await render([cells], { delimiter: ',', bom: false, neutralize: true })).toString('utf8');
  assert.ok(text.startsWith(`"'=1+2","'+1","'-1","'@SUM(A1)"`), 'each neutralised field is quoted');
  assert.match(text, /,-1,safe\r\n$/, 'the number -1 is a number, not a formula');
  const raw = readBack(await render([cells], { delimiter: ',', bom: false, neutralize: false }))[0]!;
  assert.deepEqual(raw, ['=1+2', '+1', '-1', '@SUM(A1)', '\tTAB', '\rCR', '=HYPERLINK("http://x","y")', 'a=1', '-1', 'safe']);
});

test('semicolon and tab delimiters, and the byte order mark', async () => {
  for (const delimiter of [';', '\t', '|']) {
    const buf = await render([['a;b', 'c\td', 'e|f', 1.5, null]], { delimiter, bom: false, neutralize: true });
    assert.deepEqual(readBack(buf, delimiter)[0], ['a;b', 'c\td', 'e|f', '1.5', null], JSON.stringify(delimiter));
  }
  const withBom = await render([['x']], { delimiter: ',', bom: true, neutralize: true });
  assert.deepEqual([...withBom.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  assert.deepEqual(readBack(withBom), [['x']]);
  const without = await render([['x']], { delimiter: ',', bom: false, neutralize: true });
  assert.equal(without[0], 0x78);
});

test('a lone LF or CR is quoted, in values and in header cells (a reader must not split the record)', async () => {
  for (const delimiter of [',', ';', '\t', '|']) {
    for (const neutralize of [true, false]) {
      const dialect = { delimiter, bom: false, neutralize };
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
  const dialect = { delimiter: ',', bom: false, neutralize: true };
  assert.equal(renderCsv([['\uFEFFkey', 'x\uFEFF']], dialect), '"\uFEFFkey",x\uFEFF\r\n');
  assert.deepEqual(readBack(await render([['\uFEFFkey', 'b']], dialect)), [['\uFEFFkey', 'b']]);
  assert.deepEqual(readBack(await render([['\uFEFFkey', 'b']], { ...dialect, bom: true })), [['\uFEFFkey', 'b']]);
});

test('the formula guard quotes its cell even when nothing else would; numbers and --raw are left alone', () => {
  const text = renderCsv([['=a', '-1', -1, '\r', '\tx', '@', '+']], { delimiter: ';', bom: false, neutralize: true });
  assert.equal(text, `"'=a";"'-1";-1;"'\r";"'\tx";"'@";"'+"\r\n`);
  assert.equal(renderCsv([['=a', '-1', -1, '@']], { delimiter: ';', bom: false, neutralize: false }), '=a;-1;-1;@\r\n');
});
