import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSettings } from '../../src/config/settings.js';
import { SettingError } from '../../src/errors.js';
import { splitPgBouncer } from '../../src/lib/pg-bouncer.js';

/** DATABASE_URL's `pgbouncer` parameter (PgBouncer in transaction pooling mode): what settings take and refuse, and what node-postgres gets. */

const TOKENS = { WEBHOOK_TOKEN: 'w'.repeat(32), ADMIN_TOKEN: 'a'.repeat(32) };
const load = (url: string) => loadSettings({ ...TOKENS, DATABASE_URL: url }, '/srv/ember');

function refused(url: string, problem: RegExp, secret = 'hunter2-pgb'): void {
  assert.throws(
    () => load(url),
    (err: unknown) => {
      assert.ok(err instanceof SettingError, String(err));
      assert.equal(err.setting, 'DATABASE_URL');
      assert.match(err.problem, problem);
      assert.ok(!err.message.includes(secret), `the password leaked: ${err.message}`);
      return true;
    },
  );
}

test('DATABASE_URL pgbouncer=true|false is taken as given', () => {
  for (const url of [
    'postgres://ember:hunter2-pgb@bouncer.internal:6432/ember?pgbouncer=true',
    'postgres://ember@/ember?host=/run/pgbouncer&port=6432&pgbouncer=true',
    'postgres://ember@db/ember?pgbouncer=false',
    'postgres://ember@bouncer/ember?pgbouncer=true&statement_timeout=20000&lock_timeout=2000&sslmode=verify-full',
  ]) {
    assert.equal(load(url).databaseUrl, url);
  }
});

test('DATABASE_URL pgbouncer: another value, twice, a timeout with a unit, or options are refused, the password never shown', () => {
  refused('postgres://ember:hunter2-pgb@b/ember?pgbouncer=yes', /pgbouncer must be true or false \(got "yes"\)/);
  refused('postgres://ember:hunter2-pgb@b/ember?pgbouncer=1', /pgbouncer must be true or false/);
  refused('postgres://ember:hunter2-pgb@b/ember?pgbouncer=true&pgbouncer=false', /names pgbouncer more than once/);
  refused('postgres://ember:hunter2-pgb@b/ember?pgbouncer=true&statement_timeout=5s', /statement_timeout must be a whole number of milliseconds with pgbouncer=true \(got "5s"\)/);
  refused('postgres://ember:hunter2-pgb@b/ember?lock_timeout=1min&pgbouncer=true', /lock_timeout must be a whole number of milliseconds/);
  refused('postgres://ember:hunter2-pgb@b/ember?pgbouncer=true&options=-c%20search_path%3Dx', /options cannot go through PgBouncer.*ALTER ROLE/);
  // Without pgbouncer=true they stay node-postgres' business, as before.
  assert.ok(load('postgres://ember@b/ember?statement_timeout=5000&options=-c%20jit%3Doff').databaseUrl);
});

test('splitPgBouncer: pgbouncer (and in that mode the timeouts) leave the URL node-postgres reads; the rest stays in place', () => {
  assert.deepEqual(splitPgBouncer('postgres://u@h/db'), { url: 'postgres://u@h/db', pgbouncer: false });
  assert.deepEqual(splitPgBouncer('postgres://u@h/db?pgbouncer=true'), { url: 'postgres://u@h/db', pgbouncer: true });
  assert.deepEqual(splitPgBouncer('postgres://u@/db?host=/run/pgb&pgbouncer=true&port=6432'), { url: 'postgres://u@/db?host=/run/pgb&port=6432', pgbouncer: true });
  assert.deepEqual(splitPgBouncer('postgres://u@h/db?statement_timeout=1200&pgbouncer=true&lock_timeout=300&sslmode=require'), {
    url: 'postgres://u@h/db?sslmode=require',
    pgbouncer: true,
    statementTimeoutMs: 1200,
    lockTimeoutMs: 300,
  });
  // Off: the flag goes, the timeouts stay for node-postgres to send at startup.
  assert.deepEqual(splitPgBouncer('postgres://u@h/db?pgbouncer=false&statement_timeout=1200'), { url: 'postgres://u@h/db?statement_timeout=1200', pgbouncer: false });
  // A password holding "pgbouncer=true" is not the parameter.
  assert.deepEqual(splitPgBouncer('postgres://u:pgbouncer=true@h/db'), { url: 'postgres://u:pgbouncer=true@h/db', pgbouncer: false });
});
