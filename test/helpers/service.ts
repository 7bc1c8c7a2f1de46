import type { TestContext } from 'node:test';
import { Writable } from 'node:stream';
import { loadSettings } from '../../src/config/settings.js';
import { resolveSecrets } from '../../src/config/secrets.js';
import { createLogger } from '../../src/logger.js';
import { startService, type RunningService } from '../../src/service.js';
import { isSqliteStore, type SqliteStore } from '../../src/store/create-store.js';
import { tempDir } from './temp-dir.js';

export interface TestService extends RunningService {
  /** The tests' service runs on a SQLite file (no DATABASE_URL): its tables can be inspected. */
  store: SqliteStore;
  dataDir: string;
  webhookToken: string;
  adminToken: string;
  /** POST to the webhook URL (token in the path). */
  post(body: string | Buffer, headers?: Record<string, string>): Promise<Response>;
  logs: string[];
}

/** The real service on loopback (port 0) with a real SQLite file in a temp dir. */
export async function startTestService(t: TestContext, env: Record<string, string> = {}, extra: { schemasDir?: string; busyTimeoutMs?: number } = {}): Promise<TestService> {
  const dataDir = env['DATA_DIR'] ?? tempDir(t);
  const settings = loadSettings({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'debug', ...env, DATA_DIR: dataDir });
  const secrets = resolveSecrets(settings);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = createLogger(settings.logLevel, sink);
  const service = await startService({ settings, secrets, logger, ...extra });
  t.after(() => service.close());
  const store = service.store;
  if (!isSqliteStore(store)) throw new Error(`the test service opened a ${store.kind} store; it runs on a SQLite file`);
  return {
    ...service,
    store,
    dataDir,
    logs,
    webhookToken: secrets.webhookToken,
    adminToken: secrets.adminToken,
    post: (body, headers = {}) =>
      fetch(service.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }),
  };
}
