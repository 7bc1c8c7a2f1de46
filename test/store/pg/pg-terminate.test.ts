/**
 * A connection killed in the middle of a batch (pg_terminate_backend: what a
 * failover, an operator or an OOM kill does): the batch is committed whole or
 * not at all, the caller gets StoreUnavailableError (503: EmberQA retries),
 * and the pool carries on with a new connection.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { StoreUnavailableError } from '../../../src/errors.js';
import { createPgEventLog } from '../../../src/store/pg/pg-event-log.js';
import { migratePg, PG_APPEND_LOCK } from '../../../src/store/pg/pg-migrations.js';
import { unavailableReason } from '../../../src/store/pg/pg-pool.js';
import { event, freshDatabase, testClient, testPool, PG_SKIP, waitForBackend } from './pg-test-db.js';

const VICTIM = 'ember-sync-victim';

async function setup(t: TestContext) {
  const url = await freshDatabase(t);
  const pool = testPool(t, url, { max: 2, applicationName: VICTIM });
  await migratePg(pool);
  const log = createPgEventLog(pool);
  // Something committed before, so that "nothing of the batch" is not "an empty log".
  await log.appendBatch([event('before-1'), event('before-2')]);
  const observer = await testClient(t, url, 'observer');
  const state = async () => {
    const res = await observer.query<{ n: string; last: string }>('SELECT (SELECT count(*) FROM events) AS n, (SELECT last_seq FROM log_state) AS last');
    return { events: Number(res.rows[0]!.n), lastAssigned: Number(res.rows[0]!.last) };
  };
  return { url, log, observer, state };
}

async function expectUnavailable(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${String(err)}`);
    assert.equal(err.code, 'store_unavailable');
    assert.ok(['admin_shutdown', 'connection_lost'].includes(unavailableReason(err)!), String(unavailableReason(err)));
    return true;
  });
}

const batch = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => event(`${prefix}-${i}`));

test('terminated while waiting for the append lock: nothing of the batch is stored, StoreUnavailableError, the pool recovers', { skip: PG_SKIP }, async (t) => {
  const { log, observer, state } = await setup(t);
  // Another session holds the append lock: the batch's statement waits inside append_events.
  await observer.query({ text: 'SELECT pg_advisory_lock($1::bigint)', values: [PG_APPEND_LOCK] });
  const before = await state();
  // Handled from the start: it rejects while the test awaits pg_terminate_backend.
  const failed = expectUnavailable(log.appendBatch(batch('b', 50)));
  const pid = await waitForBackend(observer, VICTIM, 'advisory');
  await observer.query({ text: 'SELECT pg_terminate_backend($1)', values: [pid] });
  await failed;
  await observer.query({ text: 'SELECT pg_advisory_unlock($1::bigint)', values: [PG_APPEND_LOCK] });
  assert.deepEqual(await state(), before);
  // The same batch again (EmberQA's retry): all new, numbered right after what was committed.
  const again = await log.appendBatch(batch('b', 50));
  assert.deepEqual(
    again,
    Array.from({ length: 50 }, (_, i) => ({ seq: before.lastAssigned + 1 + i, duplicate: false })),
  );
});

test('terminated halfway through its inserts: the rows already inserted are rolled back, StoreUnavailableError, the pool recovers', { skip: PG_SKIP }, async (t) => {
  const { url, log, observer, state } = await setup(t);
  // A test-only trigger pauses before inserting the 26th event of the batch, after saying (in its
  // session's application_name, which pg_stat_activity shows at once) how many of the batch it holds.
  await observer.query(`
    CREATE FUNCTION test_pause() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.webhook_id = 'm-25' THEN
        PERFORM set_config('application_name', 'paused:' || (SELECT count(*) FROM events WHERE webhook_id LIKE 'm-%'), false);
        PERFORM pg_sleep(30);
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER test_pause BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION test_pause();
  `);
  const before = await state();
  const failed = expectUnavailable(log.appendBatch(batch('m', 50)));
  const pid = await waitForBackend(observer, 'paused:25', 'PgSleep');
  // A poller meanwhile sees none of them.
  assert.deepEqual(await createPgEventLog(testPool(t, url, { max: 1 })).eventsAfter(before.lastAssigned, 100), []);
  await observer.query({ text: 'SELECT pg_terminate_backend($1)', values: [pid] });
  await failed;
  assert.deepEqual(await state(), before);
  await observer.query('DROP TRIGGER test_pause ON events');
  const again = await log.appendBatch(batch('m', 50));
  assert.deepEqual(
    again,
    Array.from({ length: 50 }, (_, i) => ({ seq: before.lastAssigned + 1 + i, duplicate: false })),
  );
});
