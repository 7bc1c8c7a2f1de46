/**
 * The Store contract (test/store/contract/store-contract.ts) once more,
 * on PostgreSQL behind PgBouncer 1.18 in transaction pooling mode
 * (DATABASE_URL ?pgbouncer=true) with two server connections per database
 * handed out round robin: every unit of work of the store (the writer's group
 * commits, the quarantine, the sync lease and its fencing, retention, the
 * console) where no transaction may count on the session of the one before.
 */
import { createPgStore } from '../../../src/store/pg/create-pg-store.js';
import { describeStoreContract } from '../contract/store-contract.js';
import { databaseOf, PGBOUNCER_SKIP, startPgBouncer } from './pgbouncer-test.js';
import { freshDatabase } from './pg-test-db.js';

describeStoreContract(
  'PostgreSQL through PgBouncer (transaction mode, pgbouncer=true)',
  async (t) => {
    const db = databaseOf(await freshDatabase(t));
    return createPgStore({ connectionString: startPgBouncer(t, 2).url(db), max: 3 });
  },
  PGBOUNCER_SKIP,
);
