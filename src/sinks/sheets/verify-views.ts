import type { Cell } from '../../model/cells.js';
import type { KeyedDelivery } from '../../model/sync.js';
import { columnKinds, type ColumnKind } from '../../model/views.js';
import { matchesAnchor } from './anchors.js';
import { fitCell, isEmptyRow, sameRow, toSheetRow, type SheetCell } from './cells.js';
import { keyColumns, plannedRows, titleOf, type ReadCheck, type SheetViewState, type TabTitle, type ViewPlan } from './plan-views.js';

/** What the read-back found for one view. */
export interface ReadBack {
  /** Rows read, by 0-based row (the header is row 0). A row read empty may be missing: Sheets leaves out trailing empty rows. */
  rows: Map<number, unknown[]>;
  /** An adopted tab, all of it. */
  whole?: unknown[][];
}

/** Pure: the answers of a batched read-back (one list of rows per check, in order), by view. A row read twice keeps its widest reading. */
export function collectReadBack(checks: readonly ReadCheck[], values: readonly unknown[][][]): Map<TabTitle, ReadBack> {
  const seen = new Map<TabTitle, ReadBack>();
  const widths = new Map<TabTitle, Map<number, number>>();
  checks.forEach((c, i) => {
    const rows = values[i] ?? [];
    const entry = seen.get(c.view) ?? { rows: new Map<number, unknown[]>() };
    const width = widths.get(c.view) ?? new Map<number, number>();
    if (c.kind === 'whole') entry.whole = rows;
    else {
      // Sheets leaves out the empty rows at the end of a range: every row of it was read all the same.
      rows.forEach((row, j) => {
        const at = c.firstRow + j;
        if ((width.get(at) ?? -1) >= c.width) return;
        entry.rows.set(at, row);
        width.set(at, c.width);
      });
    }
    seen.set(c.view, entry);
    widths.set(c.view, width);
  });
  return seen;
}

/** The header row as read, trailing empty cells dropped. */
function readHeader(row: readonly unknown[] | undefined): unknown[] {
  const cells = [...(row ?? [])];
  while (cells.length > 0 && isEmptyRow([cells.at(-1)])) cells.pop();
  return cells;
}

const foreignTab = (view: TabTitle) => `the tab "${view}" already holds data that ember-sync did not write; rename or delete that tab and the next sync recreates it`;

const earlierTab = (view: TabTitle) =>
  `the tab "${view}" holds rows ember-sync wrote earlier that it no longer tracks (SHEETS_PARTITION was switched to none and back, or the sync state was reset), not the rows it writes there now; nothing was written to it. Rename the tab to keep those rows (or delete it) and the next sync recreates it`;

async function adoptProblem(plan: Extract<ViewPlan, { mode: 'adopt' }>, seen: ReadBack | undefined, zone: string): Promise<string | undefined> {
  const { d } = plan;
  // A tab we have no record of: empty (made by hand, or by a sync that died before
  // writing), or holding exactly a beginning of this view (a first sync that died
  // before its cursor commit — maybe with fewer columns, if one was added since).
  // Anything else is someone else's data.
  const whole = seen?.whole ?? [];
  const header = readHeader(whole[0]);
  const ours = d.header.map((h) => fitCell(h));
  // A tab with ember-sync's marker was ember-sync's, written by a sync this state knows nothing of (the view's
  // state was reset: SHEETS_PARTITION switched to none and back): its rows are not "someone else's".
  const foreign = plan.tab.marker ? earlierTab(titleOf(d)) : foreignTab(titleOf(d));
  if (header.length > ours.length || !sameRow(ours.slice(0, header.length), header)) return foreign;
  if (d.kind === 'keyed') {
    // A keyed view's rows may have changed since a first sync died, and another epoch may even have
    // placed them elsewhere: under our header they are ours (all rewritten, those below the view cleared);
    // without it, only an empty tab is.
    if (header.length === 0 && whole.some((row) => !isEmptyRow(row))) return foreign;
    return undefined;
  }
  const kinds = columnKinds(d.view, d.header);
  // In REPORT_TIMEZONE, or in the zone of the sync that made the tab (its marker) if that was another.
  const zones = [...new Set([zone, ...(plan.tab.marker ? [plan.tab.marker.zone] : [])])];
  let row = 1;
  outer: for await (const page of d.rows.pages({ toSeq: d.toSeq })) {
    for (const cells of page) {
      if (row >= whole.length) break outer;
      const there = whole[row];
      if (!isEmptyRow(there) && !zones.some((z) => sameRow(toSheetRow(cells, kinds, z), there))) return foreign;
      row++;
    }
  }
  for (; row < whole.length; row++) if (!isEmptyRow(whole[row])) return foreign;
  return undefined;
}

/** The header must be ours: our confirmed columns, then nothing or the new column names a crashed sync already wrote. */
function headerProblem(view: TabTitle, header: readonly string[], state: SheetViewState, rowAt: (row: number) => unknown[]): string | undefined {
  const read = rowAt(0).map((v) => (v === undefined || v === null ? '' : String(v)));
  const ours = state.header.map((h) => fitCell(h));
  const beyond = read.slice(ours.length);
  const newNames = header.slice(ours.length).map((h) => fitCell(h));
  const beyondOk = isEmptyRow(beyond) || sameRow(newNames.slice(0, beyond.length), beyond);
  if (!sameRow(ours, read.slice(0, ours.length)) || !beyondOk) {
    return `the header row of tab "${view}" was changed by hand (expected ${ours.join(', ')}); put it back or delete the tab to have it rebuilt`;
  }
  return undefined;
}

const movedProblem = (view: TabTitle, row: number) =>
  `the rows of tab "${view}" were moved (sorted, or rows inserted or deleted above): row ${row + 1} no longer holds the row ember-sync wrote there; ember-sync will not write over them — undo the change, or delete the tab to have it rebuilt`;

const foreignRow = (view: TabTitle, row: number) => `row ${row + 1} of tab "${view}" holds data that ember-sync did not write there; it will not be overwritten — clear it or move it below the synced rows`;

/** The last row at or past `from` that was read non-empty (-1: none). */
function lastFilled(seen: ReadBack | undefined, from: number): number {
  let last = -1;
  for (const [row, cells] of seen?.rows ?? []) if (row >= from && !isEmptyRow(cells)) last = Math.max(last, row);
  return last;
}

async function appendProblem(plan: Extract<ViewPlan, { mode: 'append' }>, seen: ReadBack | undefined, zone: string): Promise<string | undefined> {
  const { d, state } = plan;
  const rowAt = (row: number): unknown[] => seen?.rows.get(row) ?? [];
  const header = headerProblem(titleOf(d), d.header, state, rowAt);
  if (header) return header;
  // Rows we wrote must still be where we wrote them. Every one of them was written within our confirmed columns.
  // (Not when every row is written again from row 1: rows moved within ours are put back in order.)
  const width = state.header.length;
  const written = (row: number) => rowAt(row).slice(0, width);
  if (plan.retime) {
    // Nothing to check: the rows ahead are.
  } else if (state.anchors) {
    const off = [...state.anchors].sort((a, b) => a.row - b.row).find((a) => !matchesAnchor(written(a.row), a.hash));
    if (off) return movedProblem(titleOf(d), off.row);
  } else if (state.last && state.nextRow > 1 && !sameRow(state.last, written(state.nextRow - 1))) {
    return movedProblem(titleOf(d), state.nextRow - 1);
  }
  // The rows ahead: empty, or exactly what we are about to write (a crash after the write, before the cursor
  // commit) — in REPORT_TIMEZONE, or in the zone the tab was in if REPORT_TIMEZONE changed since.
  const filled = lastFilled(seen, state.nextRow);
  if (filled < 0) return undefined;
  const kinds = columnKinds(d.view, d.header);
  const zones = [...new Set([zone, state.timeZone ?? 'UTC', ...(plan.tab.marker ? [plan.tab.marker.zone] : [])])];
  let row = state.nextRow;
  for await (const page of d.rows.pages({ fromSeq: d.cursor.deliveredSeq, toSeq: d.toSeq })) {
    for (const cells of page) {
      if (row > filled) return undefined;
      const there = rowAt(row);
      if (!isEmptyRow(there) && !zones.some((z) => sameRow(toSheetRow(cells, kinds, z), there))) return foreignRow(titleOf(d), row);
      row++;
    }
  }
  return undefined;
}

/** A keyed view's key cells, as written (the key columns are fixed columns: never past the header). */
export function keyOf(cells: readonly Cell[], keys: readonly number[], kinds: readonly ColumnKind[], zone: string): SheetCell[] {
  return toSheetRow(
    keys.map((k) => cells[k] ?? null),
    keys.map((k) => kinds[k] ?? 'plain'),
    zone,
  );
}

/** Does a row as read hold this key? */
function holdsKey(read: readonly unknown[], key: readonly SheetCell[], keys: readonly number[]): boolean {
  return sameRow(
    key,
    keys.map((k) => read[k]),
  );
}

async function keyedProblem(plan: Extract<ViewPlan, { mode: 'update' | 'rewrite' }>, seen: ReadBack | undefined, zone: string): Promise<string | undefined> {
  const { d, state } = plan;
  const rowAt = (row: number): unknown[] => seen?.rows.get(row) ?? [];
  const header = headerProblem(titleOf(d), d.header, state, rowAt);
  if (header) return header;
  const keys = keyColumns(d.view);
  const kinds = columnKinds(d.view, d.header);
  const describe = (key: readonly SheetCell[]) => key.map((v) => JSON.stringify(v)).join(', ');
  if (plan.mode === 'rewrite') {
    // Every row is written again: only the rows past ours matter — empty, or a crashed rewrite's rows (same keys).
    return areaProblem(d, plan.oursThrough + 1, seen, (from) => pagesFrom(d, from), keys, kinds, zone, true);
  }
  // Anchors: still exactly as we wrote them — except rows this sync updates (a crashed sync may have written
  // their new values already): those must hold their key, checked below with every updated row.
  const updated = new Set(plan.updates);
  const width = state.header.length;
  const off = [...(state.anchors ?? [])].sort((a, b) => a.row - b.row).find((a) => !updated.has(a.row) && !matchesAnchor(rowAt(a.row).slice(0, width), a.hash));
  if (off) return movedProblem(titleOf(d), off.row);
  for await (const r of plannedRows(plan)) {
    if (r.position > plan.known) break;
    const key = keyOf(r.cells, keys, kinds, zone);
    if (!holdsKey(rowAt(r.position), key, keys)) {
      return `the rows of tab "${titleOf(d)}" were moved (sorted, or rows inserted or deleted): row ${r.position + 1} no longer holds ${describe(key)} where ember-sync wrote it; ember-sync will not write over them — undo the change (sort the rows back, or put them back where they were), or delete the tab to have it rebuilt`;
    }
  }
  return areaProblem(d, plan.known + 1, seen, (from) => plannedRows(plan, from), keys, kinds, zone);
}

/** The delivery's rows from position `from` on, in order (a full rewrite reads them all). */
async function* pagesFrom(d: KeyedDelivery, from: number): AsyncGenerator<{ position: number; cells: Cell[] }> {
  let position = 0;
  for await (const page of d.rows.pages()) {
    for (const cells of page) {
      position++;
      if (position >= from) yield { position, cells };
    }
  }
}

/**
 * Where new rows go (rows `from`.. as read): empty, or holding the same keys
 * at the same positions (a sync that died between its write and its cursor
 * commit left an earlier version of them: their values may differ since,
 * their keys may not). Anything else is someone else's — or, for a rewrite
 * (which reads on to the end of the grid), possibly rows a sync of the
 * previous epoch wrote before dying, which nothing can tell from someone's
 * cells: never written over either way.
 */
async function areaProblem(
  d: KeyedDelivery,
  from: number,
  seen: ReadBack | undefined,
  rows: (from: number) => AsyncIterable<{ position: number; cells: Cell[] }>,
  keys: readonly number[],
  kinds: readonly ColumnKind[],
  zone: string,
  rewrite = false,
): Promise<string | undefined> {
  const filled = lastFilled(seen, from);
  if (filled < 0) return undefined;
  const problem = (row: number) =>
    rewrite
      ? `rows ${row + 1} to ${filled + 1} of tab "${titleOf(d)}" hold data past the rows ember-sync had confirmed (left by a sync that died before it finished, before the view was derived again; or typed there): ember-sync rewrites the tab but will not write over them — clear those rows, or delete the tab to have it rebuilt`
      : foreignRow(titleOf(d), row);
  let next = from;
  for await (const r of rows(from)) {
    if (r.position > filled) return undefined;
    for (; next < r.position; next++) if (!isEmptyRow(seen?.rows.get(next))) return problem(next);
    next = r.position + 1;
    const there = seen?.rows.get(r.position);
    if (!isEmptyRow(there) && !holdsKey(there!, keyOf(r.cells, keys, kinds, zone), keys)) return problem(r.position);
  }
  // Past the view's last row: nothing this view writes goes there.
  for (; next <= filled; next++) if (!isEmptyRow(seen?.rows.get(next))) return problem(next);
  return undefined;
}

/**
 * Pure but for reading the view's rows: may we write this view where we are about to? The header, the rows
 * anchored (or, for a state from before anchors, the last row written) and
 * the rows ahead must be ours, and the rows ahead empty or
 * exactly what is about to be written; a keyed view's rows updated in place
 * must still hold their keys, and the rows where its new keys go be empty or
 * hold the same keys. Returns the problem, worded for the operator (naming
 * the tab and row), or undefined. `zone` is REPORT_TIMEZONE.
 */
export async function verifyView(plan: ViewPlan, seen: ReadBack | undefined, zone = 'UTC'): Promise<string | undefined> {
  switch (plan.mode) {
    case 'adopt':
      return adoptProblem(plan, seen, zone);
    case 'append':
      return appendProblem(plan, seen, zone);
    case 'update':
    case 'rewrite':
      return keyedProblem(plan, seen, zone);
    default:
      return undefined;
  }
}

/** The rows an adopted tab held below its header (rows 1..n as read): a keyed view clears those past its own. */
export function adoptedRows(seen: ReadBack | undefined): number {
  return Math.max(0, (seen?.whole?.length ?? 1) - 1);
}
