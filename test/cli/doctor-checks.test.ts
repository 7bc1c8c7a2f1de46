import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { checkDatabase, checkRetention } from '../../src/doctor/database.js';
import { assessDisk, MIN_FREE_BYTES } from '../../src/doctor/disk.js';
import { checkPublicUrl, reachableFromEmberQa } from '../../src/doctor/public-url.js';
import { checkSchedule } from '../../src/doctor/schedule.js';
import { checkSecrets } from '../../src/doctor/secrets.js';
import { loadSettings } from '../../src/config/settings.js';
import { tokenFingerprint } from '../../src/config/secrets.js';
import { createStore } from '../../src/store/create-store.js';
import { tempDir } from '../helpers/temp-dir.js';

/** The doctor's checks one by one, on real SQLite files and real HTTP on loopback. */

test('database checks: a store opened by ember-sync passes; a file in rollback-journal mode with synchronous=NORMAL fails both, saying what to do', async (t) => {
  const dir = tempDir(t);
  const store = createStore({ dbPath: join(dir, 'ember-sync.db') });
  t.after(() => store.close());
  assert.deepEqual(checkDatabase(store.db, store.path).map((r) => [r.name, r.ok]), [['database integrity', true], ['database journal', true], ['database durability', true]]);

  // What another tool (or an old build) leaves: no WAL, NORMAL.
  const raw = new Database(join(dir, 'other.db'));
  t.after(() => raw.close());
  raw.pragma('journal_mode = DELETE');
  raw.pragma('synchronous = NORMAL');
  raw.exec('CREATE TABLE x (a)');
  const [integrity, journal, durability] = checkDatabase(raw, 'other.db');
  assert.equal(integrity!.ok, true);
  assert.equal(journal!.ok, false);
  assert.match(journal!.detail, /journal_mode is delete, not wal.*To fix: put DB_PATH on a local disk/);
  assert.equal(durability!.ok, false);
  assert.match(durability!.detail, /synchronous=NORMAL: a power cut can lose acknowledged webhooks\. To fix: /);
});

test('retention check: unset passes; set on a new database passes with the oldest kept day; on a database without incremental vacuum, or after a failed run, fails with what to do', async (t) => {
  const dir = tempDir(t);
  const store = createStore({ dbPath: join(dir, 'ember-sync.db') });
  t.after(() => store.close());
  assert.deepEqual(checkRetention(store.db, undefined), { name: 'retention', ok: true, detail: 'RETENTION_DAYS unset: every webhook is kept' });
  assert.match(checkRetention(store.db, 30).detail, /^RETENTION_DAYS=30: no run yet .*; freed space goes back to the disk$/);
  await store.retention.close('2026-10-31', '2026-10-31T00:00:00.000Z');
  assert.equal(checkRetention(store.db, 30).ok, true);
  assert.match(checkRetention(store.db, 30).detail, /oldest kept day 2026-10-31/);
  await store.retention.fail('failed at 2026-11-30T10:00:00.000Z: disk I/O error');
  const failed = checkRetention(store.db, 30);
  assert.equal(failed.ok, false);
  assert.match(failed.detail, /the last retention run failed at .*disk I\/O error\. To fix: look at the server log/);

  // A database an older ember-sync created (auto_vacuum off), migrated since.
  const oldPath = join(dir, 'old.db');
  new Database(oldPath).close();
  const old = createStore({ dbPath: oldPath });
  t.after(() => old.close());
  const check = checkRetention(old.db, 7);
  assert.equal(check.ok, false);
  assert.match(check.detail, /the file never shrinks\. To fix: once: `ember-sync backup --out data\/compact\.db --compact`/);
  // Not migrated yet (doctor opens read-only): no retention table.
  const bare = new Database(join(dir, 'bare.db'));
  t.after(() => bare.close());
  assert.match(checkRetention(bare, 7).detail, /prepares the database for it at its next start/);
});

test('tokens: a server running with another ADMIN_TOKEN or WEBHOOK_TOKEN than this shell is a failure saying so (fingerprints compared, no token printed)', async (t) => {
  const dir = tempDir(t);
  const admin = 'shell-admin-token-0123456789';
  const webhook = 'shell-webhook-token-0123456789';
  const settings = loadSettings({ DATA_DIR: dir, ADMIN_TOKEN: admin, WEBHOOK_TOKEN: webhook });
  createStore({ dbPath: settings.dbPath }).close();
  const byName = (server: Parameters<typeof checkSecrets>[1]) => new Map(checkSecrets(settings, server).map((r) => [r.name, r]));
  const same = byName({ webhook: tokenFingerprint(webhook), admin: tokenFingerprint(admin) });
  assert.equal(same.get('admin token')!.ok, true);
  assert.equal(same.get('webhook token')!.ok, true);
  const other = byName({ webhook: tokenFingerprint(webhook), admin: tokenFingerprint('the-servers-own-admin-token-xyz') });
  assert.equal(other.get('admin token')!.ok, false);
  assert.match(other.get('admin token')!.detail, /^the running server uses another token than ADMIN_TOKEN \(environment\)\. To fix: run doctor with the server's environment \(its ADMIN_TOKEN\)/);
  assert.doesNotMatch(JSON.stringify([...other.values()]), new RegExp(`${admin}|the-servers-own`));
  // A server from before it recorded the admin fingerprint: nothing to compare, no failure.
  assert.equal(byName({ webhook: tokenFingerprint(webhook) }).get('admin token')!.ok, true);
});

test('free disk: below 1 GB fails with what to do; above passes with the room left', async () => {
  const low = assessDisk('DATA_DIR', '/srv', { free: MIN_FREE_BYTES - 1, total: 20 * 1024 ** 3 });
  assert.equal(low.ok, false);
  assert.match(low.detail, /^only 1\.0 GB free of 20\.0 GB at \/srv; a full disk refuses webhooks.*To fix: free space or grow the disk/);
  const fine = assessDisk('DATA_DIR', '/srv', { free: 5 * 1024 ** 3, total: 20 * 1024 ** 3 });
  assert.equal(fine.ok, true);
  assert.match(fine.detail, /^5\.0 GB free of 20\.0 GB at \/srv \(room for about 2,147,483 more webhooks\)$/);
});

test('schedule: the next runs in SYNC_TIMEZONE; a schedule that never fires fails', async () => {
  const now = new Date('2026-11-30T12:00:00.000Z');
  const daily = checkSchedule('0 3 * * *', 'Asia/Kolkata', now);
  assert.equal(daily.ok, true);
  // 03:00 in Kolkata (+05:30) is 21:30 UTC the day before.
  assert.match(daily.detail, /next sync at \d{4}-\d\d-\d\dT21:30:00\.000Z \(in \d+ s\), then \d{4}-\d\d-\d\dT21:30:00\.000Z/);
  const never = checkSchedule('0 0 30 2 *', 'UTC', now);
  assert.equal(never.ok, false);
  assert.match(never.detail, /never fires again.*To fix: set SYNC_SCHEDULE/);
});

async function serve(t: TestContext, answer: (res: import('node:http').ServerResponse) => void): Promise<string> {
  const server: Server = createServer((_req, res) => answer(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

test('public URL: something else answering, a redirect, and an ember-sync that cannot commit each fail with what to do', async (t) => {
  const other = await serve(t, (res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>nginx</h1>'));
  const redirect = await serve(t, (res) => res.writeHead(301, { location: 'https://hooks.example.com/healthz' }).end());
  const full = await serve(t, (res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"status":"unavailable","error":{"code":"store_unavailable","message":"…"}}'));
  const ok = await serve(t, (res) => (res.req.url === '/webhooks/emberqa/doctor-probe' ? res.writeHead(405, { allow: 'POST', 'content-type': 'application/json' }).end('{"error":{"code":"method_not_allowed","message":"GET is not allowed on this path; allowed: POST"}}') : res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}')));
  const [a, b, c, d] = await Promise.all([checkPublicUrl(other, ''), checkPublicUrl(redirect, ''), checkPublicUrl(full, ''), checkPublicUrl(ok, ' (note)')]);
  assert.match(a.detail, /answered 404, not ember-sync's health check.*To fix: check that the proxy forwards/);
  assert.match(b.detail, /redirects \(301\) to https:\/\/hooks\.example\.com\/healthz.*To fix: set PUBLIC_URL to the final address/);
  assert.match(c.detail, /reached ember-sync, but it cannot commit webhooks now \(503\).*To fix: see the server log/);
  assert.deepEqual([a.ok, b.ok, c.ok, d.ok], [false, false, false, true]);
  assert.equal(d.detail, `${ok}/healthz answers as ember-sync (200), and so does ${ok}/webhooks/emberqa/doctor-probe (note)`);
});

test('public URL: another service answering {"status":"ok"} at /healthz, or a proxy that forwards /healthz but not the webhook path, fails', async (t) => {
  const healthOnly = await serve(t, (res) => (res.req.url === '/healthz' ? res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}') : res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>404</h1>')));
  const everywhere = await serve(t, (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'));
  const down = await serve(t, (res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"status":"down"}'));
  const [a, b, c] = await Promise.all([checkPublicUrl(healthOnly, ''), checkPublicUrl(everywhere, ''), checkPublicUrl(down, '')]);
  assert.deepEqual([a.ok, b.ok, c.ok], [false, false, false]);
  assert.match(a.detail, /webhooks\/emberqa\/doctor-probe answered 404, not as ember-sync.*To fix: forward every path under PUBLIC_URL/);
  assert.match(b.detail, /webhooks\/emberqa\/doctor-probe answered 200, not as ember-sync/);
  assert.doesNotMatch(c.detail, /reached ember-sync/, 'a 503 of another service is not ember-sync');
});

test('public URL: answering from this host is not enough when the address is loopback or every-interface (EmberQA is hosted); a private one passes with a note', async () => {
  const probe = (base: string) => ({ name: 'public URL', ok: true, detail: `${base}/healthz answers as ember-sync (200), and so does ${base}/webhooks/emberqa/doctor-probe` });
  for (const base of ['http://127.0.0.1:3000', 'http://localhost:3000', 'http://0.0.0.0:3000', 'http://[::1]:3000']) {
    const r = reachableFromEmberQa(probe(base), base);
    assert.equal(r.ok, false, base);
    assert.match(r.detail, /answers as ember-sync from this host, but .* EmberQA can(not)? reach.*To fix: set PUBLIC_URL to the address EmberQA reaches this server at/, base);
  }
  const lan = reachableFromEmberQa(probe('http://10.0.0.5:3000'), 'http://10.0.0.5:3000');
  assert.equal(lan.ok, true);
  assert.match(lan.detail, /note: 10\.0\.0\.5 is a private address/);
  assert.deepEqual(reachableFromEmberQa(probe('https://hooks.example.com'), 'https://hooks.example.com'), probe('https://hooks.example.com'));
  const failed = { name: 'public URL', ok: false, detail: 'GET http://127.0.0.1:1/healthz failed: ECONNREFUSED. To fix: start ember-sync serve' };
  assert.deepEqual(reachableFromEmberQa(failed, 'http://127.0.0.1:1'), failed, 'a failure stays the failure it was');
});
