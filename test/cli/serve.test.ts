import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { runCli, startServeChild, type CliResult, type ServeChild } from '../helpers/cli.js';
import { VENDOR_EXAMPLES, vendorBytes, vendorJson } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/temp-dir.js';
import { generateWebhook } from '../../src/simulate/generate.js';
import { createStore } from '../../src/store/create-store.js';

/** `ember-sync serve` and the CLI's usage/settings errors, as a real child process. */

const startServe = startServeChild;

async function stop(s: ServeChild): Promise<number | null> {
  s.child.kill('SIGTERM');
  const [code] = await s.exited;
  return code;
}

const post = (url: string, body: Buffer | string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

/** A settings error: exit 2, one clear line on stderr naming the setting, no stack trace, nothing served. */
function assertSettingError(r: CliResult, setting: string, what: string): void {
  assert.equal(r.code, 2, `${what}: exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, new RegExp(`\\b${setting}\\b`), `${what}: the line names ${setting}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: no stack trace`);
  assert.doesNotMatch(r.stdout, /webhooks\/emberqa/, `${what}: no URL printed, nothing started`);
}

test('bad settings stop `serve` with exit 2 and one line naming the setting', async (t) => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ['PORT', { PORT: 'abc' }, 'PORT=abc'],
    ['PORT', { PORT: '70000' }, 'PORT=70000'],
    ['SYNC_SCHEDULE', { SYNC_SCHEDULE: '61 * * * *' }, 'SYNC_SCHEDULE=61 * * * *'],
    ['SYNC_SCHEDULE', { SYNC_SCHEDULE: 'not cron' }, 'SYNC_SCHEDULE=not cron'],
    ['SYNC_TIMEZONE', { SYNC_TIMEZONE: 'Mars/Olympus' }, 'SYNC_TIMEZONE=Mars/Olympus'],
  ];
  const results = await Promise.all(
    cases.map(([, env]) => runCli(['serve'], { DATA_DIR: tempDir(t), HOST: '127.0.0.1', ...env }, 30_000)),
  );
  cases.forEach(([setting, , what], i) => assertSettingError(results[i]!, setting, what));
});

test('`serve` prints the full webhook URL, which accepts the vendor examples; the token is kept 0600 across restarts', async (t) => {
  const dataDir = tempDir(t);
  const first = await startServe(t, { DATA_DIR: dataDir });
  assert.match(first.webhookUrl, /^http:\/\/127\.0\.0\.1:\d+\/webhooks\/emberqa\/[A-Za-z0-9._~-]{16,}$/);

  for (const name of VENDOR_EXAMPLES) {
    const res = await post(first.webhookUrl, vendorBytes(name));
    assert.equal(res.status, 200, name);
    assert.deepEqual(await res.json(), { received: true, duplicate: false, webhook_id: vendorJson(name)['webhook_id'] });
  }
  // The token really is what guards the URL.
  assert.equal((await post(`${first.listenUrl}/webhooks/emberqa/${first.token}x`, vendorBytes('red-flag'))).status, 401);

  const tokenFile = join(dataDir, 'webhook-token');
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600, 'the kept token is owner-only');
  assert.equal(readFileSync(tokenFile, 'utf8').trim(), first.token, 'the printed token is the kept one');
  assert.equal(await stop(first), 0, first.output());

  const second = await startServe(t, { DATA_DIR: dataDir });
  assert.equal(second.token, first.token, 'the same token after a restart');
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
  const again = await post(second.webhookUrl, vendorBytes('red-flag'));
  assert.equal(again.status, 200);
  assert.equal(((await again.json()) as { duplicate: boolean }).duplicate, true, 'the same database after a restart');
  assert.equal(await stop(second), 0, second.output());
});

test('WEBHOOK_TOKEN from the environment is the one used and printed', async (t) => {
  const dataDir = tempDir(t);
  const token = 'env-token-0123456789abcdef';
  const s = await startServe(t, { DATA_DIR: dataDir, WEBHOOK_TOKEN: token });
  assert.equal(s.token, token);
  assert.equal((await post(s.webhookUrl, vendorBytes('low-score'))).status, 200);
  const bearer = await fetch(`${s.listenUrl}/webhooks/emberqa`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: vendorBytes('red-flag'),
  });
  assert.equal(bearer.status, 200, 'the bearer form takes the same token');
  assert.equal((await post(`${s.listenUrl}/webhooks/emberqa/${'x'.repeat(token.length)}`, vendorBytes('completion-call'))).status, 401);
  assert.equal(await stop(s), 0, s.output());
});

test('SIGTERM under load: in-flight webhooks finish with 200 (never a 500), exit 0, and every acknowledged one is stored', async (t) => {
  const dataDir = tempDir(t);
  const s = await startServe(t, { DATA_DIR: dataDir });
  const sent = new Map<string, Buffer>();
  const acked = new Set<string>();
  const problems: string[] = [];
  let connectionErrors = 0;
  let next = 0;
  let inFlight = 0;
  const sender = async () => {
    for (;;) {
      const i = next++;
      const webhook = generateWebhook(i, { seed: 15, idPrefix: `term-${i}-` });
      const bytes = Buffer.from(JSON.stringify(webhook));
      sent.set(webhook.webhook_id, bytes);
      inFlight++;
      let status: number;
      let json: Record<string, unknown>;
      try {
        const res = await post(s.webhookUrl, bytes);
        status = res.status;
        json = (await res.json()) as Record<string, unknown>;
      } catch {
        connectionErrors++;
        return; // the server has stopped accepting: this sender is done
      } finally {
        inFlight--;
      }
      if (status === 200 && json['webhook_id'] === webhook.webhook_id && json['duplicate'] === false) acked.add(webhook.webhook_id);
      else problems.push(`${webhook.webhook_id}: ${status} ${JSON.stringify(json)}`);
    }
  };
  const senders = Array.from({ length: 20 }, sender);
  const loadDeadline = Date.now() + 20_000;
  while (acked.size < 200 && problems.length === 0 && connectionErrors === 0) {
    assert.ok(Date.now() < loadDeadline, `only ${acked.size} webhooks acknowledged in 20 s`);
    await sleep(10);
  }
  const inFlightAtTerm = inFlight;
  s.child.kill('SIGTERM');
  const [code, signal] = await s.exited;
  await Promise.all(senders);

  assert.equal(problems.length, 0, `answers other than 200:\n${problems.slice(0, 5).join('\n')}`);
  assert.ok(inFlightAtTerm > 0, 'requests were in flight at SIGTERM');
  assert.equal(connectionErrors, 20, 'every sender ended on a refused/closed connection once the server was gone');
  assert.deepEqual([code, signal], [0, null], `clean exit:\n${s.output().slice(-2000)}`);
  t.diagnostic(`sent ${sent.size}, acknowledged ${acked.size}, in flight at SIGTERM ${inFlightAtTerm}`);

  const db = new Database(join(dataDir, 'ember-sync.db'));
  t.after(() => db.close());
  assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  const rows = db.prepare('SELECT webhook_id, body FROM events').all() as Array<{ webhook_id: string; body: Buffer }>;
  const stored = new Map(rows.map((r) => [r.webhook_id, r.body]));
  assert.equal(stored.size, rows.length, 'no duplicates');
  const missing = [...acked].filter((id) => !stored.has(id));
  assert.equal(missing.length, 0, `${missing.length} acknowledged webhooks are not stored, e.g. ${missing.slice(0, 5).join(', ')}`);
  for (const [id, body] of stored) {
    assert.ok(sent.has(id), `${id} was sent by this test`);
    assert.ok(Buffer.compare(body, sent.get(id)!) === 0, `${id}: the exact bytes sent`);
  }
});

test('`ember-sync --help` exits 0; an unknown command exits 2', async () => {
  const [help, unknown] = await Promise.all([runCli(['--help'], {}), runCli(['frobnicate'], {})]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /Usage: ember-sync/);
  assert.match(help.stdout, /\bserve\b/);
  assert.match(help.stdout, /\breplay\b/);
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  assert.doesNotMatch(unknown.stderr, /^\s+at /m, 'no stack trace');
});

test('regression: in a pipe (systemd, Docker) the banner names where the token is kept, never the token; on a terminal it prints the full URL; status shows it', async (t) => {
  const dataDir = tempDir(t);
  const piped = await startServe(t, { DATA_DIR: dataDir });
  const banner = piped.output();
  assert.ok(!banner.includes(piped.token), `no token in the piped output:\n${banner}`);
  assert.match(banner, /webhooks\/emberqa\/<token>/);
  assert.ok(banner.includes(join(dataDir, 'webhook-token')), 'says where the token is kept');
  const status = await runCli(['status'], { DATA_DIR: dataDir });
  assert.equal(status.code, 0, status.stderr);
  // Run from a shell without the server's PORT: it shows the URL the server announced, not its own guess.
  assert.ok(status.stdout.includes(`${piped.listenUrl}/webhooks/emberqa/${piped.token}`), `status shows the server's URL:\n${status.stdout}`);
  assert.equal(await stop(piped), 0);

  // A real terminal (a pty from util-linux `script`): the whole URL, to copy.
  const { spawn } = await import('node:child_process');
  const { CLI_ENTRY } = await import('../helpers/cli.js');
  const cmd = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(CLI_ENTRY)} serve`;
  const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' }, stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!out.includes(`/webhooks/emberqa/${piped.token}`)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no full URL on the terminal:\n${out}`);
    await sleep(50);
  }
  child.kill('SIGKILL');
});

test('regression: DATA_DIR or CSV_DIR under /proc (Node mkdir -p loops there) is a setting error, not a hang', async (t) => {
  const dataDir = tempDir(t);
  // `sync` needs the database `serve` makes.
  createStore({ dbPath: join(dataDir, 'ember-sync.db') }).close();
  const cases: Array<[string, string[], Record<string, string>]> = [
    ['DATA_DIR', ['serve'], { DATA_DIR: '/proc/ember-sync-data' }],
    ['CSV_DIR', ['serve'], { DATA_DIR: dataDir, CSV_DIR: '/proc/ember-sync-exports' }],
    ['CSV_DIR', ['sync'], { DATA_DIR: dataDir, CSV_DIR: '/proc/ember-sync-exports' }],
    ['DATA_DIR', ['serve'], { DATA_DIR: '/dev/null/x' }],
  ];
  const results = await Promise.all(cases.map(([, args, env]) => runCli(args, { HOST: '127.0.0.1', PORT: '0', ...env }, 30_000)));
  cases.forEach(([setting, args], i) => assertSettingError(results[i]!, setting, `${args[0]} with ${setting}`));
});

test('regression: an unusable DB_PATH folder stops serve with exit 2 naming DB_PATH; other commands find no database and say where they looked', async (t) => {
  const dataDir = tempDir(t);
  const file = join(dataDir, 'a-file');
  writeFileSync(file, 'x');
  const results = await Promise.all([
    runCli(['serve'], { DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0', DB_PATH: '/proc/ember-sync.db' }, 30_000),
    runCli(['serve'], { DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0', DB_PATH: join(file, 'x.db') }, 30_000),
    runCli(['status'], { DATA_DIR: join(dataDir, 'elsewhere') }, 30_000),
    runCli(['export', 'scores'], { DATA_DIR: join(dataDir, 'elsewhere') }, 30_000),
  ]);
  assertSettingError(results[0]!, 'DB_PATH', 'serve with DB_PATH under /proc');
  assertSettingError(results[1]!, 'DB_PATH', 'serve with DB_PATH below a file');
  for (const r of results.slice(2)) {
    assertSettingError(r, 'DB_PATH', 'a command with no database');
    assert.match(r.stderr, new RegExp(`no database at ${join(dataDir, 'elsewhere', 'ember-sync.db')}`));
  }
  assert.ok(!existsSync(join(dataDir, 'elsewhere', 'ember-sync.db')), 'and none was created');
  // No command at all is a usage error too.
  const bare = await runCli([], {}, 30_000);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /Usage: ember-sync/);
});

test('regression: status never shows a URL with a token the running server does not use', async (t) => {
  const dataDir = tempDir(t);
  writeFileSync(join(dataDir, 'webhook-token'), 'file-token-0123456789abcdef\n', { mode: 0o600 });
  const s = await startServe(t, { DATA_DIR: dataDir, WEBHOOK_TOKEN: 'env-token-0123456789abcdef' });
  const fromOtherShell = await runCli(['status'], { DATA_DIR: dataDir });
  assert.equal(fromOtherShell.code, 0, fromOtherShell.stderr);
  assert.ok(!fromOtherShell.stdout.includes('file-token-0123456789abcdef'), fromOtherShell.stdout);
  assert.match(fromOtherShell.stdout, /the running server uses another webhook token/);
  const sameEnv = await runCli(['status'], { DATA_DIR: dataDir, WEBHOOK_TOKEN: 'env-token-0123456789abcdef' });
  assert.ok(sameEnv.stdout.includes(`${s.listenUrl}/webhooks/emberqa/env-token-0123456789abcdef`), sameEnv.stdout);
});
