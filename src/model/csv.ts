export interface CsvDialect {
  /** `,` `;` `|` or a tab. */
  delimiter: string;
  /** Start the file with a UTF-8 byte order mark (Excel on Windows wants it for non-ASCII text). */
  bom: boolean;
  /** Neutralise cells a spreadsheet would run as a formula (off only for `export --raw`). */
  neutralize: boolean;
}
