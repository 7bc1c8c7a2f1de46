/**
 * Behind PgBouncer in transaction mode (pgbouncer=true): with ONE server
 * connection the projector never needs a second one inside its transaction
 * (it read the report zone on another connection: the two waited for each
 * other until the client-side limit, every batch); and a webhook batch is a
 * transaction whose BEGIN carries lock_timeout (an autocommit statement ran
 * with the role's lock_timeout, 0 by default: a foreign table lock held the
 * webhook until the client gave up, outcome unknown).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StoreUnavailableError } from '../../../src/errors.js';
import { createPgStore } from '../../../src/store/pg/create-pg-store.js';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { databaseOf, PGBOUNCER_SKIP, startPgBouncer } from './pgbouncer-test.js';
import { event, freshDatabase, testClient } from './pg-test-db.js';

test('PgBouncer with one server connection: webhooks commit and the projector projects them (no second connection inside its transaction)', { skip: PGBOUNCER_SKIP, timeout: 60_000 }, async (t) => {
  const direct = await freshDatabase(t);
  const store = await createPgStore({ connectionString: startPgBouncer(t, 1).url(databaseOf(direct)), statementTimeoutMs: 3_000, max: 4 });
  t.after(() => store.close());
  const writer = store.createWriter();
  const written = await Promise.all(Array.from({ length: 20 }, (_, i) => writer.submit({ kind: 'event', event: event(`one-conn-${i}`) })));
  assert.equal(written.filter((r) => r.kind === 'event' && !r.duplicate).length, 20);
  assert.equal(await store.projection.projectBatch(500), 20);
  assert.equal(await store.projection.lag(), 0);
});

test('PgBouncer: a foreign lock on the log answers a webhook 503 within lock_timeout, surely not stored (not the client-side limit, outcome unknown)', { skip: PGBOUNCER_SKIP, timeout: 60_000 }, async (t) => {
  const direct = await freshDatabase(t);
  const store = await createPgStore({ connectionString: startPgBouncer(t, 2).url(databaseOf(direct)), statementTimeoutMs: 10_000, lockTimeoutMs: 500 });
  t.after(() => store.close());
  const writer = store.createWriter();
  assert.equal((await writer.submit({ kind: 'event', event: event('before') })).kind, 'event');
  // The role's lock_timeout is PostgreSQL's default (0): only the transaction's own SET LOCAL bounds the wait.
  const other = await testClient(t, direct, 'someone-else');
  await other.query('BEGIN');
  await other.query('LOCK TABLE events IN SHARE MODE');
  await assert.rejects(writer.submit({ kind: 'event', event: event('locked-out') }), (err: unknown) => {
    assert.ok(err instanceof StoreUnavailableError, String(err));
    assert.equal(err.outcomeUnknown, false, 'refused by lock_timeout before anything was committed');
    return true;
  });
  await assert.rejects(writer.submit({ kind: 'probe' }), (err: unknown) => err instanceof StoreUnavailableError && !err.outcomeUnknown);
  await other.query('ROLLBACK');
  assert.deepEqual(await writer.submit({ kind: 'event', event: event('locked-out') }), { kind: 'event', duplicate: false, seq: 2 });
});

test('DATABASE_URL pointing at PgBouncer without pgbouncer=true: one line that says to add it (exit 2)', { skip: PGBOUNCER_SKIP, timeout: 60_000 }, async (t) => {
  const db = databaseOf(await freshDatabase(t));
  const r = await runCli(['status'], { DATABASE_URL: startPgBouncer(t, 2).url(db, false), WEBHOOK_TOKEN: 'pgb-hint-webhook-token-012345678', ADMIN_TOKEN: 'pgb-hint-admin-token-0123456789a', DATA_DIR: tempDir(t) });
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /DATABASE_URL.*looks like PgBouncer.*add pgbouncer=true/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});
