import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tokenFingerprint } from '../config/secrets.js';
import type { Settings } from '../config/settings.js';
import { fail, modeText, oneLine, pass, type CheckResult } from './check.js';

const TOKEN = /^[A-Za-z0-9._~-]{16,256}$/;

/** A file that must stay owner-only: its mode, never its content. */
function ownerOnly(name: string, path: string, what: string): CheckResult {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    return fail(name, `cannot read ${path}: ${oneLine(err)}`, `check the path and that this user can read it`);
  }
  if ((mode & 0o077) !== 0) return fail(name, `${path} is readable by other users (mode ${modeText(mode)}); it holds ${what}`, `chmod 600 ${path}`);
  return pass(name, `${path} is owner-only (mode ${modeText(mode)})`);
}

/** The database and its -wal and -shm files (SQLite gives them the database's mode), as one line. */
function databaseFiles(dbPath: string): CheckResult {
  const name = 'database file permissions';
  const loose: string[] = [];
  for (const file of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) {
    let mode: number;
    try {
      mode = statSync(file).mode;
    } catch (err) {
      if (file !== dbPath && (err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      return fail(name, `cannot read ${file}: ${oneLine(err)}`, 'check the path and that this user can read it');
    }
    if ((mode & 0o077) !== 0) loose.push(`${file} (mode ${modeText(mode)})`);
  }
  if (loose.length) {
    return fail(name, `readable by other users: ${loose.join(', ')}; they hold every webhook as received`, `chmod 600 ${dbPath}*`);
  }
  return pass(name, `${dbPath} and its -wal/-shm files are owner-only`);
}

/** A token kept in DATA_DIR (or given by the environment): present, well formed, owner-only, and the server's. */
function tokenCheck(name: string, setting: string, fromEnv: string | undefined, file: string, serverFingerprint?: string): CheckResult {
  let token = fromEnv;
  let where = `${setting} (environment)`;
  if (token === undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fail(name, `no ${file} and no ${setting}`, `start ember-sync serve once (it generates the token), or set ${setting}`);
      return fail(name, `cannot read ${file}: ${oneLine(err)}`, `make it readable by the user that runs ember-sync (chown), mode 600`);
    }
    if (!TOKEN.test(text)) return fail(name, `${file} is damaged (not 16–256 of A-Z a-z 0-9 . _ ~ -)`, `delete it and restart ember-sync serve to generate a new one (then paste the new webhook URL into EmberQA), or set ${setting}`);
    const mode = statSync(file).mode;
    if ((mode & 0o077) !== 0) return fail(name, `${file} is readable by other users (mode ${modeText(mode)})`, `chmod 600 ${file}`);
    token = text;
    where = `${file}, owner-only`;
  }
  // The server records a fingerprint of its token, never the token: compare without revealing either.
  if (serverFingerprint !== undefined && tokenFingerprint(token) !== serverFingerprint) {
    return fail(name, `the running server uses another token than ${where}`, `run doctor with the server's environment (its ${setting}), or restart the server with this one`);
  }
  return pass(name, `from ${where}`);
}

/** Secrets at rest: the tokens, the database (raw webhooks quote customers) and the Google key. */
export function checkSecrets(settings: Settings, server: { webhook?: string | undefined; admin?: string | undefined } = {}): CheckResult[] {
  const out = [
    tokenCheck('webhook token', 'WEBHOOK_TOKEN', settings.webhookToken, join(settings.dataDir, 'webhook-token'), server.webhook),
    tokenCheck('admin token', 'ADMIN_TOKEN', settings.adminToken, join(settings.dataDir, 'admin-token'), server.admin),
    // PostgreSQL keeps the webhooks on its own server: no file of ours to check.
    ...(settings.databaseUrl === undefined ? [databaseFiles(settings.dbPath)] : []),
  ];
  if (settings.googleApplicationCredentials !== undefined && settings.syncTargets.includes('sheets')) {
    out.push(ownerOnly('Google key file permissions', settings.googleApplicationCredentials, 'the service account\'s private key'));
  }
  return out;
}
