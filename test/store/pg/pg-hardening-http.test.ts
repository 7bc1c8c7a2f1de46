/**
 * Through HTTP, on PostgreSQL: a webhook whose webhook_id holds U+0000 (the
 * schemas allow it) is stored (200), its repeat answers duplicate; a refused
 * webhook answers 500 store_rejected (never a 503 "retry") while the webhooks
 * sent with it are stored.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PG_SKIP, testClient } from './pg-test-db.js';
import { startPgService } from '../../helpers/pg-service.js';

const vendor = JSON.parse(readFileSync(new URL('../../fixtures/vendor/completion-call.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const withId = (webhookId: string) => JSON.stringify({ ...vendor, webhook_id: webhookId });

test('HTTP on PostgreSQL: a webhook_id with U+0000 is stored (200) and its repeat answers duplicate; the raw log holds it exactly', { skip: PG_SKIP }, async (t) => {
  const { service, post } = await startPgService(t);
  const first = await post(withId('nul\u0000id'));
  assert.equal(first.status, 200, await first.clone().text());
  assert.deepEqual(await first.json(), { received: true, duplicate: false, webhook_id: 'nul\u0000id' });
  const again = await post(withId('nul\u0000id'));
  assert.equal(again.status, 200);
  assert.deepEqual(await again.json(), { received: true, duplicate: true, webhook_id: 'nul\u0000id' });
  // Its escape is another webhook.
  const escaped = await post(withId('nul\uffff0id'));
  assert.deepEqual(await escaped.json(), { received: true, duplicate: false, webhook_id: 'nul\uffff0id' });
  const events = await service.store.events.eventsAfter(0, 10);
  assert.deepEqual(
    events.map((e) => e.webhook_id),
    ['nul\u0000id', 'nul\uffff0id'],
  );
  // A payload that fails its schema with such an id is quarantined (422), not refused by the database.
  const invalid = await post(JSON.stringify({ ...vendor, webhook_id: 'bad\u0000id', content_id: 5 }));
  assert.equal(invalid.status, 422);
  assert.deepEqual(
    (await service.store.events.heldQuarantine(0, 10)).map((q) => q.webhook_id),
    ['bad\u0000id'],
  );
});

test('HTTP on PostgreSQL: a webhook the database refuses answers 500 store_rejected; the webhooks of its batch are stored', { skip: PG_SKIP }, async (t) => {
  const { url, service, post, logs } = await startPgService(t);
  const observer = await testClient(t, url);
  await observer.query(`
    CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.webhook_id = 'poison' THEN RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse();
  `);
  // Sent at once: they meet in the writer's batches.
  const ids = ['ok-1', 'poison', 'ok-2', 'ok-3'];
  const answers = await Promise.all(
    ids.map(async (id) => {
      const r = await post(withId(id));
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    }),
  );
  assert.deepEqual(answers[1]!.status, 500);
  const error = answers[1]!.body['error'] as { code: string; message: string };
  assert.equal(error.code, 'store_rejected');
  assert.doesNotMatch(error.message, /please retry/);
  for (const i of [0, 2, 3]) assert.deepEqual(answers[i], { status: 200, body: { received: true, duplicate: false, webhook_id: ids[i] } });
  const stored = (await service.store.events.eventsAfter(0, 10)).map((e) => e.webhook_id).sort();
  assert.deepEqual(stored, ['ok-1', 'ok-2', 'ok-3']);
  // The operator sees why (the database's error), once per refusal.
  assert.ok(
    logs.some((l) => l.includes('store_rejected') && l.includes('refused')),
    logs.join('\n'),
  );
});
