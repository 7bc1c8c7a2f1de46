/**
 * The Store contract (store-contract.ts) on both backends: SQLite on a temp
 * file; PostgreSQL on a database of its own when EMBER_SYNC_TEST_DATABASE_URL
 * is set (skipped, saying why, otherwise). Behind PgBouncer:
 * test/store/pg/pgbouncer-contract.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore } from '../../../src/store/create-store.js';
import { createPgStore } from '../../../src/store/pg/create-pg-store.js';
import { freshDatabase, PG_SKIP } from '../pg/pg-test-db.js';
import { describeStoreContract } from './store-contract.js';

describeStoreContract('SQLite', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ember-contract-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return createStore({ dbPath: join(dir, 'ember.db') });
});

describeStoreContract('PostgreSQL', async (t) => createPgStore({ connectionString: await freshDatabase(t), max: 3 }), PG_SKIP);
