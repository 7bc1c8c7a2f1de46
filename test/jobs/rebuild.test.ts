import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { rebuildViews, RebuildBusyError } from '../../src/jobs/rebuild.js';
import { VIEW_NAMES, type ViewName } from '../../src/model/views.js';
import { generateWebhooks } from '../../src/simulate/calls.js';
import { createStore, type SqliteStore } from '../../src/store/create-store.js';
import { runCli } from '../helpers/cli.js';
import { exported } from '../helpers/export.js';
import { VENDOR_EXAMPLES, vendorJson } from '../helpers/fixtures.js';
import { ingest } from '../helpers/ingest.js';
import { tempDir } from '../helpers/temp-dir.js';

const DAY = 86_400_000;
const START = Date.parse('2026-09-01T00:00:00Z');

async function allExports(store: SqliteStore): Promise<Record<ViewName, string>> {
  const out = {} as Record<ViewName, string>;
  for (const v of VIEW_NAMES) out[v] = await exported(store, v);
  return out;
}

async function seeded(dir: string, zone = 'America/New_York'): Promise<SqliteStore> {
  const store = createStore({ dbPath: join(dir, 'ember-sync.db'), reportTimezone: zone });
  const payloads = [...VENDOR_EXAMPLES.map((n) => vendorJson(n)), ...generateWebhooks(300, { seed: 11 })];
  // Three months of history, a few webhooks out of clock order at month ends.
  await ingest(store, payloads, (i) => new Date(START + Math.floor((i * 90 * DAY) / payloads.length) - (i % 7 === 0 ? 3_600_000 : 0)).toISOString());
  await store.projection.catchUp(37);
  return store;
}

test('rebuild derives every view again from the raw log: every export is byte-identical, month partitions too', async (t) => {
  const store = await seeded(tempDir(t));
  t.after(() => store.close());
  const before = await allExports(store);
  const monthsOf = async () => (await store.views.snapshot('content_scores', await store.projection.columns())).keyed!.months!.list.map((m) => [m.month, m.total]);
  const monthsBefore = await monthsOf();
  assert.ok(monthsBefore.length >= 3, 'the history spans months');
  const seen: number[] = [];
  const { events } = await rebuildViews({ store, chunk: 50, onProgress: (done) => seen.push(done) });
  assert.equal(events, (await store.events.counts()).events);
  assert.ok(seen.length > 1 && seen.every((d, i) => i === 0 || d > seen[i - 1]!), 'progress moves forward batch by batch');
  assert.deepEqual(await allExports(store), before);
  assert.deepEqual(await monthsOf(), monthsBefore);
  assert.equal(await store.projection.lag(), 0);
});

test('rebuild waits for a running sync, and refuses with a clear error when it does not finish in time; webhooks that arrive meanwhile are derived too', async (t) => {
  const store = await seeded(tempDir(t));
  t.after(() => store.close());
  const other = (await store.sync.tryLock('csv', store.sync.newOwner()))!;
  await assert.rejects(rebuildViews({ store, waitForLockMs: 0 }), (err: unknown) => err instanceof RebuildBusyError && /csv sync .* still running; nothing was rebuilt/.test((err as Error).message));
  assert.equal(await store.projection.lag(), 0, 'nothing was dropped');

  const waited: string[] = [];
  setTimeout(async () => await store.sync.unlock(other), 300);
  const before = await allExports(store);
  // A webhook arriving while the rebuild runs (between its batches) lands in the views as well.
  const running = rebuildViews({ store, chunk: 20, waitForLockMs: 10_000, onWait: (target) => waited.push(target) });
  await ingest(store, [{ ...vendorJson('red-flag'), webhook_id: 'late-arrival' }], () => new Date(START + 91 * DAY).toISOString());
  await running;
  await store.projection.catchUp();
  assert.deepEqual(waited, ['csv']);
  const after = await allExports(store);
  assert.equal(after.scores.startsWith(before.scores.trimEnd().split('\r\n')[0]!), true);
  assert.match(after.red_flags, /late-arrival/);
  assert.equal(after.red_flags.replace(/\r\n[^\r\n]*late-arrival[^\r\n]*/, ''), before.red_flags, 'the rows before are the same, the new one is added');
  assert.equal(await store.sync.lockHolder('csv'), undefined, 'locks released');
  assert.equal(await store.sync.lockHolder('sheets'), undefined);
});

test('ember-sync rebuild: prints what it did; exit 1 with one line while a sync holds its lock; exit 2 where there is no database', async (t) => {
  const dir = tempDir(t);
  const store = await seeded(dir, 'UTC');
  const before = await allExports(store);
  // Held by this (live) test process: to the CLI it is another process's running sync.
  const lock = (await store.sync.tryLock('sheets', store.sync.newOwner()))!;
  store.close();
  const env = { DATA_DIR: dir };
  const busy = await runCli(['rebuild', '--wait', '0'], env);
  assert.equal(busy.code, 1, busy.stderr);
  assert.match(busy.stderr, new RegExp(`^ember-sync: a sheets sync \\(pid ${process.pid} on .+\\) is still running; nothing was rebuilt`, 'm'));

  const again = createStore({ dbPath: join(dir, 'ember-sync.db') });
  await again.sync.unlock(lock);
  again.close();
  const ok = await runCli(['rebuild'], env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^rebuilt the views from 304 events in \d+\.\d s\n$/);
  assert.match(ok.stderr, /rebuild: 304\/304 events \(100%\)/, 'progress lines in a pipe');
  // One batch passes every tenth at once: one line, and each line's share is the true one (not 10%… 90% of 304/304).
  const lines = [...ok.stderr.matchAll(/^rebuild: (\d+)\/(\d+) events \((\d+)%\)$/gm)];
  assert.equal(lines.length, 1, ok.stderr);
  for (const [, done, total, pct] of lines) assert.equal(Number(pct), Math.floor((Number(done) * 100) / Number(total)));
  const reopened = createStore({ dbPath: join(dir, 'ember-sync.db') });
  t.after(() => reopened.close());
  assert.deepEqual(await allExports(reopened), before);

  const nowhere = await runCli(['rebuild'], { DATA_DIR: join(dir, 'elsewhere') });
  assert.equal(nowhere.code, 2);
  assert.match(nowhere.stderr, /no database at .*elsewhere/);
});

test('rebuild reports every event of the log as derived when the server projector did part of the work', async (t) => {
  const store = await seeded(tempDir(t));
  t.after(() => store.close());
  const before = await allExports(store);
  let helped = 0;
  // The server's projector (another connection in real life) derives the rest after the rebuild's first batch.
  const { events } = await rebuildViews({ store, chunk: 40, onProgress: async () => void (helped ||= await store.projection.projectBatch(10_000)) });
  assert.ok(helped > 0, 'the other projector derived events');
  assert.equal(events, (await store.events.counts()).events, 'the printed count is the log, not only what this process derived');
  assert.deepEqual(await allExports(store), before);
});
