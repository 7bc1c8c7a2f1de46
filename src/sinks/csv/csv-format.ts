import type { Cell } from '../../model/cells.js';
import { dialectProblem, type CsvDialect } from '../../model/csv.js';
import { localDateTimeFormatter, perZone } from '../../model/time.js';
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
 * A plain decimal number: an optional sign, ASCII digits, optionally `.` and
 * more digits (`-1250.50`, `+3`, `-0.5`). Such text is a number to every
 * spreadsheet and never a formula, so the guard leaves it readable as one.
 * Deliberately narrow: `-1e5` is a number to Excel too, but so are `-1E+5`,
 * `-1%`, `-1,000` or `-$1` depending on tool and locale; each shape let
 * through is one more to prove harmless everywhere, for text that is rarely a
 * number anyway (ids, codes). Those keep their `'`, which loses nothing.
 */
const PLAIN_DECIMAL = /^[+-]?[0-9]+(?:\.[0-9]+)?$/;

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
 * reader can tell them apart). A formula-looking text that is not a plain
 * decimal gets a leading `'` and is always quoted (unless the guard is off).
 * A text starting with U+FEFF is quoted: a reader that strips a byte order
 * mark would otherwise eat it when the cell opens the file.
 */
function textField(value: string, specials: RegExp, guard: boolean): string {
  if (value === '') return '""';
  const first = value.charCodeAt(0);
  if (guard && startsLikeFormula(first) && !PLAIN_DECIMAL.test(value)) return quote(`'${value}`);
  return first === BOM_CODE || specials.test(value) ? quote(value) : value;
}

/**
 * A number in positional notation (`1e+21` → `1000000000000000000000`,
 * `1.5e-7` → `0.00000015`): the same decimal value as JavaScript's shortest
 * form, so it reads back as the same double.
 */
export function positional(n: number): string {
  const s = String(n);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const sign = n < 0 ? '-' : '';
  const mantissa = s.slice(sign.length, e);
  const dot = mantissa.indexOf('.');
  const digits = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  // Where the decimal point falls in `digits` once the exponent is applied.
  const point = (dot < 0 ? mantissa.length : dot) + Number(s.slice(e + 1));
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + '0'.repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/**
 * A number for a comma locale (`8,6`, `-1250,5`). Positional, not `1,5e-7`:
 * an exponent is one more thing a comma-locale reader must get right, while
 * plain digits and a comma are what every one of them types. The `.` decimal
 * keeps JavaScript's own form, exponents included (`1e+21`): Excel, Sheets,
 * LibreOffice (checked with 7.4, English and German) and CSV libraries all
 * read it as a number, and files the CSV target wrote before stay continuable.
 */
const commaNumber = (n: number): string => positional(n).replace('.', ',');

/** The local time of a time cell, or the cell as text when it is not an ISO date-time (or its wall clock leaves years 0000–9999). */
function timeField(value: string, local: (iso: string) => string | undefined, comma: boolean, specials: RegExp, guard: boolean): string {
  const text = local(value);
  if (text === undefined) return textField(value, specials, guard);
  // Seconds are a decimal too: German Excel and LibreOffice read `41,923` (and not `41.923`) as a time.
  return comma ? `${text.slice(0, 19)},${text.slice(20)}` : text;
}

/** One formatter per zone, kept across pages: it caches each hour's offset. */
const localFormatterFor = perZone(localDateTimeFormatter);

/**
 * One dialect's record writer, prepared once (delimiter check, quoting class,
 * local-time formatter): what renderCsv does for a page, for callers that
 * write row by row and cut the text where they like (write-view-csv.ts keeps
 * its strings small). The rules are renderCsv's.
 */
export function recordRenderer(dialect: CsvDialect, timeColumns?: readonly boolean[]): (row: readonly Cell[]) => string {
  const { delimiter, guard } = dialect;
  const specials = specialsFor(delimiter);
  const problem = dialectProblem(dialect);
  if (problem !== undefined) throw new RangeError(problem);
  const comma = dialect.decimal === ',';
  // Undefined unless some column is a time to convert: the common row never looks at timeColumns.
  const local = dialect.timeFormat === 'local' && timeColumns?.includes(true) ? localFormatterFor(dialect.timeZone) : undefined;
  return (row) => {
    let out = '';
    for (let i = 0; i < row.length; i++) {
      if (i > 0) out += delimiter;
      const cell = row[i];
      if (typeof cell === 'string') {
        out += local !== undefined && timeColumns![i] === true ? timeField(cell, local, comma, specials, guard) : textField(cell, specials, guard);
      } else if (typeof cell === 'number') out += comma ? commaNumber(cell) : String(cell);
      else if (typeof cell === 'boolean') out += cell ? 'true' : 'false';
    }
    return out + RECORD_END;
  };
}

/**
 * Rows to CSV text: RFC 4180 with CRLF records, a field quoted when it holds
 * the delimiter, a quote, CR or LF (quotes doubled), numbers as numbers (never
 * guarded: -1 is a number, not a formula; with a comma decimal, `8,6`),
 * booleans as `true`/`false`, null as an empty field. `timeColumns[i]` marks
 * the columns that hold ISO 8601 times: with the `local` time format they are
 * written on the wall clock of the dialect's zone. Header cells go through the
 * same rules (without time columns): column names come from payload keys. No
 * BOM: it belongs at the start of a file only. Called a page of rows at a time:
 * one string and one write per page is several times faster than an event per
 * row.
 */
export function renderCsv(rows: readonly (readonly Cell[])[], dialect: CsvDialect, timeColumns?: readonly boolean[]): string {
  const record = recordRenderer(dialect, timeColumns);
  let out = '';
  for (const row of rows) out += record(row);
  return out;
}
