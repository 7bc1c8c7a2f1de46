import type { ViewName } from '../../model/views.js';
import { matchesAnchor } from './anchors.js';
import { fitCell, isEmptyRow, sameRow, timeColumns, toSheetRow } from './cells.js';
import type { ReadCheck, ViewPlan } from './plan-views.js';

/** What the read-back found for one view. */
export interface ReadBack {
  /** Rows read, by 0-based row (the header is row 0). A row read empty may be missing: Sheets leaves out trailing empty rows. */
  rows: Map<number, unknown[]>;
  /** An adopted tab, all of it. */
  whole?: unknown[][];
}

/** Pure: the answers of a batched read-back (one list of rows per check, in order), by view. */
export function collectReadBack(checks: readonly ReadCheck[], values: readonly unknown[][][]): Map<ViewName, ReadBack> {
  const seen = new Map<ViewName, ReadBack>();
  checks.forEach((c, i) => {
    const rows = values[i] ?? [];
    const entry = seen.get(c.view) ?? { rows: new Map<number, unknown[]>() };
    if (c.kind === 'whole') entry.whole = rows;
    else rows.forEach((row, j) => entry.rows.set(c.firstRow + j, row));
    seen.set(c.view, entry);
  });
  return seen;
}

/** The header row as read, trailing empty cells dropped. */
function readHeader(row: readonly unknown[] | undefined): unknown[] {
  const cells = [...(row ?? [])];
  while (cells.length > 0 && isEmptyRow([cells.at(-1)])) cells.pop();
  return cells;
}

function adoptProblem(plan: Extract<ViewPlan, { mode: 'adopt' }>, seen: ReadBack | undefined): string | undefined {
  const { d } = plan;
  // A tab we have no record of: empty (made by hand, or by a sync that died before
  // writing), or holding exactly a beginning of this view (a first sync that died
  // before its cursor commit — maybe with fewer columns, if one was added since).
  // Anything else is someone else's data.
  const whole = seen?.whole ?? [];
  const header = readHeader(whole[0]);
  const ours = d.header.map((h) => fitCell(h));
  const foreign = `the tab "${d.view}" already holds data that ember-sync did not write; rename or delete that tab and the next sync recreates it`;
  if (header.length > ours.length || !sameRow(ours.slice(0, header.length), header)) return foreign;
  const isTime = timeColumns(d.view, d.header);
  let row = 1;
  outer: for (const page of d.rows.pages({ toSeq: d.toSeq })) {
    for (const cells of page) {
      if (row >= whole.length) break outer;
      const there = whole[row];
      if (!isEmptyRow(there) && !sameRow(toSheetRow(cells, isTime), there)) return foreign;
      row++;
    }
  }
  for (; row < whole.length; row++) if (!isEmptyRow(whole[row])) return foreign;
  return undefined;
}

function appendProblem(plan: Extract<ViewPlan, { mode: 'append' }>, seen: ReadBack | undefined): string | undefined {
  const { d, state } = plan;
  const rowAt = (row: number): unknown[] => seen?.rows.get(row) ?? [];
  const header = rowAt(0).map((v) => (v === undefined || v === null ? '' : String(v)));
  const ours = state.header.map((h) => fitCell(h));
  // Past our confirmed columns: empty, or the new column names a crashed sync already wrote.
  const beyond = header.slice(ours.length);
  const newNames = d.header.slice(ours.length).map((h) => fitCell(h));
  const beyondOk = isEmptyRow(beyond) || sameRow(newNames.slice(0, beyond.length), beyond);
  if (!sameRow(ours, header.slice(0, ours.length)) || !beyondOk) {
    return `the header row of tab "${d.view}" was changed by hand (expected ${ours.join(', ')}); put it back or delete the tab to have it rebuilt`;
  }
  // Rows we wrote must still be where we wrote them. Every one of them was written within our confirmed columns.
  const written = (row: number) => rowAt(row).slice(0, ours.length);
  const moved = (row: number) =>
    `the rows of tab "${d.view}" were moved (sorted, or rows inserted or deleted above): row ${row + 1} no longer holds the row ember-sync wrote there; ember-sync will not write over them — undo the change, or delete the tab to have it rebuilt`;
  if (state.anchors) {
    const off = [...state.anchors].sort((a, b) => a.row - b.row).find((a) => !matchesAnchor(written(a.row), a.hash));
    if (off) return moved(off.row);
  } else if (state.last && state.nextRow > 1 && !sameRow(state.last, written(state.nextRow - 1))) {
    return moved(state.nextRow - 1);
  }
  // The rows ahead: empty, or exactly what we are about to write (a crash after the write, before the cursor commit).
  let lastFilled = -1;
  for (const [row, cells] of seen?.rows ?? []) if (row >= state.nextRow && !isEmptyRow(cells)) lastFilled = Math.max(lastFilled, row);
  if (lastFilled < 0) return undefined;
  const isTime = timeColumns(d.view, d.header);
  let row = state.nextRow;
  for (const page of d.rows.pages({ fromSeq: d.cursor.deliveredSeq, toSeq: d.toSeq })) {
    for (const cells of page) {
      if (row > lastFilled) return undefined;
      const there = rowAt(row);
      if (!isEmptyRow(there) && !sameRow(toSheetRow(cells, isTime), there)) {
        return `row ${row + 1} of tab "${d.view}" holds data that ember-sync did not write there; it will not be overwritten — clear it or move it below the synced rows`;
      }
      row++;
    }
  }
  return undefined;
}

/**
 * Pure: may we write this view where we are about to? The header, the rows
 * anchored (or, for a state from before anchors, the last row written) and
 * the rows ahead must be ours, and the rows ahead empty or
 * exactly what is about to be written. Returns the problem, worded for the
 * operator (naming the tab and row), or undefined.
 */
export function verifyView(plan: ViewPlan, seen: ReadBack | undefined): string | undefined {
  if (plan.mode === 'adopt') return adoptProblem(plan, seen);
  if (plan.mode === 'append') return appendProblem(plan, seen);
  return undefined;
}
