import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_CSV_DIALECT } from '../../model/csv.js';
import { isMonthKey, splitByMonth, type Partition } from '../../model/partition.js';
import type { DeliveryControl, DeliveryReceipt, SyncTarget, ViewDelivery, ViewOutcome } from '../../model/sync.js';
import type { ViewName } from '../../model/views.js';
import { abortReason, sameList } from '../../lib/text.js';
import { csvDialectKey } from './csv-dialect.js';
import type { CsvDialect } from './csv-format.js';
import { isExpired, isSplit, layoutKey, readState, rowsIn, stampOf, type CsvFileEntry, type CsvViewState } from './csv-state.js';
import { checkViewFolder, createFileBatch, ensureDir, removeOtherLayout, removeStaleTemps, writeProblem } from './file-batch.js';
import { writeKeyedFiles } from './keyed-files.js';
import { writeLogFiles } from './log-files.js';

export type CsvTargetOptions = { dir: string } & (
  | { dialect: CsvDialect; partition: Partition }
  /** The short form (tests, tools): the default dialect with this delimiter and BOM, one file per view unless told. */
  | { delimiter: string; bom: boolean; partition?: Partition }
);

/**
 * The first month a split view keeps under RETENTION_DAYS; undefined when
 * nothing was deleted or the view is not split (CSV_PARTITION=none, which
 * settings refuse with RETENTION_DAYS, and the daily views keep everything).
 */
function retainedFrom(d: ViewDelivery, split: boolean): string | undefined {
  if (!split || d.retainFrom === undefined) return undefined;
  // Compared as text against file months: anything else could delete the wrong months.
  if (!isMonthKey(d.retainFrom)) throw new Error(`retainFrom ${JSON.stringify(d.retainFrom)} is not a month (yyyy-mm): nothing was written or removed`);
  return d.retainFrom;
}

/** The entries of the files not expired (see isExpired). */
function live(view: ViewName, files: Record<string, CsvFileEntry>, retainFrom: string | undefined): Record<string, CsvFileEntry> {
  if (retainFrom === undefined) return files;
  return Object.fromEntries(Object.entries(files).filter(([rel]) => !isExpired(view, rel, retainFrom)));
}

/** A notice names a few files, then counts the rest (a first run of retention may remove years of months). */
function someOf(names: readonly string[], shown = 5): string {
  return names.length <= shown ? names.join(', ') : `${names.slice(0, shown).join(', ')} and ${names.length - shown} more`;
}

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
 * Under RETENTION_DAYS (`retainFrom`), the month files of the months the store
 * deleted go the same way the old layout's files go (after the fence, only
 * files the confirmed state lists), leave the state, and are never written
 * again; `notices()` names what the last deliver removed.
 */
export function createCsvTarget(options: CsvTargetOptions): SyncTarget {
  const dialect: CsvDialect = 'dialect' in options ? options.dialect : { ...DEFAULT_CSV_DIALECT, delimiter: options.delimiter, bom: options.bom };
  const partition: Partition = options.partition ?? 'none';
  const dialectKey = csvDialectKey(dialect);
  const dir = options.dir;
  let notices: string[] = [];

  async function deliverView(d: ViewDelivery, control: DeliveryControl): Promise<DeliveryReceipt> {
    const { signal, fence } = control;
    const split = isSplit(d.view, partition);
    const layout = layoutKey(split, d.zone);
    const epoch = d.kind === 'keyed' ? d.epoch : undefined;
    const retainFrom = retainedFrom(d, split);
    const prev = readState(d.cursor.state, d.view, d.cursor.deliveredRows, retainFrom);
    const same = prev && prev.dialect === dialectKey && prev.layout === layout && prev.epoch === epoch && sameList(prev.header, d.header) ? prev : undefined;
    // Files of deleted months are neither reused nor checked (one already removed by a crashed run is fine).
    const reusable: CsvViewState | undefined = same ? { ...same, files: live(d.view, same.files, retainFrom) } : undefined;
    const expiring = same !== undefined && reusable !== undefined && Object.keys(reusable.files).length < Object.keys(same.files).length;
    // Nothing new, nothing to remove and every file untouched since we renamed it: no read at all (this runs every minute).
    if (reusable && !expiring && d.pending === 0 && (await untouched(dir, reusable.files))) return { rows: 0, totalRows: rowsIn(reusable.files), state: reusable };

    // The folder was checked when the target was made; recreated alone if removed.
    await ensureDir(dir);
    if (split) await checkViewFolder(dir, d.view);
    // Only the lock holder may clear temp files: a run that was taken over would delete the new holder's.
    signal?.throwIfAborted();
    await fence?.();
    await removeStaleTemps(dir, d.view);
    const batch = createFileBatch(dir);
    try {
      const input = { dialect, split, prev: reusable?.files, retainFrom, batch, dir, signal };
      const { kept, rendered } = d.kind === 'keyed' ? await writeKeyedFiles({ ...input, d }) : await writeLogFiles({ ...input, d });
      const published = await batch.publish(control);
      const merged = { ...kept, ...published };
      const files: Record<string, CsvFileEntry> = {};
      for (const rel of Object.keys(merged).sort()) files[rel] = merged[rel]!;
      // The new layout is in place: what the other one left goes (a crash before leaves both, the next sync ends it),
      // and so do the files of months retention deleted (never in `files`).
      if (splitByMonth(d.view)) {
        const removed = await removeOtherLayout(dir, d.view, split, files, new Set(Object.keys(prev?.files ?? {})), control);
        const expired = removed.filter((rel) => isExpired(d.view, rel, retainFrom));
        if (expired.length > 0) notices.push(`${d.view}: removed ${expired.length} month file(s) before ${retainFrom!} (RETENTION_DAYS): ${someOf(expired)}`);
      }
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
      notices = [];
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
    notices: () => [...notices],
  };
}
