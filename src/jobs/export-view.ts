import type { Writable } from 'node:stream';
import type { Cell } from '../model/cells.js';
import { writeViewCsv } from '../sinks/csv/write-view-csv.js';
import type { Store } from '../store/store.js';
import type { ExportRequest } from '../views/export-options.js';
import { timeColumns } from '../model/views.js';
import { catchUpAsync } from './projector.js';

/** An export ready to stream: everything that can fail on the database side has happened. */
export interface PreparedExport {
  header: string[];
  pages: AsyncIterable<Cell[][]>;
  /** How many rows it holds (a count query: ask only for progress bars). */
  count(): Promise<number>;
}

/** Cells per page read from the database: a page is alive while it is written (see pageRows). */
const PAGE_CELLS = 4_000;

/**
 * Rows per page for a view this wide: about PAGE_CELLS cells, so a wide view
 * (up to MAX_DYNAMIC_COLUMNS columns) reads fewer rows at a time than a long
 * one. A page that outlives V8's young generation is promoted and held until a
 * full collection: pages of 500 rows of a wide view pushed an export past
 * 120 MB, pages of 200 kept it at 94 MB, at no cost in speed.
 */
export function pageRows(columns: number): number {
  return Math.max(8, Math.min(500, Math.floor(PAGE_CELLS / Math.max(1, columns))));
}

/**
 * Projects what is pending, then fixes the cursor and the column list in one
 * read: the header is exactly as wide as every row. Done before an answer is
 * started, so a busy database is a clear error (the API's 503), not a
 * download cut off after its 200.
 */
export async function prepareExport(store: Store, req: ExportRequest): Promise<PreparedExport> {
  await catchUpAsync(store.projection);
  const { toSeq, registry } = await store.projection.snapshot();
  const { header, rows } = await store.views.snapshot(req.view, registry);
  const slice = { toSeq, since: req.since, until: req.until, pageSize: pageRows(header.length) };
  return { header, pages: rows.pages(slice), count: () => rows.count(slice) };
}

/** Streams a prepared export as CSV (header included) into `out`; resolves with the number of rows. */
export async function writeExport(prepared: PreparedExport, req: ExportRequest, out: Writable, onProgress?: (rows: number, total: number) => void): Promise<number> {
  const total = onProgress ? await prepared.count() : 0;
  return writeViewCsv({
    pages: prepared.pages,
    dialect: req.dialect,
    header: prepared.header,
    timeColumns: timeColumns(req.view, prepared.header),
    out,
    end: out !== process.stdout,
    ...(onProgress ? { onProgress: (rows: number) => onProgress(rows, total) } : {}),
  });
}

/** One view as CSV, current as of now (prepare, then write). */
export async function exportView(store: Store, req: ExportRequest, out: Writable, onProgress?: (rows: number, total: number) => void): Promise<number> {
  return writeExport(await prepareExport(store, req), req, out, onProgress);
}
