import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, chmodSync, statSync, linkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { SettingError } from '../errors.js';
import { ensureSettingDir } from './setting-dir.js';
import type { Settings } from './settings.js';

export interface Secrets {
  webhookToken: string;
  adminToken: string;
}

/**
 * A token from the environment wins; otherwise one is generated once (32 random
 * bytes, base64url) into DATA_DIR with mode 0600 and read back on every start.
 * Written to a temp file then hard-linked into place: link fails if the file
 * exists, so two processes starting at once (server + CLI) agree on one token
 * and neither ever reads a half-written file.
 */
export function ensureToken(dataDir: string, fileName: string, setting: string): string {
  const file = join(dataDir, fileName);
  ensureSettingDir('DATA_DIR', dataDir);
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, randomBytes(32).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
    linkSync(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new SettingError('DATA_DIR', `cannot write ${file}: ${(err as Error).message}`);
    }
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      /* already gone */
    }
  }
  let value: string;
  try {
    value = readFileSync(file, 'utf8').trim();
    // Tighten a file someone loosened (the secret must stay owner-only).
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  } catch (err) {
    throw new SettingError('DATA_DIR', `cannot read ${file}: ${(err as Error).message}`);
  }
  if (!/^[A-Za-z0-9._~-]{16,256}$/.test(value)) {
    throw new SettingError(setting, `the kept token in ${file} is damaged; delete the file to generate a new one, or set ${setting}`);
  }
  return value;
}

export function resolveSecrets(settings: Settings): Secrets {
  return {
    webhookToken: settings.webhookToken ?? ensureToken(settings.dataDir, 'webhook-token', 'WEBHOOK_TOKEN'),
    adminToken: settings.adminToken ?? ensureToken(settings.dataDir, 'admin-token', 'ADMIN_TOKEN'),
  };
}

/** The webhook token without creating one (status, the console): from WEBHOOK_TOKEN or the kept file, if any. */
export function peekWebhookToken(settings: Settings): string | undefined {
  if (settings.webhookToken) return settings.webhookToken;
  try {
    const value = readFileSync(join(settings.dataDir, 'webhook-token'), 'utf8').trim();
    return /^[A-Za-z0-9._~-]{16,256}$/.test(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A token's sha256: lets `status` tell whether the token it can see is the server's, without storing the token. */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The URL to paste into EmberQA. */
export function webhookUrlFor(publicUrl: string, token: string): string {
  return `${publicUrl}/webhooks/emberqa/${token}`;
}
