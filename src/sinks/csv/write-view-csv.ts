import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Cell } from '../../model/cells.js';
import { BOM, recordRenderer, renderCsv, type CsvDialect } from './csv-format.js';

/**
 * Text is handed to `out` in strings of about this many UTF-16 units: below
 * V8's large-object size even as two-byte text, so they die young instead of
 * piling up in the large-object space between full collections, and one write
 * still carries hundreds of records.
 */
const CHUNK_CHARS = 32 * 1024;

/**
 * The longest stretch an export keeps the event loop. Backpressure alone is
 * not enough: a fast reader (curl on loopback) takes every write at once, so
 * `write` never asks to wait and a big export inside the server would hold
 * the only thread for seconds, webhooks waiting meanwhile.
 */
const YIELD_EVERY_MS = 10;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface WriteViewCsvOptions {
  /** The rows, a page at a time, aligned to the header (read from the store as they are written). */
  pages: AsyncIterable<Cell[][]> | Iterable<Cell[][]>;
  dialect: CsvDialect;
  /** The header row (omitted when appending to an existing file, and so is the BOM). */
  header: readonly string[] | undefined;
  /** Which columns hold ISO 8601 times (`timeColumns(view, header)`): written as local times when the dialect asks for them. */
  timeColumns?: readonly boolean[];
  out: Writable;
  /** Called after each page with the rows written so far (progress bars). */
  onProgress?: (rows: number) => void;
  /** End `out` when done (default). Off for stdout, which is never ended. */
  end?: boolean;
  /** Checked between pages: an aborted export stops with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Streams a slice of a view as CSV into `out`, a page of rows at a time with
 * backpressure: memory stays constant whatever the size of the view. Resolves
 * with the number of data rows once everything is handed to `out` (and `out`
 * has finished, when it is ended).
 */
export async function writeViewCsv(o: WriteViewCsvOptions): Promise<number> {
  // First: a dialect that cannot be written fails before any listener is attached.
  const record = recordRenderer(o.dialect, o.timeColumns);
  let failure: unknown;
  const onError = (err: unknown) => (failure ??= err);
  o.out.on('error', onError);
  // One listener for the whole export: a reader that goes away (HTTP client) must not leave us waiting for 'drain'.
  let gone: () => void = () => {};
  const outGone = new Promise<void>((resolve) => (gone = resolve));
  o.out.once('close', gone);
  const drained = () => Promise.race([once(o.out, 'drain'), outGone]);
  // A promise only when `out` asks to wait: most writes go on without a turn of the event loop.
  const write = (text: string): Promise<unknown> | undefined => {
    if (o.out.destroyed || failure) throw failure ?? new Error('the output was closed before the export finished');
    return o.out.write(text) ? undefined : drained();
  };
  let rows = 0;
  let since = performance.now();
  try {
    if (o.header) await write((o.dialect.bom ? BOM : '') + renderCsv([o.header as string[]], o.dialect));
    for await (const page of o.pages) {
      o.signal?.throwIfAborted();
      let text = '';
      for (const row of page) {
        text += record(row);
        if (text.length >= CHUNK_CHARS) {
          const wait = write(text);
          text = '';
          if (wait) await wait;
        }
      }
      if (text !== '') await write(text);
      rows += page.length;
      o.onProgress?.(rows);
      if (performance.now() - since >= YIELD_EVERY_MS) {
        await nextTurn();
        since = performance.now();
      }
    }
    if (o.end ?? true) {
      o.out.end();
      await finished(o.out);
    }
    if (failure) throw failure;
    return rows;
  } finally {
    o.out.off('error', onError);
    o.out.off('close', gone);
  }
}
