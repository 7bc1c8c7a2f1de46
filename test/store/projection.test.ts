import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { createStore, type SqliteStore } from '../../src/store/create-store.js';
import type { WriteOp, WriteResult } from '../../src/model/writes.js';
import { createWebhookWriter } from '../../src/store/group-commit.js';
import { generateWebhook } from '../../src/simulate/generate.js';
import { createValidator } from '../../src/ingest/validate.js';
import { StoreUnavailableError } from '../../src/errors.js';
import type { WideViewName } from '../../src/model/views.js';
import type { WebhookType } from '../../src/model/webhooks.js';
import { vendorJson } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/temp-dir.js';

type Json = Record<string, unknown>;
type Cell = string | number | null;

const PROJECTED_TABLES: Record<string, string> = {
  red_flag_rows: 'seq',
  low_score_rows: 'seq',
  completion_rows: 'seq',
  workflow_rows: 'seq',
  score_rows: 'seq, ord',
  workflow_field_rows: 'seq, ord',
  view_columns: 'view, position',
};
const WIDE_TABLE: Record<WideViewName, string> = { red_flags: 'red_flag_rows', low_scores: 'low_score_rows', completions: 'completion_rows', workflows: 'workflow_rows' };
const VIEW_OF: Record<WebhookType, WideViewName> = { red_flag: 'red_flags', low_score: 'low_scores', completion: 'completions', workflow: 'workflows' };

function openStore(t: TestContext, options: { busyTimeoutMs?: number } = {}): SqliteStore {
  const store = createStore({ dbPath: join(tempDir(t), 'ember-sync.db'), ...options });
  t.after(() => store.close());
  return store;
}

/** The type of a payload, by the rule of the README (independent of src/ingest/validate.ts). */
function typeOf(p: Json): WebhookType {
  if (p['alert_type'] === 'red_flag' || p['alert_type'] === 'low_score') return p['alert_type'];
  return (p['data'] as Json)['output_schema'] !== undefined ? 'workflow' : 'completion';
}

const BASE = Date.parse('2025-06-01T12:00:00.000Z');
const receivedAt = (i: number) => new Date(BASE + i * 1000).toISOString();

function eventOp(p: Json, i: number): WriteOp {
  return { kind: 'event', event: { webhookId: String(p['webhook_id']), type: typeOf(p), receivedAt: receivedAt(i), body: Buffer.from(JSON.stringify(p)) } };
}

const count = (store: SqliteStore, table: string) => store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

function snapshot(store: SqliteStore): Record<string, unknown[]> {
  return Object.fromEntries(Object.entries(PROJECTED_TABLES).map(([table, key]) => [table, store.db.prepare(`SELECT * FROM ${table} ORDER BY ${key}`).all()]));
}

/** A wide view's row as an analyst sees it: fixed columns from the SQL view, dynamic ones from dyn by view_columns. */
async function wideRow(store: SqliteStore, view: WideViewName, webhookId: string): Promise<Json> {
  const row = store.db
    .prepare(`SELECT v.*, r.dyn AS __dyn FROM ${view} v JOIN events e ON e.webhook_id = v.webhook_id JOIN ${WIDE_TABLE[view]} r ON r.seq = e.seq WHERE v.webhook_id = ?`)
    .get(webhookId) as (Json & { __dyn: string }) | undefined;
  assert.ok(row, `${view} row for ${webhookId}`);
  const { __dyn, ...fixed } = row;
  const dyn = JSON.parse(__dyn) as Cell[];
  const out: Json = { ...fixed };
  for (const c of (await store.projection.columns())[view]) out[c.name] = dyn[c.position] ?? null;
  return out;
}

/** What the wide row of a payload must hold, written from the README (not from src/flatten). */
function expectedWideRow(p: Json, i: number): Json {
  const base = { webhook_id: p['webhook_id'], received_at: receivedAt(i) };
  const d = (p['data'] ?? {}) as Json;
  switch (typeOf(p)) {
    case 'red_flag':
      return { ...base, timestamp: p['timestamp'], content_id: p['content_id'], content_type: p['content_type'], file_name: p['file_name'], agent_name: p['agent_name'] ?? null, red_flag_reason: p['red_flag_reason'], total_score: p['total_score'] ?? null, ...(p['score_details'] as Json) };
    case 'low_score':
      return { ...base, timestamp: p['timestamp'], content_id: p['content_id'], content_type: p['content_type'], file_name: p['file_name'], agent_name: p['agent_name'], total_score: p['total_score'], total_score_threshold: p['total_score_threshold'], summary: p['summary'], ...(p['score_details'] as Json) };
    case 'completion':
      return { ...base, content_id: p['content_id'], original_filename: d['original_filename'] ?? null, score_uuid: d['score_uuid'] ?? null, created_time: d['created_time'] ?? null, agent_name: d['agent_name'] ?? null, reason_for_call: d['reason_for_call'] ?? null, ...(d['score_details'] as Json) };
    case 'workflow': {
      const fields = Object.entries(d['output_schema'] as Record<string, { value: Cell; reasoning: Cell }>).flatMap(([k, v]) => [[k, v.value], [`${k}_reasoning`, v.reasoning]]);
      return { ...base, content_id: p['content_id'], status: d['status'] ?? null, cost: d['cost'] ?? null, ...Object.fromEntries(fields) };
    }
  }
}

function expectedScores(p: Json): Array<{ metric: string; score: Cell; justification: Cell }> {
  const details = (typeOf(p) === 'completion' || typeOf(p) === 'workflow' ? (p['data'] as Json)['score_details'] : p['score_details']) as Json | undefined;
  const rows = new Map<string, { metric: string; score: Cell; justification: Cell }>();
  for (const [k, v] of Object.entries(details ?? {})) {
    const m = /^(.+)_(score|justification)$/.exec(k);
    const metric = m ? m[1]! : k;
    const row = rows.get(metric) ?? { metric, score: null, justification: null };
    rows.set(metric, row);
    if (m?.[2] === 'score' || (!m && typeof v === 'number')) row.score = v as Cell;
    else row.justification = v as Cell;
  }
  return [...rows.values()];
}

test('300 generated webhooks through the writer: row counts and contents per view, and rebuild gives identical rows', async (t) => {
  const store = openStore(t);
  const writer = createWebhookWriter(store);
  const validator = createValidator();
  const payloads = Array.from({ length: 300 }, (_, i) => generateWebhook(i, { seed: 42, idPrefix: 'sim-', now: new Date(BASE) }) as unknown as Json);
  for (const p of payloads) assert.ok(validator.validate(p).ok, 'generated webhooks are valid');

  // Three bursts of 100, each submitted within one tick.
  for (let start = 0; start < 300; start += 100) {
    const results = await Promise.all(payloads.slice(start, start + 100).map((p, j) => writer.submit(eventOp(p, start + j))));
    assert.ok(results.every((r) => r.kind === 'event' && !r.duplicate));
  }
  assert.equal(count(store, 'events'), 300);
  assert.equal(await store.projection.lag(), 300);
  assert.equal(await store.projection.catchUp(), 300);
  assert.equal(await store.projection.lag(), 0);
  assert.equal(await store.projection.cursor(), 300);
  assert.equal(await store.projection.catchUp(), 0, 'nothing left to project');

  const byType = { red_flag: 0, low_score: 0, completion: 0, workflow: 0 } satisfies Record<WebhookType, number>;
  for (const p of payloads) byType[typeOf(p)]++;
  for (const n of Object.values(byType)) assert.ok(n > 10, `a real mix: ${JSON.stringify(byType)}`);
  assert.equal(count(store, 'red_flag_rows'), byType.red_flag);
  assert.equal(count(store, 'low_score_rows'), byType.low_score);
  assert.equal(count(store, 'completion_rows'), byType.completion);
  assert.equal(count(store, 'workflow_rows'), byType.workflow);
  assert.equal(count(store, 'red_flags'), byType.red_flag);
  assert.equal(count(store, 'low_scores'), byType.low_score);
  assert.equal(count(store, 'completions'), byType.completion);
  assert.equal(count(store, 'workflows'), byType.workflow);
  // Six metrics per scored webhook; three output fields per workflow.
  assert.equal(count(store, 'scores'), 6 * (byType.red_flag + byType.low_score + byType.completion));
  assert.equal(count(store, 'workflow_fields'), 3 * byType.workflow);
  assert.deepEqual(
    store.db.prepare('SELECT source, count(*) AS n FROM scores GROUP BY source ORDER BY source').all(),
    [
      { source: 'completions', n: 6 * byType.completion },
      { source: 'low_scores', n: 6 * byType.low_score },
      { source: 'red_flags', n: 6 * byType.red_flag },
    ],
  );

  const metrics = ['greeting_quality', 'empathy', 'problem_resolution', 'compliance', 'professionalism', 'call_control'];
  const metricColumns = metrics.flatMap((m) => [`${m}_score`, `${m}_justification`]);
  const cols = await store.projection.columns();
  assert.deepEqual(cols.red_flags.map((c) => c.name), metricColumns);
  assert.deepEqual(cols.low_scores.map((c) => c.name), metricColumns);
  assert.deepEqual(cols.completions.map((c) => c.name), metricColumns);
  assert.deepEqual(cols.workflows.map((c) => c.name), ['customer_name', 'customer_name_reasoning', 'policy_number', 'policy_number_reasoning', 'renewal_date', 'renewal_date_reasoning']);
  for (const reg of Object.values(cols)) assert.deepEqual(reg.map((c) => c.position), reg.map((_, i) => i));

  // Every row holds what its payload said.
  const scoreQuery = store.db.prepare('SELECT s.source, s.content_id, s.agent_name, s.metric, s.score, s.justification FROM score_rows s JOIN events e ON e.seq = s.seq WHERE e.webhook_id = ? ORDER BY s.ord');
  const fieldQuery = store.db.prepare('SELECT f.field, f.value, f.reasoning FROM workflow_field_rows f JOIN events e ON e.seq = f.seq WHERE e.webhook_id = ? ORDER BY f.ord');
  for (const [i, p] of payloads.entries()) {
    const id = String(p['webhook_id']);
    const view = VIEW_OF[typeOf(p)];
    assert.deepEqual(await wideRow(store, view, id), expectedWideRow(p, i), `${view} ${id}`);
    const agent = typeOf(p) === 'completion' || typeOf(p) === 'workflow' ? ((p['data'] as Json)['agent_name'] ?? null) : (p['agent_name'] ?? null);
    assert.deepEqual(
      scoreQuery.all(id),
      expectedScores(p).map((s) => ({ source: view, content_id: p['content_id'], agent_name: agent, ...s })),
      `scores of ${id}`,
    );
    const outputs = typeOf(p) === 'workflow' ? Object.entries((p['data'] as Json)['output_schema'] as Record<string, { value: Cell; reasoning: Cell }>) : [];
    assert.deepEqual(fieldQuery.all(id), outputs.map(([field, o]) => ({ field, value: o.value, reasoning: o.reasoning })), `fields of ${id}`);
  }

  // Rebuild from the raw log: the same rows. Damage the derived rows first so a no-op rebuild cannot pass.
  const before = snapshot(store);
  for (const [table, rows] of Object.entries(before)) assert.ok(rows.length > 0, `${table} has rows`);
  store.db.exec(`UPDATE red_flag_rows SET agent_name = 'tampered', dyn = '[]'; DELETE FROM score_rows WHERE seq % 2 = 0; DELETE FROM workflow_field_rows WHERE ord = 1; UPDATE low_score_rows SET summary = NULL`);
  assert.notDeepEqual(snapshot(store), before);
  assert.equal(await store.projection.rebuild(), 300);
  assert.deepEqual(snapshot(store), before);
  assert.equal(await store.projection.cursor(), 300);
  // A smaller chunk size changes nothing either.
  assert.equal(await store.projection.rebuild(7), 300);
  assert.deepEqual(snapshot(store), before);

  // A fresh database fed the same raw log projects the same rows, column registry included.
  const copy = openStore(t);
  const events = store.db.prepare('SELECT webhook_id, type, received_at, body FROM events ORDER BY seq').all() as Array<{ webhook_id: string; type: WebhookType; received_at: string; body: Buffer }>;
  copy.db.transaction(() => {
    for (const e of events) copy.sqlite.events.append({ webhookId: e.webhook_id, type: e.type, receivedAt: e.received_at, body: e.body });
  })();
  assert.equal(await copy.projection.catchUp(13), 300);
  assert.deepEqual(snapshot(copy), before);
});

test('a metric only in the 3rd webhook and one missing from the 5th: stable column positions, shorter/null dyn elsewhere', async (t) => {
  const store = openStore(t);
  const details: Json[] = [
    { a_score: 1, a_justification: 'a1', b_score: 2, b_justification: 'b1' },
    { a_score: 3, a_justification: 'a2', b_score: 4, b_justification: 'b2' },
    { a_score: 5, a_justification: 'a3', b_score: 6, b_justification: 'b3', c_score: 7, c_justification: 'c3' },
    { b_score: 8, b_justification: 'b4', a_score: 9, a_justification: 'a4' },
    { a_score: 10, a_justification: 'a5' },
    { a_score: 0, a_justification: 'a6', b_score: 1.5, b_justification: 'b6' },
  ];
  const payloads = details.map((score_details, i) => ({ ...vendorJson('low-score'), webhook_id: `ls-${i + 1}`, score_details }));
  store.db.transaction(() => payloads.forEach((p, i) => store.sqlite.events.append((eventOp(p, i) as Extract<WriteOp, { kind: 'event' }>).event)))();

  // Project one by one, checking the registry never moves an existing column.
  const seen: string[] = [];
  for (let i = 0; i < payloads.length; i++) {
    assert.equal(await store.projection.projectBatch(1), 1);
    const names = (await store.projection.columns()).low_scores.map((c) => `${c.position}:${c.name}`);
    assert.deepEqual(names.slice(0, seen.length), seen, `after webhook ${i + 1}: earlier columns unchanged`);
    seen.splice(0, seen.length, ...names);
  }
  const registry = () => store.db.prepare("SELECT position, name, kind, key, added_seq FROM view_columns WHERE view = 'low_scores' ORDER BY position").all();
  const expectedRegistry = [
    { position: 0, name: 'a_score', kind: 'score_detail', key: 'a_score', added_seq: 1 },
    { position: 1, name: 'a_justification', kind: 'score_detail', key: 'a_justification', added_seq: 1 },
    { position: 2, name: 'b_score', kind: 'score_detail', key: 'b_score', added_seq: 1 },
    { position: 3, name: 'b_justification', kind: 'score_detail', key: 'b_justification', added_seq: 1 },
    { position: 4, name: 'c_score', kind: 'score_detail', key: 'c_score', added_seq: 3 },
    { position: 5, name: 'c_justification', kind: 'score_detail', key: 'c_justification', added_seq: 3 },
  ];
  assert.deepEqual(registry(), expectedRegistry);

  const dynOf = (id: string) => JSON.parse(store.db.prepare('SELECT r.dyn FROM low_score_rows r JOIN events e ON e.seq = r.seq WHERE e.webhook_id = ?').pluck().get(id) as string) as Cell[];
  const at = (dyn: Cell[], pos: number) => dyn[pos] ?? null;
  // Rows before the 3rd know nothing of c: their dyn is shorter (or null there).
  for (const id of ['ls-1', 'ls-2']) {
    const dyn = dynOf(id);
    assert.ok(dyn.length <= 6);
    assert.equal(at(dyn, 4), null);
    assert.equal(at(dyn, 5), null);
  }
  assert.deepEqual(dynOf('ls-1').slice(0, 4), [1, 'a1', 2, 'b1']);
  assert.ok(dynOf('ls-1').length < 6, 'an earlier row is not rewritten when a column is added');
  assert.deepEqual(dynOf('ls-3'), [5, 'a3', 6, 'b3', 7, 'c3']);
  // Payload order does not matter: values go to their key's position.
  assert.deepEqual(dynOf('ls-4').slice(0, 4), [9, 'a4', 8, 'b4']);
  assert.equal(at(dynOf('ls-4'), 4), null);
  // b is missing from the 5th: null at b's positions.
  const fifth = dynOf('ls-5');
  assert.deepEqual([at(fifth, 0), at(fifth, 1), at(fifth, 2), at(fifth, 3), at(fifth, 4), at(fifth, 5)], [10, 'a5', null, null, null, null]);
  assert.deepEqual(dynOf('ls-6').slice(0, 4), [0, 'a6', 1.5, 'b6']);

  assert.deepEqual(
    store.db.prepare("SELECT metric, score, justification FROM scores WHERE webhook_id = 'ls-5'").all(),
    [{ metric: 'a', score: 10, justification: 'a5' }],
  );
  assert.deepEqual(
    store.db.prepare("SELECT metric FROM scores WHERE webhook_id = 'ls-3' ORDER BY metric").pluck().all(),
    ['a', 'b', 'c'],
  );

  // Rebuilding keeps positions and rows.
  const before = snapshot(store);
  assert.equal(await store.projection.rebuild(), 6);
  assert.deepEqual(registry(), expectedRegistry);
  assert.deepEqual(snapshot(store), before);
});

test('group commit: 50 submits in one tick land in one transaction, each settled only after its commit', async (t) => {
  const store = openStore(t);
  const commits: WriteResult[][] = [];
  const writer = createWebhookWriter(store, { onCommit: (r) => commits.push(r) });
  const reader = new Database(store.path, { readonly: true });
  t.after(() => reader.close());
  const visible = reader.prepare('SELECT count(*) FROM events WHERE webhook_id = ?').pluck();

  const payloads = Array.from({ length: 50 }, (_, i) => generateWebhook(i, { seed: 7, idPrefix: 'gc-' }) as unknown as Json);
  const promises = payloads.map((p, i) =>
    writer.submit(eventOp(p, i)).then((r) => {
      // Committed (another connection sees it) before the promise resolves.
      assert.equal(visible.get(String(p['webhook_id'])), 1);
      return r;
    }),
  );
  assert.equal(writer.pending, 50, 'queued, not yet written');
  assert.equal(count(store, 'events'), 0);
  const results = await Promise.all(promises);
  assert.deepEqual(results, payloads.map((_, i) => ({ kind: 'event', duplicate: false, seq: i + 1 })));
  assert.equal(count(store, 'events'), 50);
  assert.equal(commits.length, 1, 'one transaction for the whole tick');
  assert.equal(commits[0]!.length, 50);
  assert.equal(writer.pending, 0);

  // The next tick is the next transaction.
  await Promise.all([writer.submit(eventOp({ ...vendorJson('red-flag') }, 50)), writer.submit(eventOp({ ...vendorJson('low-score') }, 51))]);
  assert.equal(commits.length, 2);
  assert.equal(commits[1]!.length, 2);
});

test('group commit: maxBatch splits a large tick into several transactions, in order', async (t) => {
  const store = openStore(t);
  const sizes: number[] = [];
  const writer = createWebhookWriter(store, { maxBatch: 20, onCommit: (r) => sizes.push(r.length) });
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => writer.submit(eventOp(generateWebhook(i, { seed: 9 }) as unknown as Json, i))));
  assert.deepEqual(sizes, [20, 20, 10]);
  assert.deepEqual(results.map((r) => (r.kind === 'event' ? r.seq : -1)), Array.from({ length: 50 }, (_, i) => i + 1));
  assert.equal(count(store, 'events'), 50);
});

test('group commit: duplicates inside one batch are answered duplicate, with the first one’s seq', async (t) => {
  const store = openStore(t);
  const writer = createWebhookWriter(store);
  const x = vendorJson('red-flag');
  const y = vendorJson('low-score');
  const results = await Promise.all([writer.submit(eventOp(x, 0)), writer.submit(eventOp(x, 1)), writer.submit(eventOp(y, 2)), writer.submit(eventOp(x, 3))]);
  assert.deepEqual(results, [
    { kind: 'event', duplicate: false, seq: 1 },
    { kind: 'event', duplicate: true, seq: 1 },
    { kind: 'event', duplicate: false, seq: 2 },
    { kind: 'event', duplicate: true, seq: 1 },
  ]);
  assert.equal(count(store, 'events'), 2);
  assert.equal(store.db.prepare('SELECT received_at FROM events WHERE seq = 1').pluck().get(), receivedAt(0), 'the first copy is kept');
  // A later batch: still a duplicate of the logged one.
  assert.deepEqual(await writer.submit(eventOp(y, 4)), { kind: 'event', duplicate: true, seq: 2 });

  // The same quarantined bytes twice in one batch: one entry, two attempts.
  const item = { webhookId: 'bad-1', receivedAt: receivedAt(5), body: Buffer.from('{"alert_type":"nope"}'), reason: 'unknown_webhook_type', errors: [{ path: '/alert_type', message: 'unknown' }] };
  const [q1, q2] = await Promise.all([writer.submit({ kind: 'quarantine', item }), writer.submit({ kind: 'quarantine', item })]);
  assert.equal(q1!.kind === 'quarantine' && q2!.kind === 'quarantine' && q1!.id === q2!.id, true);
  assert.deepEqual([q1!.kind === 'quarantine' && q1!.attempts, q2!.kind === 'quarantine' && q2!.attempts], [1, 2]);
  assert.equal(count(store, 'quarantine'), 1);
});

test('group commit: when another connection holds the write lock, every submit of the batch rejects with StoreUnavailableError and nothing is stored', async (t) => {
  const store = openStore(t, { busyTimeoutMs: 20 });
  const commits: number[] = [];
  const writer = createWebhookWriter(store, { onCommit: (r) => commits.push(r.length) });
  const other = new Database(store.path, { timeout: 20 });
  t.after(() => other.close());
  other.exec('BEGIN IMMEDIATE');

  const ops: WriteOp[] = [
    ...Array.from({ length: 10 }, (_, i) => eventOp(generateWebhook(i, { seed: 3 }) as unknown as Json, i)),
    { kind: 'quarantine', item: { webhookId: undefined, receivedAt: receivedAt(10), body: Buffer.from('{"x":1}'), reason: 'unknown_webhook_type', errors: [] } },
  ];
  const settled = await Promise.allSettled(ops.map((op) => writer.submit(op)));
  for (const s of settled) {
    assert.equal(s.status, 'rejected');
    const reason = (s as PromiseRejectedResult).reason as unknown;
    assert.ok(reason instanceof StoreUnavailableError, String(reason));
    assert.equal(reason.code, 'store_unavailable');
    assert.equal(reason.status, 503);
  }
  assert.deepEqual(commits, [], 'no commit reported');
  other.exec('ROLLBACK');
  assert.equal(count(store, 'events'), 0);
  assert.equal(count(store, 'quarantine'), 0);

  // Once the lock is gone, the sender's retry succeeds.
  const retry = await Promise.all(ops.map((op) => writer.submit(op)));
  assert.equal(retry.length, 11);
  assert.equal(count(store, 'events'), 10);
  assert.equal(count(store, 'quarantine'), 1);
  assert.deepEqual(commits, [11]);
});

test('group commit: close() commits what is queued, then refuses new work', async (t) => {
  const store = openStore(t);
  const writer = createWebhookWriter(store);
  const queued = Array.from({ length: 5 }, (_, i) => writer.submit(eventOp(generateWebhook(i, { seed: 11 }) as unknown as Json, i)));
  await writer.close();
  assert.equal(writer.closed, true);
  assert.equal(count(store, 'events'), 5, 'committed before close resolved');
  assert.equal((await Promise.all(queued)).length, 5);
  await assert.rejects(writer.submit(eventOp(vendorJson('red-flag'), 9)), StoreUnavailableError);
  assert.equal(count(store, 'events'), 5);
});
