/**
 * Through HTTP, on PostgreSQL: a webhook whose commit fails, refused for its
 * data (500 store_rejected) or because the database cannot commit (503), is
 * counted in /metrics under the type it was classified as, and the operator
 * log names the database's error compactly: no SQL, no payload values.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PG_SKIP, testClient } from '../store/pg/pg-test-db.js';
import { startPgService } from '../helpers/pg-service.js';

const vendor = JSON.parse(readFileSync(new URL('../fixtures/vendor/completion-call.json', import.meta.url), 'utf8')) as Record<string, unknown>;
/** A payload value that must never reach the log, as text or as the hex of the stored bytes. */
const MARKER = 'payload-marker-7f3a9c';
const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');
const withId = (webhookId: string) => JSON.stringify({ ...vendor, webhook_id: webhookId, agent_name: MARKER });

test('PostgreSQL: a refused webhook (500 store_rejected) is counted under its type; its log line is compact, without SQL or payload', { skip: PG_SKIP }, async (t) => {
  const { url, post, logs, metrics } = await startPgService(t);
  const observer = await testClient(t, url);
  // A real constraint violation inside append_events: the server's error carries the INSERT (where, internalQuery) and the row (detail).
  await observer.query(`ALTER TABLE events ADD CONSTRAINT no_poison CHECK (webhook_id <> 'poison') NOT VALID`);
  const before = logs.length;
  const res = await post(withId('poison'));
  assert.equal(res.status, 500);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'store_rejected');
  assert.equal((await post(withId('fine'))).status, 200);

  assert.match(await metrics(), /ember_sync_webhooks_total\{type="completion",outcome="rejected"\} 1\n/);

  const lines = logs.slice(before).filter((l) => l.includes('store_rejected'));
  assert.equal(lines.length, 1, lines.join('\n'));
  const line = lines[0]!;
  assert.ok(line.length < 1000, `one compact line, got ${line.length} chars: ${line}`);
  for (const leak of ['INSERT', 'append_events', 'internalQuery', '"where"', MARKER, hex(MARKER)]) assert.ok(!line.includes(leak), `the log line holds ${leak}: ${line}`);
  const err = (JSON.parse(line) as { err: Record<string, unknown> }).err;
  assert.equal(err['severity'], 'ERROR');
  assert.equal(err['code'], '23514');
  assert.equal(err['constraint'], 'no_poison');
  assert.equal(err['table'], 'events');
  assert.match(String(err['message']), /no_poison/);
});

test('PostgreSQL: webhooks answered 503 are counted under their type; the burst line says a commit failed and why', { skip: PG_SKIP }, async (t) => {
  const { url, post, logs, metrics } = await startPgService(t);
  const observer = await testClient(t, url);
  // A full disk, as the server reports it (SQLSTATE 53100): the database cannot commit, nothing is refused for its data.
  await observer.query(`
    CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$;
    CREATE TRIGGER full_disk BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION full_disk();
  `);
  const before = logs.length;
  for (const id of ['a', 'b']) assert.equal((await post(withId(id))).status, 503);
  assert.match(await metrics(), /ember_sync_webhooks_total\{type="completion",outcome="unavailable"\} 2\n/);

  const lines = logs.slice(before).map((l) => JSON.parse(l) as { msg?: string; cause?: string; code?: string }).filter((l) => l.code === 'store_unavailable');
  assert.equal(lines.length, 1, 'one line for the burst');
  assert.equal(lines[0]!.cause, '53100: could not extend file: No space left on device');
  assert.equal(lines[0]!.msg, 'a commit failed (53100: could not extend file: No space left on device): webhooks are answered 503 and EmberQA retries them');
});
