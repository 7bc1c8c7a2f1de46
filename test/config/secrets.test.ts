import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureToken, resolveSecrets } from '../../src/config/secrets.js';
import { loadSettings } from '../../src/config/settings.js';
import { SettingError } from '../../src/errors.js';
import { ROOT_DIR } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/temp-dir.js';

const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;
const mode = (file: string) => statSync(file).mode & 0o777;

test('ensureToken: generated once, 43 characters of base64url (32 random bytes), file mode 0600', (t) => {
  const dir = tempDir(t);
  const token = ensureToken(dir, 'webhook-token', 'WEBHOOK_TOKEN');
  assert.match(token, TOKEN_RE);
  assert.equal(Buffer.from(token, 'base64url').length, 32);
  const file = join(dir, 'webhook-token');
  assert.equal(readFileSync(file, 'utf8').trim(), token);
  assert.equal(mode(file), 0o600);
  assert.deepEqual(readdirSync(dir), ['webhook-token'], 'no temp files left behind');
});

test('ensureToken: the same value on every later call', (t) => {
  const dir = tempDir(t);
  const first = ensureToken(dir, 'webhook-token', 'WEBHOOK_TOKEN');
  for (let i = 0; i < 3; i++) assert.equal(ensureToken(dir, 'webhook-token', 'WEBHOOK_TOKEN'), first);
  const other = ensureToken(dir, 'admin-token', 'ADMIN_TOKEN');
  assert.match(other, TOKEN_RE);
  assert.notEqual(other, first, 'each file has its own token');
  assert.notEqual(ensureToken(tempDir(t), 'webhook-token', 'WEBHOOK_TOKEN'), first, 'another DATA_DIR, another token');
});

test('ensureToken: DATA_DIR is created when missing', (t) => {
  const dir = join(tempDir(t), 'nested', 'data');
  assert.match(ensureToken(dir, 'webhook-token', 'WEBHOOK_TOKEN'), TOKEN_RE);
  assert.ok(existsSync(join(dir, 'webhook-token')));
});

test('ensureToken: a kept token written by hand (no newline, other valid characters) is read as is', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'webhook-token'), 'my.own~token-value_1234', { mode: 0o600 });
  assert.equal(ensureToken(dir, 'webhook-token', 'WEBHOOK_TOKEN'), 'my.own~token-value_1234');
});

test('ensureToken: a loosened file mode is tightened back to 0600, value unchanged', (t) => {
  const dir = tempDir(t);
  const token = ensureToken(dir, 'admin-token', 'ADMIN_TOKEN');
  const file = join(dir, 'admin-token');
  for (const loose of [0o644, 0o666, 0o640, 0o604]) {
    chmodSync(file, loose);
    assert.equal(ensureToken(dir, 'admin-token', 'ADMIN_TOKEN'), token);
    assert.equal(mode(file), 0o600, `from ${loose.toString(8)}`);
  }
});

test('ensureToken: a damaged file gives a SettingError naming the setting', (t) => {
  for (const [content, label] of [
    ['', 'empty'],
    ['short', 'too short'],
    ['has spaces in the middle of it', 'spaces'],
    ['{"token":"abcdefghijklmnopqrstuvwxyz"}', 'JSON'],
    ['\u0000'.repeat(43), 'binary'],
    ['x'.repeat(300), 'too long'],
  ] as const) {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'webhook-token'), content, { mode: 0o600 });
    assert.throws(
      () => ensureToken(dir, 'webhook-token', 'WEBHOOK_TOKEN'),
      (err: unknown) => {
        assert.ok(err instanceof SettingError, `${label}: ${String(err)}`);
        assert.equal(err.setting, 'WEBHOOK_TOKEN', label);
        assert.match(err.message, /damaged/);
        assert.ok(!err.message.includes('\n'));
        return true;
      },
      label,
    );
    assert.equal(readFileSync(join(dir, 'webhook-token'), 'utf8'), content, `${label}: the damaged file is left for the operator`);
  }
});

test('ensureToken: DATA_DIR that is a file gives a SettingError naming DATA_DIR', (t) => {
  const file = join(tempDir(t), 'not-a-dir');
  writeFileSync(file, 'x');
  assert.throws(() => ensureToken(file, 'webhook-token', 'WEBHOOK_TOKEN'), (err: unknown) => err instanceof SettingError && err.setting === 'DATA_DIR');
});

test('resolveSecrets: both tokens generated and kept in DATA_DIR; the same on the next start', (t) => {
  const dir = tempDir(t);
  const settings = loadSettings({ DATA_DIR: dir }, dir);
  const first = resolveSecrets(settings);
  assert.match(first.webhookToken, TOKEN_RE);
  assert.match(first.adminToken, TOKEN_RE);
  assert.notEqual(first.webhookToken, first.adminToken);
  assert.equal(mode(join(dir, 'webhook-token')), 0o600);
  assert.equal(mode(join(dir, 'admin-token')), 0o600);
  assert.deepEqual(resolveSecrets(loadSettings({ DATA_DIR: dir }, dir)), first);
});

test('resolveSecrets: a value from the environment wins over a kept one, and none is written for it', (t) => {
  const dir = tempDir(t);
  const fromEnv = loadSettings({ DATA_DIR: dir, WEBHOOK_TOKEN: 'env-webhook-token-0123' }, dir);
  const secrets = resolveSecrets(fromEnv);
  assert.equal(secrets.webhookToken, 'env-webhook-token-0123');
  assert.match(secrets.adminToken, TOKEN_RE);
  assert.equal(existsSync(join(dir, 'webhook-token')), false, 'no file for a token set in the environment');

  // A kept token exists too: the environment still wins, and the file is untouched.
  const kept = ensureToken(dir, 'webhook-token', 'WEBHOOK_TOKEN');
  assert.equal(resolveSecrets(fromEnv).webhookToken, 'env-webhook-token-0123');
  assert.equal(readFileSync(join(dir, 'webhook-token'), 'utf8').trim(), kept);
  const both = resolveSecrets(loadSettings({ DATA_DIR: dir, WEBHOOK_TOKEN: 'env-webhook-token-0123', ADMIN_TOKEN: 'env-admin-token-01234' }, dir));
  assert.deepEqual(both, { webhookToken: 'env-webhook-token-0123', adminToken: 'env-admin-token-01234' });
  // Without the environment value, the kept one is used again.
  assert.equal(resolveSecrets(loadSettings({ DATA_DIR: dir }, dir)).webhookToken, kept);
});

test('two processes starting at once on an empty DATA_DIR agree on one token', async (t) => {
  const dir = tempDir(t);
  const script = `import { ensureToken } from ${JSON.stringify(join(ROOT_DIR, 'src', 'config', 'secrets.ts'))}; process.stdout.write(ensureToken(process.argv[1], 'webhook-token', 'WEBHOOK_TOKEN'));`;
  const run = () =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dir], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`))));
    });
  const tokens = await Promise.all([run(), run(), run(), run()]);
  for (const tok of tokens) assert.match(tok, TOKEN_RE);
  assert.equal(new Set(tokens).size, 1, 'all four read the same token');
  assert.equal(readFileSync(join(dir, 'webhook-token'), 'utf8').trim(), tokens[0]);
  assert.deepEqual(readdirSync(dir), ['webhook-token'], 'no temp files left behind');
});
