import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StoreUnavailableError } from '../../../src/errors.js';
import { createPgStore } from '../../../src/store/pg/create-pg-store.js';
import { event, freshDatabase, PG_SKIP, testClient } from './pg-test-db.js';

/**
 * A lock another session holds on the log (a manual LOCK TABLE, a long ALTER):
 * webhooks get a 503 after lock_timeout instead of waiting with every other
 * request of the replica (EmberQA gives up on its own after 30 s), and
 * nothing of the refused batch is stored.
 */
test('a table lock held elsewhere: the write fails fast with 503 (lock_timeout), stores nothing, and goes through once the lock is gone', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const store = await createPgStore({ connectionString: url, lockTimeoutMs: 300 });
  t.after(() => store.close());
  const writer = store.createWriter();
  const other = await testClient(t, url, 'someone-else');
  await other.query('BEGIN');
  await other.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
  const started = Date.now();
  await assert.rejects(writer.submit({ kind: 'event', event: event('locked-out') }), (err: unknown) => {
    assert.ok(err instanceof StoreUnavailableError, String(err));
    assert.equal(err.status, 503);
    assert.equal(err.outcomeUnknown, false, 'refused before anything was committed');
    return true;
  });
  const waited = Date.now() - started;
  // Generous bound (a loaded machine): what matters is seconds, not the statement_timeout's 30 s.
  assert.ok(waited < 10_000, `answered after ${waited} ms`);
  await other.query('ROLLBACK');
  const again = await writer.submit({ kind: 'event', event: event('locked-out') });
  assert.deepEqual(again, { kind: 'event', duplicate: false, seq: 1 }, 'the refused attempt stored nothing');
  await writer.close();
});

test('a table lock held elsewhere with no webhook arriving: the health probe fails with 503 within lock_timeout (/healthz tells), and passes once the lock is gone', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const store = await createPgStore({ connectionString: url, lockTimeoutMs: 300 });
  t.after(() => store.close());
  const writer = store.createWriter();
  assert.deepEqual(await writer.submit({ kind: 'probe' }), { kind: 'probe' });
  const other = await testClient(t, url, 'someone-else');
  await other.query('BEGIN');
  // SHARE: readers pass, appends wait — what a probe on health_probe alone would not notice.
  await other.query('LOCK TABLE events IN SHARE MODE');
  await assert.rejects(writer.submit({ kind: 'probe' }), (err: unknown) => err instanceof StoreUnavailableError && err.status === 503);
  await other.query('ROLLBACK');
  assert.deepEqual(await writer.submit({ kind: 'probe' }), { kind: 'probe' });
  const count = await other.query<{ n: string }>('SELECT count(*) AS n FROM events');
  assert.equal(count.rows[0]!.n, '0', 'the probe writes no event');
  await writer.close();
});
