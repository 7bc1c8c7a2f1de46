import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createStore } from '../../src/store/create-store.js';
import { collectStatus, RECENT_TARGET_MS, recentTargets, targetRunState, webhookUrlWarning } from '../../src/store/status.js';
import { LOCK_STALE_MS } from '../../src/store/sync-state.js';
import { tempDir } from '../helpers/temp-dir.js';

test('targetRunState tells never, locked, running, crashed, ok and failed apart from the runs and the lock', async (t) => {
  const store = createStore({ dbPath: join(tempDir(t), 'ember-sync.db') });
  t.after(() => store.close());
  assert.deepEqual(await targetRunState(store, 'csv'), { state: 'never', since: null, lock: null });

  // A live holder without a run of its own (rebuild, or a sync about to start).
  const ticket = (await store.sync.tryLock('csv', store.sync.newOwner()))!;
  const locked = await targetRunState(store, 'csv');
  assert.equal(locked.state, 'locked');
  assert.equal(locked.lock?.pid, process.pid);

  const started = new Date('2026-11-30T10:00:00.000Z');
  const id = await store.sync.startRun('csv', started);
  const running = await targetRunState(store, 'csv');
  assert.equal(running.state, 'running');
  assert.equal(running.since, started.toISOString());
  assert.equal(running.lock?.pid, process.pid);
  // The same run, seen after its heartbeat went silent for longer than a takeover waits: it died.
  const later = new Date(Date.now() + LOCK_STALE_MS + 1000);
  assert.deepEqual(await targetRunState(store, 'csv', later), { state: 'crashed', since: started.toISOString(), lock: null });
  assert.equal((await targetRunState(store, 'sheets')).state, 'never', 'per target');

  const finished = new Date('2026-11-30T10:00:05.000Z');
  await store.sync.finishRun(id, 'csv', { ok: true, rows: 0, error: null, details: { views: [], notices: [] } }, finished);
  await store.sync.unlock(ticket);
  assert.deepEqual(await targetRunState(store, 'csv'), { state: 'ok', since: finished.toISOString(), lock: null });

  // A run that started and never finished, with nobody holding the lock: crashed, even though an older run was ok.
  const crashedAt = new Date('2026-11-30T10:01:00.000Z');
  const dead = await store.sync.startRun('csv', crashedAt);
  assert.deepEqual(await targetRunState(store, 'csv'), { state: 'crashed', since: crashedAt.toISOString(), lock: null });
  await store.sync.finishRun(dead, 'csv', { ok: false, rows: 0, error: 'boom', details: { views: [], notices: [] } }, crashedAt);
  assert.equal((await targetRunState(store, 'csv')).state, 'failed');

  const status = await collectStatus(store, ['csv', 'sheets']);
  assert.equal(status.targets['csv']!.state, 'failed');
  assert.equal(status.targets['csv']!.last_run?.error, 'boom');
  assert.equal(status.targets['csv']!.last_success_at, finished.toISOString());
  assert.equal(status.targets['sheets']!.state, 'never');
  assert.equal(status.schedule, null, 'no schedule given: none reported');
});

test('webhookUrlWarning: loopback, every-interface and private hosts cannot be reached by EmberQA; public ones can', () => {
  for (const url of ['http://127.0.0.1:3000', 'http://localhost:3000', 'http://[::1]:3000', 'http://0.0.0.0:3000', 'http://[::]:3000', 'http://10.1.2.3:3000', 'http://192.168.1.20', 'http://172.20.0.5:3000', 'http://[fd00::2]:3000']) {
    assert.match(webhookUrlWarning(`${url}/webhooks/emberqa/t`) ?? '', /EmberQA (cannot|reaches only)|not an address EmberQA can reach/, url);
    assert.match(webhookUrlWarning(url) ?? '', /PUBLIC_URL/, url);
  }
  for (const url of ['https://hooks.example.com', 'https://hooks.example.com/qa', 'http://203.0.113.7:3000', 'http://172.32.0.1', 'https://[2001:db8::1]']) {
    assert.equal(webhookUrlWarning(url), undefined, url);
  }
});

test('recentTargets: the targets whose latest run started within RECENT_TARGET_MS, whatever this shell configures', async (t) => {
  const store = createStore({ dbPath: join(tempDir(t), 'ember-sync.db') });
  t.after(() => store.close());
  const now = new Date('2026-11-30T12:00:00.000Z');
  assert.deepEqual(await recentTargets(store, now), []);
  const old = await store.sync.startRun('sheets', new Date(now.getTime() - RECENT_TARGET_MS - 60_000));
  await store.sync.finishRun(old, 'sheets', { ok: true, rows: 0, error: null, details: {} }, new Date(now.getTime() - RECENT_TARGET_MS - 1000));
  assert.deepEqual(await recentTargets(store, now), [], 'a run older than the window does not count');
  // A run that is still going counts as much as a finished one.
  await store.sync.startRun('csv', new Date(now.getTime() - 3_600_000));
  assert.deepEqual(await recentTargets(store, now), ['csv']);
  await store.sync.startRun('sheets', new Date(now.getTime() - 60_000));
  assert.deepEqual(await recentTargets(store, now), ['csv', 'sheets']);
});

test('ping writes the health probe and reads it back', async (t) => {
  const store = createStore({ dbPath: join(tempDir(t), 'ember-sync.db') });
  t.after(() => store.close());
  await store.ping();
  const at = store.db.prepare('SELECT at FROM health_probe WHERE id = 1').pluck().get() as string;
  assert.ok(Date.now() - Date.parse(at) < 60_000, at);
  await store.close();
  await assert.rejects(store.ping(), /not open|closed/i);
});
