import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { startServeChild } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';
import { generateWebhook } from '../../src/simulate/generate.js';

/**
 * "kill -9 under load": the real `ember-sync serve` as a child process, 30
 * concurrent senders, SIGKILL while requests are in flight. Every webhook that
 * was answered 200 must be on disk, whole, once; after a restart the projector
 * catches up and every retry of an acknowledged webhook is a duplicate.
 */

const CONCURRENCY = 30;
const LOAD_MS = 1500;
const WIDE_TABLE = { red_flag: 'red_flag_rows', low_score: 'low_score_rows', completion: 'completion_rows', workflow: 'workflow_rows' } as const;
type EventType = keyof typeof WIDE_TABLE;

const startServe = (t: TestContext, dataDir: string) => startServeChild(t, { DATA_DIR: dataDir, LOG_LEVEL: 'warn' });

function typeOf(payload: Record<string, unknown>): EventType {
  if (payload['alert_type'] === 'red_flag') return 'red_flag';
  if (payload['alert_type'] === 'low_score') return 'low_score';
  const data = payload['data'] as Record<string, unknown>;
  return data['output_schema'] !== undefined ? 'workflow' : 'completion';
}

async function post(url: string, body: Buffer): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Runs `work` over `items` with `n` concurrent workers. */
async function pool<T>(items: readonly T[], n: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

test('kill -9 under load: every acknowledged webhook survives, whole and once; the projector catches up after restart', async (t) => {
  const dataDir = tempDir(t, 'ember-sync-kill9-');
  const dbPath = join(dataDir, 'ember-sync.db');
  const first = await startServe(t, dataDir);

  // --- load, then SIGKILL with requests in flight -------------------------------
  const sent = new Map<string, Buffer>();
  const acked = new Set<string>();
  const unexpected: string[] = [];
  let nextIndex = 0;
  let inFlight = 0;
  let stop = false;
  const sender = async () => {
    while (!stop) {
      const i = nextIndex++;
      const webhook = generateWebhook(i, { seed: 9, idPrefix: `k9-${i}-` });
      const bytes = Buffer.from(JSON.stringify(webhook));
      sent.set(webhook.webhook_id, bytes);
      inFlight++;
      let answer;
      try {
        answer = await post(first.webhookUrl, bytes);
      } catch {
        return; // the connection died with the server: not acknowledged
      } finally {
        inFlight--;
      }
      if (answer.status === 200 && answer.json['duplicate'] === false && answer.json['webhook_id'] === webhook.webhook_id) acked.add(webhook.webhook_id);
      else unexpected.push(`${webhook.webhook_id}: ${answer.status} ${JSON.stringify(answer.json)}`);
    }
  };
  const senders = Array.from({ length: CONCURRENCY }, sender);
  // ~1.5 s of load, and enough acknowledged webhooks to make the check meaningful even on a slow machine.
  await sleep(LOAD_MS);
  const loadDeadline = Date.now() + 20_000;
  while (acked.size < 200 && unexpected.length === 0 && Date.now() < loadDeadline) await sleep(10);
  const inFlightAtKill = inFlight;
  first.child.kill('SIGKILL');
  const [, signal] = await first.exited;
  stop = true;
  await Promise.all(senders);

  assert.equal(signal, 'SIGKILL');
  assert.deepEqual(unexpected, [], 'before the kill every answer was a 200 for a new webhook');
  assert.ok(acked.size >= 200, `real load before the kill (${acked.size} acknowledged)`);
  assert.ok(inFlightAtKill > 0, 'requests were in flight when the server was killed');
  t.diagnostic(`sent ${sent.size}, acknowledged ${acked.size}, in flight at the kill ${inFlightAtKill}`);

  // --- the file after the crash ------------------------------------------------------
  const storedAfterCrash = new Set<string>();
  {
    // Read-only: the restart below must find the files exactly as the crash left them (WAL included).
    const db = new Database(dbPath, { readonly: true });
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      const total = db.prepare('SELECT count(*) FROM events').pluck().get() as number;
      assert.equal(db.prepare('SELECT count(DISTINCT webhook_id) FROM events').pluck().get(), total, 'no duplicates');
      assert.equal(db.prepare('SELECT count(*) FROM quarantine').pluck().get(), 0, 'nothing was quarantined');
      const rows = db.prepare('SELECT webhook_id, type, body FROM events ORDER BY seq').all() as Array<{ webhook_id: string; type: string; body: Buffer }>;
      for (const row of rows) {
        let payload: unknown;
        assert.doesNotThrow(() => (payload = JSON.parse(row.body.toString('utf8'))), `event ${row.webhook_id}: body is complete JSON`);
        assert.ok(payload !== null && typeof payload === 'object' && !Array.isArray(payload), `event ${row.webhook_id}: body is an object`);
        const obj = payload as Record<string, unknown>;
        assert.equal(obj['webhook_id'], row.webhook_id, 'the body belongs to its row');
        const original = sent.get(row.webhook_id);
        assert.ok(original, `event ${row.webhook_id} was sent by this test`);
        assert.ok(Buffer.compare(row.body, original) === 0, `event ${row.webhook_id}: the exact bytes that were sent`);
        assert.equal(row.type, typeOf(obj));
        storedAfterCrash.add(row.webhook_id);
      }
      const lost = [...acked].filter((id) => !storedAfterCrash.has(id));
      assert.equal(lost.length, 0, `${lost.length} of ${acked.size} acknowledged webhooks are not stored, e.g. ${lost.slice(0, 5).join(', ')}`);
      t.diagnostic(`after the crash: ${total} events logged, projector cursor at ${db.prepare('SELECT seq FROM projector_state').pluck().get() as number}`);
    } finally {
      db.close();
    }
  }

  // --- restart on the same DATA_DIR -------------------------------------------------
  const second = await startServe(t, dataDir);
  const db = new Database(dbPath, { readonly: true });
  t.after(() => db.close());
  const maxSeq = () => db.prepare('SELECT coalesce(max(seq), 0) FROM events').pluck().get() as number;
  const cursor = () => db.prepare('SELECT seq FROM projector_state WHERE id = 1').pluck().get() as number;
  const deadline = Date.now() + 20_000;
  while (cursor() !== maxSeq()) {
    assert.ok(Date.now() < deadline, `the projector did not catch up within 20 s (cursor ${cursor()}, last event ${maxSeq()})`);
    await sleep(50);
  }

  const events = db.prepare('SELECT seq, webhook_id, type FROM events ORDER BY seq').all() as Array<{ seq: number; webhook_id: string; type: EventType }>;
  assert.equal(events.length, storedAfterCrash.size, 'the restart added nothing by itself');
  const wideRowsFor = Object.fromEntries(
    Object.entries(WIDE_TABLE).map(([type, table]) => [type, new Set(db.prepare(`SELECT seq FROM ${table}`).pluck().all() as number[])]),
  ) as Record<EventType, Set<number>>;
  const scoreCount = new Map((db.prepare('SELECT seq, count(*) AS n FROM score_rows GROUP BY seq').all() as Array<{ seq: number; n: number }>).map((r) => [r.seq, r.n]));
  const fieldCount = new Map((db.prepare('SELECT seq, count(*) AS n FROM workflow_field_rows GROUP BY seq').all() as Array<{ seq: number; n: number }>).map((r) => [r.seq, r.n]));
  for (const e of events) {
    for (const [type, seqs] of Object.entries(wideRowsFor) as Array<[EventType, Set<number>]>) {
      assert.equal(seqs.has(e.seq), type === e.type, `event ${e.seq} (${e.type}) ${type === e.type ? 'has' : 'has no'} row in ${WIDE_TABLE[type]}`);
    }
    assert.equal(scoreCount.get(e.seq) ?? 0, e.type === 'workflow' ? 0 : 6, `event ${e.seq} (${e.type}): score rows`);
    assert.equal(fieldCount.get(e.seq) ?? 0, e.type === 'workflow' ? 3 : 0, `event ${e.seq} (${e.type}): workflow field rows`);
  }
  const wideTotal = Object.values(wideRowsFor).reduce((n, s) => n + s.size, 0);
  assert.equal(wideTotal, events.length, 'one wide row per event, no orphans');

  // --- EmberQA retries: acknowledged ones are duplicates; unanswered ones are stored now
  const retryProblems: string[] = [];
  await pool([...sent.keys()], CONCURRENCY, async (id) => {
    const { status, json } = await post(second.webhookUrl, sent.get(id)!);
    const wantDuplicate = storedAfterCrash.has(id);
    if (status !== 200 || json['duplicate'] !== wantDuplicate || json['webhook_id'] !== id) {
      retryProblems.push(`${id} (${acked.has(id) ? 'acknowledged' : 'unanswered'}): ${status} ${JSON.stringify(json)}`);
    }
  });
  assert.equal(retryProblems.length, 0, `${retryProblems.length} retries answered wrongly, e.g.\n${retryProblems.slice(0, 5).join('\n')}`);
  assert.equal(db.prepare('SELECT count(*) FROM events').pluck().get(), sent.size, 'every sent webhook stored exactly once after the retries');

  second.child.kill('SIGTERM');
  const [code] = await second.exited;
  assert.equal(code, 0, second.output());
});
