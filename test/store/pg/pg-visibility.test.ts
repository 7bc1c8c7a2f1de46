/**
 * The visibility gap: a sequence hands out numbers at insert, rows become
 * visible at commit. A poller that follows `seq > cursor` (every projector and
 * sync does) moves past a number whose transaction commits later and never
 * sees that row. append_events assigns seq under a lock held until commit, so
 * the committed events are always a prefix 1..N and such a poller misses
 * nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPgEventLog, type PgAppended } from '../../../src/store/pg/pg-event-log.js';
import { migratePg } from '../../../src/store/pg/pg-migrations.js';
import { event, freshDatabase, PG_SKIP, prng, testClient, testPool, waitForBackend } from './pg-test-db.js';

test('a late commit, step by step: a bigserial table loses it for the poller (demonstration); append_events makes the later writer wait, and nothing is lost', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  await migratePg(testPool(t, url));
  const a = await testClient(t, url, 'writer-a');
  const b = await testClient(t, url, 'writer-b');
  const poller = await testClient(t, url, 'poller');

  // The problem, with a plain identity column: A takes id 1, B takes id 2 and commits first.
  await a.query('CREATE TABLE naive (id bigserial PRIMARY KEY, v text NOT NULL)');
  let cursor = 0;
  const seen: string[] = [];
  const poll = async () => {
    const res = await poller.query<{ id: string; v: string }>({ text: 'SELECT id, v FROM naive WHERE id > $1 ORDER BY id', values: [cursor] });
    for (const row of res.rows) {
      seen.push(row.v);
      cursor = Number(row.id);
    }
  };
  await a.query('BEGIN');
  await a.query({ text: 'INSERT INTO naive (v) VALUES ($1)', values: ['a'] });
  await b.query({ text: 'INSERT INTO naive (v) VALUES ($1)', values: ['b'] });
  await poll(); // sees b (id 2): cursor 2
  await a.query('COMMIT');
  await poll(); // a is id 1, below the cursor: never seen
  const committed = await poller.query<{ v: string }>('SELECT v FROM naive ORDER BY id');
  assert.deepEqual(
    committed.rows.map((r) => r.v),
    ['a', 'b'],
  );
  assert.deepEqual(seen, ['b'], 'the demonstration: the poller skipped the late commit');

  // The same interleaving through append_events: A appends in an open transaction and holds the lock;
  // B's append waits for it instead of taking seq 2 and committing first.
  await a.query('BEGIN');
  const first = await a.query<{ seq: string; duplicate: boolean }>({
    text: 'SELECT seq, duplicate FROM append_events($1, $2, $3, $4, $5)',
    values: [['a'], ['completion'], [new Date().toISOString()], ['accepted'], [Buffer.from('{}')]],
  });
  assert.deepEqual(first.rows, [{ seq: '1', duplicate: false }]);
  const bLog = createPgEventLog(testPool(t, url, { max: 1, applicationName: 'writer-b-log' }));
  const bAnswer = bLog.appendBatch([event('b')]);
  await waitForBackend(poller, 'writer-b-log', 'advisory');
  const log = createPgEventLog(testPool(t, url, { max: 1 }));
  assert.deepEqual(await log.eventsAfter(0, 10), [], 'nothing committed yet: A is open, B waits');
  await a.query('COMMIT');
  assert.deepEqual(await bAnswer, [{ seq: 2, duplicate: false }]);
  assert.deepEqual(
    (await log.eventsAfter(0, 10)).map((e) => [e.seq, e.webhook_id]),
    [
      [1, 'a'],
      [2, 'b'],
    ],
  );
});

test(
  '4 writers × 2,000 events in random batches on their own connections, a poller following seq > cursor: it reads every committed event once, in seq order, with no gap',
  { skip: PG_SKIP },
  async (t) => {
    const WRITERS = 4;
    const PER_WRITER = 2_000;
    const SEED = Number(process.env['PG_VISIBILITY_SEED'] ?? 20261130);
    t.diagnostic(`seed ${SEED} (PG_VISIBILITY_SEED replays it)`);
    const url = await freshDatabase(t);
    await migratePg(testPool(t, url));
    const random = prng(SEED);
    // Many small batches (short transactions that interleave most) and some large ones.
    const plans = Array.from({ length: WRITERS }, (_, w) => {
      const batches: ReturnType<typeof event>[][] = [];
      for (let i = 0; i < PER_WRITER;) {
        const size = Math.min(PER_WRITER - i, random() < 0.6 ? 1 + Math.floor(random() * 8) : 1 + Math.floor(random() * 200));
        batches.push(Array.from({ length: size }, (_, k) => event(`w${w}-${i + k}`, { body: Buffer.from(`{"writer":${w},"n":${i + k}}`) })));
        i += size;
      }
      return batches;
    });

    const answered = new Map<string, PgAppended>();
    let writersDone = false;
    const writers = plans.map(async (batches, w) => {
      const log = createPgEventLog(testPool(t, url, { max: 1, applicationName: `writer-${w}` }));
      for (const batch of batches) {
        const answers = await log.appendBatch(batch);
        answers.forEach((r, i) => answered.set(batch[i]!.webhookId, r));
      }
    });
    const allWritten = Promise.all(writers).then(() => {
      writersDone = true;
    });

    const reader = createPgEventLog(testPool(t, url, { max: 1, applicationName: 'poller' }));
    const seen = new Map<string, number>();
    let cursor = 0;
    let polls = 0;
    let pagesWithRows = 0;
    for (;;) {
      // Read "done" before the query: an empty page after every writer's commit was acknowledged is the end.
      const done = writersDone;
      const page = await reader.eventsAfter(cursor, 500);
      polls++;
      if (page.length > 0) pagesWithRows++;
      for (const e of page) {
        assert.equal(e.seq, cursor + 1, `after seq ${cursor} the poller read seq ${e.seq}: a gap`);
        assert.ok(!seen.has(e.webhook_id), `${e.webhook_id} read twice`);
        seen.set(e.webhook_id, e.seq);
        cursor = e.seq;
      }
      if (done && page.length === 0) break;
      if (page.length === 0) await new Promise((r) => setImmediate(r));
    }
    await allWritten;

    const total = WRITERS * PER_WRITER;
    t.diagnostic(`${plans.reduce((n, b) => n + b.length, 0)} batches; ${polls} polls, ${pagesWithRows} with rows`);
    assert.ok(pagesWithRows >= 2, 'the poller read while the writers were writing');
    assert.equal(seen.size, total);
    assert.equal(cursor, total);
    assert.equal(answered.size, total);
    for (const [id, r] of answered) {
      assert.equal(r.duplicate, false);
      assert.equal(seen.get(id), r.seq, `${id}: answered seq ${r.seq}, read at ${seen.get(id)}`);
    }
    // Each writer's events are in the log in the order it sent them.
    for (let w = 0; w < WRITERS; w++) {
      const seqs = Array.from({ length: PER_WRITER }, (_, i) => seen.get(`w${w}-${i}`)!);
      assert.ok(
        seqs.every((s, i) => i === 0 || s > seqs[i - 1]!),
        `writer ${w}'s events out of order`,
      );
    }
    // And what the poller read is what is committed.
    const check = await testClient(t, url);
    const res = await check.query<{ n: string; max: string }>('SELECT count(*) AS n, max(seq) AS max FROM events');
    assert.deepEqual(res.rows[0], { n: String(total), max: String(total) });
  },
);
