/**
 * A synchronous standby that is down: PostgreSQL makes every COMMIT wait for
 * it, without bound (statement_timeout does not cover that wait). The writer
 * gives up a little after statement_timeout and answers the outcome-unknown
 * 503 (the commit was written locally: a retry answers duplicate once the
 * standby is back); the health probe gives up likewise; nothing hangs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client } from 'pg';
import { StoreUnavailableError } from '../../../src/errors.js';
import type { WriteResult } from '../../../src/model/writes.js';
import { createPgStore } from '../../../src/store/pg/create-pg-store.js';
import { databaseUrl, event, PG_SKIP, privateCluster } from './pg-test-db.js';

async function sql(url: string, text: string): Promise<string> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return String(Object.values((await c.query(text)).rows[0] ?? {})[0]);
  } finally {
    await c.end();
  }
}

/** Sets synchronous_standby_names cluster-wide (it cannot be set per database) and waits until new sessions see it. */
async function standbys(admin: string, names: string): Promise<void> {
  await sql(admin, `ALTER SYSTEM SET synchronous_standby_names = '${names}'`);
  await sql(admin, 'SELECT pg_reload_conf()');
  const deadline = Date.now() + 15_000;
  while ((await sql(admin, 'SHOW synchronous_standby_names')) !== names) {
    assert.ok(Date.now() < deadline, 'the reload took effect');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a synchronous standby that is down: the writer answers 503 (outcome unknown) after statement_timeout + 2 s, never hangs; the webhook turns out stored', { skip: PG_SKIP, timeout: 120_000 }, async (t) => {
  const { url: admin } = privateCluster(t);
  await sql(admin, 'CREATE DATABASE ember');
  const url = databaseUrl(admin, 'ember');
  const store = await createPgStore({ connectionString: url, statementTimeoutMs: 1_000, lockTimeoutMs: 1_000 });
  t.after(() => store.close());
  const writer = store.createWriter();
  const write = (id: string): Promise<WriteResult> => writer.submit({ kind: 'event', event: event(id) });
  assert.deepEqual(await write('before'), { kind: 'event', duplicate: false, seq: 1 });

  await standbys(admin, 'nosuch_standby');
  const started = performance.now();
  await assert.rejects(write('waits-for-standby'), (err: unknown) => {
    assert.ok(err instanceof StoreUnavailableError, String(err));
    assert.equal(err.outcomeUnknown, true, 'the commit was sent: it may be stored');
    return true;
  });
  const waited = performance.now() - started;
  // Timers never fire early: at least the answer timeout (1 s + 2 s); the upper bound only proves it did not hang.
  assert.ok(waited >= 2_900 && waited < 60_000, `gave up after ${Math.round(waited)} ms`);
  // The commit that waits still holds the append lock: the next batch waits lock_timeout and is refused (nothing stored).
  await assert.rejects(write('next'), (err: unknown) => err instanceof StoreUnavailableError);
  await assert.rejects(store.ping(), (err: unknown) => err instanceof StoreUnavailableError, 'the health probe does not hang either');

  // The standby requirement lifted: the waiting commit completes; the webhook was stored, a retry says duplicate.
  await standbys(admin, '');
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      assert.deepEqual(await write('waits-for-standby'), { kind: 'event', duplicate: true, seq: 2 });
      break;
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || Date.now() > deadline) throw err;
    }
  }
  assert.deepEqual(await write('next'), { kind: 'event', duplicate: false, seq: 3 });
  await store.ping();
});

test('a synchronous standby that is down, at the default timeouts: a health probe queued first gives up after 5 s, the webhook behind it after 15 s more — answered within EmberQA\'s 30 s', { skip: PG_SKIP, timeout: 120_000 }, async (t) => {
  const { url: admin } = privateCluster(t);
  await sql(admin, 'CREATE DATABASE ember');
  const store = await createPgStore({ connectionString: databaseUrl(admin, 'ember') });
  t.after(() => store.close());
  const writer = store.createWriter();
  await standbys(admin, 'nosuch_standby');
  const started = performance.now();
  // The probe alone in its batch (/healthz), the webhook in the next one, waiting behind it.
  const probe = writer.submit({ kind: 'probe' });
  await new Promise((r) => setImmediate(r));
  const webhook = writer.submit({ kind: 'event', event: event('behind-the-probe') });
  await assert.rejects(probe, (err: unknown) => err instanceof StoreUnavailableError);
  const probeMs = performance.now() - started;
  await assert.rejects(webhook, (err: unknown) => err instanceof StoreUnavailableError && err.outcomeUnknown);
  const webhookMs = performance.now() - started;
  // Lower bounds: timers never fire early. The upper bound is what matters to EmberQA (was 64 s: two full statement timeouts).
  assert.ok(probeMs >= 4_900, `the probe gave up after ${Math.round(probeMs)} ms`);
  assert.ok(webhookMs >= probeMs + 14_900 && webhookMs < 29_000, `the webhook was answered after ${Math.round(webhookMs)} ms`);
  await standbys(admin, '');
});
