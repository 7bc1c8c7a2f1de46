import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { loadSettings } from '../../src/config/settings.js';
import { resolveSecrets } from '../../src/config/secrets.js';
import { createLogger } from '../../src/logger.js';
import { startService } from '../../src/service.js';
import { freshDatabase } from '../store/pg/pg-test-db.js';
import { tempDir } from './temp-dir.js';

/** The real service on loopback on a fresh PostgreSQL database (service.ts's helper runs on SQLite only); its log lines kept. */
export async function startPgService(t: TestContext) {
  const url = await freshDatabase(t);
  const settings = loadSettings({
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DATA_DIR: tempDir(t),
    DATABASE_URL: url,
    WEBHOOK_TOKEN: 'pg-service-webhook-token-0123456789',
    ADMIN_TOKEN: 'pg-service-admin-token-0123456789ab',
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const service = await startService({ settings, secrets: resolveSecrets(settings), logger: createLogger(settings.logLevel, sink) });
  t.after(() => service.close());
  assert.equal(service.store.kind, 'postgres');
  const post = (body: string) => fetch(service.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const metrics = async () => (await fetch(service.listenUrl + '/metrics')).text();
  return { url, service, post, logs, metrics };
}
