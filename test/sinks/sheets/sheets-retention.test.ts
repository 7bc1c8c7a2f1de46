/**
 * RETENTION_DAYS on the Sheets target, against the fake Sheets API with the
 * real client: each delivery's `retainFrom` (the first month the store keeps)
 * deletes the month tabs ember-sync made for the months before it, whatever
 * SHEETS_KEEP_MONTHS says, in the structural request a sync sends anyway; the
 * daily tabs, the status tab and the analysts' tabs stay; those months are
 * never written again; a sync dying after the deletion is repaired by the next.
 *
 * The store's own deletion is played here by the deliveries: `retainFrom` set
 * on each, and (`prune`) the months before it taken out of what the store
 * hands — or left in, to check that the target never writes them anyway.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import fc from 'fast-check';
import type { Cell } from '../../../src/model/cells.js';
import { splitByMonth } from '../../../src/model/partition.js';
import type { KeyedMonths, KeyedRowSource, LogDelivery, RowSource, SyncTarget, ViewDelivery, ViewOutcome } from '../../../src/model/sync.js';
import { isViewName, LOG_VIEWS, type ViewName } from '../../../src/model/views.js';
import { monthsBefore, monthTabs, planDrops, retentionThrough, type KeepMonths } from '../../../src/sinks/sheets/keep-months.js';
import { splitViews, type MonthViewState } from '../../../src/sinks/sheets/month-tabs.js';
import { DROPPED_KEY, type Tab } from '../../../src/sinks/sheets/plan-views.js';
import { statusCells } from '../../../src/sinks/sheets/status-tab.js';
import type { Store } from '../../../src/store/store.js';
import { ingest } from '../../helpers/ingest.js';
import { commitOutcomes, deliveries, mixed, rawApi, setup, SHEET } from './harness.js';
import { collect } from './make-delivery.js';
import { assertMonthTabs, failures } from './month-harness.js';

const MONTH_VIEWS: ViewName[] = [...LOG_VIEWS, 'contents', 'content_scores'];
/** Webhook i of 40 arrives in month 2026-08 + ⌊i / 10⌋ (August to November), mid-month, a minute apart. */
const fourMonths = (i: number) => new Date(Date.UTC(2026, 7 + Math.floor(i / 10), 14, 12, i)).toISOString();
const monthOfRow = (header: readonly string[]) => {
  const at = header.indexOf('received_at');
  return (cells: readonly Cell[]) => String(cells[at]).slice(0, 7);
};

/** The store after RETENTION_DAYS deleted the months before `from` (UTC here): what it no longer hands. */
async function pruned(d: ViewDelivery, from: string): Promise<ViewDelivery> {
  if (d.kind === 'log') {
    const monthOf = monthOfRow(d.header);
    const src = d.rows;
    const rows: RowSource = {
      async *pages(s) {
        for await (const page of src.pages(s)) {
          const kept = page.filter((c) => monthOf(c) >= from);
          if (kept.length > 0) yield kept;
        }
      },
      count: async (s) => (await collect(rows.pages(s))).reduce((n, p) => n + p.length, 0),
    };
    const log: LogDelivery = { ...d, rows };
    return { ...log, pending: await rows.count({ fromSeq: d.cursor.deliveredSeq, toSeq: d.toSeq }) };
  }
  const src = d.rows;
  const months = src.months;
  if (!months) return d;
  const kept: KeyedMonths = {
    list: months.list.filter((m) => m.month >= from),
    changedSince: async (seq) => new Set([...(await months.changedSince(seq))].filter((m) => m >= from)),
    rows: (m) => months.rows(m),
  };
  // Delegates (the store's row sources may keep their methods on a prototype).
  const rows: KeyedRowSource = { total: src.total, pages: () => src.pages(), changed: (s, k) => src.changed(s, k), countChanged: (s, k) => src.countChanged(s, k), months: kept };
  return { ...d, rows };
}

/** One sync as the engine does it (deliver, then commit the ok views), each delivery carrying `retainFrom`; `commit: false` plays a crash before the commit. */
async function syncRetaining(store: Store, target: SyncTarget, startedAt: string, retainFrom: string | undefined, o: { prune?: boolean; commit?: boolean; epoch?: string } = {}): Promise<ViewOutcome[]> {
  const ds: ViewDelivery[] = [];
  for (const d0 of await deliveries(store)) {
    // `epoch`: the keyed views derived again (the store's retention can start a new epoch).
    const d: ViewDelivery = o.epoch !== undefined && d0.kind === 'keyed' ? { ...d0, epoch: o.epoch } : d0;
    if (retainFrom === undefined) {
      ds.push(d);
      continue;
    }
    const withFrom: ViewDelivery = { ...d, retainFrom };
    ds.push(o.prune ? await pruned(withFrom, retainFrom) : withFrom);
  }
  const toSeq = ds[0]!.toSeq;
  const outs = await target.deliver(ds, { run: { startedAt, quarantined: 0, parked: 0 } });
  if (o.commit === false) return outs;
  await commitOutcomes(store, 'sheets', toSeq, outs);
  return outs;
}

/** The spreadsheet's record of the months dropped (developer metadata), as the real client reads it. */
async function droppedRecord(fake: Parameters<typeof rawApi>[0]): Promise<string | undefined> {
  const { data } = await rawApi(fake).spreadsheets.get({ spreadsheetId: SHEET });
  return data.developerMetadata?.find((m) => m.metadataKey === DROPPED_KEY)?.metadataValue ?? undefined;
}

const monthTitles = (fake: { tabs(id: string): string[] }, month: string) => fake.tabs(SHEET).filter((title) => title.endsWith(` ${month}`));

/** Four months of history (August to November) synced without retention, plus an analyst's tab named like a month tab. */
async function history(t: TestContext, extra: Parameters<Awaited<ReturnType<typeof setup>>['target']>[0] = {}) {
  const env = await setup(t);
  const { fake, store, target } = env;
  await ingest(store, mixed(0, 40), fourMonths);
  await rawApi(fake).spreadsheets.batchUpdate({ spreadsheetId: SHEET, requestBody: { requests: [{ addSheet: { properties: { title: 'red_flags 2026-07' } } }] } });
  assert.deepEqual(failures(await syncRetaining(store, target({ partition: 'month', ...extra }), '2026-11-20T00:00:00.000Z', undefined)), []);
  for (const m of ['2026-08', '2026-09', '2026-10', '2026-11']) assert.ok(fake.tab(SHEET, `scores ${m}`) && fake.tab(SHEET, `contents ${m}`), m);
  return env;
}

/** The tabs retention never touches. */
function assertKeptTabs(fake: Parameters<typeof rawApi>[0], status = false): void {
  for (const title of ['daily_agents', 'daily_metrics', 'red_flags 2026-07', ...(status ? ['ember-sync'] : [])]) assert.ok(fake.tab(SHEET, title), `${title} kept`);
}

test('SHEETS_KEEP_MONTHS=all: the month tabs before retainFrom are deleted for the log and keyed month views, in the batchUpdate a steady sync sends; the retainFrom month, daily, status and analyst tabs stay', async (t) => {
  const opts = { partition: 'month', keepMonths: 'all', statusTab: true, growSlackRows: 50 } as const;
  const { fake, store, target } = await history(t, opts);
  // A first steady sync grows November's grids with slack.
  await ingest(store, mixed(100, 2, 'nov-'), () => '2026-11-20T08:00:00.000Z');
  assert.deepEqual(failures(await syncRetaining(store, target(opts), '2026-11-20T09:00:00.000Z', undefined)), []);

  await ingest(store, mixed(200, 3, 'nov2-'), () => '2026-11-21T08:00:00.000Z');
  fake.resetRequests();
  const sheets = target(opts);
  assert.deepEqual(failures(await syncRetaining(store, sheets, '2026-11-21T09:00:00.000Z', '2026-10', { prune: true })), []);
  // The deletion is the sync's one structural request (the rows and the status ride together after it).
  assert.deepEqual(fake.requests.map((r) => r.kind), ['get', 'values.batchGet', 'batchUpdate', 'values.batchUpdate']);
  const deleted = fake.requests[2]!;
  assert.ok(JSON.stringify(deleted.body).includes('deleteSheet'));
  // The months going are not even read back (a keyed month the store no longer lists is not planned for emptying).
  assert.deepEqual((fake.requests[1]!.ranges ?? []).filter((r) => /2026-0[89]/.test(r)), []);

  assert.deepEqual([...monthTitles(fake, '2026-08'), ...monthTitles(fake, '2026-09')], [], 'August and September gone in every view');
  for (const view of MONTH_VIEWS) {
    await assertMonthTabs(fake, store, view, ['2026-08', '2026-09']);
    const state = (await store.sync.cursor('sheets', view)).state as MonthViewState;
    assert.equal(state.droppedThrough, '2026-09', view);
    assert.ok(Object.keys(state.months).every((m) => m >= '2026-10'), `${view}: forgets the deleted months`);
  }
  for (const view of ['scores', 'contents', 'content_scores', 'red_flags']) assert.ok(fake.tab(SHEET, `${view} 2026-10`), `${view} 2026-10: the retainFrom month stays`);
  assertKeptTabs(fake, true);
  assert.equal(await droppedRecord(fake), '2026-09');

  // Said where the analysts and the operator look.
  const row = fake.tab(SHEET, 'ember-sync')!.values.find((r) => r[0] === 'Tabs dropped');
  assert.match(String(row?.[1]), /scores 2026-08.*\(RETENTION_DAYS: months before 2026-10\)$/s);
  assert.doesNotMatch(String(row?.[1]), /SHEETS_KEEP_MONTHS/);
  assert.ok(sheets.notices!().some((n) => /^tab "contents 2026-09" was deleted: RETENTION_DAYS keeps the months from 2026-10/.test(n)), sheets.notices!().join('\n'));

  // Steady syncs with retention after that: no structural request, then idle (metadata and status only).
  await ingest(store, mixed(300, 2, 'nov3-'), () => '2026-11-22T08:00:00.000Z');
  fake.resetRequests();
  assert.deepEqual(failures(await syncRetaining(store, target(opts), '2026-11-22T09:00:00.000Z', '2026-10', { prune: true })), []);
  assert.deepEqual(fake.requests.map((r) => r.kind), ['get', 'values.batchGet', 'values.batchUpdate']);
  fake.resetRequests();
  assert.deepEqual(failures(await syncRetaining(store, target(opts), '2026-11-22T09:01:00.000Z', '2026-10', { prune: true })), []);
  assert.deepEqual(fake.requests.map((r) => r.kind), ['get', 'values.batchUpdate']);
});

test('SHEETS_KEEP_MONTHS=auto and N: retention deletes the months before retainFrom; N drops its own on top (the union), each said with its reason', async (t) => {
  await t.test('auto (far below the cell limit: it drops nothing by itself)', async (t) => {
    const { fake, store, target } = await history(t);
    const sheets = target({ partition: 'month', keepMonths: 'auto', statusTab: true });
    assert.deepEqual(failures(await syncRetaining(store, sheets, '2026-11-21T00:00:00.000Z', '2026-10', { prune: true })), []);
    for (const view of MONTH_VIEWS) await assertMonthTabs(fake, store, view, ['2026-08', '2026-09']);
    assert.deepEqual([...monthTitles(fake, '2026-08'), ...monthTitles(fake, '2026-09')], []);
    assert.ok(fake.tab(SHEET, 'scores 2026-10') && fake.tab(SHEET, 'contents 2026-10'));
    assertKeptTabs(fake, true);
  });
  await t.test('N=1 with retainFrom 2026-09: August for retention, September and October for SHEETS_KEEP_MONTHS', async (t) => {
    const { fake, store, target } = await history(t);
    const sheets = target({ partition: 'month', keepMonths: 1, statusTab: true });
    assert.deepEqual(failures(await syncRetaining(store, sheets, '2026-11-21T00:00:00.000Z', '2026-09', { prune: true })), []);
    for (const view of MONTH_VIEWS) await assertMonthTabs(fake, store, view, ['2026-08', '2026-09', '2026-10']);
    assertKeptTabs(fake, true);
    const row = String(fake.tab(SHEET, 'ember-sync')!.values.find((r) => r[0] === 'Tabs dropped')?.[1]);
    assert.match(row, /scores 2026-08.*\(RETENTION_DAYS: months before 2026-09\); .*scores 2026-09.*\(SHEETS_KEEP_MONTHS\)/s);
    assert.ok(sheets.notices!().some((n) => n.startsWith('tab "scores 2026-10" was dropped (SHEETS_KEEP_MONTHS=1)')));
    assert.equal(await droppedRecord(fake), '2026-10');
  });
});

test('with a new epoch of the keyed views: their months before retainFrom are neither emptied nor rewritten, only deleted; the others are rewritten whole', async (t) => {
  const { fake, store, target } = await history(t, { keepMonths: 'all' });
  fake.resetRequests();
  const outs = await syncRetaining(store, target({ partition: 'month', keepMonths: 'all' }), '2026-11-21T00:00:00.000Z', '2026-10', { prune: true, epoch: 'after-retention' });
  assert.deepEqual(failures(outs), []);
  const touched = fake.requests.flatMap((r) => r.ranges ?? []);
  assert.deepEqual(touched.filter((r) => /2026-0[89]/.test(r)), [], 'not read back nor written');
  assert.deepEqual([...monthTitles(fake, '2026-08'), ...monthTitles(fake, '2026-09')], []);
  for (const view of ['contents', 'content_scores'] as const) {
    await assertMonthTabs(fake, store, view, ['2026-08', '2026-09']);
    assert.ok(fake.writes.some((w) => w.title === `${view} 2026-10`), `${view} 2026-10 rewritten for the new epoch`);
  }
  assert.deepEqual(fake.requests.map((r) => r.kind), ['get', 'values.batchGet', 'batchUpdate', 'values.batchUpdate']);
});

test('the months before retainFrom are never written again: late rows handed anyway, retainFrom gone later, a month left without rows', async (t) => {
  const opts = { partition: 'month', keepMonths: 'all' } as const;
  const { fake, store, target } = await history(t, opts);
  assert.deepEqual(failures(await syncRetaining(store, target(opts), '2026-11-21T00:00:00.000Z', '2026-10', { prune: true })), []);

  // Rows of September the store still hands (not pruned): every view delivered, nothing written for September.
  await ingest(store, mixed(100, 4, 'late-'), () => '2026-09-25T10:00:00.000Z');
  fake.resetRequests();
  const outs = await syncRetaining(store, target(opts), '2026-11-21T01:00:00.000Z', '2026-10');
  assert.deepEqual(failures(outs), []);
  assert.deepEqual(monthTitles(fake, '2026-09'), []);
  assert.deepEqual(fake.writes.filter((w) => /2026-0[89]$/.test(w.title)), []);
  assert.equal((await store.sync.cursor('sheets', 'scores')).deliveredSeq, await store.projection.cursor(), 'the cursor moved past them');

  // RETENTION_DAYS unset later (no retainFrom): the spreadsheet's record keeps those months dropped.
  await ingest(store, mixed(200, 3, 'later-'), () => '2026-09-26T10:00:00.000Z');
  assert.deepEqual(failures(await syncRetaining(store, target(opts), '2026-11-21T02:00:00.000Z', undefined)), []);
  assert.deepEqual([...monthTitles(fake, '2026-08'), ...monthTitles(fake, '2026-09')], []);

  // December: retainFrom moves to November; October (no new rows) goes, December is created, November stays.
  await ingest(store, mixed(300, 3, 'dec-'), () => '2026-12-03T10:00:00.000Z');
  assert.deepEqual(failures(await syncRetaining(store, target(opts), '2026-12-03T11:00:00.000Z', '2026-11', { prune: true })), []);
  assert.deepEqual(monthTitles(fake, '2026-10'), []);
  for (const view of ['scores', 'contents'] as const) await assertMonthTabs(fake, store, view, ['2026-08', '2026-09', '2026-10']);
  assert.ok(fake.tab(SHEET, 'scores 2026-12') && fake.tab(SHEET, 'scores 2026-11'));
  assertKeptTabs(fake);
  assert.equal(await droppedRecord(fake), '2026-10');
});

test('a sync that dies after the deletion (its answer lost once, then no cursor commit) is repaired by the next, with or without retainFrom', async (t) => {
  for (const next of ['2026-10', undefined]) {
    await t.test(`next sync retainFrom ${String(next)}`, async (t) => {
      const { fake, store, target } = await history(t);
      await ingest(store, mixed(100, 3, 'nov-'), () => '2026-11-21T08:00:00.000Z');
      fake.injectFault({ status: 503, afterApply: true, match: (r) => r.kind === 'batchUpdate' });
      const outs = await syncRetaining(store, target({ partition: 'month', keepMonths: 'all' }), '2026-11-21T09:00:00.000Z', '2026-10', { prune: true, commit: false });
      assert.deepEqual(failures(outs), []);
      assert.deepEqual([...monthTitles(fake, '2026-08'), ...monthTitles(fake, '2026-09')], []);
      const stale = (await store.sync.cursor('sheets', 'contents')).state as MonthViewState;
      assert.ok('2026-09' in stale.months, 'the cursor still lists the deleted months');

      // Twice, the second time committed: idempotent.
      for (const commit of [false, true]) {
        const again = await syncRetaining(store, target({ partition: 'month', keepMonths: 'all' }), '2026-11-21T09:05:00.000Z', next, { prune: next !== undefined, commit });
        assert.deepEqual(failures(again), []);
      }
      for (const view of MONTH_VIEWS) {
        await assertMonthTabs(fake, store, view, ['2026-08', '2026-09']);
        const state = (await store.sync.cursor('sheets', view)).state as MonthViewState;
        assert.ok(Object.keys(state.months).every((m) => m >= '2026-10'), view);
        assert.equal(state.droppedThrough, '2026-09');
      }
      assertKeptTabs(fake);
    });
  }
});

test('retainFrom absent: nothing deleted, no record; SHEETS_PARTITION=none ignores retainFrom', async (t) => {
  await t.test('absent', async (t) => {
    const { fake, store, target } = await history(t, { keepMonths: 'all' });
    await ingest(store, mixed(100, 3, 'nov-'), () => '2026-11-21T08:00:00.000Z');
    fake.resetRequests();
    assert.deepEqual(failures(await syncRetaining(store, target({ partition: 'month', keepMonths: 'all' }), '2026-11-21T09:00:00.000Z', undefined)), []);
    for (const view of MONTH_VIEWS) await assertMonthTabs(fake, store, view);
    assert.equal(await droppedRecord(fake), undefined);
    assert.ok(fake.requests.every((r) => !JSON.stringify(r.body ?? {}).includes('deleteSheet')));
  });
  await t.test('SHEETS_PARTITION=none', async (t) => {
    const { fake, store, target } = await setup(t);
    await ingest(store, mixed(0, 40), fourMonths);
    assert.deepEqual(failures(await syncRetaining(store, target({ partition: 'none' }), '2026-11-20T00:00:00.000Z', '2026-10')), []);
    await ingest(store, mixed(100, 3, 'nov-'), () => '2026-11-21T08:00:00.000Z');
    assert.deepEqual(failures(await syncRetaining(store, target({ partition: 'none' }), '2026-11-21T09:00:00.000Z', '2026-10', { prune: true })), []);
    for (const view of MONTH_VIEWS) assert.ok(fake.tab(SHEET, view), view);
    assert.ok(fake.tabs(SHEET).every((title) => !/ \d{4}-\d{2}$/.test(title)));
    assert.equal(await droppedRecord(fake), undefined);
  });
});

// ---- Pure: which tabs a sync with retention keeps, against an oracle of titles.

const MONTHS = ['2026-05', '2026-06', '2026-07', '2026-08', '2026-09', '2026-10', '2026-11'];
const CURRENT = '2026-10';
const tabArb = fc.oneof(
  fc.record({ view: fc.constantFrom('red_flags', 'scores', 'contents', 'content_scores', 'daily_agents', 'Notes'), month: fc.constantFrom(...MONTHS), ours: fc.boolean() }).map((t) => ({ title: `${t.view} ${t.month}`, ours: t.ours })),
  fc.constantFrom('ember-sync', 'scores', 'daily_metrics', 'Notes').map((title) => ({ title, ours: true })),
);

test('property: the tabs left after a sync with retention are exactly those the oracle keeps (retention ∪ SHEETS_KEEP_MONTHS), and no month before retainFrom gets a tab to write', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(tabArb, { selector: (t) => t.title.toLowerCase(), maxLength: 25 }),
      fc.option(fc.constantFrom('2026-04', ...MONTHS, '2026-12', 'bogus'), { nil: undefined }),
      fc.constantFrom<KeepMonths>('all', 'auto', 1, 2, 4),
      fc.array(fc.constantFrom(...MONTHS), { maxLength: 12 }),
      async (raw, retainFrom, keep, rowMonths) => {
        const tabs = new Map<string, Tab>(raw.map((t, i) => [t.title, { sheetId: i + 1, rowCount: 10, columnCount: 2, ...(t.ours ? { marker: { id: i + 1, rewrite: 'r', zone: 'UTC', rows: 9 } } : {}) }]));
        const retainThrough = retentionThrough([retainFrom], CURRENT);
        // `auto` far from its threshold: it drops nothing by itself.
        const plan = planDrops({ keep, tabs: monthTabs(tabs), currentMonth: CURRENT, cells: 0, growth: 0, threshold: 1e9, droppedThrough: undefined, retainThrough });
        const gone = new Set(plan.drop.map((t) => t.title));
        const firstKept = retainFrom !== undefined && /^\d{4}-\d{2}$/.test(retainFrom) ? (retainFrom < CURRENT ? retainFrom : CURRENT) : undefined;
        const expected = raw
          .filter((t) => {
            const at = t.title.lastIndexOf(' ');
            const view = t.title.slice(0, at);
            const month = t.title.slice(at + 1);
            if (at < 0 || !t.ours || !isViewName(view) || !splitByMonth(view)) return true;
            if (firstKept !== undefined && month < firstKept) return false;
            if (typeof keep === 'number' && month <= monthsBefore(CURRENT, keep)) return false;
            return true;
          })
          .map((t) => t.title);
        assert.deepEqual(raw.map((t) => t.title).filter((title) => !gone.has(title)), expected);
        if (firstKept !== undefined) assert.ok(plan.through !== undefined && plan.through >= monthsBefore(firstKept, 1), 'recorded: never written again');
        else if (keep === 'all' || keep === 'auto') assert.equal(plan.through, undefined);

        // A log view with rows pending in random months: no unit for a month before retainFrom.
        const header = ['webhook_id', 'received_at'];
        const rows: Cell[][] = rowMonths.map((m, i) => [`w-${i}`, `${m}-1${i % 10}T12:00:00.000Z`]);
        const d: LogDelivery = {
          kind: 'log',
          view: 'red_flags',
          zone: 'UTC',
          header,
          toSeq: rows.length,
          pending: rows.length,
          cursor: { deliveredSeq: 0, deliveredRows: 0, state: undefined, lastError: null, lastErrorAt: null },
          ...(retainFrom !== undefined ? { retainFrom } : {}),
          rows: {
            count: async (s) => rows.slice(s.fromSeq, s.toSeq).length,
            async *pages(s) {
              yield rows.slice(s.fromSeq, s.toSeq);
            },
          },
        };
        const { units } = await splitViews([d], { partition: 'month', droppedThrough: plan.through, currentMonth: CURRENT });
        const written = units.map((u) => u.tab!.slice('red_flags '.length));
        assert.deepEqual(written, [...new Set(rowMonths)].filter((m) => (firstKept === undefined || m >= firstKept) && (plan.through === undefined || m > plan.through)).sort());
      },
    ),
  );
});

test('the status tab names the tabs deleted for RETENTION_DAYS apart from those SHEETS_KEEP_MONTHS dropped', async () => {
  const base = { run: undefined, now: '2026-11-21T00:00:00.000Z', zone: 'UTC', views: [], cellsUsed: 0, cellBudget: 10_000_000, rebuilt: [], notes: [] };
  const row = (s: Parameters<typeof statusCells>[0]) => statusCells(s).find((r) => r[0] === 'Tabs dropped')![1];
  assert.equal(row({ ...base, dropped: [] }), 'none');
  assert.equal(row({ ...base, dropped: ['scores 2026-09'], retained: ['scores 2026-08'], retainFrom: '2026-09' }), 'scores 2026-08 (RETENTION_DAYS: months before 2026-09); scores 2026-09 (SHEETS_KEEP_MONTHS)');
  assert.equal(row({ ...base, dropped: [], retained: ['scores 2026-08', 'contents 2026-08'], retainFrom: '2026-09' }), 'scores 2026-08, contents 2026-08 (RETENTION_DAYS: months before 2026-09)');
});
