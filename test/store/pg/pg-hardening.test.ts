/**
 * Text PostgreSQL cannot hold as it is, stored and read back as SQLite does:
 * webhook_ids with U+0000 (a PostgreSQL text refuses it) or U+FFFF (the
 * escape of pg-text.ts), and ids longer than a btree entry (1,000 astral
 * characters), through the writer, the raw log, the quarantine (list,
 * payload, lookup, replay), the view rows and an export, the console's flash,
 * retention's and sync's error texts. Same answers, same bytes, exact dedupe.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { createValidator } from '../../../src/ingest/validate.js';
import { exportView } from '../../../src/jobs/export-view.js';
import { replayQuarantine } from '../../../src/jobs/replay.js';
import type { WriteResult } from '../../../src/model/writes.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { createStore } from '../../../src/store/create-store.js';
import { createPgStore } from '../../../src/store/pg/create-pg-store.js';
import type { Store, WebhookWriteOp } from '../../../src/store/store.js';
import { parseExportRequest } from '../../../src/views/export-options.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { freshDatabase, PG_SKIP, testClient } from './pg-test-db.js';

/** 1,000 code points of 4 bytes each (the schemas' maxLength): 4,000 bytes, more than a btree entry holds. */
const astral = Array.from({ length: 1000 }, (_, i) => String.fromCodePoint(0x10000 + ((i * 7919) % 0xf0000))).join('');

/** Pairwise distinct, also once escaped: ids that differ only by U+0000 against its escape must stay two webhooks. */
const TRICKY_IDS = [
  'w\u0000', 'w\uffff0', 'w\uffff', 'w\uffff\uffff', 'w0', 'w', '\u0000', '\uffff', 'a\u0000b\u0000', '\u0000'.repeat(1000), '\uffff'.repeat(1000), astral,
  // Backslashes are text, not bytea escapes: '\\x41' is not 'A', 'a\\b' is an id like any other.
  'A', '\\x41', 'a\\b', '\\', '\\\\', "x'; DROP TABLE events; --",
];

const RECEIVED = '2026-11-30T09:15:00.000Z';

function completion(webhookId: string, k: number): Buffer {
  return Buffer.from(JSON.stringify({ ...generateWebhook(k, { kind: 'completion', now: new Date(RECEIVED) }), webhook_id: webhookId }));
}
const eventOp = (webhookId: string, k: number): WebhookWriteOp => ({ kind: 'event', event: { webhookId, type: 'completion', receivedAt: RECEIVED, body: completion(webhookId, k) } });
const quarantineOp = (webhookId: string, body: Buffer): WebhookWriteOp => ({
  kind: 'quarantine',
  item: { webhookId, receivedAt: RECEIVED, body, reason: 'schema_validation_failed', errors: [{ path: '/webhook_id', message: `got ${JSON.stringify(webhookId)}` }] },
});

async function bothStores(t: TestContext): Promise<{ sqlite: Store; pg: Store }> {
  const sqlite = createStore({ dbPath: join(tempDir(t), 'ember-sync.db') });
  const pg = await createPgStore({ connectionString: await freshDatabase(t), max: 3 });
  t.after(() => Promise.all([sqlite.close(), pg.close()]));
  return { sqlite, pg };
}

/** Everything a store gives back of the tricky text, for one comparison with SQLite. */
async function roundTrip(store: Store) {
  const writer = store.createWriter();
  // One batch: every id, three repeated within it, quarantine entries whose ids differ only by U+0000 against its escape.
  const first = TRICKY_IDS.map((id, k) => eventOp(id, k));
  const ops = [...first, eventOp('w\u0000', 0), eventOp('w\uffff0', 1), eventOp(astral, 11), quarantineOp('q\u0000', Buffer.from('{"q":0}')), quarantineOp('q\uffff0', Buffer.from('{"q":1}'))];
  // A valid payload kept in the quarantine (as if it had failed an older schema): replay releases it by its id.
  ops.push(quarantineOp('r\u0000', completion('r\u0000', 20)));
  const batch = await Promise.all(ops.map((op) => writer.submit(op)));
  // The next batch: all duplicates of the first.
  const again = await Promise.all(TRICKY_IDS.map((id, k) => writer.submit(eventOp(id, k))));
  await writer.close();

  const replayed = await replayQuarantine({ store, validator: createValidator(), webhookId: 'r\u0000', now: () => new Date('2026-11-30T10:00:00.000Z') });
  const events = await store.events.eventsAfter(0, 100);
  const held = await store.events.heldQuarantine(0, 100);
  const lookups = await Promise.all(['q\u0000', 'q\uffff0', 'q', 'q\uffff', 'r\u0000'].map(async (id) => (await store.events.heldQuarantineFor(id)).map((r) => r.webhook_id)));
  const page = await store.console.quarantine.page(Number.MAX_SAFE_INTEGER, 100);
  const payloads = await Promise.all(page.map(async (p) => (await store.console.quarantine.payload(p.id))?.webhook_id));

  // View rows (the webhook_id column comes from the raw log) and a whole export as CSV.
  let csv = '';
  const out = new Writable({
    write(chunk, _enc, cb) {
      csv += String(chunk);
      cb();
    },
  });
  const exported = await exportView(store, parseExportRequest({ view: 'completions' }, { delimiter: ',', bom: false }), out);
  const { toSeq } = await store.projection.snapshot();
  const snapshot = await store.views.snapshot('completions');
  const viewIds: unknown[] = [];
  for await (const rows of snapshot.rows.pages({ toSeq })) for (const r of rows) viewIds.push(r[0]);

  // Texts of the console, retention and sync that may quote a webhook_id or a cell.
  await store.console.sessions.create('session', new Date('2099-01-01T00:00:00.000Z'), new Date('2026-11-30T10:00:00.000Z'));
  await store.console.sessions.setFlash('session', 'Payload w\u0000 is not held any more; \uffff0');
  const flash = await store.console.sessions.takeFlash('session');
  await store.retention.fail('retention failed: bad \u0000 text \uffff');
  const retention = (await store.retention.state()).lastResult;
  const ticket = await store.sync.tryLock('target', store.sync.newOwner());
  assert.ok(ticket);
  await store.sync.commitRun(ticket, 0, [{ view: 'completions', ok: false, error: 'cell "a\u0000b" refused \uffff' }]);
  await store.sync.unlock(ticket);
  const run = await store.sync.startRun('target', new Date('2026-11-30T10:00:00.000Z'));
  await store.sync.finishRun(run, 'target', { ok: false, rows: 0, error: 'sheet said \u0000', details: { cell: 'x\u0000' } }, new Date('2026-11-30T10:00:01.000Z'));
  const sync = {
    cursor: (await store.sync.cursor('target', 'completions')).lastError,
    viewErrors: (await store.sync.viewErrors('target')).map((e) => e.last_error),
    run: await store.sync.lastRun('target').then((r) => ({ error: r?.error, details: r?.details })),
  };

  return {
    batch,
    again,
    replayed: replayed.items.map((i) => ({ webhookId: i.webhookId, result: i.result, seq: 'seq' in i ? i.seq : undefined })),
    events: events.map((e) => ({ seq: e.seq, webhook_id: e.webhook_id, body: e.body.toString('base64') })),
    held: held.map((q) => ({ webhook_id: q.webhook_id, attempts: q.attempts, errors: q.errors, body: q.body.toString('base64') })),
    lookups,
    page: page.map((p) => ({ webhook_id: p.webhook_id, errors: p.errors, bytes: p.bytes })),
    payloads,
    exported,
    csv,
    viewIds,
    flash,
    retention,
    sync,
  };
}

test('webhook_ids with U+0000, U+FFFF, 1,000 astral characters: PostgreSQL stores, dedupes and gives back exactly what SQLite does', { skip: PG_SKIP }, async (t) => {
  const { sqlite, pg } = await bothStores(t);
  const expected = await roundTrip(sqlite);
  const got = await roundTrip(pg);
  for (const key of Object.keys(expected) as Array<keyof typeof expected>) assert.deepEqual(got[key], expected[key], `${key}: as SQLite`);

  // And what that is: every id once, in order, the repeats duplicates of the first.
  const n = TRICKY_IDS.length;
  assert.deepEqual(
    got.batch.slice(0, n).map((r) => r.kind === 'event' && !r.duplicate && r.seq),
    TRICKY_IDS.map((_, k) => k + 1),
  );
  assert.deepEqual(got.batch.slice(n, n + 3), [
    { kind: 'event', duplicate: true, seq: 1 },
    { kind: 'event', duplicate: true, seq: 2 },
    { kind: 'event', duplicate: true, seq: TRICKY_IDS.indexOf(astral) + 1 },
  ] satisfies WriteResult[]);
  assert.deepEqual(
    got.again,
    TRICKY_IDS.map((_, k) => ({ kind: 'event', duplicate: true, seq: k + 1 })),
  );
  assert.deepEqual(got.replayed, [{ webhookId: 'r\u0000', result: 'released', seq: n + 1 }]);
  assert.deepEqual(
    got.events.map((e) => e.webhook_id),
    [...TRICKY_IDS, 'r\u0000'],
  );
  assert.deepEqual(got.viewIds, [...TRICKY_IDS, 'r\u0000']);
  assert.equal(got.exported, n + 1);
  for (const id of ['w\u0000', 'w\uffff0', 'a\u0000b\u0000', astral]) assert.ok(got.csv.includes(id), `the export holds ${JSON.stringify(id.slice(0, 8))}`);
  assert.deepEqual(
    got.held.map((q) => q.webhook_id),
    ['q\u0000', 'q\uffff0'],
  );
  assert.deepEqual(got.lookups, [['q\u0000'], ['q\uffff0'], [], [], []]);
  assert.deepEqual(
    got.page.map((p) => p.webhook_id),
    ['q\uffff0', 'q\u0000'],
  );
  assert.deepEqual(got.payloads, ['q\uffff0', 'q\u0000']);
  assert.equal(got.flash, 'Payload w\u0000 is not held any more; \uffff0');
  assert.equal(got.retention, 'retention failed: bad \u0000 text \uffff');
  assert.deepEqual(got.sync, { cursor: 'cell "a\u0000b" refused \uffff', viewErrors: ['cell "a\u0000b" refused \uffff'], run: { error: 'sheet said \u0000', details: '{"cell":"x\\u0000"}' } });
});

test('text without U+0000 or U+FFFF is stored as it is: what other tools read from the tables is unchanged', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const store = await createPgStore({ connectionString: url, max: 2 });
  t.after(() => store.close());
  const writer = store.createWriter();
  const plain = ['550e8400-e29b-41d4-a716-446655440000', 'émoji 🎉 ok', 'w0'];
  await Promise.all([...plain.map((id, k) => writer.submit(eventOp(id, k))), writer.submit(eventOp('w\u0000', 9)), writer.submit(quarantineOp('q 🎉', Buffer.from('{}')))]);
  await writer.close();
  const observer = await testClient(t, url);
  const stored = await observer.query<{ webhook_id: string }>('SELECT webhook_id FROM events ORDER BY seq');
  // The one id PostgreSQL could not hold is escaped (U+FFFF '0'), the others are verbatim.
  assert.deepEqual(
    stored.rows.map((r) => r.webhook_id),
    [...plain, 'w\uffff0'],
  );
  const q = await observer.query<{ webhook_id: string }>('SELECT webhook_id FROM quarantine');
  assert.deepEqual(q.rows, [{ webhook_id: 'q 🎉' }]);
});
