import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeliveryReceipt, SyncTarget, ViewDelivery, ViewOutcome } from '../../model/sync.js';
import type { CsvDialect } from './csv-format.js';
import { writeViewCsv } from './write-view-csv.js';

/** What the csv target remembers per view, committed with the cursor. */
interface CsvFileState {
  /** Size of the file as of the confirmed cursor. */
  bytes: number;
  /** sha256 of the last TAIL bytes before `bytes`: the file still ends where we left it. */
  tail: string;
  header: string[];
  dialect: string;
}

const TAIL = 4096;

async function tailHash(path: string, bytes: number): Promise<string | undefined> {
  const start = Math.max(0, bytes - TAIL);
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    const buf = Buffer.alloc(bytes - start);
    const { bytesRead } = await fh.read(buf, 0, buf.length, start);
    if (bytesRead !== buf.length) return undefined;
    return createHash('sha256').update(buf).digest('hex');
  } finally {
    await fh.close();
  }
}

async function fsyncPath(path: string, flags = 'r'): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * `$CSV_DIR/<view>.csv`, always complete: each sync writes a temp file in the
 * same folder and renames it over the old one, so a reader never sees half a
 * file. New rows are appended to a copy of the previous file, truncated first
 * to the size recorded with the confirmed cursor: rows a crashed sync wrote
 * after that point are cut before the same rows are written again, so a retry
 * never duplicates. A new column, another dialect or a file changed or removed
 * by hand makes a full rewrite from the view.
 */
export function createCsvTarget(options: { dir: string; delimiter: string; bom: boolean }): SyncTarget {
  const dialect: CsvDialect = { delimiter: options.delimiter, bom: options.bom, neutralize: true };
  const dialectKey = JSON.stringify({ d: dialect.delimiter, b: dialect.bom });

  async function removeStaleTemps(view: string): Promise<void> {
    // One sync per target at a time (the lock): any temp file here is a crashed run's.
    const names = await readdir(options.dir).catch(() => [] as string[]);
    await Promise.all(names.filter((n) => n.startsWith(`${view}.csv.tmp-`)).map((n) => rm(join(options.dir, n), { force: true })));
  }

  async function deliverView(d: ViewDelivery): Promise<DeliveryReceipt> {
    const file = join(options.dir, `${d.view}.csv`);
    const prev = d.cursor.state as CsvFileState | undefined;
    const size = (await stat(file).catch(() => undefined))?.size;
    const intact =
      prev !== undefined &&
      size !== undefined &&
      prev.dialect === dialectKey &&
      sameList(prev.header, d.header) &&
      size >= prev.bytes &&
      (await tailHash(file, prev.bytes)) === prev.tail;
    if (intact && d.pending === 0 && size === prev.bytes) return { rows: 0, totalRows: d.cursor.deliveredRows, state: prev };

    await mkdir(options.dir, { recursive: true });
    await removeStaleTemps(d.view);
    const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      let totalRows: number;
      if (intact) {
        // A reflink where the filesystem has them (XFS, btrfs): O(1) instead of a full copy.
        await copyFile(file, temp, fsConstants.COPYFILE_FICLONE);
        await truncate(temp, prev.bytes);
        const written = await writeViewCsv({
          pages: d.rows.pages({ fromSeq: d.cursor.deliveredSeq, toSeq: d.toSeq }),
          dialect: { ...dialect, bom: false },
          header: undefined,
          out: createWriteStream(temp, { flags: 'a' }),
        });
        totalRows = d.cursor.deliveredRows + written;
      } else {
        totalRows = await writeViewCsv({ pages: d.rows.pages({ toSeq: d.toSeq }), dialect, header: d.header, out: createWriteStream(temp) });
      }
      await fsyncPath(temp);
      const bytes = (await stat(temp)).size;
      await rename(temp, file);
      await fsyncPath(options.dir);
      const tail = (await tailHash(file, bytes))!;
      return { rows: d.pending, totalRows, state: { bytes, tail, header: d.header, dialect: dialectKey } satisfies CsvFileState };
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  return {
    name: 'csv',
    async deliver(views: ViewDelivery[]): Promise<ViewOutcome[]> {
      const outcomes: ViewOutcome[] = [];
      for (const d of views) {
        try {
          outcomes.push({ view: d.view, ok: true, receipt: await deliverView(d) });
        } catch (err) {
          outcomes.push({ view: d.view, ok: false, error: (err as Error).message });
        }
      }
      return outcomes;
    },
  };
}
