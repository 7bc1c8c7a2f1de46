import type { sheets_v4 } from '@googleapis/sheets';
import type { Cell } from '../../model/cells.js';
import { columnKinds, type ColumnKind } from '../../model/views.js';
import { a1 } from './a1.js';
import { fitCell, toSheetRow, type SheetCell } from './cells.js';
import { sameList } from '../../lib/text.js';
import { plannedRows, titleOf, type TabTitle, type ViewPlan } from './plan-views.js';

/** A row to write at its 0-based sheet row. */
export interface PlacedRow {
  row: number;
  cells: readonly Cell[];
}

/** What one view writes in this sync: maybe its header row, then rows at their places. */
export interface ValueJob {
  /** The tab's title. */
  view: TabTitle;
  header: string[];
  writeHeader: boolean;
  /** How each column is written (times and days as serial numbers). */
  kinds: ColumnKind[];
  /** REPORT_TIMEZONE: date-time cells hold its wall clock. */
  zone: string;
  /**
   * What a null cell is sent as: null leaves the cell as it is (rows written
   * where nothing is yet), "" clears it (rows written over an earlier version).
   */
  empty: null | '';
  /** The rows to write, in ascending rows, read only when the packer reaches them (consecutive rows are one range). */
  pages: () => AsyncIterable<PlacedRow[]>;
}

/** Pages of rows placed from `firstRow` down. */
async function* placed(pages: AsyncIterable<Cell[][]> | Iterable<Cell[][]>, firstRow: number): AsyncGenerator<PlacedRow[]> {
  let row = firstRow;
  for await (const page of pages) yield page.map((cells) => ({ row: row++, cells }));
}

/** Empty rows from..to (0-based, inclusive), `width` cells each: with `empty: ''`, they clear rows that were ours. */
function* blanks(from: number, to: number, width: number): Generator<PlacedRow[]> {
  const cells: Cell[] = new Array<Cell>(width).fill(null);
  for (let row = from; row <= to; row += 500) yield Array.from({ length: Math.min(500, to - row + 1) }, (_, i) => ({ row: row + i, cells }));
}

/** One range of a values.batchUpdate. */
export interface ValueEntry {
  /** The tab's title. */
  view: TabTitle;
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

/**
 * Pure: a plan's writes. A new or adopted tab gets its header and every row;
 * an append, its new rows (every row from 1 when REPORT_TIMEZONE changed); a
 * keyed update, its changed rows where they are and its new rows after them;
 * a keyed rewrite, every row and empty rows over the rows below it that were
 * ours (up to `clearThrough`, 0-based: an adopted keyed tab's rows as read).
 * The header goes whenever it is new or columns were added.
 */
export function valueJob(plan: ViewPlan, zone = 'UTC', clearThrough = 0): ValueJob {
  const { d } = plan;
  const base = { view: titleOf(d), header: d.header, kinds: columnKinds(d.view, d.header), zone };
  const width = Math.max(d.header.length, 1);
  const headerChanged = plan.mode === 'create' || plan.mode === 'adopt' || !sameList(plan.state.header, d.header);
  switch (plan.mode) {
    case 'append': {
      const fromStart = plan.retime;
      return {
        ...base,
        writeHeader: headerChanged,
        empty: null,
        pages: () => placed(d.kind === 'log' ? d.rows.pages({ fromSeq: fromStart ? 0 : d.cursor.deliveredSeq, toSeq: d.toSeq }) : [], fromStart ? 1 : plan.state.nextRow),
      };
    }
    case 'update':
      return {
        ...base,
        writeHeader: headerChanged,
        empty: '',
        pages: async function* () {
          let page: PlacedRow[] = [];
          for await (const r of plannedRows(plan)) {
            page.push({ row: r.position, cells: r.cells });
            if (page.length === 500) {
              yield page;
              page = [];
            }
          }
          if (page.length > 0) yield page;
        },
      };
    case 'rebuild': {
      // Every row again from the database, over whatever the tab holds now (sorted, edited), and the rows
      // below it cleared down to `clearThrough`.
      const { total, clearThrough } = plan;
      return {
        ...base,
        writeHeader: true,
        empty: '',
        pages: async function* () {
          yield* placed(d.kind === 'keyed' ? d.rows.pages() : d.rows.pages({ fromSeq: 0, toSeq: d.toSeq }), 1);
          yield* blanks(total + 1, clearThrough, Math.max(width, plan.state.header.length, plan.tab.columnCount));
        },
      };
    }
    case 'rewrite': {
      const total = plan.total;
      const below = Math.min(plan.oursThrough, plan.tab.rowCount - 1);
      return {
        ...base,
        writeHeader: true,
        empty: '',
        pages: async function* () {
          if (d.kind === 'keyed') yield* placed(d.rows.pages(), 1);
          yield* blanks(total + 1, below, Math.max(width, plan.state.header.length));
        },
      };
    }
    default: {
      const keyed = d.kind === 'keyed';
      return {
        ...base,
        writeHeader: true,
        empty: keyed ? '' : null,
        pages: async function* () {
          yield* placed(d.kind === 'keyed' ? d.rows.pages() : d.rows.pages({ fromSeq: 0, toSeq: d.toSeq }), 1);
          if (keyed) yield* blanks(plan.total + 1, clearThrough, width);
        },
      };
    }
  }
}

/**
 * Pure but for reading rows: the values.batchUpdate requests of every view, in order, each body at
 * most `maxBytes` (a single row larger than that still goes, alone): consecutive
 * rows of a view are one range, and ranges of several views share a request.
 * Rows are read and converted lazily, one request at a time. `skip(view)` is
 * asked between requests: a view that failed meanwhile is not read further.
 */
export async function* packValues(jobs: Iterable<ValueJob>, maxBytes: number, skip: (view: TabTitle) => boolean = () => false): AsyncGenerator<ValueEntry[], void, undefined> {
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
    let blockStart = -1;
    let blockBytes = 0;
    const closeBlock = () => {
      if (block.length > 0) push({ view, range: a1(view, blockStart, 0, blockStart + block.length - 1, width - 1), values: block, firstRow: blockStart, isHeader: false }, blockBytes);
      block = [];
      blockBytes = 0;
    };
    let skipped = false;
    rows: for await (const page of job.pages()) {
      for (const { row, cells } of page) {
        const values = toSheetRow(cells, job.kinds, job.zone, job.empty);
        const size = Buffer.byteLength(JSON.stringify(values)) + 1;
        // A row that does not follow the block starts a range of its own (an update elsewhere in the tab).
        if (block.length > 0 && row !== blockStart + block.length) closeBlock();
        if (ENVELOPE + pending + blockBytes + size + range0.length + 64 > maxBytes) {
          closeBlock();
          if (entries.length > 0) yield take();
          if (skip(view)) {
            skipped = true;
            break rows;
          }
        }
        if (block.length === 0) blockStart = row;
        block.push(values);
        blockBytes += size;
      }
    }
    if (!skipped) closeBlock();
  }
  if (entries.length > 0) yield take();
}
