/**
 * The PostgreSQL pool: its session settings, and which failures become
 * StoreUnavailableError (503, retry later) and which are rethrown as they are.
 * The classification and "connection refused" need no server; the rest skip
 * without EMBER_SYNC_TEST_DATABASE_URL.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatabaseError } from 'pg';
import { StoreUnavailableError } from '../../../src/errors.js';
import { classifyPgError, createPgPool, unavailableReason } from '../../../src/store/pg/pg-pool.js';
import { freshDatabase, PG_SKIP, testClient, testPool, waitForBackend } from './pg-test-db.js';

function sqlError(code: string): DatabaseError {
  const e = new DatabaseError('boom', 0, 'error');
  e.code = code;
  return e;
}
function sysError(code: string, syscall = 'connect'): NodeJS.ErrnoException {
  return Object.assign(new Error(`${syscall} ${code}`), { code, syscall });
}

test('unavailableReason: refused, terminated, shut down, timed out → a reason; anything else → undefined', () => {
  const cases: Array<[unknown, string | undefined]> = [
    [sysError('ECONNREFUSED'), 'connection_refused'],
    [sysError('ENOENT'), 'connection_refused'], // the unix socket is not there: no server
    [sysError('ENOENT', 'open'), undefined], // any other missing file is not an outage
    [sysError('ECONNRESET', 'read'), 'connection_lost'],
    [sysError('ETIMEDOUT'), 'timeout'],
    [new AggregateError([sysError('ECONNREFUSED'), sysError('ECONNREFUSED')], ''), 'connection_refused'],
    [new Error('Connection terminated unexpectedly'), 'connection_lost'],
    [new Error('Connection terminated due to connection timeout'), 'timeout'],
    [new Error('timeout exceeded when trying to connect'), 'timeout'],
    [new Error('Client has encountered a connection error and is not queryable'), 'connection_lost'],
    [new Error('Cannot use a pool after calling end on the pool'), 'closing'],
    [sqlError('57P01'), 'admin_shutdown'],
    [sqlError('57P03'), 'admin_shutdown'],
    [sqlError('57014'), 'timeout'],
    [sqlError('55P03'), 'timeout'],
    [sqlError('08006'), 'connection_lost'],
    [sqlError('53100'), 'insufficient_resources'],
    [sqlError('53300'), 'insufficient_resources'],
    [sqlError('25006'), 'read_only'],
    [sqlError('40P01'), 'transient'],
    [sqlError('23505'), undefined], // unique_violation
    [sqlError('23514'), undefined], // check_violation
    [sqlError('42P01'), undefined], // undefined_table: a bug, not an outage
    [new Error('Connection refused? no: a message that merely mentions it'), undefined],
    [new TypeError('x is not a function'), undefined],
    ['a string', undefined],
    [undefined, undefined],
  ];
  for (const [err, want] of cases) assert.equal(unavailableReason(err), want, String((err as Error)?.message ?? err));
  const wrapped = classifyPgError(sqlError('57P01'));
  assert.ok(wrapped instanceof StoreUnavailableError);
  assert.equal(wrapped.code, 'store_unavailable');
  assert.equal(wrapped.status, 503);
  assert.equal(unavailableReason(wrapped), 'admin_shutdown');
  const other = sqlError('23505');
  assert.equal(classifyPgError(other), other);
});

test('no server behind the URL: a unix socket dir without a server, a closed TCP port → StoreUnavailableError (connection_refused)', async () => {
  for (const url of ['postgres://postgres@/postgres?host=/nonexistent-ember-sync-socket-dir', 'postgres://postgres@127.0.0.1:1/postgres']) {
    const pool = createPgPool({ connectionString: url, connectTimeoutMs: 2_000 });
    try {
      await assert.rejects(pool.query({ text: 'SELECT 1' }), (err: unknown) => {
        assert.ok(err instanceof StoreUnavailableError, `${url}: ${String(err)}`);
        assert.equal(unavailableReason(err), 'connection_refused');
        return true;
      });
      await assert.rejects(
        pool.withClient(async () => 1),
        (err: unknown) => err instanceof StoreUnavailableError,
      );
    } finally {
      await pool.end();
    }
  }
});

test('session settings: statement_timeout and application_name from the options', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const pool = testPool(t, url, { statementTimeoutMs: 1234, applicationName: 'ember-sync-replica-a', max: 3 });
  const res = await pool.query<{ st: string; app: string }>({ text: "SELECT current_setting('statement_timeout') AS st, current_setting('application_name') AS app" });
  assert.deepEqual(res.rows[0], { st: '1234ms', app: 'ember-sync-replica-a' });
  assert.equal(pool.pool.options.max, 3);
});

test('a statement over statement_timeout → StoreUnavailableError (timeout); a constraint error is rethrown as is', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const pool = testPool(t, url, { statementTimeoutMs: 150 });
  await assert.rejects(pool.query({ text: 'SELECT pg_sleep(5)' }), (err: unknown) => {
    assert.ok(err instanceof StoreUnavailableError);
    assert.equal(unavailableReason(err), 'timeout');
    return true;
  });
  await pool.query({ text: 'CREATE TABLE u (k int PRIMARY KEY)' });
  await pool.query({ text: 'INSERT INTO u VALUES ($1)', values: [1] });
  await assert.rejects(pool.query({ text: 'INSERT INTO u VALUES ($1)', values: [1] }), (err: unknown) => {
    assert.ok(!(err instanceof StoreUnavailableError));
    assert.ok(err instanceof DatabaseError);
    assert.equal(err.code, '23505');
    return true;
  });
  // The connection that timed out is fine afterwards.
  assert.equal((await pool.query<{ one: number }>({ text: 'SELECT 1 AS one' })).rows[0]!.one, 1);
});

test('an idle pooled connection terminated by the server: reported to onIdleError, dropped, and the pool goes on', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const idleErrors: Error[] = [];
  const pool = testPool(t, url, { applicationName: 'ember-sync-idle-victim', max: 1, onIdleError: (e) => idleErrors.push(e) });
  await pool.query({ text: 'SELECT 1' });
  const observer = await testClient(t, url);
  const pid = await waitForBackend(observer, 'ember-sync-idle-victim', 'ClientRead');
  await observer.query({ text: 'SELECT pg_terminate_backend($1)', values: [pid] });
  const deadline = Date.now() + 5_000;
  while (idleErrors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(idleErrors.length, 1);
  assert.equal(unavailableReason(idleErrors[0]), 'admin_shutdown');
  assert.equal((await pool.query<{ one: number }>({ text: 'SELECT 1 AS one' })).rows[0]!.one, 1);
});
