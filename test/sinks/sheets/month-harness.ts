/**
 * Month tabs end to end: a sync at a chosen time (the engine's run facts, so
 * that "the current month" does not depend on the wall clock), cursors
 * committed as the engine commits them, and the checks that each month tab
 * holds exactly its month's rows.
 */
import assert from 'node:assert/strict';
import type { Cell } from '../../../src/model/cells.js';
import type { RunFacts, SyncTarget, ViewOutcome } from '../../../src/model/sync.js';
import { dayIn } from '../../../src/model/time.js';
import { columnKinds, isKeyedView, type ViewName } from '../../../src/model/views.js';
import { toSheetRow } from '../../../src/sinks/sheets/cells.js';
import type { Store } from '../../../src/store/store.js';
import type { FakeSheets } from '../../fakes/fake-sheets.js';
import { commitOutcomes, deliveries, SHEET } from './harness.js';

/** One sync as runSync does it (deliver, then commit the ok views), at `startedAt`. */
export async function syncAt(store: Store, target: SyncTarget, startedAt: string, run: Partial<RunFacts> = {}): Promise<ViewOutcome[]> {
  const ds = await deliveries(store);
  const toSeq = ds[0]!.toSeq;
  const outs = await target.deliver(ds, { run: { startedAt, quarantined: 0, parked: 0, ...run } });
  await commitOutcomes(store, 'sheets', toSeq, outs);
  return outs;
}

export const failures = (outs: readonly ViewOutcome[]) => outs.filter((o) => !o.ok).map((o) => `${o.view}: ${o.ok ? '' : o.error}`);

const norm = (rows: readonly unknown[][]) =>
  rows.map((r) => {
    const c = r.map((v) => (v === undefined || v === '' ? null : v));
    while (c.length && c.at(-1) === null) c.pop();
    return c;
  });

/** The rows of a view by month (append-only views: of received_at; keyed views: the store's months), as written. */
export async function rowsByMonth(store: Store, view: ViewName, zone = 'UTC'): Promise<Map<string, { header: string[]; rows: unknown[][] }>> {
  const { header, rows, keyed } = await store.views.snapshot(view);
  const kinds = columnKinds(view, header);
  const out = new Map<string, { header: string[]; rows: unknown[][] }>();
  const add = (month: string, cells: Cell[]) => {
    const entry = out.get(month) ?? { header, rows: [] };
    entry.rows.push(toSheetRow(cells, kinds, zone));
    out.set(month, entry);
  };
  if (isKeyedView(view)) {
    const months = keyed!.months!;
    for (const m of months.list) {
      for await (const page of months.rows(m.month).pages()) for (const cells of page) add(m.month, cells);
      if (!out.has(m.month) && m.total > 0) out.set(m.month, { header, rows: [] });
    }
    return out;
  }
  const at = header.indexOf('received_at');
  for await (const page of rows.pages({ toSeq: await store.projection.cursor() })) for (const cells of page) add(dayIn(cells[at] as string, zone)!.slice(0, 7), cells);
  return out;
}

/** Each month of the view has its tab `<view> <yyyy-mm>` holding exactly its rows under the header (`except`: months dropped). */
export async function assertMonthTabs(fake: FakeSheets, store: Store, view: ViewName, except: readonly string[] = []): Promise<string[]> {
  const months = await rowsByMonth(store, view);
  const seen: string[] = [];
  for (const [month, { header, rows }] of [...months].sort()) {
    const title = `${view} ${month}`;
    if (except.includes(month)) {
      assert.equal(fake.tab(SHEET, title), undefined, `${title} was dropped`);
      continue;
    }
    const tab = fake.tab(SHEET, title);
    assert.ok(tab, `tab ${title} exists`);
    assert.deepEqual(norm(tab.values).filter((r, i) => i <= rows.length || r.length > 0), norm([header, ...rows]), `${title} holds the month's rows`);
    assert.equal(tab.frozenRowCount, 1);
    seen.push(month);
  }
  return seen;
}
