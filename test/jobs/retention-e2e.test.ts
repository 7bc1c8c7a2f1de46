/**
 * RETENTION_DAYS end to end: the real server with its daily job, the real
 * CSV target through `ember-sync sync`, `status` and GET /api/status.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { generateWebhooks } from '../../src/simulate/calls.js';
import { dayIn, addDays } from '../../src/model/time.js';
import { runCli } from '../helpers/cli.js';
import { ingest } from '../helpers/ingest.js';
import { startTestService } from '../helpers/service.js';

const DAY = 86_400_000;

test('serve with RETENTION_DAYS: the run deletes old webhooks, the next CSV sync removes their month files, status and /api/status show the oldest kept day', async (t) => {
  const service = await startTestService(t, { RETENTION_DAYS: '30', SYNC_SCHEDULE: '0 0 1 1 *' });
  const env = { DATA_DIR: service.dataDir, RETENTION_DAYS: '30' };
  const now = Date.now();
  // 120 days of coherent calls, received over those days (oldest first), then a first sync: month files for 4–5 months.
  const hooks = [...generateWebhooks(400, { seed: 21, now, days: 120, idPrefix: 'e2e-' })];
  await ingest(service.store, hooks, (i) => new Date(now - (hooks.length - i) * (120 * DAY) / hooks.length).toISOString());
  await service.store.projection.catchUp();
  const first = await runCli(['sync', '--target', 'csv'], env);
  assert.equal(first.code, 0, first.stderr);
  const csvDir = join(service.dataDir, 'exports');
  const monthsOf = (view: string) => readdirSync(join(csvDir, view)).filter((f) => f.endsWith('.csv')).sort();
  const before = monthsOf('scores');
  assert.ok(before.length >= 4, before.join());

  const result = await service.retention!.runNow();
  assert.ok(result, 'the run completed');
  const keptFromDay = addDays(dayIn(new Date().toISOString(), 'UTC')!, -30);
  assert.equal(result.keptFromDay, keptFromDay);
  const oldest = service.store.db.prepare('SELECT min(received_at) FROM events').pluck().get() as string;
  assert.ok(oldest >= `${keptFromDay}T00:00:00.000Z`, oldest);

  const second = await runCli(['sync', '--target', 'csv'], env);
  assert.equal(second.code, 0, second.stderr);
  const retainFrom = keptFromDay.slice(0, 7);
  const after = monthsOf('scores');
  assert.deepEqual(after, before.filter((f) => f.slice(-11, -4) >= retainFrom), 'month files before the kept month are gone, the others stay');
  for (const view of ['red_flags', 'contents', 'content_scores']) {
    for (const f of monthsOf(view)) assert.ok(f.slice(-11, -4) >= retainFrom, `${view}/${f}`);
  }
  // The daily files keep every day, the oldest too.
  const daily = parse(readFileSync(join(csvDir, 'daily_agents.csv')), { columns: true }) as Array<{ day: string }>;
  assert.ok(daily.some((r) => r.day < keptFromDay), 'daily summaries of deleted days stay');
  assert.ok(existsSync(join(csvDir, 'daily_metrics.csv')));

  const status = await runCli(['status'], { DATA_DIR: service.dataDir });
  assert.match(status.stdout, new RegExp(`^retention: RETENTION_DAYS=30 .*oldest kept day ${keptFromDay}; last run \\S+: deleted \\d+ webhooks`, 'm'));
  assert.match(status.stdout, /note: [a-z_]+: removed \d+ month file\(s\) before \d{4}-\d{2} \(RETENTION_DAYS\)/, 'the sync says which files went');
  const api = (await (await fetch(new URL('/api/status', service.listenUrl), { headers: { authorization: `Bearer ${service.adminToken}` } })).json()) as { retention: Record<string, unknown> };
  assert.equal(api.retention['days'], 30);
  assert.equal(api.retention['oldest_kept_day'], keptFromDay);
});
