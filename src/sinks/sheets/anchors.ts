import { createHash } from 'node:crypto';

/**
 * A row we wrote, remembered by its position and a hash of its cells as
 * written, to check on the next sync that it is still there. A sort, or rows
 * inserted or deleted above it, puts another row (or none) in its place.
 */
export interface Anchor {
  /** 0-based row (row 0 is the header). */
  row: number;
  hash: string;
}

/** Anchors kept per view: each is one more row read back per sync. */
export const MAX_ANCHORS = 12;
/** The newest anchors (by row: the last rows of the latest syncs) are never thinned. */
const RECENT_ANCHORS = 3;

/** Significant digits numbers are hashed with: far coarser than a float round trip, far finer than any real difference. */
const DIGITS = 12;
/** How far a number may come back from a round trip (relative): a double printed with 15 significant digits is within 5e-15. */
const ROUND_TRIP = 1e-14;
/** Combinations of ambiguous numbers tried when matching a read row (a number within ROUND_TRIP of a rounding boundary has two readings). */
const MAX_COMBINATIONS = 4096;

const numberToken = (n: number) => `n${(n === 0 ? 0 : n).toPrecision(DIGITS)}`;

/**
 * The readings of one cell, normalised the way sameRow compares: '' and
 * missing are empty, numbers rounded to DIGITS significant digits (with both
 * roundings when the value sits on a boundary within a round trip's error).
 */
function cellTokens(v: unknown, tolerant: boolean): string[] {
  if (v === undefined || v === null || v === '') return [''];
  if (typeof v === 'number') {
    const token = numberToken(v);
    if (!tolerant || !Number.isFinite(v)) return [token];
    const tol = Math.abs(v) * ROUND_TRIP;
    return [...new Set([token, numberToken(v - tol), numberToken(v + tol)])];
  }
  if (typeof v === 'string') return [`s${v}`];
  if (typeof v === 'boolean') return [`b${v}`];
  return [`j${JSON.stringify(v)}`];
}

const digest = (tokens: readonly string[]) => createHash('sha256').update(JSON.stringify(tokens)).digest('base64url').slice(0, 16);

function trimmed(tokens: string[][]): string[][] {
  let end = tokens.length;
  while (end > 0 && tokens[end - 1]!.length === 1 && tokens[end - 1]![0] === '') end--;
  return tokens.slice(0, end);
}

/** The hash of a row as written (trailing empty cells do not count). */
export function hashRow(cells: readonly unknown[]): string {
  return digest(trimmed(cells.map((v) => cellTokens(v, false))).map((t) => t[0]!));
}

/** Pure: does a row as Sheets reads it back (UNFORMATTED_VALUE) equal the row an anchor's hash was taken of? */
export function matchesAnchor(read: readonly unknown[] | undefined, hash: string): boolean {
  const tokens = trimmed((read ?? []).map((v) => cellTokens(v, true)));
  const ambiguous = tokens.map((t, i) => (t.length > 1 ? i : -1)).filter((i) => i >= 0);
  const combinations = ambiguous.reduce((n, i) => n * tokens[i]!.length, 1);
  // Beyond that (never seen in practice), the plain reading only.
  if (combinations > MAX_COMBINATIONS) return digest(tokens.map((t) => t[0]!)) === hash;
  const pick = tokens.map((t) => t[0]!);
  for (let k = 0; k < combinations; k++) {
    let rest = k;
    for (const i of ambiguous) {
      const options = tokens[i]!;
      pick[i] = options[rest % options.length]!;
      rest = Math.floor(rest / options.length);
    }
    if (digest(pick) === hash) return true;
  }
  return false;
}

/**
 * Pure: the rows of a write of rows firstRow..lastRow worth anchoring: its
 * last row, and rows back from it spaced as MAX_ANCHORS anchors would be over
 * the whole tab (a small sync adds its last row only; a first sync of many
 * rows, points spread over them), and the first data row when it is written.
 */
export function anchorRows(firstRow: number, lastRow: number, max = MAX_ANCHORS): number[] {
  if (lastRow < firstRow) return [];
  const spacing = Math.max(1, Math.ceil(lastRow / max));
  const rows: number[] = [];
  if (firstRow === 1) rows.push(1);
  const from = rows.length > 0 ? 2 : firstRow;
  const start = lastRow - Math.floor((lastRow - from) / spacing) * spacing;
  for (let row = Math.max(start, from); row <= lastRow; row += spacing) rows.push(row);
  return rows;
}

/**
 * Pure: the anchors to keep, at most `max`, sorted by row (a later anchor
 * replaces an earlier one of the same row). The first (the first data row,
 * for tabs anchored from their start) and the newest few are always kept;
 * of the others, the one whose neighbours are closest together goes first (the
 * older on a tie), so that what is left stays spread over the tab.
 */
export function keepAnchors(anchors: readonly Anchor[], max = MAX_ANCHORS): Anchor[] {
  const byRow = new Map<number, Anchor>();
  for (const a of anchors) byRow.set(a.row, { row: a.row, hash: a.hash });
  const list = [...byRow.values()].sort((a, b) => a.row - b.row);
  const recent = Math.max(1, Math.min(RECENT_ANCHORS, max - 1));
  while (list.length > Math.max(1, max)) {
    let drop = -1;
    let gap = Infinity;
    for (let i = 1; i < list.length - recent; i++) {
      const g = list[i + 1]!.row - list[i - 1]!.row;
      if (g < gap) {
        gap = g;
        drop = i;
      }
    }
    // Only when max leaves no room between the first and the newest: drop the oldest of the newest.
    list.splice(drop > 0 ? drop : Math.max(0, list.length - recent - 1), 1);
  }
  return list;
}
