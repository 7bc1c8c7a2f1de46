import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSettings } from '../../src/config/settings.js';
import { SettingError } from '../../src/errors.js';

const TOKENS = { WEBHOOK_TOKEN: 'w'.repeat(32), ADMIN_TOKEN: 'a'.repeat(32) };
const SHEET_ID = '1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms';
const load = (env: Record<string, string | undefined>) => loadSettings(env, '/srv/ember');

function refused(env: Record<string, string | undefined>, setting: string, problem: RegExp, secret?: string): void {
  assert.throws(
    () => load(env),
    (err: unknown) => {
      assert.ok(err instanceof SettingError, String(err));
      assert.equal(err.setting, setting);
      assert.match(err.problem, problem);
      assert.ok(!err.message.includes('\n'));
      if (secret !== undefined) assert.ok(!err.message.includes(secret), `the password leaked: ${err.message}`);
      return true;
    },
  );
}

test('DATABASE_URL unset: SQLite, CSV on by default', () => {
  const s = load({});
  assert.equal(s.databaseUrl, undefined);
  assert.deepEqual(s.syncTargets, ['csv']);
  assert.equal(s.databasePoolSize, 10);
  assert.equal(s.databaseStatementTimeoutMs, 30_000);
});

test('DATABASE_URL: host and socket forms are taken as given', () => {
  for (const url of ['postgres://ember:pw@db.internal:5432/ember_sync', 'postgresql://ember@db/ember', 'postgres://postgres@/ember?host=/run/postgresql']) {
    assert.equal(load({ ...TOKENS, DATABASE_URL: url }).databaseUrl, url);
  }
});

test('DATABASE_URL: the CSV target is on only when SYNC_TARGETS names it', () => {
  assert.deepEqual(load({ ...TOKENS, DATABASE_URL: 'postgres://db/ember' }).syncTargets, []);
  assert.deepEqual(load({ ...TOKENS, DATABASE_URL: 'postgres://db/ember', SHEETS_SPREADSHEET_ID: SHEET_ID }).syncTargets, ['sheets']);
  assert.deepEqual(load({ ...TOKENS, DATABASE_URL: 'postgres://db/ember', SYNC_TARGETS: 'csv,sheets', SHEETS_SPREADSHEET_ID: SHEET_ID }).syncTargets, ['csv', 'sheets']);
});

test('DATABASE_URL: the tokens must come from the environment (every replica the same)', () => {
  refused({ DATABASE_URL: 'postgres://db/ember', ADMIN_TOKEN: TOKENS.ADMIN_TOKEN }, 'WEBHOOK_TOKEN', /environment with DATABASE_URL/);
  refused({ DATABASE_URL: 'postgres://db/ember', WEBHOOK_TOKEN: TOKENS.WEBHOOK_TOKEN }, 'ADMIN_TOKEN', /environment with DATABASE_URL/);
});

test('DATABASE_URL: bad values are refused in one line, without the password', () => {
  refused({ ...TOKENS, DATABASE_URL: 'mysql://u:hunter2secret@db/ember' }, 'DATABASE_URL', /postgres:\/\//, 'hunter2secret');
  refused({ ...TOKENS, DATABASE_URL: 'not a url hunter2secret' }, 'DATABASE_URL', /postgres:\/\/ URL/, 'hunter2secret');
  refused({ ...TOKENS, DATABASE_URL: 'postgres://u:hunter2secret@/ember' }, 'DATABASE_URL', /no host/, 'hunter2secret');
  refused({ ...TOKENS, DATABASE_URL: 'postgres://u:hunter2secret@db' }, 'DATABASE_URL', /no database/, 'hunter2secret');
  // A password with / ? # unencoded would be read as a host: refused, and nothing of it echoed.
  refused({ ...TOKENS, DATABASE_URL: 'postgres://u:p@ss/w?rd#hunter2secret@127.0.0.1:1/db' }, 'DATABASE_URL', /percent-encode/, 'hunter2secret');
  refused({ ...TOKENS, DATABASE_URL: 'postgres://u:hunter2secret/x@db/ember' }, 'DATABASE_URL', /percent-encode/, 'hunter2secret');
  assert.equal(load({ ...TOKENS, DATABASE_URL: 'postgres://u:p%2Fa%40b@db/ember' }).databaseUrl, 'postgres://u:p%2Fa%40b@db/ember');
  refused({ ...TOKENS, DATABASE_URL: 'postgres://db/ember', DATABASE_POOL_SIZE: '1' }, 'DATABASE_POOL_SIZE', /from 2 to 200/);
  refused({ ...TOKENS, DATABASE_URL: 'postgres://db/ember', DATABASE_STATEMENT_TIMEOUT_MS: 'soon' }, 'DATABASE_STATEMENT_TIMEOUT_MS', /whole number/);
});

test('DATABASE_URL: a known key in another case (SSLMODE=require would connect without TLS) is refused, its value not echoed', () => {
  refused({ ...TOKENS, DATABASE_URL: 'postgres://u@db/ember?SSLMODE=require' }, 'DATABASE_URL', /"SSLMODE" must be written in lower case \(sslmode\)/);
  refused({ ...TOKENS, DATABASE_URL: 'postgres://u@db/ember?Password=hunter2secret' }, 'DATABASE_URL', /lower case \(password\)/, 'hunter2secret');
  refused({ ...TOKENS, DATABASE_URL: 'postgres://u@db/ember?sslMode=require' }, 'DATABASE_URL', /lower case/);
  // Keys node-postgres does not read are none of ember-sync's business.
  assert.equal(load({ ...TOKENS, DATABASE_URL: 'postgres://u@db/ember?sslmode=require&Custom=1' }).databaseUrl, 'postgres://u@db/ember?sslmode=require&Custom=1');
});

test('DATABASE_URL with sslmode=require (prefer, verify-ca): accepted as given, no SECURITY WARNING on stderr; a TLS file it names must be readable', async () => {
  const warnings: string[] = [];
  const listener = (w: Error) => warnings.push(w.message);
  process.on('warning', listener);
  try {
    for (const mode of ['require', 'prefer', 'verify-ca', 'verify-full', 'disable']) {
      const url = `postgres://ember:pw@db.internal/ember_sync?sslmode=${mode}`;
      assert.equal(load({ ...TOKENS, DATABASE_URL: url }).databaseUrl, url, 'kept as the operator wrote it');
    }
    assert.equal(load({ ...TOKENS, DATABASE_URL: 'postgres://db/ember?uselibpqcompat=true&sslmode=require' }).databaseUrl, 'postgres://db/ember?uselibpqcompat=true&sslmode=require');
    // emitWarning delivers on the next tick.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings, []);
    // The control: the same URL read by the library as written does warn (once per process), and the listener hears it.
    const { parse } = await import('pg-connection-string');
    parse('postgres://db/ember?sslmode=require');
    await new Promise((r) => setImmediate(r));
    assert.equal(warnings.length, 1);
  } finally {
    process.off('warning', listener);
  }
  refused({ ...TOKENS, DATABASE_URL: 'postgres://u:hunter2secret@db/ember?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem' }, 'DATABASE_URL', /cannot read \/nonexistent\/ca\.pem, named by its sslrootcert, sslcert or sslkey \(ENOENT\)/, 'hunter2secret');
  refused({ ...TOKENS, DATABASE_URL: 'postgres://u:hunter2secret@db/ember?uselibpqcompat=true&sslmode=verify-ca' }, 'DATABASE_URL', /needs sslrootcert/, 'hunter2secret');
});
