import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { tempDir } from '../helpers/temp-dir.js';
import type { WebhookType } from '../../src/model/webhooks.js';
import { createConsoleSessions } from '../../src/store/console-sessions.js';
import { createStore } from '../../src/store/create-store.js';
import { migrate } from '../../src/store/migrations.js';
import { createQuarantineList } from '../../src/store/quarantine-list.js';
import { createWebhookHours } from '../../src/store/webhook-hours.js';

/**
 * The console's store modules. The hourly counts are written with the
 * webhooks' own commit: a batch that rolls back counts nothing.
 */
test('webhooks per hour are counted per commit, once per batch, and not at all for a batch that rolled back', async (t) => {
  const store = createStore({ dbPath: `${tempDir(t)}/hours.db` });
  t.after(() => store.close());
  const writer = store.createWriter();
  const event = (id: string, type: string, receivedAt: string) => ({ kind: 'event' as const, event: { webhookId: id, type: type as WebhookType, receivedAt, body: Buffer.from('{}') } });
  const hours = () => store.db.prepare('SELECT hour, type, outcome, n FROM webhook_hours ORDER BY hour, type, outcome').all();

  // One turn, one batch: two hours, a duplicate inside the batch itself.
  await Promise.all([
    writer.submit(event('a', 'red_flag', '2026-11-30T09:59:59.999Z')),
    writer.submit(event('b', 'red_flag', '2026-11-30T10:00:00.000Z')),
    writer.submit(event('b', 'red_flag', '2026-11-30T10:00:01.000Z')),
    writer.submit({ kind: 'quarantine', item: { webhookId: 'q', receivedAt: '2026-11-30T10:30:00.000Z', body: Buffer.from('{"x":1}'), reason: 'schema_validation_failed', errors: [], type: 'low_score' } }),
    writer.submit({ kind: 'probe' }),
  ]);
  assert.deepEqual(hours(), [
    { hour: '2026-11-30T09', type: 'red_flag', outcome: 'accepted', n: 1 },
    { hour: '2026-11-30T10', type: 'low_score', outcome: 'quarantined', n: 1 },
    { hour: '2026-11-30T10', type: 'red_flag', outcome: 'accepted', n: 1 },
    { hour: '2026-11-30T10', type: 'red_flag', outcome: 'duplicate', n: 1 },
  ]);

  // A batch whose commit fails (a type the table refuses) stores and counts nothing, and leaves nothing for the next batch.
  const failed = await Promise.allSettled([writer.submit(event('c', 'red_flag', '2026-11-30T11:00:00.000Z')), writer.submit(event('d', 'bogus', '2026-11-30T11:00:00.000Z'))]);
  assert.deepEqual(failed.map((r) => r.status), ['rejected', 'rejected']);
  await writer.submit(event('e', 'completion', '2026-11-30T12:00:00.000Z'));
  assert.deepEqual(hours().slice(4), [{ hour: '2026-11-30T12', type: 'completion', outcome: 'accepted', n: 1 }]);
  await writer.close();
});

/**
 * The console stays fast with a million events because every query it adds
 * reads an index range, never a whole table: checked on SQLite's own query
 * plans of the statements the console's store modules prepare.
 */
test("every statement of the console's store modules searches an index; none scans a table", async (t) => {
  const db = new Database(`${tempDir(t)}/plans.db`);
  t.after(() => db.close());
  migrate(db);
  const prepared: string[] = [];
  const prepare = db.prepare.bind(db);
  // Records what the modules prepare, and prepares it as usual.
  db.prepare = ((sql: string) => {
    prepared.push(sql);
    return prepare(sql);
  }) as typeof db.prepare;
  createWebhookHours(db);
  createQuarantineList(db);
  createConsoleSessions(db);
  db.prepare = prepare;

  const reads = prepared.filter((sql) => /^\s*(SELECT|UPDATE|DELETE)/i.test(sql));
  assert.ok(reads.length >= 8, `found ${reads.length} statements that read`);
  for (const sql of reads) {
    const params = (sql.match(/\?/g) ?? []).map(() => null);
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((r) => r.detail);
    assert.ok(plan.length > 0, sql);
    for (const step of plan) assert.doesNotMatch(step, /^SCAN /, `${sql}\n→ ${plan.join(' | ')}`);
  }
});
