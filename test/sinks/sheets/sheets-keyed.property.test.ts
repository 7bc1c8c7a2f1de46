/**
 * Property: random sequences of keyed deliveries — changes to random
 * positions, new keys, a new column, crashes (a delivery whose cursor is
 * never committed), lost answers (Google applied the write, the answer was a
 * 503), epoch changes (rows derived again, in another order, maybe fewer),
 * REPORT_TIMEZONE switching — against the fake Sheets API with the real
 * client. After every committed sync the tab must equal the view, computed
 * here by an independent oracle from a plain array of rows.
 *
 * KEYED_PROPERTY_RUNS / KEYED_PROPERTY_SEED replay or lengthen it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Cell } from '../../../src/model/cells.js';
import type { DeliveryReceipt } from '../../../src/model/sync.js';
import { localSerial } from '../../../src/model/time.js';
import { createSheetsAuth } from '../../../src/sinks/sheets/auth.js';
import { createSheetsTarget } from '../../../src/sinks/sheets/sheets-target.js';
import { startFakeSheets } from '../../fakes/fake-sheets.js';
import { TOKEN } from './harness.js';
import { CONTENTS_HEADER } from './keyed-harness.js';
import { KeyedModel } from './make-delivery.js';

type Op =
  | { op: 'change'; picks: number[]; version: number }
  | { op: 'add'; n: number }
  | { op: 'column' }
  | { op: 'sync'; commit: boolean; lostAnswer: boolean }
  | { op: 'epoch'; order: number[]; keep: number }
  | { op: 'zone'; zone: 'UTC' | 'America/New_York' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('change' as const), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), version: fc.integer({ min: 1, max: 9 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('add' as const), n: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'column' as const }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('sync' as const), commit: fc.constantFrom(true, true, true, false), lostAnswer: fc.constantFrom(false, false, false, true) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('epoch' as const), order: fc.array(fc.nat(), { maxLength: 40 }), keep: fc.integer({ min: 0, max: 100 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom({ op: 'zone' as const, zone: 'UTC' as const }, { op: 'zone' as const, zone: 'America/New_York' as const }) }).map((r) => r.op) },
);

const BASE = Date.UTC(2025, 2, 9, 5, 0, 0);
/** Content `id` in `version` — its key (content_id) never changes. Times around the DST change of 2025-03-09 in New York. */
function row(id: number, version: number, width: number): Cell[] {
  const at = (k: number) => new Date(BASE + id * 677_000 + version * 1_811_000 + k * 1000).toISOString();
  const cells: Cell[] = [
    `c-${id}`,
    version % 3 === 0 ? 'call' : 'document',
    `f-${id}`,
    version % 2 ? `Agent ${version}` : null,
    at(0),
    at(-5),
    at(7),
    version + 1,
    version % 2 === 0,
    version % 3 === 0 ? true : null,
    version % 4 === 1,
    version % 5 === 0 ? null : version * 10 + id / 8,
    70,
    version % 3 === 1 ? `reason "${id}" =${version}` : null,
    version === 0 ? null : `summary ${id}/${version}`,
  ];
  for (let c = CONTENTS_HEADER.length; c < width; c++) cells.push(version % 2 === 1 ? `${c}:${version}` : null);
  return cells;
}

/** The oracle: what the tab must show for the model's rows in `zone` (times as serials of the wall clock, nulls empty). */
function oracle(header: readonly string[], rows: readonly Cell[][], zone: string): unknown[][] {
  const times = new Set(['scored_at', 'first_received_at', 'last_received_at']);
  const out: unknown[][] = [[...header], ...rows.map((r) => r.map((v, i) => (typeof v === 'string' && i < CONTENTS_HEADER.length && times.has(header[i]!) ? localSerial(v, zone)! : v)))];
  return out.map((r) => {
    const c = r.map((v) => (v === undefined || v === '' ? null : v));
    while (c.length && c.at(-1) === null) c.pop();
    return c;
  });
}

const runs = Number(process.env['KEYED_PROPERTY_RUNS'] ?? 60);
const seed = process.env['KEYED_PROPERTY_SEED'] === undefined ? undefined : Number(process.env['KEYED_PROPERTY_SEED']);

test('property: after every committed sync the keyed tab equals the view (changes, new keys, crashes, lost answers, new epochs, zones)', async (t) => {
  const fake = await startFakeSheets({ keepBodies: false });
  t.after(() => fake.close());
  fake.allowToken(TOKEN);
  let book = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 3, maxLength: 30 }), fc.integer({ min: 0, max: 30 }), async (ops, initial) => {
      const id = `keyed-prop-${++book}`;
      fake.createSpreadsheet(id);
      const targets = new Map<string, ReturnType<typeof createSheetsTarget>>();
      const targetIn = (zone: string) => {
        let tg = targets.get(zone);
        if (!tg) {
          tg = createSheetsTarget({
            spreadsheetId: id,
            auth: createSheetsAuth({ sheetsAccessToken: TOKEN, googleApplicationCredentials: undefined, googleOauthTokenUrl: undefined }),
            rootUrl: fake.url,
            limiter: { minIntervalMs: 0 },
            retry: { baseMs: 1, capMs: 2 },
            growSlackRows: 3,
            reportTimezone: zone,
          });
          targets.set(zone, tg);
        }
        return tg;
      };
      const model = new KeyedModel('contents', [...CONTENTS_HEADER]);
      /** The version of each content id: an independent record of what each row must be. */
      const versions: Array<{ id: number; version: number }> = [];
      let nextId = 0;
      const add = () => {
        const entry = { id: nextId++, version: 0 };
        versions.push(entry);
        model.add(row(entry.id, 0, model.header.length));
      };
      for (let i = 0; i < initial; i++) add();
      let zone = 'UTC';
      let epochs = 1;
      const cursor = { deliveredSeq: 0, deliveredRows: 0, state: undefined as unknown };
      /** A delivery wrote without a commit since the last commit, then the rows were derived again. */
      let uncommitted = false;
      let crashThenEpoch = false;
      for (const o of ops) {
        switch (o.op) {
          case 'change':
            for (const pick of o.picks) {
              if (versions.length === 0) break;
              const p = (pick % versions.length) + 1;
              const v = versions[p - 1]!;
              v.version = v.version === o.version ? o.version + 1 : o.version;
              model.set(p, row(v.id, v.version, model.header.length));
            }
            break;
          case 'add':
            for (let i = 0; i < o.n; i++) add();
            break;
          case 'column':
            model.header.push(`metric_${model.header.length}`);
            break;
          case 'epoch': {
            if (uncommitted) crashThenEpoch = true;
            // Derived again: some keys in another order, the others dropped; positions start over.
            const pool = versions.splice(0);
            for (const k of o.order) if (pool.length > 0) versions.push(...pool.splice(k % pool.length, 1));
            if (o.keep > 50) versions.push(...pool);
            model.reorder(
              versions.map((v) => row(v.id, v.version, model.header.length)),
              `e${++epochs}`,
            );
            break;
          }
          case 'zone':
            zone = o.zone;
            break;
          case 'sync': {
            const d = model.delivery(cursor);
            if (o.lostAnswer) fake.injectFault({ status: 503, afterApply: true, count: 1, match: (r) => r.kind === 'values.batchUpdate' });
            let [out] = await targetIn(zone).deliver([d]);
            fake.clearFaults();
            // A sync that died after writing, then the rows derived again (a new epoch): what it wrote past the
            // confirmed rows cannot be told from someone's cells. The operator clears those rows, as the error says.
            const below = out && !out.ok ? /^rows (\d+) to (\d+) of tab "contents" hold data past the rows ember-sync had confirmed/.exec(out.error) : null;
            if (below) {
              assert.ok(crashThenEpoch, `only a crash followed by a new epoch leaves rows that cannot be told: ${out && !out.ok ? out.error : ''}`);
              const from = Number(below[1]);
              const to = Number(below[2]);
              fake.setCells(id, 'contents', `A${from}`, Array.from({ length: to - from + 1 }, () => new Array(model.header.length).fill(null)));
              [out] = await targetIn(zone).deliver([d]);
            }
            if (!out?.ok && process.env['DBG']) console.error(JSON.stringify(out));
            assert.ok(out?.ok, `sync failed: ${JSON.stringify(out)}`);
            if (!o.commit) {
              uncommitted = true;
              break;
            }
            uncommitted = false;
            crashThenEpoch = false;
            const receipt: DeliveryReceipt = out.receipt;
            cursor.deliveredSeq = d.toSeq;
            cursor.deliveredRows = receipt.totalRows;
            cursor.state = receipt.state;
            assert.equal(receipt.totalRows, versions.length);
            const tab = fake.tab(id, 'contents');
            assert.ok(tab);
            // The plain array of rows (a row keeps its cells until it changes: a column added later is empty in it).
            assert.deepEqual(model.rows.map((r) => r[0]), versions.map((v) => `c-${v.id}`));
            const expected = oracle(model.header, model.rows, zone);
            const actual = tab.values.map((r) => {
              const c = r.map((v) => (v === undefined || v === '' ? null : v));
              while (c.length && c.at(-1) === null) c.pop();
              return c;
            });
            try {
              assert.deepEqual(actual, expected);
            } catch (e) {
              if (process.env['DBG']) console.error(JSON.stringify({ actual, expected }));
              throw e;
            }
            break;
          }
        }
      }
    }),
    { numRuns: runs, ...(seed === undefined ? {} : { seed }) },
  );
});
