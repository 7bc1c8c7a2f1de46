import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { Client } from 'pg';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { startServeChild } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { clusterCommand, PG_SKIP, privateCluster } from './pg-test-db.js';

/**
 * PostgreSQL restarted under load: a cluster of this test's own (the shared
 * one serves other test files), one replica taking webhooks from 8 senders,
 * the server stopped (fast shutdown: every session ended) and started again.
 * Meanwhile webhooks get 503 — never 500 — and /healthz says 503; afterwards
 * the replica reconnects by itself, every webhook is acknowledged once and
 * stored once, and the projector catches up.
 */

async function status(url: string, body?: Buffer): Promise<{ status: number; json: Record<string, unknown> } | 'down'> {
  try {
    const res = await fetch(url, body ? { method: 'POST', headers: { 'content-type': 'application/json' }, body } : {});
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  } catch {
    return 'down';
  }
}

test('PostgreSQL restarted under load: 503 meanwhile (never 500), then every webhook stored once and projected', { skip: PG_SKIP, timeout: 180_000 }, async (t) => {
  const { dir, url } = privateCluster(t);
  const serve = await startServeChild(t, {
    DATABASE_URL: url,
    WEBHOOK_TOKEN: 'restart-webhook-token-0123456789',
    ADMIN_TOKEN: 'restart-admin-token-0123456789ab',
    DATA_DIR: tempDir(t, 'ember-sync-restart-'),
    LOG_LEVEL: 'warn',
  });
  const health = `${serve.listenUrl}/healthz`;

  const sent = new Map<string, Buffer>();
  const acked = new Set<string>();
  const answers = new Map<number, number>();
  const unexpected: string[] = [];
  let next = 0;
  let stop = false;
  const sender = async () => {
    while (!stop) {
      const hook = generateWebhook(next++, { seed: 5, idPrefix: 'restart-' });
      const bytes = Buffer.from(JSON.stringify(hook));
      sent.set(hook.webhook_id, bytes);
      // EmberQA retries; here until it is taken (the outage is a few seconds).
      for (;;) {
        const ans = await status(serve.webhookUrl, bytes);
        assert.notEqual(ans, 'down', 'the replica itself stays up while its database restarts');
        if (ans === 'down') return;
        answers.set(ans.status, (answers.get(ans.status) ?? 0) + 1);
        if (ans.status === 200) {
          // duplicate:true here: a 503 whose commit had in fact landed (outcome unknown). Stored once either way (checked below).
          acked.add(hook.webhook_id);
          break;
        }
        if (ans.status !== 503) {
          unexpected.push(`${ans.status} ${JSON.stringify(ans.json)}`);
          break;
        }
        await sleep(50);
      }
    }
  };
  const senders = Array.from({ length: 8 }, sender);
  while (acked.size < 200 && unexpected.length === 0) await sleep(10);

  clusterCommand('pg_cluster_pause', dir);
  // Down: webhooks and /healthz say 503, with the store's error code.
  const during = await status(health);
  assert.ok(during !== 'down' && during.status === 503, `healthz during the outage: ${JSON.stringify(during)}`);
  assert.equal((during.json['error'] as { code?: string } | undefined)?.code, 'store_unavailable');
  // The counters live in the process: Prometheus still gets them during the outage.
  const metrics = await fetch(`${serve.listenUrl}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /ember_sync_webhooks_total\{type="\w+",outcome="accepted"\} [1-9]/);
  await sleep(1500);
  const ackedWhileDown = acked.size;
  clusterCommand('pg_cluster_resume', dir);

  // Up again: the pool reconnects on its own, and the load goes on.
  const until = Date.now() + 30_000;
  while (acked.size < ackedWhileDown + 200 && unexpected.length === 0) {
    assert.ok(Date.now() < until, `no progress after the restart (${acked.size} acknowledged, ${ackedWhileDown} before it)`);
    await sleep(20);
  }
  stop = true;
  await Promise.all(senders);
  assert.deepEqual(unexpected, [], `only 200 and 503 (answers: ${JSON.stringify([...answers])})`);
  assert.ok((answers.get(503) ?? 0) > 0, 'the outage was met by webhooks (503)');
  assert.equal(acked.size, sent.size);
  const healthAfter = await status(health);
  assert.ok(healthAfter !== 'down' && healthAfter.status === 200, JSON.stringify(healthAfter));

  const client = new Client({ connectionString: url });
  // The cluster is stopped by an after hook; this session must not outlive the test body.
  client.on('error', () => undefined);
  await client.connect();
  const stored = await client.query<{ webhook_id: string; body: Buffer }>('SELECT webhook_id, body FROM events');
  assert.equal(stored.rows.length, sent.size, 'every webhook stored once');
  for (const r of stored.rows) assert.ok(Buffer.compare(r.body, sent.get(r.webhook_id)!) === 0, `${r.webhook_id}: the bytes sent`);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const c = await client.query<{ seq: string; keyed_seq: string; last: string }>('SELECT seq, keyed_seq, (SELECT max(seq) FROM events) AS last FROM projector_state');
    const row = c.rows[0]!;
    if (row.seq === row.last && row.keyed_seq === row.last) break;
    assert.ok(Date.now() < deadline, `the projector did not catch up after the restart: ${JSON.stringify(row)}`);
    await sleep(100);
  }
  await client.end();
  t.diagnostic(`answers by status: ${JSON.stringify([...answers])}; ${sent.size} webhooks`);
});
