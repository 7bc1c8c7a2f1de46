/**
 * One op the database refuses never fails the others of its batch: the batch
 * is tried again op by op (savepoints, or a transaction each when it fails at
 * COMMIT); the others commit and resolve as they would have, the refused one
 * rejects with StoreRejectedError (500, no "retry") for its data, or
 * StoreUnavailableError for another error of its own. The fast path stays one
 * transaction per batch.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { StoreRejectedError, StoreUnavailableError } from '../../../src/errors.js';
import type { WriteResult } from '../../../src/model/writes.js';
import { migratePg } from '../../../src/store/pg/pg-migrations.js';
import { createPgWriter } from '../../../src/store/pg/pg-writer.js';
import type { WebhookWriteOp } from '../../../src/store/store.js';
import { event, freshDatabase, PG_SKIP, testClient, testPool } from './pg-test-db.js';

async function setup(t: TestContext) {
  const url = await freshDatabase(t);
  const pool = testPool(t, url, { max: 3 });
  await migratePg(pool);
  const observer = await testClient(t, url, 'observer');
  // Test-only: the database refuses some webhook_ids (a data exception, a check violation, a plain RAISE), at
  // insert or, deferred, at COMMIT; and some quarantined payloads.
  await observer.query(`
    CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.webhook_id = 'poison' THEN RAISE EXCEPTION 'refused %', NEW.webhook_id USING ERRCODE = 'invalid_parameter_value'; END IF;
      IF NEW.webhook_id = 'late-poison' AND TG_WHEN = 'AFTER' THEN RAISE EXCEPTION 'refused at commit' USING ERRCODE = 'check_violation'; END IF;
      IF NEW.webhook_id = 'q-poison' THEN RAISE EXCEPTION 'refused quarantine' USING ERRCODE = 'string_data_right_truncation'; END IF;
      IF NEW.webhook_id = 'bug' THEN RAISE EXCEPTION 'not about the data'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse();
    CREATE TRIGGER refuse_quarantine BEFORE INSERT ON quarantine FOR EACH ROW EXECUTE FUNCTION refuse();
    CREATE CONSTRAINT TRIGGER refuse_late AFTER INSERT ON events DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse();
  `);
  return { pool, observer };
}

const ev = (id: string, receivedAt = '2026-11-30T09:15:00.000Z'): WebhookWriteOp => ({ kind: 'event', event: event(id, { receivedAt }) });
const bad = (id: string, body = id): WebhookWriteOp => ({
  kind: 'quarantine',
  item: { webhookId: id, receivedAt: '2026-11-30T09:20:00.000Z', body: Buffer.from(body), reason: 'schema_validation_failed', errors: [{ path: '/x', message: 'bad' }] },
});

function rejected(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (r) => assert.fail(`expected a rejection, got ${JSON.stringify(r)}`),
    (err: unknown) => err,
  );
}

async function counts(observer: Awaited<ReturnType<typeof setup>>['observer']) {
  const res = await observer.query(`SELECT (SELECT coalesce(json_agg(webhook_id ORDER BY seq), '[]') FROM events) AS events,
                                           (SELECT coalesce(json_agg(webhook_id ORDER BY id), '[]') FROM quarantine) AS quarantine,
                                           (SELECT count(*) FROM health_probe)::int AS probes,
                                           (SELECT coalesce(json_object_agg(outcome, n), '{}') FROM webhook_hours) AS hours,
                                           (SELECT last_seq FROM log_state)::int AS last_seq`);
  return res.rows[0];
}

test('an op whose data the database refuses fails alone (500 store_rejected); the others of its batch commit with the answers they would have had', { skip: PG_SKIP }, async (t) => {
  const { pool, observer } = await setup(t);
  const commits: WriteResult[][] = [];
  const writer = createPgWriter(pool, { onCommit: (r) => commits.push(r) });
  await writer.submit(ev('before'));
  const ops = [ev('a'), bad('q-x'), ev('poison'), ev('b'), { kind: 'probe' } as const, ev('a'), bad('q-poison'), ev('before'), bad('q-x')];
  const settled = ops.map((op) => writer.submit(op));
  const poison = await rejected(settled[2]!);
  const qPoison = await rejected(settled[6]!);
  for (const err of [poison, qPoison]) {
    assert.ok(err instanceof StoreRejectedError, `expected StoreRejectedError, got ${String(err)}`);
    assert.equal(err.status, 500);
    assert.equal(err.code, 'store_rejected');
    assert.equal(err.expose, true);
    assert.doesNotMatch(err.message, /please retry/);
    assert.match(err.message, /not stored and retrying it will not help/);
  }
  assert.match(String((poison as StoreRejectedError).cause), /refused poison/);
  const others = await Promise.all(settled.filter((_, i) => i !== 2 && i !== 6));
  // The same answers as in a batch without the refused ops: seqs follow on, duplicates within the batch and of the log, the quarantine's second attempt.
  assert.deepEqual(others, [
    { kind: 'event', duplicate: false, seq: 2 },
    { kind: 'quarantine', id: 1, attempts: 1 },
    { kind: 'event', duplicate: false, seq: 3 },
    { kind: 'probe' },
    { kind: 'event', duplicate: true, seq: 2 },
    { kind: 'event', duplicate: true, seq: 1 },
    { kind: 'quarantine', id: 1, attempts: 2 },
  ]);
  assert.deepEqual(commits.at(-1), others);
  assert.deepEqual(await counts(observer), {
    events: ['before', 'a', 'b'],
    quarantine: ['q-x'],
    probes: 1,
    // Only what was stored is counted.
    hours: { accepted: 3, duplicate: 2, quarantined: 2 },
    last_seq: 3,
  });
  // A refused webhook is not the store failing.
  assert.equal(writer.failingSince, undefined);
  // The next batch takes the fast path again.
  assert.deepEqual(await writer.submit(ev('c')), { kind: 'event', duplicate: false, seq: 4 });
  // The refusal is lasting (the same bytes fail the same way), and alone it rejects the same.
  assert.ok((await rejected(writer.submit(ev('poison')))) instanceof StoreRejectedError);
});

test('a refusal at COMMIT (deferred) fails its op alone too: the ops get a transaction each', { skip: PG_SKIP }, async (t) => {
  const { pool, observer } = await setup(t);
  const writer = createPgWriter(pool);
  const settled = [ev('x'), ev('late-poison'), bad('q-y'), ev('y')].map((op) => writer.submit(op));
  const late = await rejected(settled[1]!);
  assert.ok(late instanceof StoreRejectedError, `expected StoreRejectedError, got ${String(late)}`);
  const [x, q, y] = await Promise.all([settled[0], settled[2], settled[3]]);
  assert.deepEqual(
    [x, y],
    [
      { kind: 'event', duplicate: false, seq: 1 },
      { kind: 'event', duplicate: false, seq: 2 },
    ],
  );
  // The quarantine's id comes from an identity, which rolled-back tries advance (ids may have gaps, as always on PostgreSQL).
  assert.ok(q?.kind === 'quarantine' && q.attempts === 1 && Number.isSafeInteger(q.id), JSON.stringify(q));
  assert.deepEqual(await counts(observer), { events: ['x', 'y'], quarantine: ['q-y'], probes: 0, hours: { accepted: 2, quarantined: 1 }, last_seq: 2 });
  // One transaction each: the three ops that committed did so separately.
  const txs = await observer.query<{ n: number }>('SELECT count(DISTINCT xmin::text)::int AS n FROM (SELECT xmin FROM events UNION ALL SELECT xmin FROM quarantine) x');
  assert.equal(txs.rows[0]!.n, 3);
});

test('an error of one op that is not about its data: that op answers 503 (nothing stored, retry), the others commit', { skip: PG_SKIP }, async (t) => {
  const { pool, observer } = await setup(t);
  const writer = createPgWriter(pool);
  const settled = [ev('x'), ev('bug'), ev('y')].map((op) => writer.submit(op));
  const err = await rejected(settled[1]!);
  assert.ok(err instanceof StoreUnavailableError, `expected StoreUnavailableError, got ${String(err)}`);
  assert.equal(err.outcomeUnknown, false);
  assert.match(err.message, /nothing was stored/);
  assert.deepEqual(await Promise.all([settled[0], settled[2]]), [
    { kind: 'event', duplicate: false, seq: 1 },
    { kind: 'event', duplicate: false, seq: 2 },
  ]);
  assert.deepEqual((await counts(observer))!.events, ['x', 'y']);
  // Others were stored: the store is not failing.
  assert.equal(writer.failingSince, undefined);
});

test('the fast path: a batch nothing refuses is one transaction', { skip: PG_SKIP }, async (t) => {
  const { pool, observer } = await setup(t);
  const writer = createPgWriter(pool);
  await Promise.all([ev('a'), ev('b'), bad('q-a'), ev('c')].map((op) => writer.submit(op)));
  const txs = await observer.query<{ n: number }>('SELECT count(DISTINCT xmin::text)::int AS n FROM (SELECT xmin FROM events UNION ALL SELECT xmin FROM quarantine UNION ALL SELECT xmin FROM webhook_hours) x');
  assert.equal(txs.rows[0]!.n, 1);
  // No savepoint was taken: a subtransaction would give the rows of each op an xmin of its own.
});
