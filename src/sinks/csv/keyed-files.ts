import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cell } from '../../model/cells.js';
import type { KeyedDelivery, KeyedRows, PositionedRow } from '../../model/sync.js';
import { timeColumns } from '../../model/views.js';
import { renderCsv } from './csv-format.js';
import { monthFile, stampOf, wholeFile, type CsvFileEntry } from './csv-state.js';
import { ensureDir, type StagedFile } from './file-batch.js';
import { createHashedFile } from './hashed-file.js';
import { SpliceMismatch, spliceKeyedFile, writeKeyedFile } from './keyed-file.js';
import type { FilesInput, FilesOutcome } from './log-files.js';

export type KeyedFilesInput = FilesInput<KeyedDelivery>;

/** One file of a keyed view: its rows (positions within the file) and whether any may have changed. */
interface KeyedUnit {
  rel: string;
  rows: KeyedRows;
  /** The last event that renumbered these rows: a file confirmed before it is written whole. */
  resetSeq: number;
  /** Some row of it may have changed since the cursor (else only a touched file is read). */
  changed: boolean;
}

async function unitsOf(d: KeyedDelivery, split: boolean, prev: Record<string, CsvFileEntry> | undefined, retainFrom: string | undefined): Promise<KeyedUnit[]> {
  if (!split) {
    const rel = wholeFile(d.view);
    return [{ rel, rows: d.rows, resetSeq: 0, changed: d.pending > 0 || d.rows.total !== prev?.[rel]?.rows }];
  }
  const months = d.rows.months;
  if (!months) throw new Error(`${d.view} is not split by month by the store`);
  const changed = await months.changedSince(d.cursor.deliveredSeq);
  // A month without rows (they all moved to another month) gets no file: removed with the layout's leftovers. So does
  // a month before retainFrom (RETENTION_DAYS deleted it; rows the store still lists for it must not bring it back).
  return months.list
    .filter((m) => m.total > 0 && (retainFrom === undefined || m.month >= retainFrom))
    .map((m) => {
      const rel = monthFile(d.view, m.month);
      const rows = months.rows(m.month);
      return { rel, rows, resetSeq: m.resetSeq, changed: changed.has(m.month) || rows.total !== prev?.[rel]?.rows };
    });
}

/** Counts the rows an iterable of pages hands out. */
async function* counted(pages: AsyncIterable<PositionedRow[]>, onPage: (n: number) => void): AsyncGenerator<PositionedRow[]> {
  for await (const page of pages) {
    onPage(page.length);
    yield page;
  }
}

/**
 * A keyed view's files (the whole view, or one per month of its rows'
 * first_received_at). Each is spliced as the one file of a keyed view is
 * (keyed-file.ts): its changed rows replaced where they are, new rows added at
 * its end, with that file's own positions. A file whose rows cannot have
 * changed and that nobody touched is not read. A file is written whole when
 * it has no usable state: none recorded, its rows renumbered after the cursor
 * (resetSeq), or it is not the file the state describes.
 */
export async function writeKeyedFiles(o: KeyedFilesInput): Promise<FilesOutcome> {
  const { d, dialect, batch, split, prev, signal } = o;
  const times = timeColumns(d.view, d.header);
  const render = (rows: Cell[][]) => renderCsv(rows, dialect, times);
  const since = d.cursor.deliveredSeq;
  const kept: Record<string, CsvFileEntry> = {};
  let rendered = 0;
  if (split) await ensureDir(join(o.dir, d.view));

  for (const unit of await unitsOf(d, split, prev, o.retainFrom)) {
    signal?.throwIfAborted();
    const { rel, rows } = unit;
    const path = batch.pathOf(rel);
    const entry = prev?.[rel];
    const checkpoints = entry?.checkpoints;
    const before = entry ? await stat(path, { bigint: true }).catch(() => undefined) : undefined;
    const untouched = before !== undefined && stampOf(before) === entry?.stamp;
    const usable = entry && checkpoints && unit.resetSeq <= since && rows.total >= entry.rows;
    if (usable && untouched && !unit.changed) {
      kept[rel] = entry;
      continue;
    }
    if (usable && before && before.size === BigInt(entry.bytes)) {
      const temp = batch.tempFor(rel);
      let changedRows = 0;
      const spliced = await spliceKeyedFile({
        path,
        bytes: entry.bytes,
        sha256: entry.sha256,
        checkpoints,
        known: entry.rows,
        changes: counted(rows.changed(since, entry.rows), (n) => (changedRows += n)),
        temp,
        render,
        verify: !untouched,
        ...(signal ? { signal } : {}),
      }).catch(async (err: unknown) => {
        await rm(temp, { force: true });
        if (!(err instanceof SpliceMismatch)) throw err;
        return undefined;
      });
      if (spliced) {
        await batch.add(rel, { out: spliced.out, temp, rows: spliced.rows, checkpoints: spliced.checkpoints });
        // Built on the old file: if anything wrote to it while it was read, write it whole instead.
        const during = await stat(path, { bigint: true }).catch(() => undefined);
        if (during && stampOf(during) === stampOf(before)) {
          await batch.seal(rel);
          rendered += changedRows;
          continue;
        }
        await batch.drop(rel);
      }
    }
    const temp = batch.tempFor(rel);
    const out = await createHashedFile(temp);
    const staged: StagedFile = { out, temp, rows: 0 };
    await batch.add(rel, staged);
    const whole = await writeKeyedFile({ out, header: d.header, pages: rows.pages(), dialect, render, ...(signal ? { signal } : {}) });
    staged.rows = whole.rows;
    staged.checkpoints = whole.checkpoints;
    await batch.seal(rel);
    rendered += whole.rows;
  }
  return { kept, rendered };
}
