import { stringify, type Stringifier } from 'csv-stringify';

export interface CsvDialect {
  /** `,` `;` `|` or a tab. */
  delimiter: string;
  /** Start the file with a UTF-8 byte order mark (Excel on Windows wants it for non-ASCII text). */
  bom: boolean;
  /** Neutralise cells a spreadsheet would run as a formula (off only for `export --raw`). */
  neutralize: boolean;
}

/** OWASP CSV injection: these leading characters make Excel, Sheets and LibreOffice evaluate a cell. */
const FORMULA_START = /^[=+\-@\t\r]/;

export function looksLikeFormula(value: string): boolean {
  return FORMULA_START.test(value);
}

/**
 * RFC 4180 through csv-stringify: CRLF records, fields quoted when needed,
 * numbers as numbers, null as an empty field and an empty string as `""` (so a
 * reader can tell them apart). Formula-looking strings get a leading `'` and
 * are always quoted. A number is never neutralised: -1 is a number, not a formula.
 * Header cells go through the same rules (column names come from payload keys).
 */
export function createCsvStringifier(dialect: CsvDialect): Stringifier {
  return stringify({
    delimiter: dialect.delimiter,
    bom: dialect.bom,
    record_delimiter: 'windows',
    // An empty string is "" (null never reaches the matcher and stays an empty field);
    // a lone CR must be quoted too (RFC 4180), which csv-stringify does not do by itself.
    quoted_match: [/^$/, /\r/],
    cast: dialect.neutralize
      ? { string: (value: string) => (FORMULA_START.test(value) ? { value: `'${value}`, quoted: true } : value) }
      : {},
  });
}
