import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ViewName } from '../../views/view-names.js';
import type { SliceOptions, ViewReader } from '../../views/view-reader.js';
import { createCsvStringifier, type CsvDialect } from './csv-format.js';

export interface WriteViewCsvOptions {
  reader: ViewReader;
  view: ViewName;
  slice: SliceOptions;
  dialect: CsvDialect;
  /** The header row (omitted when appending to an existing file). */
  header: readonly string[] | undefined;
  out: Writable;
  /** Called after each page with the rows written so far (progress bars). */
  onProgress?: (rows: number) => void;
  /** End `out` when done (default). Off for stdout, which is never ended. */
  end?: boolean;
}

/**
 * Streams a slice of a view as CSV into `out` (ended afterwards unless told) with
 * backpressure: one page of rows in memory at a time, whatever the size of the
 * view. Resolves with the number of data rows once `out` has finished.
 */
export async function writeViewCsv(o: WriteViewCsvOptions): Promise<number> {
  const csv = createCsvStringifier(o.dialect);
  const end = o.end ?? true;
  const flowing = csv.pipe(o.out, { end });
  let failure: unknown;
  const onError = (err: unknown) => (failure ??= err);
  csv.on('error', onError);
  o.out.on('error', onError);
  let rows = 0;
  try {
    if (o.header) csv.write([...o.header]);
    for (const page of o.reader.pages(o.view, o.slice)) {
      for (const row of page) {
        if (!csv.write(row.cells)) await Promise.race([once(csv, 'drain'), once(o.out, 'close')]);
        if (failure) throw failure;
      }
      rows += page.length;
      o.onProgress?.(rows);
    }
    csv.end();
    if (end) {
      await finished(flowing);
    } else {
      await finished(csv);
      if (o.out.writableNeedDrain) await once(o.out, 'drain');
    }
    if (failure) throw failure;
    return rows;
  } finally {
    csv.off('error', onError);
    o.out.off('error', onError);
  }
}
