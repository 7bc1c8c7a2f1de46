/**
 * Reading the keyed views as an analyst gets them (`exported(store, view)`,
 * CSV) and comparing them with the oracle of test/helpers/keyed-oracle.ts.
 * Shared by test/store/keyed-views.test.ts and
 * test/jobs/retention.property.test.ts; imports from src/ only the store type
 * and the export helper (the way rows are read), never how they are derived.
 */
import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import type { SqliteStore } from '../../src/store/create-store.js';
import type { Store } from '../../src/store/store.js';
import { exported } from './export.js';
import { KEYED_FIXED_COLUMNS, KEYED_KEYS, KEYED_VIEW_NAMES, type KeyedViewName, type KeyedViews, type LogEntry, type OracleCell, type OracleRow } from './keyed-oracle.js';

/** The raw log as the store holds it, in log order: what the oracle reads. */
export function logOf(store: SqliteStore): LogEntry[] {
  const rows = store.db.prepare('SELECT seq, received_at, body FROM events ORDER BY seq').all() as Array<{ seq: number; received_at: string; body: Buffer | string }>;
  return rows.map((r) => ({ received_at: r.received_at, payload: JSON.parse(typeof r.body === 'string' ? r.body : r.body.toString('utf8')) as unknown }));
}

// ---------------------------------------------------------------- reading the export

/** Columns holding booleans / numbers, per view (everything else is text; contents' `*_score` metric columns are numbers). */
const BOOLEAN_COLUMNS: Record<KeyedViewName, ReadonlySet<string>> = {
  contents: new Set(['completed', 'red_flag', 'low_score']),
  content_scores: new Set(),
  daily_agents: new Set(),
  daily_metrics: new Set(),
};
const NUMBER_COLUMNS: Record<KeyedViewName, ReadonlySet<string>> = {
  contents: new Set(['webhooks', 'total_score', 'total_score_threshold']),
  content_scores: new Set(['score']),
  daily_agents: new Set(['contents', 'completed', 'red_flags', 'low_scores', 'avg_total_score']),
  daily_metrics: new Set(['contents', 'avg_score', 'min_score', 'max_score']),
};
export function columnType(view: KeyedViewName, column: string): 'boolean' | 'number' | 'text' {
  if (BOOLEAN_COLUMNS[view].has(column)) return 'boolean';
  if (NUMBER_COLUMNS[view].has(column)) return 'number';
  const fixed: readonly string[] = KEYED_FIXED_COLUMNS[view];
  if (view === 'contents' && !fixed.includes(column) && column.endsWith('_score')) return 'number';
  return 'text';
}

/** README "Formula guard": a text cell starting with = + - @ tab or CR gets a leading `'` (the export is not --raw). */
export function guarded(s: string): string {
  return /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
}

export interface ParsedView {
  header: string[];
  rows: Array<Record<string, OracleCell>>;
}

/** CSV text → header and typed rows: an empty field is null, `""` is an empty string, booleans true/false, numbers plain. */
export function parseExport(view: KeyedViewName, csv: string): ParsedView {
  const records = parse(csv, { cast: (value, ctx) => (value === '' && !ctx.quoting ? null : value), relax_column_count: false }) as Array<Array<string | null>>;
  assert.ok(records.length >= 1, `${view}: no header`);
  const header = records[0]!.map((h) => h ?? '');
  const rows = records.slice(1).map((cells, i) => {
    const row: Record<string, OracleCell> = {};
    header.forEach((column, c) => {
      const raw = cells[c] ?? null;
      const type = columnType(view, column);
      if (raw === null || type === 'text') {
        row[column] = raw;
      } else if (type === 'boolean') {
        assert.ok(raw === 'true' || raw === 'false', `${view} row ${i + 1} ${column}: ${JSON.stringify(raw)} is not a boolean`);
        row[column] = raw === 'true';
      } else {
        const n = Number(raw);
        assert.ok(raw.trim() !== '' && Number.isFinite(n), `${view} row ${i + 1} ${column}: ${JSON.stringify(raw)} is not a number`);
        row[column] = n;
      }
    });
    return row;
  });
  return { header, rows };
}

export async function readViews(store: Store): Promise<{ csv: Record<KeyedViewName, string>; parsed: Record<KeyedViewName, ParsedView> }> {
  const csv = {} as Record<KeyedViewName, string>;
  const parsed = {} as Record<KeyedViewName, ParsedView>;
  for (const view of KEYED_VIEW_NAMES) {
    csv[view] = await exported(store, view);
    parsed[view] = parseExport(view, csv[view]);
  }
  return { csv, parsed };
}

// ---------------------------------------------------------------- comparing

export function sameCell(expected: OracleCell, actual: OracleCell): boolean {
  if (expected === null || actual === null) return expected === actual;
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (expected === actual) return true;
    return Math.abs(expected - actual) <= 1e-9 * Math.max(Math.abs(expected), Math.abs(actual));
  }
  if (typeof expected === 'string') return guarded(expected) === actual;
  return expected === actual;
}

export function diffRow(view: string, where: string, header: readonly string[], expected: OracleRow, actual: OracleRow): string[] {
  const out: string[] = [];
  for (const column of header) {
    const e = expected[column] ?? null;
    const a = actual[column] ?? null;
    if (!sameCell(e, a)) out.push(`${view} ${where} ${column}: expected ${JSON.stringify(e)}, got ${JSON.stringify(a)}`);
  }
  return out;
}

export const keyOf = (view: KeyedViewName, row: OracleRow, guard: boolean) =>
  JSON.stringify(KEYED_KEYS[view].map((k) => {
    const v = row[k] ?? null;
    return guard && typeof v === 'string' ? guarded(v) : v;
  }));

/** Every difference between what src exported and what the oracle expects (empty when they agree). */
export function differences(expected: KeyedViews, actual: Record<KeyedViewName, ParsedView>): string[] {
  const out: string[] = [];
  // contents: header (fixed + metric columns in global order), rows in order of first webhook.
  {
    const e = expected.contents;
    const a = actual.contents;
    const fixed: readonly string[] = KEYED_FIXED_COLUMNS.contents;
    if (e.collidingMetrics.length === 0) {
      if (JSON.stringify(a.header) !== JSON.stringify(e.header.map(guarded))) out.push(`contents header: expected ${JSON.stringify(e.header)}, got ${JSON.stringify(a.header)}`);
    } else {
      // Renamed columns are src's business: the fixed columns come first, and the other metrics' columns keep their names and order.
      if (JSON.stringify(a.header.slice(0, fixed.length)) !== JSON.stringify(fixed)) out.push(`contents header starts ${JSON.stringify(a.header.slice(0, fixed.length))}`);
      const named = a.header.filter((h) => e.header.slice(fixed.length).map(guarded).includes(h));
      if (JSON.stringify(named) !== JSON.stringify(e.header.slice(fixed.length).map(guarded))) out.push(`contents metric columns: expected ${JSON.stringify(e.header.slice(fixed.length))} in order, got ${JSON.stringify(a.header)}`);
      if (a.header.length !== e.header.length + 2 * e.collidingMetrics.length) out.push(`contents header has ${a.header.length} columns, expected ${e.header.length + 2 * e.collidingMetrics.length}`);
    }
    if (new Set(a.header).size !== a.header.length) out.push(`contents header repeats a name: ${JSON.stringify(a.header)}`);
    if (a.rows.length !== e.rows.length) out.push(`contents: expected ${e.rows.length} rows (${e.rows.map((r) => r['content_id']).join(', ')}), got ${a.rows.length} (${a.rows.map((r) => r['content_id']).join(', ')})`);
    e.rows.forEach((row, i) => {
      const got = a.rows[i];
      if (got) out.push(...diffRow('contents', `row ${i + 1} (${String(row['content_id'])})`, e.header, row, got));
    });
  }
  // content_scores: rows in order of first appearance of (content_id, metric).
  {
    const e = expected.content_scores;
    const a = actual.content_scores;
    if (JSON.stringify(a.header) !== JSON.stringify(e.header)) out.push(`content_scores header: expected ${JSON.stringify(e.header)}, got ${JSON.stringify(a.header)}`);
    if (a.rows.length !== e.rows.length) out.push(`content_scores: expected ${e.rows.length} rows, got ${a.rows.length}`);
    e.rows.forEach((row, i) => {
      const got = a.rows[i];
      if (got) out.push(...diffRow('content_scores', `row ${i + 1} (${String(row['content_id'])}, ${String(row['metric'])})`, e.header, row, got));
    });
  }
  // Daily views: sets keyed by their key columns (row order is src's business), no key twice.
  for (const view of ['daily_agents', 'daily_metrics'] as const) {
    const e = expected[view];
    const a = actual[view];
    if (JSON.stringify(a.header) !== JSON.stringify(e.header)) out.push(`${view} header: expected ${JSON.stringify(e.header)}, got ${JSON.stringify(a.header)}`);
    const got = new Map<string, OracleRow>();
    for (const row of a.rows) {
      const k = keyOf(view, row, false);
      if (got.has(k)) out.push(`${view}: key ${k} twice`);
      got.set(k, row);
    }
    const want = new Set<string>();
    for (const row of e.rows) {
      const k = keyOf(view, row, true);
      want.add(k);
      const g = got.get(k);
      if (!g) out.push(`${view}: missing row ${k} (expected ${JSON.stringify(row)})`);
      else out.push(...diffRow(view, k, e.header, row, g));
    }
    for (const [k, row] of got) if (!want.has(k)) out.push(`${view}: unexpected row ${k}: ${JSON.stringify(row)}`);
  }
  return out;
}
