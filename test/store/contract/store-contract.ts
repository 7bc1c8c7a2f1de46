/**
 * The `Store` contract, for any backend: what the server announces (meta,
 * the report zone), the console's store, the raw log through the writer
 * (counts, duplicates, the quarantine and its settlement), the sync state
 * (cursors, runs, the lock and its fencing token). Run by
 * store-contract.test.ts (SQLite, PostgreSQL) and
 * test/store/pg/pgbouncer-contract.test.ts (through PgBouncer).
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { LockLostError } from '../../../src/store/lock-lost-error.js';
import type { Store } from '../../../src/store/store.js';
import { event } from '../pg/pg-test-db.js';

type Open = (t: TestContext) => Promise<Store>;

/** Runs `fn` on a new, empty store, closed after it whatever happens. */
async function withStore(t: TestContext, open: Open, fn: (store: Store) => Promise<void>): Promise<void> {
  const store = await open(t);
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

export function describeStoreContract(name: string, open: Open, skip: string | false = false): void {
  describe(`Store contract: ${name}`, { skip }, () => {
    test('meta: unset, set, replaced; the report zone is UTC until one is adopted; adopting on an empty store derives nothing again', async (t) => {
      await withStore(t, open, async (store) => {
        assert.equal(await store.meta.get('public_url'), undefined);
        await store.meta.set('public_url', 'https://a.example');
        await store.meta.set('public_url', 'https://b.example', new Date('2026-11-30T10:00:00.000Z'));
        await store.meta.set('sync_schedule', '*/5 * * * *');
        assert.equal(await store.meta.get('public_url'), 'https://b.example');
        assert.equal(await store.meta.get('sync_schedule'), '*/5 * * * *');
        assert.equal(await store.reportTimezone(), 'UTC');
        const utcEpoch = await store.keyedEpoch();
        assert.equal(await store.adoptReportTimezone('Europe/Paris'), false, 'nothing derived yet: nothing to derive again');
        assert.equal(await store.reportTimezone(), 'Europe/Paris');
        assert.equal(await store.meta.get('report_timezone'), 'Europe/Paris');
        assert.notEqual(await store.keyedEpoch(), utcEpoch);
        assert.equal(await store.adoptReportTimezone('Europe/Paris'), false);
        await store.ping();
      });
    });

    test('console: sessions expire, a flash is taken once; hours and the quarantine list follow the writer', async (t) => {
      await withStore(t, open, async (store) => {
        const t0 = new Date('2026-11-30T10:00:00.000Z');
        await store.console.sessions.create('key', new Date(t0.getTime() + 60_000), t0);
        assert.deepEqual(await store.console.sessions.find('key', t0), { created_at: t0.toISOString(), expires_at: '2026-11-30T10:01:00.000Z' });
        assert.equal(await store.console.sessions.find('key', new Date(t0.getTime() + 60_000)), undefined);
        await store.console.sessions.setFlash('key', 'done');
        assert.equal(await store.console.sessions.takeFlash('key'), 'done');
        assert.equal(await store.console.sessions.takeFlash('key'), undefined);
        await store.console.sessions.delete('key');
        assert.equal(await store.console.sessions.find('key', t0), undefined);

        const writer = store.createWriter();
        await Promise.all([
          writer.submit({ kind: 'event', event: event('e1', { receivedAt: '2026-11-30T09:10:00.000Z', type: 'red_flag' }) }),
          writer.submit({ kind: 'event', event: event('e1', { receivedAt: '2026-11-30T09:11:00.000Z', type: 'red_flag' }) }),
          writer.submit({ kind: 'quarantine', item: { webhookId: 'q', receivedAt: '2026-11-30T10:00:00.000Z', body: Buffer.from('{"bad":1}'), reason: 'schema_validation_failed', errors: [], type: 'low_score' } }),
          writer.submit({ kind: 'probe' }),
        ]);
        await writer.close();
        assert.deepEqual(await store.console.hoursSince('2026-11-30T00'), [
          { hour: '2026-11-30T09', type: 'red_flag', outcome: 'accepted', n: 1 },
          { hour: '2026-11-30T09', type: 'red_flag', outcome: 'duplicate', n: 1 },
          { hour: '2026-11-30T10', type: 'low_score', outcome: 'quarantined', n: 1 },
        ]);
        assert.deepEqual(await store.console.hoursSince('2026-11-30T10'), [{ hour: '2026-11-30T10', type: 'low_score', outcome: 'quarantined', n: 1 }]);
        assert.equal(await store.console.quarantine.held(), 1);
        const [held] = await store.console.quarantine.page(Number.MAX_SAFE_INTEGER, 10);
        assert.deepEqual(held, { id: held!.id, webhook_id: 'q', received_at: '2026-11-30T10:00:00.000Z', last_received_at: '2026-11-30T10:00:00.000Z', attempts: 1, reason: 'schema_validation_failed', errors: '[]', bytes: 9 });
        assert.deepEqual(await store.console.quarantine.payload(held!.id), { body: Buffer.from('{"bad":1}'), webhook_id: 'q', status: 'held' });
      });
    });

    test('events: the writer dedupes on webhook_id; counts; the quarantine counts attempts and settles as held, released or duplicate', async (t) => {
      await withStore(t, open, async (store) => {
        assert.deepEqual(await store.events.counts(), { events: 0, lastSeq: 0, byType: {}, quarantineHeld: 0, quarantineAttempts: 0 });
        const commits: number[] = [];
        const writer = store.createWriter({ onCommit: (r) => commits.push(r.length) });
        assert.equal(writer.closed, false);
        const q = (body: string, webhookId: string) =>
          writer.submit({ kind: 'quarantine', item: { webhookId, receivedAt: '2026-11-30T10:00:00.000Z', body: Buffer.from(body), reason: 'schema_validation_failed', errors: [{ path: '/x', message: 'bad' }] } });
        const results = await Promise.all([writer.submit({ kind: 'event', event: event('a') }), writer.submit({ kind: 'event', event: event('b', { type: 'workflow' }) }), writer.submit({ kind: 'event', event: event('a') }), q('p1', 'r1'), q('p1', 'r1'), q('p2', 'b'), q('p3', 'r3')]);
        assert.deepEqual(results.slice(0, 3), [
          { kind: 'event', duplicate: false, seq: 1 },
          { kind: 'event', duplicate: false, seq: 2 },
          { kind: 'event', duplicate: true, seq: 1 },
        ]);
        assert.deepEqual(
          results.slice(3).map((r) => (r.kind === 'quarantine' ? r.attempts : -1)),
          [1, 2, 1, 1],
        );
        assert.equal(
          commits.reduce((a, n) => a + n, 0),
          7,
        );
        assert.equal(writer.pending, 0);
        assert.equal(writer.failingSince, undefined);
        assert.deepEqual(await store.events.counts(), { events: 2, lastSeq: 2, byType: { completion: 1, workflow: 1 }, quarantineHeld: 3, quarantineAttempts: 4 });
        assert.equal(await store.events.quarantineHeld(), 3);
        const held = await store.events.heldQuarantine(0, 10);
        assert.deepEqual(
          held.map((h) => [h.webhook_id, h.attempts, h.body.toString(), h.status]),
          [
            ['r1', 2, 'p1', 'held'],
            ['b', 1, 'p2', 'held'],
            ['r3', 1, 'p3', 'held'],
          ],
        );
        const [p1, p2, p3] = held as [(typeof held)[0], (typeof held)[0], (typeof held)[0]];
        assert.deepEqual(
          (await store.events.heldQuarantineFor('b')).map((h) => h.id),
          [p2.id],
        );
        assert.deepEqual(await store.events.settleQuarantine(p1.id, { kind: 'still-held', reason: 'unknown_webhook_type', errors: [{ path: '/y', message: 'worse' }] }), { status: 'held' });
        const at = '2026-11-30T12:00:00.000Z';
        assert.deepEqual(await store.events.settleQuarantine(p2.id, { kind: 'append', event: event('b', { outcome: 'replayed' }), at }), { status: 'duplicate', seq: 2 });
        assert.deepEqual(await store.events.settleQuarantine(p3.id, { kind: 'append', event: event('r3', { outcome: 'replayed', type: 'red_flag' }), at }), { status: 'released', seq: 3 });
        const still = await store.events.heldQuarantine(0, 10);
        assert.deepEqual(
          still.map((h) => [h.id, h.reason, h.errors]),
          [[p1.id, 'unknown_webhook_type', '[{"path":"/y","message":"worse"}]']],
        );
        assert.deepEqual(await store.events.counts(), { events: 3, lastSeq: 3, byType: { completion: 1, workflow: 1, red_flag: 1 }, quarantineHeld: 1, quarantineAttempts: 2 });
        assert.deepEqual(
          (await store.events.eventsAfter(1, 10)).map((e) => [e.seq, e.webhook_id, e.type]),
          [
            [2, 'b', 'workflow'],
            [3, 'r3', 'red_flag'],
          ],
        );
        await writer.close();
        assert.equal(writer.closed, true);
        await assert.rejects(writer.submit({ kind: 'probe' }), (err: Error & { status?: number }) => err.status === 503);
      });
    });

    test('sync: cursors move only under the lock; runs; one holder at a time, each acquisition a new generation', async (t) => {
      await withStore(t, open, async (store) => {
        const s = store.sync;
        assert.deepEqual(await s.cursor('csv', 'red_flags'), { deliveredSeq: 0, deliveredRows: 0, state: undefined, lastError: null, lastErrorAt: null });
        assert.equal(await s.lockHolder('csv'), undefined);
        const owner = s.newOwner();
        assert.notEqual(owner, s.newOwner());
        const ticket = (await s.tryLock('csv', owner))!;
        assert.deepEqual({ ...ticket }, { target: 'csv', owner, generation: 1, tookOverLive: false });
        assert.equal(await s.tryLock('csv', s.newOwner()), undefined, 'a live holder keeps it');
        assert.equal((await s.liveHolder('csv'))?.owner, owner);
        const holder = (await s.lockHolder('csv'))!;
        assert.equal(holder.generation, 1);
        assert.equal(holder.pid, process.pid);
        assert.equal(await s.heartbeat(ticket), true);
        await s.assertHolds(ticket);

        const at = new Date('2026-11-30T10:00:00.000Z');
        await s.commitRun(ticket, 9, [{ view: 'red_flags', ok: true, totalRows: 4, rows: 4, state: { tab: 7 } }, { view: 'contents', ok: false, error: 'quota' }], at);
        assert.deepEqual(await s.cursor('csv', 'red_flags'), { deliveredSeq: 9, deliveredRows: 4, state: { tab: 7 }, lastError: null, lastErrorAt: null });
        assert.deepEqual(await s.viewErrors('csv'), [{ view: 'contents', last_error: 'quota', last_error_at: at.toISOString() }]);
        assert.equal(await s.totalRows('csv'), 4);
        assert.equal(await s.repairFrom('csv', 'contents'), undefined);

        // A ticket of another generation (a run taken over) commits nothing.
        const stale = { ...ticket, generation: ticket.generation + 1 };
        await assert.rejects(s.commitRun(stale, 20, [{ view: 'red_flags', ok: true, totalRows: 9, rows: 5, state: null }]), LockLostError);
        await assert.rejects(s.assertHolds(stale), LockLostError);
        assert.equal(await s.heartbeat(stale), false);
        assert.equal((await s.cursor('csv', 'red_flags')).deliveredSeq, 9);
        assert.equal(await s.totalRows('csv'), 4);

        const run = await s.startRun('csv', at);
        assert.equal((await s.latestRun('csv'))?.finished_at, null);
        assert.equal(await s.lastRun('csv'), undefined);
        await s.finishRun(run, 'csv', { ok: true, rows: 4, error: null, details: { views: 1 } }, new Date('2026-11-30T10:00:05.000Z'));
        const done = (await s.lastRun('csv'))!;
        assert.deepEqual(
          { ...done },
          { id: run, target: 'csv', started_at: at.toISOString(), finished_at: '2026-11-30T10:00:05.000Z', ok: 1, rows: 4, error: null, details: '{"views":1}' },
        );
        assert.deepEqual(await s.lastSuccess('csv'), done);
        assert.equal(await s.lastSuccess('sheets'), undefined);

        assert.equal(await s.unlock(ticket), true);
        assert.equal(await s.lockHolder('csv'), undefined);
        assert.equal(await s.liveHolder('csv'), undefined);
        await assert.rejects(s.commitRun(ticket, 30, []), LockLostError, 'a released lock commits nothing');
        const next = (await s.tryLock('csv', s.newOwner()))!;
        assert.equal(next.generation, 2, 'a generation is never handed out twice');
        assert.equal(next.tookOverLive, false);
        const other = (await s.tryLock('sheets', s.newOwner()))!;
        assert.equal(other.generation, 1, 'generations are per target');
        assert.equal(await s.unlock(next), true);
        assert.equal(await s.unlock(other), true);
      });
    });

    test('retention: derived events only; still-active calls move to the first kept month, the rest of old months go; a deleted seq is never reused', async (t) => {
      await withStore(t, open, async (store) => {
        const r = store.retention;
        assert.deepEqual(await r.state(), { keptFromDay: null, cutoff: null, seqFloor: 0, lastRunAt: null, lastResult: null });
        const call = (id: string, content: string, at: string, score: number) => ({
          kind: 'event' as const,
          event: { webhookId: id, type: 'completion' as const, receivedAt: at, body: Buffer.from(JSON.stringify({ webhook_id: id, trigger_reason: 'completed_action', content_id: content, data: { agent_name: 'Ann', score_details: { empathy_score: score } } })) },
        });
        const writer = store.createWriter();
        for (const op of [
          call('e1', 'c1', '2026-10-05T10:00:00.000Z', 1),
          call('e2', 'c2', '2026-10-06T10:00:00.000Z', 2),
          call('e3', 'c1', '2026-11-10T10:00:00.000Z', 3),
          call('e4', 'c3', '2026-11-11T10:00:00.000Z', 4),
        ])
          await writer.submit(op);
        await writer.submit({ kind: 'quarantine', item: { webhookId: 'q', receivedAt: '2026-10-07T10:00:00.000Z', body: Buffer.from('{}'), reason: 'x', errors: [] } });
        const cutoff = '2026-11-01T00:00:00.000Z';
        const keep = { cutoff, day: '2026-11-01' };
        assert.equal(await r.deleteEvents(cutoff, 10), 0, 'nothing is deleted before every view was derived from it');
        await store.projection.catchUp();

        assert.deepEqual(await r.close('2026-11-01', cutoff), { keptFromDay: '2026-11-01', cutoff, seqFloor: 0, lastRunAt: null, lastResult: null });
        assert.deepEqual(await r.close('2026-10-01', '2026-10-01T00:00:00.000Z'), { keptFromDay: '2026-11-01', cutoff, seqFloor: 0, lastRunAt: null, lastResult: null }, 'never back');
        assert.equal(await r.enterOldEvents(1000), 0);
        assert.deepEqual(await r.activeCallsBefore('2026-11', keep), [1], 'c1 came again in November');
        assert.equal(await r.moveCalls('2026-11', [1]), 1);
        assert.deepEqual(await r.activeCallsBefore('2026-11', keep), []);
        assert.equal(await r.leftBefore('2026-11'), true);
        assert.deepEqual(await r.deleteMonths('2026-11', 1, keep), { contents: 0, metricRows: 1 });
        assert.deepEqual(await r.deleteMonths('2026-11', 10, keep), { contents: 1, metricRows: 0 });
        assert.deepEqual(await r.deleteMonths('2026-11', 10, keep), { contents: 0, metricRows: 0 });
        assert.equal(await r.leftBefore('2026-11'), false);

        assert.equal(await r.deleteEvents(cutoff, 1), 1);
        assert.equal(await r.deleteEvents(cutoff, 10), 1);
        assert.equal(await r.deleteEvents(cutoff, 10), 0);
        assert.deepEqual(
          (await store.events.eventsAfter(0, 10)).map((e) => [e.seq, e.webhook_id]),
          [
            [3, 'e3'],
            [4, 'e4'],
          ],
        );
        assert.equal(await r.oldestEvent(), '2026-11-10T10:00:00.000Z');
        // The move took seq 5 (above every event's): the next event gets 6.
        assert.equal((await r.state()).seqFloor, 5);
        assert.equal(await store.projection.lag(), 0);
        const next = store.createWriter();
        assert.deepEqual(await next.submit(call('e5', 'c4', '2026-11-20T10:00:00.000Z', 5)), { kind: 'event', duplicate: false, seq: 6 });
        assert.equal(await r.moveCalls('2026-11', []), 'behind', 'a move waits until every event logged is derived');

        assert.equal(await r.deleteQuarantine(cutoff, 10), 1);
        assert.equal(await store.events.quarantineHeld(), 0);
        assert.equal(await r.deleteHours(cutoff), 3, 'the hours of e1, e2 and the quarantined payload');
        assert.deepEqual(
          (await store.console.hoursSince('2026-01-01T00')).map((h) => h.hour),
          ['2026-11-10T10', '2026-11-11T10', '2026-11-20T10'],
        );
        await r.fail('stopped: disk full');
        assert.equal((await r.state()).lastResult, 'stopped: disk full');
        await r.finish('2026-11-30T12:00:00.000Z', 'deleted 2 events');
        const end = await r.state();
        assert.equal(end.lastRunAt, '2026-11-30T12:00:00.000Z');
        assert.equal(end.lastResult, 'deleted 2 events');
        await writer.close();
        await next.close();
      });
    });
  });
}
