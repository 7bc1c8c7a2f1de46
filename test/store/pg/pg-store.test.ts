/**
 * createPgStore: the URL shown without its password; replicas opening one
 * database at once; the report zone adopted (keyed views wiped and derived
 * again, a wipe left unfinished by a dead replica finished by the next
 * adoption); close commits what its writers hold.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { createPgStore, redactedUrl } from '../../../src/store/pg/create-pg-store.js';
import type { Store } from '../../../src/store/store.js';
import { freshDatabase, PG_SKIP, testClient } from './pg-test-db.js';

test('location: the URL without its password, wherever it is given', () => {
  assert.equal(redactedUrl('postgres://ember:s3cret@db.example:5432/ember?sslmode=require'), 'postgres://ember:***@db.example:5432/ember?sslmode=require');
  assert.equal(redactedUrl('postgresql://ember:p%40ss@db/ember'), 'postgresql://ember:***@db/ember');
  assert.equal(redactedUrl('postgres://ember:pa@ss@db/ember'), 'postgres://ember:***@db/ember');
  assert.equal(redactedUrl('postgres://db/ember?user=ember&password=s3cret&sslmode=require'), 'postgres://db/ember?user=ember&password=***&sslmode=require');
  assert.equal(redactedUrl('postgres://ember@db/ember'), 'postgres://ember@db/ember');
  assert.equal(redactedUrl('postgres://postgres@/postgres?host=/tmp/ember-sync-pg.x'), 'postgres://postgres@/postgres?host=/tmp/ember-sync-pg.x');
  // A password with / ? # as is: nothing of it stays in view (settings refuse such a URL; the location never shows it either).
  assert.equal(redactedUrl('postgres://u:p@ss/w?rd#secretpw@127.0.0.1:1/db'), 'postgres://u:***@127.0.0.1:1/db');
  assert.equal(redactedUrl('postgres://u:a#b@db/x'), 'postgres://u:***@db/x');
  // Keys are read decoded and in any case, as node-postgres reads them; only harmless values are shown.
  assert.equal(redactedUrl('postgres://ember@/e?host=/run/pg&%70assword=S3cr3t'), 'postgres://ember@/e?host=/run/pg&%70assword=***');
  assert.equal(redactedUrl('postgres://ember@db/e?pass%77ord=S3cr3t&sslmode=require'), 'postgres://ember@db/e?pass%77ord=***&sslmode=require');
  assert.equal(redactedUrl('postgres://ember@db/e?PASSWORD=S3cr3t&sslpassword=k3y&options=-c%20x%3Dy'), 'postgres://ember@db/e?PASSWORD=***&sslpassword=***&options=***');
  assert.equal(redactedUrl('postgres://ember@db/e?sslmode=require#S3cr3t'), 'postgres://ember@db/e?sslmode=require');
  assert.equal(redactedUrl('postgres://ember@db/e#S3cr3t'), 'postgres://ember@db/e');
});

async function completions(store: Store, from: number, n: number): Promise<void> {
  const writer = store.createWriter();
  await Promise.all(
    Array.from({ length: n }, (_, k) => {
      const payload = generateWebhook(from + k, { kind: 'completion' });
      return writer.submit({ kind: 'event', event: { webhookId: payload.webhook_id, type: 'completion', receivedAt: new Date(Date.UTC(2026, 10, 30, 23, k)).toISOString(), body: Buffer.from(JSON.stringify(payload)) } });
    }),
  );
  await writer.close();
}

test('replicas opening a new database at once; kind, location; ping; close commits what the writers hold and ends the pool', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const [a, b] = await Promise.all([createPgStore({ connectionString: url, max: 2 }), createPgStore({ connectionString: url, max: 2, applicationName: 'replica-b' })]);
  t.after(() => Promise.all([a.close(), b.close()]));
  assert.equal(a.kind, 'postgres');
  assert.equal(a.location, url);
  await a.ping();
  const writer = b.createWriter();
  const queued = writer.submit({ kind: 'event', event: { webhookId: 'last', type: 'completion', receivedAt: '2026-11-30T10:00:00.000Z', body: Buffer.from('{}') } });
  await b.close();
  assert.deepEqual(await queued, { kind: 'event', duplicate: false, seq: 1 });
  assert.equal(writer.closed, true);
  await assert.rejects(b.ping());
  await b.close();
  assert.equal((await a.events.counts()).events, 1);
});

test('adoptReportTimezone: a new zone wipes the keyed views (derived again), another spelling does not; a wipe a dead replica left is finished', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const store = await createPgStore({ connectionString: url, max: 3, reportTimezone: 'UTC' });
  t.after(() => store.close());
  const observer = await testClient(t, url);
  const contents = async () => Number((await observer.query<{ n: string }>('SELECT count(*) AS n FROM content_rows')).rows[0]!.n);
  await completions(store, 0, 6);
  await store.projection.catchUp();
  assert.ok((await store.projection.keyedCursor()) > 0);
  const derived = await contents();
  assert.ok(derived > 0);
  const utc = await store.keyedEpoch();

  assert.equal(await store.adoptReportTimezone('Asia/Tokyo'), true);
  assert.equal(await store.reportTimezone(), 'Asia/Tokyo');
  assert.equal(await store.projection.keyedCursor(), 0);
  assert.equal(await contents(), 0);
  assert.notEqual(await store.keyedEpoch(), utc);
  assert.equal((await observer.query("SELECT 1 FROM app_meta WHERE key = 'keyed_reset_pending'")).rows.length, 0);
  await store.projection.catchUp();
  assert.equal(await contents(), derived);
  assert.equal(await store.adoptReportTimezone('Asia/Tokyo'), false);
  assert.equal(await contents(), derived);

  // A replica died between the new zone's commit and the wipe: the marker stays; the next adoption wipes.
  await observer.query("INSERT INTO app_meta (key, value, updated_at) VALUES ('keyed_reset_pending', 'Asia/Tokyo', '2026-11-30T00:00:00.000Z')");
  assert.equal(await store.adoptReportTimezone('Asia/Tokyo'), true);
  assert.equal(await contents(), 0);
  assert.equal((await observer.query("SELECT 1 FROM app_meta WHERE key = 'keyed_reset_pending'")).rows.length, 0);
  await store.projection.catchUp();

  // Another spelling of the zone: recorded, nothing derived again.
  const tokyo = await store.keyedEpoch();
  assert.equal(await store.adoptReportTimezone('Japan'), false);
  assert.equal(await store.reportTimezone(), 'Japan');
  assert.equal(await store.keyedEpoch(), tokyo);
  assert.equal(await contents(), derived);

  // A second replica opened with a zone adopts it at open.
  const other = await createPgStore({ connectionString: url, max: 1, reportTimezone: 'Europe/Paris' });
  t.after(() => other.close());
  assert.equal(await store.reportTimezone(), 'Europe/Paris');
  assert.equal(await contents(), 0);
});
