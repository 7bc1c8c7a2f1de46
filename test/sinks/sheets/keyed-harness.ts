/**
 * Keyed deliveries for the Sheets target without a store: a KeyedModel (a
 * plain array of rows at fixed positions) hands the target what changed since
 * its cursor, and the test commits the cursor as the engine does — or does
 * not, to play a crash between the write and the commit.
 */
import assert from 'node:assert/strict';
import type { Cell } from '../../../src/model/cells.js';
import type { DeliveryReceipt, SyncTarget, ViewOutcome } from '../../../src/model/sync.js';
import { FIXED_COLUMNS } from '../../../src/model/views.js';
import { DATE_PATTERN, DATE_TIME_PATTERN, toSheetRow } from '../../../src/sinks/sheets/cells.js';
import { columnKinds } from '../../../src/model/views.js';
import type { FakeSheets } from '../../fakes/fake-sheets.js';
import { SHEET } from './harness.js';
import { KeyedModel } from './make-delivery.js';

export const CONTENTS_HEADER = [...FIXED_COLUMNS.contents];

const iso = (ms: number) => new Date(ms).toISOString();
const T0 = Date.UTC(2025, 2, 8, 12, 0, 0);

/** One `contents` row: content i in its version v (its key, content_id, never changes). */
export function contentRow(i: number, v = 0): Cell[] {
  const at = T0 + i * 61_000 + v * 3_600_000;
  return [
    `c-${String(i).padStart(6, '0')}`,
    i % 3 === 0 ? 'document' : 'call',
    `file-${i}.mp3`,
    v % 2 === 0 ? 'John Doe' : 'Jane Smith',
    iso(at),
    iso(T0 + i * 61_000),
    iso(at + 5_000),
    v + 1,
    v % 2 === 1,
    i % 5 === 0 ? true : null,
    v > 1,
    v % 4 === 3 ? null : 50 + ((i + v) % 50),
    70,
    i % 5 === 0 ? `flagged v${v}` : null,
    v === 0 ? null : `summary ${i}.${v} =1+2`,
  ];
}

export function contentsModel(n: number): KeyedModel {
  const m = new KeyedModel('contents', [...CONTENTS_HEADER]);
  for (let i = 0; i < n; i++) m.add(contentRow(i));
  return m;
}

/** A target's cursor for one view, committed as the engine does (or not). */
export class Cursor {
  deliveredSeq = 0;
  deliveredRows = 0;
  state: unknown = undefined;
  commit(toSeq: number, receipt: DeliveryReceipt): void {
    this.deliveredSeq = toSeq;
    this.deliveredRows = receipt.totalRows;
    this.state = receipt.state;
  }
}

/** One sync of one keyed view; the cursor moves only when `commit` (the engine's transaction) and the view is ok. */
export async function syncKeyed(target: SyncTarget, model: KeyedModel, cursor: Cursor, commit = true): Promise<ViewOutcome> {
  const d = model.delivery(cursor);
  const [out] = await target.deliver([d]);
  assert.ok(out);
  if (commit && out.ok) cursor.commit(d.toSeq, out.receipt);
  return out;
}

const norm = (rows: readonly (readonly unknown[])[]) =>
  rows.map((r) => {
    const c = r.map((v) => (v === undefined || v === '' ? null : v));
    while (c.length && c.at(-1) === null) c.pop();
    return c;
  });

/** The tab as the model says it must be: header, then every row at its position, times in `zone`. */
export function expectedTab(model: KeyedModel, zone = 'UTC'): unknown[][] {
  const kinds = columnKinds(model.view, model.header);
  return norm([model.header, ...model.rows.map((r) => toSheetRow(r, kinds, zone))]);
}

/** The tab equals the model cell for cell, types included, nothing below it; time and day columns formatted. */
export function assertTabEqualsModel(fake: FakeSheets, model: KeyedModel, zone = 'UTC', title: string = model.view): void {
  const tab = fake.tab(SHEET, title);
  assert.ok(tab, `tab ${title} exists`);
  assert.deepEqual(norm(tab.values), expectedTab(model, zone), `${title}: the tab equals the view`);
  assert.equal(tab.frozenRowCount, 1);
  columnKinds(model.view, model.header).forEach((kind, col) => {
    if (kind === 'plain' || model.rows.length === 0) return;
    const f = tab.formats[1]?.[col];
    assert.deepEqual(f, kind === 'time' ? { type: 'DATE_TIME', pattern: DATE_TIME_PATTERN } : { type: 'DATE', pattern: DATE_PATTERN }, `${title}.${model.header[col]}`);
  });
}
