import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { startTestService } from '../helpers/service.js';
import { tempDir } from '../helpers/temp-dir.js';

test('simulate sends realistic webhooks that the receiver accepts', async (t) => {
  const s = await startTestService(t);
  const r = await runCli(['simulate', '--url', s.webhookUrl, '--count', '25', '--rate', '0'], { DATA_DIR: tempDir(t) });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /sent 25: 25 accepted \(0 duplicates\), 0 failed, 0 retries/);
  const byType = s.store.db.prepare('SELECT type, count(*) AS n FROM events GROUP BY type').all() as Array<{ type: string; n: number }>;
  assert.equal(byType.reduce((n, x) => n + x.n, 0), 25);
  assert.ok(byType.length >= 3, 'a mix of webhook types');
  assert.equal(s.store.db.prepare('SELECT count(*) FROM quarantine').pluck().get(), 0, 'every simulated payload passes its schema');
});

test('simulate retries twice like EmberQA, then reports the failure (exit 1)', async (t) => {
  let attempts = 0;
  const server = createServer((req, res) => {
    attempts++;
    req.resume();
    res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":"boom"}}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/emberqa/x`;
  const r = await runCli(['simulate', '--url', url, '--count', '2', '--rate', '0'], { DATA_DIR: tempDir(t) });
  assert.equal(r.code, 1);
  assert.equal(attempts, 6, 'one try and two retries per webhook');
  assert.match(r.stdout, /2 failed, 4 retries/);
  assert.match(r.stdout, /HTTP 500/);
});

test('simulate refuses bad arguments with exit 2', async (t) => {
  const env = { DATA_DIR: tempDir(t) };
  for (const args of [['simulate'], ['simulate', '--url', 'ftp://x'], ['simulate', '--url', 'http://127.0.0.1:1/', '--count', '-1'], ['simulate', '--url', 'http://127.0.0.1:1/', '--rate', 'fast']]) {
    const r = await runCli(args, env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
  }
});
