import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeliveryControl, DeliveryReceipt, KeyedDelivery, LogDelivery, SyncTarget, ViewDelivery, ViewOutcome } from '../../model/sync.js';
import type { CsvDialect } from './csv-format.js';
import { DEFAULT_CSV_DIALECT } from '../../model/csv.js';
import { csvDialectKey } from './csv-dialect.js';
import { timeColumns } from '../../model/views.js';
import { copyHashed, createHashedFile, type HashedFile } from './hashed-file.js';
import { writeViewCsv } from './write-view-csv.js';
import { SpliceMismatch, spliceKeyedFile, writeKeyedFile } from './keyed-file.js';
import { renderCsv } from './csv-format.js';
import type { Cell } from '../../model/cells.js';
import { abortReason, sameList } from '../../lib/text.js';

/** What the csv target remembers per view, committed with the cursor. */
interface CsvFileState {
  /** Size of the file as of the confirmed cursor. */
  bytes: number;
  /** sha256 of those `bytes` bytes: the whole confirmed part, so an edit anywhere is seen. */
  sha256: string;
  header: string[];
  dialect: string;
  /** Inode, change time and size of the file once renamed into place: while they hold, nothing has touched it. */
  stamp: string;
  /** Keyed views: the derivation the file was written from (a new one means a full rewrite). */
  epoch?: string;
  /** Keyed views: where every ROWS_PER_CHECKPOINT-th row starts (see keyed-file.ts). */
  checkpoints?: number[];
}

/** The state as stored; anything else (an older format, a hand edit of the database) means a full rewrite. */
function fileState(v: unknown): CsvFileState | undefined {
  const s = v as Partial<CsvFileState> | null | undefined;
  const ok =
    typeof s === 'object' &&
    s !== null &&
    Number.isSafeInteger(s.bytes) &&
    typeof s.sha256 === 'string' &&
    typeof s.dialect === 'string' &&
    typeof s.stamp === 'string' &&
    Array.isArray(s.header) &&
    s.header.every((h) => typeof h === 'string') &&
    (s.checkpoints === undefined || (Array.isArray(s.checkpoints) && s.checkpoints.every((c) => Number.isSafeInteger(c))));
  return ok ? (s as CsvFileState) : undefined;
}

/** The change time cannot be set back by a user (utimes sets it to now), unlike mtime. */
const stampOf = (st: BigIntStats) => `${st.ino}:${st.ctimeNs}:${st.size}`;

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * `$CSV_DIR/<view>.csv`, always complete: each sync writes a temp file in the
 * same folder, fsyncs it and renames it over the old one, so a reader never
 * sees half a file. New rows are appended to a copy of the previous file cut
 * at the size recorded with the confirmed cursor: rows a crashed sync wrote
 * after that point are cut before the same rows are written again, so a retry
 * never duplicates. The old file is hashed while the kernel copies it and must
 * match the hash recorded for the confirmed part, so an edit by hand anywhere
 * in the file (even one that keeps its size) is seen; the hash then continues
 * over the appended bytes, so recording the new state costs no extra read. A new
 * column, another dialect, a file changed or removed by hand make a full
 * rewrite from the view.
 */
export function createCsvTarget(options: { dir: string } & ({ dialect: CsvDialect } | { delimiter: string; bom: boolean })): SyncTarget {
  // The short form (tests, tools): the default dialect with this delimiter and BOM.
  const dialect: CsvDialect = 'dialect' in options ? options.dialect : { ...DEFAULT_CSV_DIALECT, delimiter: options.delimiter, bom: options.bom };
  const dialectKey = csvDialectKey(dialect);

  async function removeStaleTemps(view: string): Promise<void> {
    // One sync per target at a time, and the caller checked it still holds the lock: any temp file here is a crashed run's.
    const names = await readdir(options.dir).catch(() => [] as string[]);
    await Promise.all(names.filter((n) => n.startsWith(`${view}.csv.tmp-`)).map((n) => rm(join(options.dir, n), { force: true })));
  }

  /** The confirmed part of the old file, then the new rows; undefined when the old part is not ours any more. */
  async function appendNewRows(temp: string, file: string, prev: CsvFileState, d: LogDelivery, signal?: AbortSignal): Promise<{ out: HashedFile; totalRows: number } | undefined> {
    const out = await copyHashed(file, temp, prev.bytes, prev.sha256, signal);
    if (!out) return undefined;
    try {
      const written = await writeViewCsv({
        pages: d.rows.pages({ fromSeq: d.cursor.deliveredSeq, toSeq: d.toSeq }),
        dialect: { ...dialect, bom: false },
        header: undefined,
        timeColumns: timeColumns(d.view, d.header),
        out: out.writable(),
        ...(signal ? { signal } : {}),
      });
      return { out, totalRows: d.cursor.deliveredRows + written };
    } catch (err) {
      await out.close();
      throw err;
    }
  }

  /** The whole of an append-only view up to toSeq. */
  function rewrite(out: HashedFile, d: LogDelivery, signal?: AbortSignal): Promise<number> {
    return writeViewCsv({ pages: d.rows.pages({ toSeq: d.toSeq }), dialect, header: d.header, timeColumns: timeColumns(d.view, d.header), out: out.writable(), ...(signal ? { signal } : {}) });
  }

  function renderer(d: ViewDelivery): (rows: Cell[][]) => string {
    const times = timeColumns(d.view, d.header);
    return (rows) => renderCsv(rows, dialect, times);
  }

  /** The old keyed file with its changed rows replaced and new ones added; undefined when it is not the file the state describes. */
  async function spliceRows(temp: string, file: string, prev: CsvFileState & { checkpoints: number[] }, d: KeyedDelivery, untouched: boolean, signal?: AbortSignal): Promise<{ out: HashedFile; rows: number; checkpoints: number[] } | undefined> {
    try {
      return await spliceKeyedFile({
        path: file,
        bytes: prev.bytes,
        sha256: prev.sha256,
        checkpoints: prev.checkpoints,
        known: d.cursor.deliveredRows,
        changes: d.rows.changed(d.cursor.deliveredSeq, d.cursor.deliveredRows),
        temp,
        render: renderer(d),
        verify: !untouched,
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (!(err instanceof SpliceMismatch)) throw err;
      await rm(temp, { force: true });
      return undefined;
    }
  }


  async function deliverView(d: ViewDelivery, { signal, fence }: DeliveryControl): Promise<DeliveryReceipt> {
    const file = join(options.dir, `${d.view}.csv`);
    const prev = fileState(d.cursor.state);
    const epoch = d.kind === 'keyed' ? d.epoch : undefined;
    const reusable = prev !== undefined && prev.dialect === dialectKey && sameList(prev.header, d.header) && prev.epoch === epoch ? prev : undefined;
    const before = await stat(file, { bigint: true }).catch(() => undefined);
    // Nothing new and the file untouched since we renamed it: no read at all (this runs every minute).
    const total = d.kind === 'keyed' ? d.rows.total : d.cursor.deliveredRows;
    if (reusable && d.pending === 0 && before && stampOf(before) === reusable.stamp) return { rows: 0, totalRows: total, state: reusable };

    // Not mkdir -p (it loops under /proc): the folder was checked when the target was made; recreate it alone if removed.
    await mkdir(options.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    // Only the lock holder may clear temp files: a run that was taken over would delete the new holder's.
    fence?.();
    await removeStaleTemps(d.view);
    const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    let out: HashedFile | undefined;
    try {
      let totalRows = 0;
      let checkpointsAfter: number[] | undefined;
      let whole = false;
      const writeWhole = async () => {
        await out?.close();
        await rm(temp, { force: true });
        out = await createHashedFile(temp);
        whole = true;
        if (d.kind === 'keyed') ({ rows: totalRows, checkpoints: checkpointsAfter } = await writeKeyedFile({ out, header: d.header, pages: d.rows.pages(), dialect, render: renderer(d), ...(signal ? { signal } : {}) }));
        else totalRows = await rewrite(out, d, signal);
      };
      if (d.kind === 'keyed') {
        // Changed rows are spliced in where they are; the whole view is written when the old file cannot be used.
        const checkpoints = reusable?.checkpoints;
        const spliced = reusable && checkpoints && before && before.size === BigInt(reusable.bytes) ? await spliceRows(temp, file, { ...reusable, checkpoints }, d, stampOf(before) === reusable.stamp, signal) : undefined;
        if (spliced) {
          out = spliced.out;
          totalRows = spliced.rows;
          checkpointsAfter = spliced.checkpoints;
        } else await writeWhole();
      } else {
        const appended = reusable && before && before.size >= BigInt(reusable.bytes) ? await appendNewRows(temp, file, reusable, d, signal) : undefined;
        if (appended) ({ out, totalRows } = appended);
        // No usable old part (or it did not match its hash): write the whole view.
        else await writeWhole();
      }
      if (!whole) {
        // Built on the old file: if anything wrote to it while it was read (its change time moved), what was
        // copied may be neither its old bytes nor the new ones; write the view whole instead.
        const during = await stat(file, { bigint: true }).catch(() => undefined);
        if (!before || !during || stampOf(during) !== stampOf(before)) await writeWhole();
      }
      if (!out) throw new Error('no file was written');
      await out.commit();
      // Stop before the rename: an aborted run, or one whose lock was taken over, leaves the file as it was.
      signal?.throwIfAborted();
      fence?.();
      await rename(temp, file);
      await fsyncPath(options.dir);
      const state: CsvFileState = {
        bytes: out.bytes,
        sha256: out.digest(),
        header: d.header,
        dialect: dialectKey,
        stamp: stampOf(await stat(file, { bigint: true })),
        ...(epoch === undefined ? {} : { epoch }),
        ...(checkpointsAfter === undefined ? {} : { checkpoints: checkpointsAfter }),
      };
      // A keyed view written whole (a new epoch, a file changed by hand) delivered every row again.
      return { rows: whole ? totalRows : d.pending, totalRows, state };
    } catch (err) {
      await out?.close();
      await rm(temp, { force: true });
      throw err;
    }
  }

  return {
    name: 'csv',
    async deliver(views: ViewDelivery[], control: DeliveryControl = {}): Promise<ViewOutcome[]> {
      const { signal } = control;
      const outcomes: ViewOutcome[] = [];
      for (const d of views) {
        if (signal?.aborted) {
          outcomes.push({ view: d.view, ok: false, error: `not delivered: the sync was stopped (${abortReason(signal)})` });
          continue;
        }
        try {
          outcomes.push({ view: d.view, ok: true, receipt: await deliverView(d, control) });
        } catch (err) {
          outcomes.push({ view: d.view, ok: false, error: (err as Error).message });
        }
      }
      return outcomes;
    },
  };
}
