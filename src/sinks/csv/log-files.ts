import type { BigIntStats } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cell } from '../../model/cells.js';
import { monthOfDay } from '../../model/partition.js';
import type { LogDelivery } from '../../model/sync.js';
import { dayFormatter } from '../../model/time.js';
import { timeColumns } from '../../model/views.js';
import { bufferedSink, type BufferedSink } from './buffered-sink.js';
import { BOM, renderCsv, type CsvDialect } from './csv-format.js';
import { monthFile, stampOf, wholeFile, type CsvFileEntry } from './csv-state.js';
import { ensureDir, type FileBatch, type StagedFile } from './file-batch.js';
import { copyHashed, createHashedFile } from './hashed-file.js';

/** Per file: many month files may be open at once (a full rewrite), each gathering this much before a write. */
const WRITE_CHUNK = 256 << 10;
/** Month files written at once that keep a descriptor (a full rewrite of centuries of months must not hit EMFILE). */
const MAX_OPEN = 64;

/** What writing one view's files needs (an append-only or a keyed delivery). */
export interface FilesInput<D> {
  d: D;
  dialect: CsvDialect;
  /** One file per month (received_at in d.zone, or the keyed rows' months), or the whole view in one file. */
  split: boolean;
  /** The files as of the confirmed cursor, in this layout, header, dialect (and epoch); undefined: write every file whole. */
  prev: Record<string, CsvFileEntry> | undefined;
  /**
   * Split views under RETENTION_DAYS: the first month still kept. Rows of an
   * earlier month get no file (the store deleted that month; a row the store
   * still hands out must not bring its file back). `prev` holds no such month.
   */
  retainFrom?: string | undefined;
  batch: FileBatch;
  dir: string;
  signal?: AbortSignal | undefined;
}
export type LogFilesInput = FilesInput<LogDelivery>;

export interface FilesOutcome {
  /** Files left as they were (not read, not rewritten). */
  kept: Record<string, CsvFileEntry>;
  /** Rows rendered by this sync (new ones, and every row of a file written whole). */
  rendered: number;
}

/** Which file a row goes to: its month's (of received_at in the zone), or the one file; none for a month before retainFrom. */
function router(d: LogDelivery, split: boolean, retainFrom: string | undefined): (row: Cell[]) => string | undefined {
  if (!split) {
    const rel = wholeFile(d.view);
    return () => rel;
  }
  const at = d.header.indexOf('received_at');
  if (at < 0) throw new Error(`${d.view} has no received_at column to split it by month`);
  const dayOf = dayFormatter(d.zone);
  // The rows of one webhook (scores, workflow fields) share their received_at: one conversion for them all.
  let lastCell: Cell = null;
  let lastRel: string | undefined;
  let cached = false;
  return (row) => {
    const cell = row[at] ?? null;
    if (cached && cell === lastCell) return lastRel;
    const day = typeof cell === 'string' ? dayOf(cell) : undefined;
    if (day === undefined) throw new Error(`${d.view}: a row's received_at ${JSON.stringify(cell)} is not a time, so it has no month`);
    const month = monthOfDay(day);
    lastCell = cell;
    cached = true;
    lastRel = retainFrom !== undefined && month < retainFrom ? undefined : monthFile(d.view, month);
    return lastRel;
  };
}

/** Rows of a page grouped by file, each group in page order (rows of no file left out). */
function byFile(page: Cell[][], fileOf: (row: Cell[]) => string | undefined): Map<string, Cell[][]> {
  const groups = new Map<string, Cell[][]>();
  for (const row of page) {
    const rel = fileOf(row);
    if (rel === undefined) continue;
    const g = groups.get(rel);
    if (g) g.push(row);
    else groups.set(rel, [row]);
  }
  return groups;
}

interface Writer {
  sink: BufferedSink;
  staged: StagedFile;
}

/**
 * An append-only view's files. New rows (events after the cursor) are routed
 * to their file: per file that gets some, the confirmed part of the old file
 * is copied while it is hashed (it must match the hash recorded with the
 * cursor: rows a crashed sync appended after it are cut, never duplicated)
 * and the new rows appended. A file with no new rows is only stat'ed: when
 * something touched it, it goes through the same copy (with nothing to
 * append), which puts back its confirmed part or finds it changed. A file
 * whose old part is not ours any more (edited, cut, removed) is written
 * whole: one scan of the view for all such files, keeping their rows.
 */
export async function writeLogFiles(o: LogFilesInput): Promise<FilesOutcome> {
  const { d, dialect, batch, split, signal } = o;
  const times = timeColumns(d.view, d.header);
  const fileOf = router(d, split, split ? o.retainFrom : undefined);
  const render = (rows: Cell[][]) => renderCsv(rows, dialect, times);
  const headerText = (dialect.bom ? BOM : '') + renderCsv([d.header], dialect);
  // Made once, when the first new file needs it.
  let folder: Promise<void> | undefined;
  const folderReady = () => (folder ??= split ? ensureDir(join(o.dir, d.view)) : Promise.resolve());
  let rendered = 0;
  /** Writers holding a descriptor, least recently written first: past MAX_OPEN the oldest is parked (see HashedFile.park). */
  const live = new Map<string, Writer>();
  const using = async (rel: string, w: Writer): Promise<Writer> => {
    live.delete(rel);
    live.set(rel, w);
    while (live.size > MAX_OPEN) {
      const [oldest, parked] = live.entries().next().value as [string, Writer];
      live.delete(oldest);
      await parked.sink.end();
      await parked.staged.out.park();
    }
    return w;
  };

  /** A new file with the header, staged. */
  const fresh = async (rel: string): Promise<Writer> => {
    await folderReady();
    const temp = batch.tempFor(rel);
    const out = await createHashedFile(temp);
    const staged: StagedFile = { out, temp, rows: 0 };
    await batch.add(rel, staged);
    const sink = bufferedSink(out, WRITE_CHUNK);
    await sink.write(headerText);
    return { sink, staged };
  };

  /** Every row of the view up to toSeq into the files `wanted` selects (fresh ones), one scan for them all. */
  const writeWhole = async (wanted: (rel: string) => boolean, always: readonly string[]): Promise<void> => {
    const writers = new Map<string, Writer>();
    for await (const page of d.rows.pages({ toSeq: d.toSeq })) {
      signal?.throwIfAborted();
      for (const [rel, rows] of byFile(page, fileOf)) {
        if (!wanted(rel)) continue;
        let w = writers.get(rel);
        if (!w) writers.set(rel, (w = await fresh(rel)));
        await using(rel, w);
        await w.sink.write(render(rows));
        w.staged.rows += rows.length;
        rendered += rows.length;
      }
    }
    // A file kept whole exists even when the view has no rows (a header for the analyst).
    for (const rel of always) if (!writers.has(rel)) writers.set(rel, await using(rel, await fresh(rel)));
    for (const w of writers.values()) await w.sink.end();
  };

  const prev = o.prev;
  if (!prev) {
    await writeWhole(() => true, split ? [] : [wholeFile(d.view)]);
    return { kept: {}, rendered };
  }

  const rels = Object.keys(prev);
  const stats = new Map<string, BigIntStats | undefined>(await Promise.all(rels.map(async (rel) => [rel, await stat(batch.pathOf(rel), { bigint: true }).catch(() => undefined)] as const)));
  const broken = new Set<string>();
  const writers = new Map<string, Writer>();
  /** The stamp of each old file as it was when its confirmed part was copied: it must not move while we read. */
  const basis = new Map<string, string>();

  /** The file's writer: its old confirmed part copied (checked by its hash), or a new file; undefined when the old part is not ours. */
  const open = async (rel: string): Promise<Writer | undefined> => {
    if (broken.has(rel)) return undefined;
    const ready = writers.get(rel);
    if (ready) return ready;
    const entry = prev[rel];
    if (!entry) {
      const w = await fresh(rel);
      writers.set(rel, w);
      return w;
    }
    const before = stats.get(rel);
    const temp = batch.tempFor(rel);
    const out = before && before.size >= BigInt(entry.bytes) ? await copyHashed(batch.pathOf(rel), temp, entry.bytes, entry.sha256, signal) : undefined;
    if (!out) {
      await rm(temp, { force: true });
      broken.add(rel);
      return undefined;
    }
    basis.set(rel, stampOf(before!));
    const staged: StagedFile = { out, temp, rows: entry.rows };
    await batch.add(rel, staged);
    const w = { sink: bufferedSink(out, WRITE_CHUNK), staged };
    writers.set(rel, w);
    return w;
  };

  for await (const page of d.rows.pages({ fromSeq: d.cursor.deliveredSeq, toSeq: d.toSeq })) {
    signal?.throwIfAborted();
    for (const [rel, rows] of byFile(page, fileOf)) {
      const w = await open(rel);
      if (!w) continue;
      await using(rel, w);
      await w.sink.write(render(rows));
      w.staged.rows += rows.length;
      rendered += rows.length;
    }
  }
  // Files without new rows that something touched (or removed): their confirmed part put back, or found changed.
  for (const rel of rels) {
    const st = stats.get(rel);
    if (writers.has(rel) || (st && stampOf(st) === prev[rel]!.stamp)) continue;
    const w = await open(rel);
    if (w) await using(rel, w);
  }
  for (const w of writers.values()) await w.sink.end();
  // Built on an old file: if anything wrote to it while it was read (its change time moved), what was copied may
  // be neither its old bytes nor the new ones.
  for (const [rel, stamp] of basis) {
    const during = await stat(batch.pathOf(rel), { bigint: true }).catch(() => undefined);
    if (!during || stampOf(during) !== stamp) broken.add(rel);
  }
  if (broken.size > 0) {
    for (const rel of broken) {
      const w = writers.get(rel);
      if (w) rendered -= w.staged.rows - (prev[rel]?.rows ?? 0);
      await batch.drop(rel);
    }
    await writeWhole((rel) => broken.has(rel), [...broken]);
  }
  const kept: Record<string, CsvFileEntry> = {};
  for (const rel of rels) if (!batch.staged(rel)) kept[rel] = prev[rel]!;
  return { kept, rendered };
}
