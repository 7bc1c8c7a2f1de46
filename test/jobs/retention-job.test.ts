/** The daily RETENTION_DAYS job of the server: when it runs, and what it does when a sync is running or a run fails. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { createRetentionJob } from '../../src/jobs/retention-job.js';
import { createStore, type SqliteStore } from '../../src/store/create-store.js';
import { ingest } from '../helpers/ingest.js';
import { tempDir } from '../helpers/temp-dir.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup(t: TestContext): { store: SqliteStore; lines: Array<Record<string, unknown>>; logger: pino.Logger } {
  const store = createStore({ dbPath: join(tempDir(t), 'ember-sync.db') });
  t.after(() => store.close());
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { store, lines, logger };
}

const red = (id: string, day: string) => ({
  webhook_id: id,
  content_id: `c-${id}`,
  alert_type: 'red_flag',
  content_type: 'Call',
  agent_name: 'John Doe',
  red_flag_reason: 'quote',
  total_score: 10,
  score_details: { empathy_score: 1, empathy_justification: 'quote' },
  timestamp: `${day}T12:00:00.000Z`,
});

async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(5);
  }
}

test('runs at its first check, then once per day of REPORT_TIMEZONE; logs what it deleted', async (t) => {
  const { store, lines, logger } = setup(t);
  await ingest(store, [red('a', '2026-08-01'), red('b', '2026-11-29')], (i) => (i === 0 ? '2026-08-01T12:00:00.000Z' : '2026-11-29T12:00:00.000Z'));
  let now = new Date('2026-11-30T10:00:00.000Z');
  const job = createRetentionJob({ store, days: 30, logger, now: () => now, firstCheckMs: 1, checkEveryMs: 10 });
  job.start();
  t.after(() => job.stop());
  await until(async () => (await store.retention.state()).lastRunAt !== null);
  assert.equal((await store.retention.state()).lastRunAt, '2026-11-30T10:00:00.000Z');
  assert.equal((await store.events.counts()).events, 1);
  await until(() => lines.some((l) => String(l['msg']).startsWith('retention: deleted 1 webhook')));
  // More checks the same day: no run.
  await sleep(50);
  assert.equal((await store.retention.state()).lastRunAt, '2026-11-30T10:00:00.000Z');
  // The next day: a run.
  now = new Date('2026-12-01T00:30:00.000Z');
  await until(async () => (await store.retention.state()).lastRunAt === '2026-12-01T00:30:00.000Z');
  assert.equal((await store.retention.state()).keptFromDay, '2026-11-01');
});

test('a sync holding its lock: the run waits, then gives up until the next check without marking the day done', async (t) => {
  const { store, lines, logger } = setup(t);
  const ticket = (await store.sync.tryLock('csv', store.sync.newOwner()))!;
  const job = createRetentionJob({ store, days: 30, logger, now: () => new Date('2026-11-30T10:00:00.000Z'), waitForLockMs: 50 });
  t.after(() => job.stop());
  assert.equal(await job.runNow(), undefined);
  assert.equal((await store.retention.state()).lastRunAt, null);
  assert.ok(lines.some((l) => /retention waits: a csv sync .* is still running/.test(String(l['msg']))));
  await store.sync.unlock(ticket);
  const r = await job.runNow();
  assert.equal(r?.keptFromDay, '2026-10-31');
});

test('a run that fails is logged, said in status (last_result), and tried again', async (t) => {
  const { store, lines, logger } = setup(t);
  const job = createRetentionJob({ store, days: 30, logger, now: () => new Date('2026-11-30T10:00:00.000Z') });
  t.after(() => job.stop());
  const original = store.retention.deleteEvents;
  store.retention.deleteEvents = () => {
    throw new Error('disk I/O error');
  };
  assert.equal(await job.runNow(), undefined);
  assert.ok(lines.some((l) => l['level'] === 50 && /retention failed/.test(String(l['msg']))));
  assert.match((await store.retention.state()).lastResult ?? '', /^failed at 2026-11-30T10:00:00.000Z: disk I\/O error/);
  assert.equal((await store.retention.state()).lastRunAt, null);
  store.retention.deleteEvents = original;
  assert.ok(await job.runNow());
  assert.equal((await store.retention.state()).lastRunAt, '2026-11-30T10:00:00.000Z');
});
