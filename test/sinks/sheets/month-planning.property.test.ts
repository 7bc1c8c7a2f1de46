/**
 * The planning of month tabs, pure and property-based: how a view's pending
 * rows split into month tabs, which month tabs a drop takes, and where a new
 * month tab goes among the tabs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Cell } from '../../../src/model/cells.js';
import type { KeyedDelivery, KeyedRows, LogDelivery } from '../../../src/model/sync.js';
import { monthsBefore, planDrops, type MonthTab } from '../../../src/sinks/sheets/keep-months.js';
import { joinOutcome, splitViews, type MonthTabState, type MonthViewState } from '../../../src/sinks/sheets/month-tabs.js';
import type { SheetViewState, TabOutcome } from '../../../src/sinks/sheets/plan-views.js';
import { placeOf } from '../../../src/sinks/sheets/tab-order.js';
import { collect } from './make-delivery.js';

const MONTHS = ['2026-05', '2026-06', '2026-07', '2026-08', '2026-09', '2026-10', '2026-11'];
const monthArb = fc.constantFrom(...MONTHS);

/** A red_flags-like log view whose row i (seq i + 1) was received in months[i]. */
function logDelivery(months: readonly string[], delivered: number, state?: MonthViewState): LogDelivery {
  const rows: Cell[][] = months.map((m, i) => [`w-${i}`, `${m}-1${i % 10}T12:00:00.000Z`]);
  const select = (from = 0, to = rows.length) => rows.slice(from, to);
  return {
    kind: 'log',
    view: 'red_flags',
    zone: 'UTC',
    header: ['webhook_id', 'received_at'],
    cursor: { deliveredSeq: delivered, deliveredRows: delivered, state, lastError: null, lastErrorAt: null },
    toSeq: rows.length,
    pending: rows.length - delivered,
    rows: {
      count: async (s) => select(s.fromSeq, s.toSeq).length,
      async *pages(s) {
        const all = select(s.fromSeq, s.toSeq);
        for (let i = 0; i < all.length; i += 3) yield all.slice(i, i + 3);
      },
    },
  };
}

test('property: the pending rows of a log view split into one tab per month, each with exactly its month’s rows, in order; dropped months skipped', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(monthArb, { maxLength: 40 }), fc.nat(), fc.option(monthArb, { nil: undefined }), async (raw, cut, dropped) => {
      const months = [...raw].sort();
      const delivered = months.length === 0 ? 0 : cut % (months.length + 1);
      const d = logDelivery(months, delivered);
      const { units, splits } = await splitViews([d], { partition: 'month', droppedThrough: dropped, currentMonth: '2026-11' });
      const pending = months.slice(delivered);
      const expected = [...new Set(pending)].filter((m) => dropped === undefined || m > dropped).sort();
      assert.deepEqual(units.map((u) => u.tab), expected.map((m) => `red_flags ${m}`));
      for (const u of units) {
        assert.equal(u.kind, 'log');
        if (u.kind !== 'log') continue;
        const m = u.tab!.slice('red_flags '.length);
        const mine = pending.map((x, i) => ({ x, id: `w-${delivered + i}` })).filter((r) => r.x === m);
        assert.equal(u.pending, mine.length);
        const got = (await collect(u.rows.pages({ fromSeq: u.cursor.deliveredSeq, toSeq: u.toSeq }))).flat().map((r) => r[0]);
        assert.deepEqual(got, mine.map((r) => r.id));
        assert.equal(await u.rows.count({ toSeq: u.toSeq }), mine.length, 'a new month tab holds only rows after the cursor');
        // Any other slice is read and filtered (never answered from the split's count).
        const shorter = months.slice(delivered, Math.max(delivered, months.length - 1)).filter((x) => x === m).length;
        assert.equal(await u.rows.count({ fromSeq: 0, toSeq: Math.max(delivered, months.length - 1) }), shorter);
        assert.equal((await collect(u.rows.pages({ fromSeq: 0, toSeq: Math.max(delivered, months.length - 1) }))).flat().length, shorter);
      }
      assert.deepEqual(splits[0]!.skipped, [...new Set(pending)].filter((m) => dropped !== undefined && m <= dropped).sort());
    }),
  );
});

test('property: a view succeeds only when all its month tabs did; its state keeps each month tab and forgets the dropped ones', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(monthArb, { minLength: 1, maxLength: 30 }), fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }), fc.option(monthArb, { nil: undefined }), async (raw, fails, through) => {
      const months = [...raw].sort();
      const old: MonthViewState = { partition: 'month', zone: 'UTC', months: { '2026-04': { sheetId: 4, nextRow: 3, header: [], since: 0 } } };
      const d = logDelivery(months, 0, old);
      const { splits } = await splitViews([d], { partition: 'month', currentMonth: '2026-11' });
      const split = splits[0]!;
      const outcomes = new Map<string, TabOutcome>();
      let i = 0;
      for (const title of split.units.keys()) {
        const state: SheetViewState = { sheetId: 100 + i, nextRow: 2, header: d.header };
        outcomes.set(title, fails[i++] ? { view: title, ok: false, error: `tab "${title}": refused` } : { view: title, ok: true, receipt: { rows: 1, totalRows: 1, state } });
      }
      const out = joinOutcome(split, outcomes, through);
      const anyFailed = [...outcomes.values()].some((o) => !o.ok);
      assert.equal(out.ok, !anyFailed);
      if (!out.ok) {
        for (const o of outcomes.values()) if (!o.ok) assert.ok(out.error.includes(o.error));
        return;
      }
      const state = out.receipt.state as MonthViewState;
      const kept = [...new Set(months), '2026-04'].filter((m) => through === undefined || m > through).sort();
      assert.deepEqual(Object.keys(state.months).sort(), kept);
      assert.equal(out.receipt.totalRows, months.length);
    }),
  );
});

const tabsArb = fc.uniqueArray(fc.record({ view: fc.constantFrom('red_flags', 'scores', 'contents'), month: monthArb, cells: fc.integer({ min: 1, max: 1000 }) }), { selector: (t) => `${t.view} ${t.month}` });

test('property: auto drops whole months, oldest first, only as many as needed (the months this sync was about to write too), never the current month; N keeps the last N months', async () => {
  fc.assert(
    fc.property(
      tabsArb,
      fc.integer({ min: 0, max: 20_000 }),
      fc.integer({ min: 0, max: 5000 }),
      fc.array(fc.tuple(monthArb, fc.integer({ min: 0, max: 3000 })), { maxLength: 6 }),
      fc.integer({ min: 1, max: 8 }),
      (raw, threshold, other, plannedList, n) => {
        const tabs: MonthTab[] = raw.map((t, i) => ({ title: `${t.view} ${t.month}`, month: t.month, sheetId: i + 1, cells: t.cells })).sort((a, b) => a.month.localeCompare(b.month));
        const current = '2026-10';
        // Cells this sync adds to the tabs of a month (new month tabs of a long history, rows appended); `other`: the rest.
        const planned = new Map<string, number>();
        for (const [m, c] of plannedList) planned.set(m, (planned.get(m) ?? 0) + c);
        const growth = other + [...planned.values()].reduce((s, c) => s + c, 0);
        const cells = tabs.reduce((s, t) => s + t.cells, 0) + 500;
        const plan = planDrops({ keep: 'auto', tabs, currentMonth: current, planned, cells, growth, threshold, droppedThrough: undefined });
        const older = [...new Set([...tabs.map((t) => t.month), ...planned.keys()])].filter((m) => m < current).sort();
        // A prefix of the older months, every tab of each, none current or later.
        assert.deepEqual(plan.months, older.slice(0, plan.months.length));
        assert.deepEqual([...new Set(plan.drop.map((t) => t.month))].sort(), plan.months.filter((m) => tabs.some((t) => t.month === m)));
        for (const m of plan.months) assert.deepEqual(plan.drop.filter((t) => t.month === m).length, tabs.filter((t) => t.month === m).length);
        const monthCells = (m: string) => tabs.filter((t) => t.month === m).reduce((s, t) => s + t.cells, 0) + (planned.get(m) ?? 0);
        const after = cells + growth - plan.months.reduce((s, m) => s + monthCells(m), 0);
        // Only as many as needed: without its last month the drop would not have been enough.
        if (plan.months.length > 0) assert.ok(after + monthCells(plan.months.at(-1)!) > threshold);
        // Enough, unless no older month is left.
        if (after > threshold) assert.equal(plan.months.length, older.length);
        assert.equal(plan.through, plan.months.at(-1));

        const keepN = planDrops({ keep: n, tabs, currentMonth: current, cells, growth, threshold, droppedThrough: undefined });
        for (const t of tabs) assert.equal(keepN.drop.includes(t), t.month <= monthsBefore(current, n), `${t.title} with ${n} months kept`);
        assert.deepEqual(planDrops({ keep: 'all', tabs, currentMonth: current, planned, cells, growth, threshold: 0, droppedThrough: '2026-01' }), { drop: [], months: [], through: '2026-01' });
      },
    ),
  );
});

test('property: a new month tab goes next to its view’s previous month (or before its next one), else after the single tab, else at the end', async () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.oneof(fc.constantFrom('Notes', 'scores', 'ember-sync'), fc.tuple(fc.constantFrom('scores', 'red_flags'), monthArb).map(([v, m]) => `${v} ${m}`))), monthArb, (titles, month) => {
      const title = `scores ${month}`;
      fc.pre(!titles.includes(title));
      const at = placeOf(title, titles);
      const list = [...titles];
      list.splice(at, 0, title);
      const mine = titles.filter((t) => t.startsWith('scores 2'));
      const prev = mine.filter((t) => t < title).sort().at(-1);
      const next = mine.filter((t) => t > title).sort()[0];
      if (prev) assert.equal(list[at - 1], prev);
      else if (next) assert.equal(list[at + 1], next);
      else if (titles.includes('scores')) assert.equal(list[at - 1], 'scores');
      else assert.equal(at, titles.length);
    }),
  );
  assert.equal(monthsBefore('2026-01', 1), '2025-12');
  assert.equal(monthsBefore('2026-11', 12), '2025-11');
});

test('keyed months: a tab per month that changed, is new, or was renumbered (a new resetSeq or epoch: written whole); the others untouched', async () => {
  const rowsOf = (total: number): KeyedRows => ({ total, async *pages() {}, async *changed() {}, countChanged: async (_s, known) => Math.max(0, total - known) });
  const list = [
    { month: '2026-08', total: 3, resetSeq: 0 },
    { month: '2026-09', total: 4, resetSeq: 0 },
    { month: '2026-10', total: 2, resetSeq: 9 },
    { month: '2026-11', total: 5, resetSeq: 0 },
  ];
  const tabState = (month: string, epoch: string, rows: number): [string, MonthTabState] => [month, { sheetId: rows, nextRow: rows + 1, header: [], epoch, since: 0 }];
  const state: MonthViewState = {
    partition: 'month',
    zone: 'UTC',
    months: Object.fromEntries([tabState('2026-08', 'e1#0', 3), tabState('2026-09', 'e1#0', 4), tabState('2026-10', 'e1#4', 2)]),
  };
  const delivery = (epoch: string, changed: string[]): KeyedDelivery => ({
    kind: 'keyed',
    view: 'contents',
    zone: 'UTC',
    header: ['content_id'],
    epoch,
    toSeq: 12,
    pending: 1,
    cursor: { deliveredSeq: 10, deliveredRows: 9, state, lastError: null, lastErrorAt: null },
    rows: { ...rowsOf(14), months: { list, changedSince: async () => new Set(changed), rows: (m) => rowsOf(list.find((x) => x.month === m)!.total) } },
  });
  const units = async (d: KeyedDelivery) => (await splitViews([d], { partition: 'month', currentMonth: '2026-11' })).units.map((u) => [u.tab, u.kind === 'keyed' ? u.epoch : '', u.cursor.deliveredRows]);
  // September changed; October was renumbered after its tab was written (resetSeq 9, tab at 4); November is new.
  assert.deepEqual(await units(delivery('e1', ['2026-09'])), [
    ['contents 2026-09', 'e1#0', 4],
    ['contents 2026-10', 'e1#9', 2],
    ['contents 2026-11', 'e1#0', 0],
  ]);
  // A new epoch: every month is written whole.
  assert.deepEqual((await units(delivery('e2', []))).map((u) => u[0]), ['contents 2026-08', 'contents 2026-09', 'contents 2026-10', 'contents 2026-11']);
  // Dropped months are skipped.
  assert.deepEqual((await splitViews([delivery('e1', ['2026-09'])], { partition: 'month', droppedThrough: '2026-09', currentMonth: '2026-11' })).splits[0]!.skipped, ['2026-09']);
});
