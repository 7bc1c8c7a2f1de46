import type { Writable } from 'node:stream';
import { writeViewCsv } from '../sinks/csv/write-view-csv.js';
import type { Store } from '../store/create-store.js';
import type { ExportRequest } from '../views/export-options.js';
import { catchUpAsync } from './projector.js';

/**
 * One view as CSV, current as of now: pending events are projected first, then
 * the rows up to that point are streamed (header included) into `out`.
 */
export async function exportView(store: Store, req: ExportRequest, out: Writable, onProgress?: (rows: number, total: number) => void): Promise<number> {
  await catchUpAsync(store.projection);
  const slice = { toSeq: store.projection.cursor(), since: req.since, until: req.until };
  const total = onProgress ? store.views.count(req.view, slice) : 0;
  return writeViewCsv({
    reader: store.views,
    view: req.view,
    slice,
    dialect: req.dialect,
    header: store.views.header(req.view),
    out,
    end: out !== process.stdout,
    ...(onProgress ? { onProgress: (rows: number) => onProgress(rows, total) } : {}),
  });
}
