import { stringify, type Options } from 'csv-stringify/sync';
import type { Cell } from '../../model/cells.js';
import type { CsvDialect } from '../../model/csv.js';
export type { CsvDialect };

export const BOM = '\uFEFF';

/** OWASP CSV injection: these leading characters make Excel, Sheets and LibreOffice evaluate a cell. */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * csv-stringify options for a dialect: RFC 4180 with CRLF records, fields
 * quoted when needed, numbers as numbers, null as an empty field and an empty
 * string as `""` (so a reader can tell them apart), a lone CR quoted too.
 * Formula-looking strings get a leading `'` and are always quoted; a number is
 * never neutralised (-1 is a number, not a formula). Header cells go through
 * the same rules: column names come from payload keys.
 */
function optionsFor(dialect: CsvDialect): Options {
  return { delimiter: dialect.delimiter, record_delimiter: 'windows', cast: { string: dialect.neutralize ? neutralized : quotedWhenNeeded } };
}

/**
 * Per string cell: an empty string becomes `""` (null stays an empty field),
 * a lone CR is quoted (csv-stringify only quotes CRLF by itself). Done in the
 * cast rather than with `quoted_match` regexes: this runs for every cell, and
 * only the rare cells pay for an options object.
 */
type CastResult = string | { value: string; quoted?: true; quoted_empty?: true };
const EMPTY: CastResult = { value: '', quoted_empty: true };
function quotedWhenNeeded(value: string): CastResult {
  if (value === '') return EMPTY;
  return value.includes('\r') ? { value, quoted: true } : value;
}
function neutralized(value: string): CastResult {
  return FORMULA_START.test(value) ? { value: `'${value}`, quoted: true } : quotedWhenNeeded(value);
}

/**
 * Rows to CSV text (no BOM: it belongs at the start of a file only). Called a
 * page of rows at a time: one string and one write per page is several times
 * faster than a stream event per row.
 */
export function renderCsv(rows: readonly (readonly Cell[])[], dialect: CsvDialect): string {
  return stringify(rows as Cell[][], optionsFor(dialect));
}
