import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { VIEW_NAMES } from '../../../src/model/views.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { createPgStore } from '../../../src/store/pg/create-pg-store.js';
import { startFakeSheets } from '../../fakes/fake-sheets.js';
import { runCli, startServeChild, type ServeChild } from '../../helpers/cli.js';
import { exported } from '../../helpers/export.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { assertTabEqualsView, SHEET, TOKEN } from '../../sinks/sheets/harness.js';
import { freshDatabase, PG_SKIP, testPool } from './pg-test-db.js';

/**
 * Two replicas of the real `ember-sync serve` on one PostgreSQL database, as
 * behind a load balancer: both take webhooks, both run the projector and the
 * scheduled syncs (every 2 s, so the sync lease is contended); one is killed
 * with SIGKILL under load. A sender whose replica fails sends to the other
 * (what a load balancer does). Every webhook ends acknowledged, stored once;
 * the projection skips nothing; the CSV files and the Sheets tabs equal the
 * export.
 */

const SENDERS = 16;

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

async function post(url: string, body: Buffer): Promise<Answer | 'down'> {
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  } catch {
    return 'down';
  }
}

test('two replicas on one database, one killed with -9 under load: every webhook stored once, projected once, targets equal the export', { skip: PG_SKIP, timeout: 180_000 }, async (t) => {
  const url = await freshDatabase(t);
  const fake = await startFakeSheets();
  t.after(() => fake.close());
  fake.createSpreadsheet(SHEET);
  fake.allowToken(TOKEN);
  const csvDir = tempDir(t, 'ember-sync-replicas-csv-');
  const env = {
    DATABASE_URL: url,
    WEBHOOK_TOKEN: 'replica-webhook-token-0123456789',
    ADMIN_TOKEN: 'replica-admin-token-0123456789ab',
    SYNC_TARGETS: 'csv,sheets',
    // One place for the files, as a shared volume would be (README: several replicas and CSV).
    CSV_DIR: csvDir,
    CSV_PARTITION: 'none',
    SHEETS_PARTITION: 'none',
    SHEETS_SPREADSHEET_ID: SHEET,
    SHEETS_ACCESS_TOKEN: TOKEN,
    SHEETS_API_ROOT_URL: fake.url,
    SYNC_SCHEDULE: '*/2 * * * * *',
    LOG_LEVEL: 'warn',
    // A killed replica's sync lease goes after 4 s here (LOCK_STALE_MS in production).
    EMBER_SYNC_LOCK_STALE_MS: '4000',
  };
  const replicas: ServeChild[] = await Promise.all([
    startServeChild(t, { ...env, DATA_DIR: tempDir(t, 'ember-sync-replica-a-') }),
    startServeChild(t, { ...env, DATA_DIR: tempDir(t, 'ember-sync-replica-b-') }),
  ]);
  const [a, b] = replicas as [ServeChild, ServeChild];

  // --- the same webhook to both replicas at once: stored once, one of them says duplicate -----
  for (let i = 0; i < 20; i++) {
    const bytes = Buffer.from(JSON.stringify(generateWebhook(i, { seed: 3, idPrefix: `both-${i}-` })));
    const answers = await Promise.all([post(a.webhookUrl, bytes), post(b.webhookUrl, bytes)]);
    for (const ans of answers) assert.ok(ans !== 'down' && ans.status === 200, `both answer 200: ${JSON.stringify(answers)}`);
    const dup = answers.map((ans) => (ans as Answer).json['duplicate']);
    assert.deepEqual([...dup].sort(), [false, true], `webhook ${i}: one new, one duplicate (${JSON.stringify(dup)})`);
  }

  // --- load on both, then SIGKILL one with requests in flight ----------------------------------
  const sent = new Map<string, Buffer>();
  const acked = new Set<string>();
  const unexpected: string[] = [];
  let next = 0;
  let stop = false;
  let inFlightOnA = 0;
  let aDown = false;
  const sender = async (n: number) => {
    while (!stop) {
      const i = next++;
      const hook = generateWebhook(i, { seed: 11, idPrefix: `rep-${i}-` });
      const bytes = Buffer.from(JSON.stringify(hook));
      sent.set(hook.webhook_id, bytes);
      // Round robin, as a load balancer; a failed replica's requests go to the other one.
      let target = (i + n) % 2 === 0 && !aDown ? a : b;
      for (let attempt = 0; ; attempt++) {
        if (target === a) inFlightOnA++;
        const ans = await post(target.webhookUrl, bytes);
        if (target === a) inFlightOnA--;
        if (ans !== 'down' && ans.status === 200 && ans.json['webhook_id'] === hook.webhook_id) {
          acked.add(hook.webhook_id);
          break;
        }
        if (ans !== 'down' && ans.status !== 503) {
          unexpected.push(`${hook.webhook_id}: ${ans.status} ${JSON.stringify(ans.json)}`);
          break;
        }
        assert.ok(attempt < 50, `${hook.webhook_id}: no replica took it after 50 attempts`);
        target = target === a ? b : a;
        if (aDown) target = b;
      }
    }
  };
  const senders = Array.from({ length: SENDERS }, (_, n) => sender(n));
  await sleep(1500);
  const deadline = Date.now() + 30_000;
  while (acked.size < 300 && unexpected.length === 0 && Date.now() < deadline) await sleep(10);
  const inFlightAtKill = inFlightOnA;
  a.child.kill('SIGKILL');
  aDown = true;
  await a.exited;
  await sleep(1000); // B alone under load for a moment
  stop = true;
  await Promise.all(senders);
  assert.deepEqual(unexpected, [], 'every answer was a 200 (or a 503 / dead connection that went to the other replica)');
  assert.equal(acked.size, sent.size, 'every webhook sent was acknowledged by one replica');
  t.diagnostic(`sent ${sent.size}, requests in flight on the killed replica: ${inFlightAtKill}`);

  // --- the log: every acknowledged webhook once, exact bytes --------------------------------------
  const pool = testPool(t, url);
  const rows = await pool.query<{ webhook_id: string; body: Buffer }>({ text: "SELECT webhook_id, body FROM events WHERE webhook_id LIKE 'rep-%'" });
  assert.equal(rows.rows.length, sent.size, 'one event per webhook: none lost, none twice');
  for (const r of rows.rows) assert.ok(Buffer.compare(r.body, sent.get(r.webhook_id)!) === 0, `${r.webhook_id}: the bytes sent`);
  const seqs = await pool.query<{ n: string; max: string; distinct_ids: string }>({ text: 'SELECT count(*) AS n, max(seq) AS max, count(DISTINCT webhook_id) AS distinct_ids FROM events' });
  assert.equal(seqs.rows[0]!.n, seqs.rows[0]!.max, 'seq is dense: 1..N');
  assert.equal(seqs.rows[0]!.n, seqs.rows[0]!.distinct_ids);

  // --- the survivor projects everything, each event once -------------------------------------------
  const lastSeq = Number(seqs.rows[0]!.max);
  const until = Date.now() + 60_000;
  for (;;) {
    const c = await pool.query<{ seq: string; keyed_seq: string }>({ text: 'SELECT seq, keyed_seq FROM projector_state WHERE id = 1' });
    if (Number(c.rows[0]!.seq) === lastSeq && Number(c.rows[0]!.keyed_seq) === lastSeq) break;
    assert.ok(Date.now() < until, `the projector did not catch up within 60 s (${JSON.stringify(c.rows[0])}, last ${lastSeq})`);
    await sleep(100);
  }
  const perType = await pool.query<{ n: string }>({
    text: `SELECT (SELECT count(*) FROM red_flag_rows) + (SELECT count(*) FROM low_score_rows) + (SELECT count(*) FROM completion_rows) + (SELECT count(*) FROM workflow_rows) AS n`,
  });
  assert.equal(Number(perType.rows[0]!.n), lastSeq, 'one wide row per event: none skipped, none twice');

  // --- targets: the survivor stops, one last sync from the CLI, then each target equals the export ----
  b.child.kill('SIGTERM');
  await b.exited;
  const last = await runCli(['sync', '--wait', '30'], { ...env, DATA_DIR: tempDir(t, 'ember-sync-replica-cli-') }, 90_000);
  assert.equal(last.code, 0, `${last.stdout}\n${last.stderr}`);
  const store = await createPgStore({ connectionString: url });
  t.after(() => store.close());
  for (const view of VIEW_NAMES) {
    assert.equal(readFileSync(join(csvDir, `${view}.csv`), 'utf8'), await exported(store, view), `${view}.csv equals the export`);
    await assertTabEqualsView(fake, store, view);
  }
});
