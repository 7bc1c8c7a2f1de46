/**
 * What the month files of a view must hold, told by the export and by Intl
 * alone (not by the target's own month logic): a month file equals
 * `ember-sync export <view> --since <month start> --until <next month start>`,
 * month starts being local midnights of the first in REPORT_TIMEZONE.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { exportView } from '../../src/jobs/export-view.js';
import type { ViewName } from '../../src/model/views.js';
import type { Store } from '../../src/store/store.js';
import { parseExportRequest } from '../../src/views/export-options.js';

/** How far `zone`'s wall clock is ahead of UTC at `ms`, straight from Intl. */
function offsetMs(ms: number, zone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(ms);
  const n = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  return Date.UTC(n('year'), n('month') - 1, n('day'), n('hour'), n('minute'), n('second')) - Math.floor(ms / 1000) * 1000;
}

/** The instant local midnight of the 1st of `month` (`yyyy-mm`) starts in `zone`, as ISO UTC. */
export function monthStart(month: string, zone: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const wall = Date.UTC(y, m - 1, 1);
  // Two rounds settle the offset (the first guess may sit on the other side of a DST change).
  let t = wall - offsetMs(wall, zone);
  t = wall - offsetMs(t, zone);
  return new Date(t).toISOString();
}

export function nextMonth(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}

/** Every month from `first` to `last`. */
export function monthsBetween(first: string, last: string): string[] {
  const out: string[] = [];
  for (let m = first; m <= last; m = nextMonth(m)) out.push(m);
  return out;
}

/** The export of one month of a view (since its start, until the next one's). */
export async function exportedMonth(store: Store, view: ViewName, month: string, zone: string, delimiter = ','): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const req = parseExportRequest({ view, delimiter, since: monthStart(month, zone), until: monthStart(nextMonth(month), zone) }, { delimiter, bom: false });
  await exportView(store, req, out);
  return Buffer.concat(chunks).toString('utf8');
}

export const monthPath = (csvDir: string, view: ViewName, month: string) => join(csvDir, view, `${view}-${month}.csv`);

/**
 * The view's folder holds exactly one file per month that has rows (of the
 * candidate months, which must cover the data), each equal to that month's
 * export; the whole-view file is gone.
 */
export async function assertMonthFiles(store: Store, csvDir: string, view: ViewName, zone: string, candidates: readonly string[]): Promise<number> {
  let rows = 0;
  const expected: string[] = [];
  for (const month of candidates) {
    const want = await exportedMonth(store, view, month, zone);
    const n = (parse(want) as string[][]).length - 1;
    const file = monthPath(csvDir, view, month);
    if (n === 0) {
      assert.ok(!existsSync(file), `${view} ${month}: no rows, so no file`);
      continue;
    }
    expected.push(`${view}-${month}.csv`);
    assert.ok(existsSync(file), `${view} ${month}: ${n} rows, but no file`);
    assert.equal(readFileSync(file, 'utf8'), want, `${view}-${month}.csv equals the export of that month`);
    rows += n;
  }
  const present = existsSync(join(csvDir, view)) ? readdirSync(join(csvDir, view)).sort() : [];
  assert.deepEqual(present, expected.sort(), `${view}/ holds exactly the month files`);
  assert.ok(!existsSync(join(csvDir, `${view}.csv`)), `${view}.csv (the other layout) is gone`);
  return rows;
}
