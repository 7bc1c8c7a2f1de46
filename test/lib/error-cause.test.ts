import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatabaseError } from 'pg';
import { causeCode, causeText, compactCause, isDatabaseError } from '../../src/lib/error-cause.js';

/** A DatabaseError as node-postgres builds it from the server's message, SQL and row included. */
function dbError(fields: Partial<Record<string, string>>): DatabaseError {
  const e = new DatabaseError(fields['message'] ?? 'boom', 2000, 'error');
  Object.assign(e, { severity: 'ERROR', code: '23514', where: 'SQL statement "INSERT INTO events …"', internalQuery: 'INSERT INTO events SELECT …', file: 'execMain.c', line: '2012', routine: 'ExecConstraints' }, fields);
  return e;
}

test('a DatabaseError is logged as its severity, code, schema names and the texts that cannot quote data; never the SQL, the row, a value or the source location', () => {
  const e = dbError({ message: 'new row for relation "events" violates check constraint "c"', detail: 'Failing row contains (1, secret-payload).', schema: 'public', table: 'events', constraint: 'c' });
  assert.ok(isDatabaseError(e));
  assert.deepEqual(compactCause(e), {
    type: 'DatabaseError',
    severity: 'ERROR',
    code: '23514',
    message: 'new row for relation "events" violates check constraint "c"',
    detail: '(not logged: it may quote the webhook; 41 characters)',
    schema: 'public',
    table: 'events',
    constraint: 'c',
  });
  // Texts that quote the webhook: a unique key's detail, a data exception's message, a trigger's RAISE.
  const secret = '{"webhook_id":"secret-payload"}';
  for (const fields of [
    { code: '23505', message: 'duplicate key value violates unique constraint "u"', detail: `Key (v)=(${secret}) already exists.` },
    { code: '22P02', message: `invalid input syntax for type integer: "${secret}"` },
    { code: 'P0001', message: `audit failed for ${secret}`, detail: secret },
    { code: '22001', message: 'x'.repeat(5000) + secret },
  ]) {
    const logged = JSON.stringify(compactCause(dbError(fields)));
    assert.ok(!logged.includes('secret-payload'), logged);
    assert.ok(!causeText(dbError(fields))!.includes('secret-payload'));
  }
  assert.equal(causeText(dbError({ code: 'P0001', message: `audit failed for ${secret}` })), `P0001: (not logged: it may quote the webhook; ${17 + secret.length} characters)`);
  // A long text that may be logged is cut.
  const long = compactCause(dbError({ code: '53100', message: 'could not extend file: ' + 'x'.repeat(5000) })) as Record<string, string>;
  assert.equal(long['message']!.length < 400, true);
  assert.match(long['message']!, /… \(5023 chars\)$/);
});

test('other errors are logged as they are (a bug keeps its stack); causeText is one bounded line with the code', () => {
  const bug = new TypeError('x is undefined');
  assert.equal(compactCause(bug), bug);
  assert.equal(isDatabaseError(Object.assign(new Error('SQLITE_FULL'), { code: 'SQLITE_FULL' })), false);
  assert.equal(causeText(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })), 'SQLITE_FULL: database or disk is full');
  assert.equal(causeText(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })), 'connect ECONNREFUSED 127.0.0.1:5432');
  assert.equal(causeText(new Error('Connection terminated unexpectedly')), 'Connection terminated unexpectedly');
  assert.equal(causeText(dbError({ code: '57P01', message: 'terminating connection due to administrator command' })), '57P01: terminating connection due to administrator command');
  // localhost: one error per address, the aggregate's own message empty.
  const both = new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' }), Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })], '');
  assert.equal(causeCode(both), 'ECONNREFUSED');
  assert.equal(causeText(both), 'connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432');
  assert.ok(causeText(new Error('y'.repeat(10_000)))!.length < 400);
  assert.equal(causeText(undefined), undefined);
});
