/** How a CSV file is written: everything that changes its bytes for the same rows. */
export interface CsvDialect {
  /** `,` `;` `|` or a tab. */
  delimiter: string;
  /** Start the file with a UTF-8 byte order mark (Excel on Windows wants it for non-ASCII text). */
  bom: boolean;
  /** Neutralise text a spreadsheet would run as a formula (off for `export --raw` and CSV_FORMULA_GUARD=false). */
  guard: boolean;
  /** Decimal separator of numbers: `,` for Excel in comma locales (never with `,` as the delimiter). */
  decimal: CsvDecimal;
  /** Time columns as received (`iso`, UTC) or as `yyyy-mm-dd HH:MM:SS.mmm` on the wall clock of `timeZone` (`local`). */
  timeFormat: CsvTimeFormat;
  /** IANA zone of `local` times. */
  timeZone: string;
}

export const CSV_DECIMALS = ['.', ','] as const;
export type CsvDecimal = (typeof CSV_DECIMALS)[number];
export const CSV_TIME_FORMATS = ['iso', 'local'] as const;
export type CsvTimeFormat = (typeof CSV_TIME_FORMATS)[number];

/** The dialect before any setting or flag: what ember-sync wrote before these options existed. */
export const DEFAULT_CSV_DIALECT: Readonly<CsvDialect> = { delimiter: ',', bom: false, guard: true, decimal: '.', timeFormat: 'iso', timeZone: 'UTC' };

/** Why a dialect cannot be written, or undefined: a decimal comma in a comma-separated file would split every number. */
export function dialectProblem(d: Pick<CsvDialect, 'delimiter' | 'decimal'>): string | undefined {
  return d.decimal === ',' && d.delimiter === ',' ? 'a decimal comma needs ; | or tab as the delimiter, not ,' : undefined;
}
