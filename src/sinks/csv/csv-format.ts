import type { Cell } from '../../model/cells.js';
import type { CsvDialect } from '../../model/csv.js';
export type { CsvDialect };

export const BOM = '\uFEFF';
const BOM_CODE = 0xfeff;
const RECORD_END = '\r\n';

/**
 * First characters that make Excel, Sheets and LibreOffice evaluate a cell
 * (OWASP CSV injection): `=` `+` `-` `@` tab CR, by char code so that the
 * common cell costs one comparison chain, not a regex.
 */
function startsLikeFormula(code: number): boolean {
  return code === 0x3d || code === 0x2b || code === 0x2d || code === 0x40 || code === 0x09 || code === 0x0d;
}

/**
 * Per delimiter, the characters that force quotes (RFC 4180): the delimiter,
 * a quote, CR or LF. One precompiled character class: a single native scan per
 * string cell, measured faster than four `includes` calls or a charCodeAt loop
 * (and ~5× faster than csv-stringify's per-cell cast and option merging).
 */
const specialsByDelimiter = new Map<string, RegExp>();
function specialsFor(delimiter: string): RegExp {
  let re = specialsByDelimiter.get(delimiter);
  if (re) return re;
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\r' || delimiter === '\n') {
    throw new RangeError(`a CSV delimiter is one character other than a quote, CR or LF (got ${JSON.stringify(delimiter)})`);
  }
  re = new RegExp(`["\\r\\n${delimiter.replace(/[\\\]^-]/g, '\\$&')}]`);
  specialsByDelimiter.set(delimiter, re);
  return re;
}

const quote = (text: string) => `"${text.replaceAll('"', '""')}"`;

/**
 * One text cell. An empty string is `""` (null stays an empty field, so a
 * reader can tell them apart). A formula-looking text gets a leading `'` and
 * is always quoted (unless the guard is off). A text starting with U+FEFF is
 * quoted: a reader that strips a byte order mark would otherwise eat it when
 * the cell opens the file.
 */
function textField(value: string, specials: RegExp, neutralize: boolean): string {
  if (value === '') return '""';
  const first = value.charCodeAt(0);
  if (neutralize && startsLikeFormula(first)) return quote(`'${value}`);
  return first === BOM_CODE || specials.test(value) ? quote(value) : value;
}

/**
 * Rows to CSV text: RFC 4180 with CRLF records, a field quoted when it holds
 * the delimiter, a quote, CR or LF (quotes doubled), numbers as numbers (never
 * neutralised: -1 is a number, not a formula), null as an empty field. Header
 * cells go through the same rules: column names come from payload keys. No BOM:
 * it belongs at the start of a file only. Called a page of rows at a time: one
 * string and one write per page is several times faster than an event per row.
 */
export function renderCsv(rows: readonly (readonly Cell[])[], dialect: CsvDialect): string {
  const { delimiter, neutralize } = dialect;
  const specials = specialsFor(delimiter);
  let out = '';
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) {
      if (i > 0) out += delimiter;
      const cell = row[i];
      if (typeof cell === 'string') out += textField(cell, specials, neutralize);
      else if (typeof cell === 'number') out += String(cell);
    }
    out += RECORD_END;
  }
  return out;
}
