import type { Settings } from '../../config/settings.js';
import type { CsvDialect } from '../../model/csv.js';

/** The CSV target's dialect, from CSV_DELIMITER, CSV_BOM, CSV_FORMULA_GUARD, CSV_DECIMAL, CSV_TIME_FORMAT and REPORT_TIMEZONE. */
export function csvDialectFromSettings(settings: Pick<Settings, 'csvDelimiter' | 'csvBom' | 'csvFormulaGuard' | 'csvDecimal' | 'csvTimeFormat' | 'reportTimezone'>): CsvDialect {
  return {
    delimiter: settings.csvDelimiter,
    bom: settings.csvBom,
    guard: settings.csvFormulaGuard,
    decimal: settings.csvDecimal,
    timeFormat: settings.csvTimeFormat,
    timeZone: settings.reportTimezone,
  };
}

/**
 * Everything a file's bytes depend on besides its rows, as one string to keep
 * with the file: new rows may be appended only to a file written under the
 * same key, else the file is rewritten. The zone counts only for `local`
 * times. `rules` numbers the rendering rules: 2 writes booleans and leaves
 * plain signed decimals (`-12`) unguarded, so a file written by the earlier
 * rules (whose key had no `rules`) is rewritten once rather than continued.
 */
export function csvDialectKey(d: CsvDialect): string {
  return JSON.stringify({ rules: 2, d: d.delimiter, b: d.bom, g: d.guard, n: d.decimal, t: d.timeFormat, ...(d.timeFormat === 'local' ? { z: d.timeZone } : {}) });
}
