import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { startTestService } from '../helpers/service.js';
import { tempDir } from '../helpers/temp-dir.js';
import { checkCoherence } from '../simulate/coherence.js';

const bodies = (s: Awaited<ReturnType<typeof startTestService>>) =>
  (s.store.db.prepare('SELECT body FROM events ORDER BY seq').pluck().all() as Buffer[]).map((b) => JSON.parse(b.toString('utf8')) as Record<string, unknown>);

test('simulate sends coherent calls that the receiver accepts; progress lines without a terminal; counted in webhooks', async (t) => {
  const s = await startTestService(t);
  const r = await runCli(['simulate', '--url', s.webhookUrl, '--count', '60', '--rate', '0', '--seed', '4'], { DATA_DIR: tempDir(t) });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^sent 60 webhooks: 60 accepted \(0 duplicates\), 0 failed, 0 retries\n/);
  assert.match(r.stdout, /\n {2}\d+ call completions?, \d+ alerts? before them, \d+ re-scores?, \d+ workflow completions?; to http:\/\/127\.0\.0\.1:\d+\/webhooks\/emberqa\/…; seed 4\n/);
  const byType = s.store.db.prepare('SELECT type, count(*) AS n FROM events GROUP BY type').all() as Array<{ type: string; n: number }>;
  assert.equal(byType.reduce((n, x) => n + x.n, 0), 60);
  assert.ok(byType.length >= 3, 'a mix of webhook types');
  assert.equal(s.store.db.prepare('SELECT count(*) FROM quarantine').pluck().get(), 0, 'every simulated payload passes its schema');
  assert.deepEqual(checkCoherence(bodies(s)).problems, []);
  // stderr is a pipe here: lines, not a bar.
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.ok(lines.length >= 5, r.stderr);
  for (const l of lines) assert.match(l, /^simulate: \d+\/60 webhooks \(\d+%\): \d+ accepted, \d+ failed, \d+ retries$/);
  assert.ok(!r.stdout.includes(s.webhookToken) && !r.stderr.includes(s.webhookToken), 'the token is never printed');
  assert.ok(!/rows/.test(r.stdout + r.stderr));
});

test('simulate --seed sends the same calls again, with new webhook ids', async (t) => {
  const s = await startTestService(t);
  const env = { DATA_DIR: tempDir(t) };
  for (let i = 0; i < 2; i++) {
    const r = await runCli(['simulate', '--url', s.webhookUrl, '--count', '20', '--rate', '0', '--seed', '77'], env);
    assert.equal(r.code, 0, r.stderr);
  }
  const all = bodies(s);
  assert.equal(all.length, 40, 'new webhook ids: no duplicates');
  const contents = (list: Record<string, unknown>[]) => list.map((b) => b['content_id']).sort();
  assert.deepEqual(contents(all.slice(0, 20)), contents(all.slice(20)));
});

test('simulate retries a 500 twice like EmberQA, with waits, then reports the failure (exit 1)', async (t) => {
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
  const started = Date.now();
  const r = await runCli(['simulate', '--url', url, '--count', '2', '--rate', '0', '--retry-delays', '300,300'], { DATA_DIR: tempDir(t) });
  assert.equal(r.code, 1);
  assert.equal(attempts, 6, 'one try and two retries per webhook');
  assert.ok(Date.now() - started >= 600, 'the retries waited');
  assert.match(r.stdout, /^sent 2 webhooks: 0 accepted \(0 duplicates\), 2 failed, 4 retries\n/);
  assert.match(r.stdout, /HTTP 500/);
  assert.match(r.stderr, /retry 1 of 2 for sim-\S+ in 0\.3 s: HTTP 500/);
  assert.match(r.stderr, /ember-sync: 2 of 2 webhooks were not accepted/);
});

test('simulate with a wrong token: a 401 is not retried, the run stops and says why (exit 1)', async (t) => {
  const s = await startTestService(t);
  const wrong = s.webhookUrl.replace(s.webhookToken, 'not-the-right-token-0123456789');
  const r = await runCli(['simulate', '--url', wrong, '--count', '50', '--rate', '0'], { DATA_DIR: tempDir(t) });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ember-sync: 401 at http:\/\/127\.0\.0\.1:\d+\/webhooks\/emberqa\/…: wrong URL or token — use the webhook URL ember-sync serve printed/);
  assert.match(r.stdout, /^sent \d+ of 50 webhooks: 0 accepted \(0 duplicates\), \d+ failed, 0 retries; stopped, \d+ not sent\n/);
  assert.equal(s.store.db.prepare('SELECT count(*) FROM events').pluck().get(), 0);
  assert.ok(!(r.stdout + r.stderr).includes('not-the-right-token-0123456789'));
});

test('simulate against a closed port names the refused address, never the token (exit 1)', async (t) => {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const token = 'a-secret-token-that-stays-secret_42';
  const r = await runCli(['simulate', '--url', `http://127.0.0.1:${port}/webhooks/emberqa/${token}`, '--count', '5', '--rate', '0', '--retry-delays', '10,10'], { DATA_DIR: tempDir(t) });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`ember-sync: connection refused at http://127\\.0\\.0\\.1:${port}/webhooks/emberqa/… — is ember-sync serve running\\?`));
  assert.ok(!(r.stdout + r.stderr).includes(token), `${r.stdout}\n${r.stderr}`);
  assert.ok(!/fetch failed/.test(r.stdout + r.stderr));
});

test('simulate refuses bad arguments with exit 2, without echoing a URL', async (t) => {
  const env = { DATA_DIR: tempDir(t) };
  const url = 'http://127.0.0.1:1/webhooks/emberqa/x';
  for (const args of [
    ['simulate'],
    ['simulate', '--url', 'ftp://x'],
    ['simulate', '--url', url, '--count', '-1'],
    ['simulate', '--url', url, '--count', '2.5'],
    ['simulate', '--url', url, '--rate', 'fast'],
    ['simulate', '--url', url, '--days', '0'],
    ['simulate', '--url', url, '--seed', 'x'],
    ['simulate', '--url', url, '--retry-delays', 'soon'],
  ]) {
    const r = await runCli(args, env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
  }
  const r = await runCli(['simulate', '--url', 'htp:/oops/emberqa/secret-token-value-123456'], env);
  assert.equal(r.code, 2);
  assert.ok(!r.stderr.includes('secret-token-value-123456'), r.stderr);
});
