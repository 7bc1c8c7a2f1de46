/**
 * A webhook whose commit fails (503) was parsed and classified first: /metrics
 * counts it under its type, not "unknown"; the burst log says a commit
 * failed and why, without claiming the database "refused" it (SQLite here;
 * test/http/pg-store-failure.test.ts does the same on PostgreSQL).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { startTestService } from '../helpers/service.js';
import { vendorBytes, vendorJson } from '../helpers/fixtures.js';

test('SQLite: webhooks answered 503 are counted under their type in /metrics; the log line names the cause', async (t) => {
  const s = await startTestService(t, {}, { busyTimeoutMs: 50 });
  // Another process holds the write lock: every commit fails with SQLITE_BUSY.
  const other = new Database(s.store.path, { timeout: 50 });
  t.after(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  const before = s.logs.length;
  assert.equal((await s.post(vendorBytes('red-flag'))).status, 503);
  assert.equal((await s.post(vendorBytes('red-flag'))).status, 503);
  // A schema failure whose quarantine copy cannot be committed: classified as low_score first.
  assert.equal((await s.post(JSON.stringify({ ...vendorJson('low-score'), total_score: 'high' }))).status, 503);
  // Not classifiable: stays unknown.
  assert.equal((await s.post('{"alert_type":"nope"}')).status, 503);
  other.exec('ROLLBACK');

  const text = await (await fetch(s.listenUrl + '/metrics')).text();
  assert.match(text, /ember_sync_webhooks_total\{type="red_flag",outcome="unavailable"\} 2\n/);
  assert.match(text, /ember_sync_webhooks_total\{type="low_score",outcome="unavailable"\} 1\n/);
  assert.match(text, /ember_sync_webhooks_total\{type="unknown",outcome="unavailable"\} 1\n/);

  const lines = s.logs.slice(before).map((l) => JSON.parse(l) as { msg?: string; cause?: string; code?: string }).filter((l) => l.code === 'store_unavailable');
  assert.equal(lines.length, 1, 'one line for the burst');
  assert.match(lines[0]!.msg ?? '', /^a commit failed \(SQLITE_BUSY: database is locked\): webhooks are answered 503 and EmberQA retries them$/);
  assert.match(lines[0]!.cause ?? '', /^SQLITE_BUSY: database is locked$/);
});
