import type { sheets_v4 } from '@googleapis/sheets';
import type { Cell } from '../../model/cells.js';
import type { ViewName } from '../../model/views.js';
import { a1 } from './a1.js';
import { fitCell, timeColumns, toSheetRow, type SheetCell } from './cells.js';
import { sameList } from '../../lib/text.js';
import type { ViewPlan } from './plan-views.js';

/** What one view writes in this sync: maybe its header row, then its rows from `firstRow` down. */
export interface ValueJob {
  view: ViewName;
  header: string[];
  writeHeader: boolean;
  /** 0-based row of the first row written. */
  firstRow: number;
  /** The rows to write, read only when the packer reaches them. */
  pages: () => Iterable<Cell[][]>;
}

/** One range of a values.batchUpdate. */
export interface ValueEntry {
  view: ViewName;
  range: string;
  values: SheetCell[][];
  /** 0-based row of values[0]. */
  firstRow: number;
  isHeader: boolean;
  /** Its share of the request body, serialised. */
  bytes: number;
}

/** The body is {"valueInputOption":"RAW","data":[…]}: sizes are counted as it will be serialised. */
const ENVELOPE = JSON.stringify({ valueInputOption: 'RAW', data: [] }).length;
const entryOverhead = (range: string) => JSON.stringify({ range, majorDimension: 'ROWS', values: [] }).length + 1;

/** The size of the values.batchUpdate body that holds these entries. */
export function requestBytes(entries: readonly ValueEntry[]): number {
  return entries.reduce((n, e) => n + e.bytes, ENVELOPE);
}

export function toValueRanges(entries: readonly ValueEntry[]): sheets_v4.Schema$ValueRange[] {
  return entries.map((e) => ({ range: e.range, majorDimension: 'ROWS', values: e.values }));
}

/** Pure: a plan's writes. A new or adopted tab gets its header and every row; an append, its new rows (and the header when columns were added). */
export function valueJob(plan: ViewPlan): ValueJob {
  const { d } = plan;
  const fresh = plan.mode !== 'append';
  return {
    view: d.view,
    header: d.header,
    writeHeader: fresh || !sameList(plan.state.header, d.header),
    firstRow: fresh ? 1 : plan.state.nextRow,
    pages: () => d.rows.pages({ fromSeq: fresh ? 0 : d.cursor.deliveredSeq, toSeq: d.toSeq }),
  };
}

/**
 * Pure: the values.batchUpdate requests of every view, in order, each body at
 * most `maxBytes` (a single row larger than that still goes, alone): consecutive
 * rows of a view are one range, and ranges of several views share a request.
 * Rows are read and converted lazily, one request at a time. `skip(view)` is
 * asked between requests: a view that failed meanwhile is not read further.
 */
export function* packValues(jobs: Iterable<ValueJob>, maxBytes: number, skip: (view: ViewName) => boolean = () => false): Generator<ValueEntry[], void, undefined> {
  let entries: ValueEntry[] = [];
  let pending = 0;
  const push = (e: Omit<ValueEntry, 'bytes'>, bytes: number) => {
    const entry = { ...e, bytes: bytes + entryOverhead(e.range) };
    entries.push(entry);
    pending += entry.bytes;
  };
  const take = () => {
    const batch = entries;
    entries = [];
    pending = 0;
    return batch;
  };
  for (const job of jobs) {
    if (skip(job.view)) continue;
    const { view } = job;
    const width = Math.max(job.header.length, 1);
    const isTime = timeColumns(job.view, job.header);
    if (job.writeHeader) {
      const values = [job.header.map((h) => fitCell(h))];
      const range = a1(view, 0, 0, 0, width - 1);
      const bytes = Buffer.byteLength(JSON.stringify(values));
      if (entries.length > 0 && ENVELOPE + pending + bytes + entryOverhead(range) > maxBytes) {
        yield take();
        if (skip(view)) continue;
      }
      push({ view, range, values, firstRow: 0, isHeader: true }, bytes);
    }
    // The longest range string this view can have, reserved for the block being filled.
    const range0 = a1(view, 1e7, 0, 1e7, width - 1);
    let block: SheetCell[][] = [];
    let blockStart = job.firstRow;
    let blockBytes = 0;
    let row = job.firstRow;
    const closeBlock = () => {
      if (block.length > 0) push({ view, range: a1(view, blockStart, 0, blockStart + block.length - 1, width - 1), values: block, firstRow: blockStart, isHeader: false }, blockBytes);
      block = [];
      blockBytes = 0;
      blockStart = row;
    };
    let skipped = false;
    rows: for (const page of job.pages()) {
      for (const cells of page) {
        const values = toSheetRow(cells, isTime);
        const size = Buffer.byteLength(JSON.stringify(values)) + 1;
        if (ENVELOPE + pending + blockBytes + size + range0.length + 64 > maxBytes) {
          closeBlock();
          if (entries.length > 0) yield take();
          if (skip(view)) {
            skipped = true;
            break rows;
          }
        }
        block.push(values);
        blockBytes += size;
        row++;
      }
    }
    if (!skipped) closeBlock();
  }
  if (entries.length > 0) yield take();
}
