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
  // The cursor and the column list in one read: the header is exactly as wide as every row.
  const { toSeq, registry } = store.db.transaction(() => ({ toSeq: store.projection.cursor(), registry: store.projection.columns() }))();
  const { header, rows } = store.views.snapshot(req.view, registry);
  const slice = { toSeq, since: req.since, until: req.until };
  const total = onProgress ? rows.count(slice) : 0;
  return writeViewCsv({
    pages: rows.pages(slice),
    dialect: req.dialect,
    header,
    out,
    end: out !== process.stdout,
    ...(onProgress ? { onProgress: (rows: number) => onProgress(rows, total) } : {}),
  });
}
