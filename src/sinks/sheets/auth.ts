import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { JWT, OAuth2Client } from 'google-auth-library';
import type { Settings } from '../../config/settings.js';
import { SettingError } from '../../errors.js';

export const SHEETS_SCOPE = 'https://www.googleapis.com/auth/spreadsheets';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

export interface SheetsAuth {
  client: JWT | OAuth2Client;
  /** The service account's address: the one to share the sheet with. */
  email: string | undefined;
}

interface KeyFile {
  type?: unknown;
  client_email?: unknown;
  private_key?: unknown;
}

/** Reads and checks a service-account key file; any problem is a GOOGLE_APPLICATION_CREDENTIALS setting error (exit 2). */
export function readKeyFile(path: string): { email: string; key: string } {
  let json: KeyFile;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new SettingError('GOOGLE_APPLICATION_CREDENTIALS', e.code === 'ENOENT' ? `no such file ${path}` : e.code ? `cannot read ${path}: ${e.message}` : `${path} is not JSON (download the key again: IAM → Service accounts → Keys → Add key → JSON)`);
  }
  if (json.type !== 'service_account') throw new SettingError('GOOGLE_APPLICATION_CREDENTIALS', `${path} is not a service-account key (its "type" is ${JSON.stringify(json.type)}, expected "service_account")`);
  if (typeof json.client_email !== 'string' || !json.client_email.includes('@')) throw new SettingError('GOOGLE_APPLICATION_CREDENTIALS', `${path} has no client_email`);
  if (typeof json.private_key !== 'string') throw new SettingError('GOOGLE_APPLICATION_CREDENTIALS', `${path} has no private_key`);
  try {
    createPrivateKey(json.private_key);
  } catch {
    throw new SettingError('GOOGLE_APPLICATION_CREDENTIALS', `the private_key in ${path} is not a valid PEM key`);
  }
  return { email: json.client_email, key: json.private_key };
}

/**
 * SHEETS_ACCESS_TOKEN (a ready token) or the service-account JWT flow from
 * GOOGLE_APPLICATION_CREDENTIALS. The JWT flow's token URL is fixed inside
 * gtoken; GOOGLE_OAUTH_TOKEN_URL redirects it with a request interceptor on
 * the client's own transporter, so the real signed assertion goes there.
 */
export function createSheetsAuth(settings: Pick<Settings, 'sheetsAccessToken' | 'googleApplicationCredentials' | 'googleOauthTokenUrl'>): SheetsAuth {
  if (settings.sheetsAccessToken) {
    const client = new OAuth2Client();
    client.setCredentials({ access_token: settings.sheetsAccessToken });
    return { client, email: undefined };
  }
  if (!settings.googleApplicationCredentials) {
    throw new SettingError('GOOGLE_APPLICATION_CREDENTIALS', 'the sheets target needs a service-account key file (GOOGLE_APPLICATION_CREDENTIALS) or an access token (SHEETS_ACCESS_TOKEN)');
  }
  const { email, key } = readKeyFile(settings.googleApplicationCredentials);
  const client = new JWT({ email, key, scopes: [SHEETS_SCOPE] });
  const tokenUrl = settings.googleOauthTokenUrl;
  if (tokenUrl) {
    client.transporter.interceptors.request.add({
      resolved: async (config) => {
        if (String(config.url) === GOOGLE_TOKEN_URL) config.url = new URL(tokenUrl);
        return config;
      },
    });
  }
  return { client, email };
}
