import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_CSV_DIALECT } from '../../model/csv.js';
import { splitByMonth, type Partition } from '../../model/partition.js';
import type { DeliveryControl, DeliveryReceipt, SyncTarget, ViewDelivery, ViewOutcome } from '../../model/sync.js';
import { abortReason, sameList } from '../../lib/text.js';
import { csvDialectKey } from './csv-dialect.js';
import type { CsvDialect } from './csv-format.js';
import { isSplit, layoutKey, readState, rowsIn, stampOf, type CsvFileEntry, type CsvViewState } from './csv-state.js';
import { checkViewFolder, createFileBatch, ensureDir, removeOtherLayout, removeStaleTemps, writeProblem } from './file-batch.js';
import { writeKeyedFiles } from './keyed-files.js';
import { writeLogFiles } from './log-files.js';

export type CsvTargetOptions = { dir: string } & (
  | { dialect: CsvDialect; partition: Partition }
  /** The short form (tests, tools): the default dialect with this delimiter and BOM, one file per view unless told. */
  | { delimiter: string; bom: boolean; partition?: Partition }
);

/** Every file as the last confirmed sync left it (inode, change time, size): then nothing needs reading. */
async function untouched(dir: string, files: Record<string, CsvFileEntry>): Promise<boolean> {
  const stamps = await Promise.all(Object.entries(files).map(([rel, e]) => stat(join(dir, ...rel.split('/')), { bigint: true }).then((st) => stampOf(st) === e.stamp, () => false)));
  return stamps.every(Boolean);
}

/**
 * The CSV target: `$CSV_DIR/<view>.csv`, or with `partition: 'month'`
 * `$CSV_DIR/<view>/<view>-<yyyy-mm>.csv` per month (in REPORT_TIMEZONE) of
 * received_at (append-only views) or first_received_at (contents,
 * content_scores); the daily views stay one file each. Every file is always
 * complete: written to a temp file in its folder, fsynced and renamed over the
 * old one. A sync touches only the files whose rows changed (the current
 * month's, mostly): new rows are appended to a copy of the file's confirmed
 * part (append-only views, see log-files.ts) or spliced in at their positions
 * (keyed views, see keyed-files.ts), each old file checked against the hash
 * recorded with the cursor, so an edit by hand anywhere is seen and rows a
 * crashed sync wrote after the cursor are cut, never duplicated. A new
 * column, another dialect, zone, layout or derivation rewrites the view's
 * files; a new layout is complete and durable before the old one is removed.
 */
export function createCsvTarget(options: CsvTargetOptions): SyncTarget {
  const dialect: CsvDialect = 'dialect' in options ? options.dialect : { ...DEFAULT_CSV_DIALECT, delimiter: options.delimiter, bom: options.bom };
  const partition: Partition = options.partition ?? 'none';
  const dialectKey = csvDialectKey(dialect);
  const dir = options.dir;

  async function deliverView(d: ViewDelivery, control: DeliveryControl): Promise<DeliveryReceipt> {
    const { signal, fence } = control;
    const split = isSplit(d.view, partition);
    const layout = layoutKey(split, d.zone);
    const epoch = d.kind === 'keyed' ? d.epoch : undefined;
    const prev = readState(d.cursor.state, d.view, d.cursor.deliveredRows);
    const reusable = prev && prev.dialect === dialectKey && prev.layout === layout && prev.epoch === epoch && sameList(prev.header, d.header) ? prev : undefined;
    // Nothing new and every file untouched since we renamed it: no read at all (this runs every minute).
    if (reusable && d.pending === 0 && (await untouched(dir, reusable.files))) return { rows: 0, totalRows: rowsIn(reusable.files), state: reusable };

    // The folder was checked when the target was made; recreated alone if removed.
    await ensureDir(dir);
    if (split) await checkViewFolder(dir, d.view);
    // Only the lock holder may clear temp files: a run that was taken over would delete the new holder's.
    signal?.throwIfAborted();
    fence?.();
    await removeStaleTemps(dir, d.view);
    const batch = createFileBatch(dir);
    try {
      const input = { dialect, split, prev: reusable?.files, batch, dir, signal };
      const { kept, rendered } = d.kind === 'keyed' ? await writeKeyedFiles({ ...input, d }) : await writeLogFiles({ ...input, d });
      const published = await batch.publish(control);
      const merged = { ...kept, ...published };
      const files: Record<string, CsvFileEntry> = {};
      for (const rel of Object.keys(merged).sort()) files[rel] = merged[rel]!;
      // The new layout is in place: what the other one left goes (a crash before leaves both, the next sync ends it).
      if (splitByMonth(d.view)) await removeOtherLayout(dir, d.view, split, files, new Set(Object.keys(prev?.files ?? {})), control);
      const state: CsvViewState = { v: 2, header: d.header, dialect: dialectKey, layout, ...(epoch === undefined ? {} : { epoch }), files };
      return { rows: rendered, totalRows: rowsIn(files), state };
    } catch (err) {
      await batch.discard();
      throw writeProblem(err);
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
