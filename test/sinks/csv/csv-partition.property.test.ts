import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Temporal } from '@js-temporal/polyfill';
import fc from 'fast-check';
import { pino } from 'pino';
import type { Cell } from '../../../src/model/cells.js';
import type { CsvDialect } from '../../../src/model/csv.js';
import { catchUpAsync } from '../../../src/jobs/projector.js';
import { deliveriesFor, runSync } from '../../../src/jobs/sync.js';
import type { Partition } from '../../../src/model/partition.js';
import { VIEW_NAMES, type ViewName } from '../../../src/model/views.js';
import { createCsvTarget } from '../../../src/sinks/csv/csv-target.js';
import { createStore } from '../../../src/store/create-store.js';
import type { Store } from '../../../src/store/store.js';
import { ingest } from '../../helpers/ingest.js';
import { assertCsv, dialect as dialectArb, hostilePayload, payloadParts, viewInDb, viewTimeColumns } from './csv-oracle.js';

const silent = pino({ level: 'silent' });
/** Zones whose month starts fall at odd UTC times (and DST both ways). */
const ZONES = ['UTC', 'America/New_York', 'Asia/Kathmandu', 'Pacific/Kiritimati', 'America/St_Johns'] as const;
/** The views split by month, as the README says, and by which column (content_scores by its content's). */
const SPLIT_BY: Partial<Record<ViewName, string>> = {
  red_flags: 'received_at',
  low_scores: 'received_at',
  completions: 'received_at',
  workflows: 'received_at',
  scores: 'received_at',
  workflow_fields: 'received_at',
  contents: 'first_received_at',
  content_scores: 'first_received_at',
};

/** `yyyy-mm` of an instant in a zone, by Temporal (not model/time.ts). */
const monthIn = (iso: string, zone: string) => Temporal.Instant.from(iso).toZonedDateTimeISO(zone).toPlainDate().toString().slice(0, 7);

/** Instants of 2025-12…2026-03, and the last and first millisecond of each month in the zone (boundaries by Temporal). */
function instantIn(zone: string): fc.Arbitrary<string> {
  const edges = ['2026-01-01', '2026-02-01', '2026-03-01'].flatMap((day) => {
    const start = Temporal.PlainDate.from(day).toZonedDateTime({ timeZone: zone }).toInstant().epochMilliseconds;
    return [start - 1, start].map((ms) => new Date(ms).toISOString());
  });
  return fc.oneof(
    fc.constantFrom(...edges),
    fc
      .date({
        min: new Date('2025-12-01T12:00:00Z'),
        max: new Date('2026-03-30T00:00:00Z'),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString()),
  );
}

/** Every view as the target must have written it now: month files for the split views (by the oracle's own month of each row), else one file. */
async function assertLayout(store: Store, csvDir: string, d: CsvDialect, partition: Partition, zone: string): Promise<void> {
  const contents = await viewInDb(store, 'contents');
  const firstAt = contents.header.indexOf('first_received_at');
  const monthOfContent = new Map(contents.rows.map((r) => [r[0] as string, monthIn(r[firstAt] as string, zone)]));
  for (const view of VIEW_NAMES) {
    const { header, rows } = view === 'contents' ? contents : await viewInDb(store, view);
    const isTime = viewTimeColumns(view, header);
    const by = SPLIT_BY[view];
    if (partition === 'none' || by === undefined) {
      assertCsv(readFileSync(join(csvDir, `${view}.csv`)), d, header, rows, `${view}.csv`, isTime);
      if (by !== undefined) assert.ok(!existsSync(join(csvDir, view)), `${view}/: the month layout is gone`);
      continue;
    }
    const at = header.indexOf(by);
    const months = new Map<string, Cell[][]>();
    for (const r of rows) {
      const month = view === 'content_scores' ? monthOfContent.get(r[0] as string)! : monthIn(r[at] as string, zone);
      const list = months.get(month);
      if (list) list.push(r);
      else months.set(month, [r]);
    }
    const names = [...months.keys()].map((m) => `${view}-${m}.csv`).sort();
    assert.deepEqual(existsSync(join(csvDir, view)) ? readdirSync(join(csvDir, view)).sort() : [], names, `${view}/: one file per month with rows`);
    for (const [month, monthRows] of months) assertCsv(readFileSync(join(csvDir, view, `${view}-${month}.csv`)), d, header, monthRows, `${view}-${month}.csv`, isTime);
    assert.ok(!existsSync(join(csvDir, `${view}.csv`)), `${view}.csv: the whole file is gone`);
  }
}

/** A hand edit of one of the target's files: a byte flipped, the file removed, or a line appended. */
function edit(csvDir: string, pick: number, how: 'flip' | 'remove' | 'append'): void {
  const files = (readdirSync(csvDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.csv')).sort();
  if (files.length === 0) return;
  const file = join(csvDir, files[pick % files.length]!);
  if (how === 'remove') return rmSync(file);
  const bytes = readFileSync(file);
  if (how === 'append') return writeFileSync(file, Buffer.concat([bytes, Buffer.from('x,y\r\n')]));
  bytes[bytes.length >> 1] = bytes[bytes.length >> 1] === 0x41 ? 0x42 : 0x41;
  writeFileSync(file, bytes);
}

const step = (zone: string) =>
  fc.record({
    webhooks: fc.array(fc.tuple(payloadParts, fc.boolean(), fc.nat(), instantIn(zone)), { maxLength: 5 }),
    partition: fc.constantFrom<Partition>('month', 'month', 'none'),
    /** Before the sync: a delivery that dies before its cursor commit, or a hand edit. */
    mishap: fc.constantFrom('none', 'none', 'crash', 'flip', 'remove', 'append'),
    pick: fc.nat(),
  });
const scenario = fc.constantFrom(...ZONES).chain((zone) => fc.tuple(fc.constant(zone), fc.array(step(zone), { minLength: 1, maxLength: 4 })));

test('property: month files (and whole files) equal the view split by the month of each row in REPORT_TIMEZONE, across appends, layout switches, crashes and hand edits', async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(scenario, dialectArb, fc.context(), async ([zone, steps], dialect0, ctx) => {
      const dialect = { ...dialect0, timeZone: zone };
      const dir = mkdtempSync(join(tmpdir(), 'ember-sync-part-'));
      const store = createStore({ dbPath: join(dir, 'db.sqlite'), reportTimezone: zone });
      try {
        const csvDir = join(dir, 'exports');
        const target = (partition: Partition) => createCsvTarget({ dir: csvDir, dialect, partition });
        const sent: string[] = [];
        for (const s of steps) {
          const times = s.webhooks.map((w) => w[3]);
          const payloads = s.webhooks.map(([parts, again, which]) => {
            const p = hostilePayload(n++, parts, 'part-');
            // Sometimes about a content sent before: its keyed rows change (in the month of its first webhook).
            if (again && sent.length > 0) p['content_id'] = sent[which % sent.length];
            sent.push(String(p['content_id']));
            return p;
          });
          await ingest(store, payloads, (i) => times[i]!);
          ctx.log(`${payloads.length} webhooks at ${times.join(' ')}, ${s.mishap}, sync ${s.partition}`);
          if (s.mishap === 'crash') {
            await catchUpAsync(store.projection);
            await target(s.partition).deliver(await deliveriesFor(store, 'csv'));
          } else if (s.mishap !== 'none' && existsSync(csvDir)) edit(csvDir, s.pick, s.mishap);
          const r = await runSync({
            store,
            target: target(s.partition),
            logger: silent,
          });
          assert.equal(r.status, 'ok', JSON.stringify(r));
          await assertLayout(store, csvDir, dialect, s.partition, zone);
          assert.deepEqual(
            (readdirSync(csvDir, { recursive: true }) as string[]).filter((f) => f.includes('.tmp-')),
            [],
            'no temp file left',
          );
        }
      } finally {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 20 },
  );
});
