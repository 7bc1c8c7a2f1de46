import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, closeSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { generateWebhook } from '../../src/simulate/generate.js';
import Database from 'better-sqlite3';
import { createStore } from '../../src/store/create-store.js';
import { startFakeSheets, type FakeSheets } from '../fakes/fake-sheets.js';
import { runCli, startServeChild, type CliResult } from '../helpers/cli.js';
import { ingest } from '../helpers/ingest.js';
import { tempDir } from '../helpers/temp-dir.js';

/** `ember-sync doctor` as a real child process, against the fake Sheets API and a real server. */

const EMAIL = 'ember-sync@doctor-test.iam.gserviceaccount.com';
// Never fires during a test: the server must not sync while doctor looks.
const QUIET_SCHEDULE = '0 0 1 1 *';

interface Lines {
  ok: Map<string, string>;
  failed: Map<string, string>;
}

/** The check lines of a doctor run, by check name. */
function parse(r: CliResult): Lines {
  const ok = new Map<string, string>();
  const failed = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^([✔✘]) ([^:]+): (.*)$/.exec(line);
    if (m) (m[1] === '✔' ? ok : failed).set(m[2]!, m[3]!);
  }
  return { ok, failed };
}

function keyFile(dir: string, name: string, fake?: FakeSheets, email = EMAIL): { path: string; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  fake?.addServiceAccount(email, publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ type: 'service_account', client_email: email, private_key: pem }), { mode: 0o600 });
  return { path, pem };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A database as serve leaves it (made here, with the tokens beside it), no server running. */
async function dataDirWithDb(t: TestContext, reportTimezone = 'UTC'): Promise<string> {
  const dir = tempDir(t);
  createStore({ dbPath: join(dir, 'ember-sync.db'), reportTimezone }).close();
  writeFileSync(join(dir, 'webhook-token'), 'doctor-webhook-token-0123456789\n', { mode: 0o600 });
  writeFileSync(join(dir, 'admin-token'), 'doctor-admin-token-0123456789\n', { mode: 0o600 });
  return dir;
}

test('doctor: every check passes against a running server and a shared sheet (but a loopback URL, which EmberQA cannot reach); nothing in the sheet changes and no secret is printed', async (t) => {
  const fake = await startFakeSheets();
  t.after(() => fake.close());
  const SHEET = 'doctor-sheet-all-good-01';
  fake.createSpreadsheet(SHEET, { defaultSheet: true, timeZone: 'America/New_York', title: 'QA' });
  fake.setCells(SHEET, 'Sheet1', 'A1', [['an analyst note']]);
  const dataDir = tempDir(t);
  const key = keyFile(dataDir, 'key.json', fake);
  const env = {
    DATA_DIR: dataDir,
    SHEETS_SPREADSHEET_ID: SHEET,
    GOOGLE_APPLICATION_CREDENTIALS: key.path,
    GOOGLE_OAUTH_TOKEN_URL: fake.tokenUrl,
    SHEETS_API_ROOT_URL: fake.url,
    SYNC_SCHEDULE: QUIET_SCHEDULE,
    REPORT_TIMEZONE: 'America/New_York',
  };
  const server = await startServeChild(t, env);
  const before = fake.tab(SHEET, 'Sheet1');
  fake.resetRequests();

  // From a shell without the server's PORT: doctor probes the URL the server announced.
  const r = await runCli(['doctor'], env);
  // The one failure a loopback test server must have: EmberQA (hosted) can never reach 127.0.0.1.
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const { ok, failed } = parse(r);
  assert.deepEqual([...failed.keys()], ['public URL'], r.stdout);
  assert.match(failed.get('public URL')!, new RegExp(`^${server.listenUrl}/healthz answers as ember-sync from this host \\(the URL the server announced; [^)]*\\), but 127\\.0\\.0\\.1 is this machine only: EmberQA cannot reach it\\. To fix: set PUBLIC_URL`));
  for (const name of [
    'settings', 'database integrity', 'database journal', 'database durability', 'retention', 'free disk (DATA_DIR)', 'webhook token', 'admin token',
    'database file permissions', 'Google key file permissions', 'schedule', 'csv target',
    'Sheets credentials', 'Sheets token', 'Sheets spreadsheet', 'Sheets write access', 'Sheets time zone', 'Sheets cells',
  ]) {
    assert.ok(ok.has(name), `a passing line for ${name}:\n${r.stdout}`);
  }
  assert.match(ok.get('Sheets credentials')!, new RegExp(EMAIL.replace(/\./g, '\\.')));
  assert.match(ok.get('database durability')!, /synchronous=FULL/);
  assert.match(ok.get('schedule')!, /next sync at \d{4}-01-01T/);
  assert.match(ok.get('Sheets time zone')!, /America\/New_York/);
  assert.match(ok.get('Sheets cells')!, /^26,000 of 10,000,000 cells used/);
  assert.match(r.stdout, /^1 of 19 checks failed$/m);

  // The write check reached the API as a write, yet the sheet holds exactly what it held.
  assert.ok(fake.requests.some((q) => q.kind === 'values.batchUpdate' && q.status === 200), 'a write request was sent');
  assert.deepEqual(fake.tab(SHEET, 'Sheet1'), before, 'no cell changed');
  // No secret in the output: tokens, the private key, an access token.
  for (const secret of [server.token, readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(), key.pem.split('\n')[1]!]) {
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), 'a secret was printed');
  }
  assert.doesNotMatch(r.stdout + r.stderr, /ya29\./);

  // A shell with another ADMIN_TOKEN than the running server's (the server recorded its fingerprint at start).
  const other = await runCli(['doctor'], { ...env, ADMIN_TOKEN: 'not-the-servers-admin-token-123' });
  assert.match(parse(other).failed.get('admin token') ?? '', /^the running server uses another token than ADMIN_TOKEN \(environment\)/);
});

test('doctor: each Sheets failure is one ✘ line saying what to do, and exit 1', async (t) => {
  const fake = await startFakeSheets();
  t.after(() => fake.close());
  const port = await closedPort();
  const dataDir = await dataDirWithDb(t, 'America/New_York');
  const good = keyFile(dataDir, 'key.json', fake);
  const stranger = keyFile(dataDir, 'stranger.json', undefined, 'deleted@doctor-test.iam.gserviceaccount.com');
  // Left readable by others (as downloaded): its own failed line.
  chmodSync(stranger.path, 0o644);
  const notAKey = join(dataDir, 'user.json');
  writeFileSync(notAKey, '{"type":"authorized_user"}', { mode: 0o600 });
  const SHARED = 'doctor-sheet-viewer-01';
  const FORBIDDEN = 'doctor-sheet-not-shared';
  fake.createSpreadsheet(SHARED, { defaultSheet: true, timeZone: 'America/Chicago' });
  fake.createSpreadsheet(FORBIDDEN, { defaultSheet: true });
  fake.setForbidden(FORBIDDEN, true);
  // 9,500,000 cells: an analyst's big tab.
  fake.setCells(SHARED, 'Sheet1', 'CV95000', [['x']]);
  const before = fake.tab(SHARED, 'Sheet1');
  // Shared as Viewer: reads pass, every write is refused.
  fake.injectFault({ status: 403, count: 100, match: (q) => q.kind === 'values.batchUpdate' && q.path.includes(SHARED) });

  const base = { DATA_DIR: dataDir, PUBLIC_URL: `http://127.0.0.1:${port}`, GOOGLE_OAUTH_TOKEN_URL: fake.tokenUrl, SHEETS_API_ROOT_URL: fake.url, SYNC_SCHEDULE: QUIET_SCHEDULE };
  const run = (sheet: string, key: string) => runCli(['doctor'], { ...base, SHEETS_SPREADSHEET_ID: sheet, GOOGLE_APPLICATION_CREDENTIALS: key });
  const [badKey, refused, missing, forbidden, viewer, expired] = await Promise.all([
    run(SHARED, notAKey),
    run(SHARED, stranger.path),
    run('doctor-sheet-does-not-exist', good.path),
    run(FORBIDDEN, good.path),
    run(SHARED, good.path),
    // A ready token the API does not accept (expired or revoked).
    runCli(['doctor'], { ...base, SHEETS_SPREADSHEET_ID: SHARED, SHEETS_ACCESS_TOKEN: 'ya29.expired-doctor-token' }),
  ]);
  for (const r of [badKey, refused, missing, forbidden, viewer, expired]) {
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stderr, '', 'results go to stdout');
    // Nothing listens at PUBLIC_URL: said, with what to do.
    assert.match(parse(r).failed.get('public URL') ?? '', /failed: .*ECONNREFUSED.*To fix: start ember-sync serve/);
  }

  const creds = parse(badKey);
  assert.match(creds.failed.get('Sheets credentials') ?? '', /GOOGLE_APPLICATION_CREDENTIALS: .* is not a service-account key.*To fix: download a JSON key/);
  assert.ok(!creds.ok.has('Sheets token') && !creds.failed.has('Sheets token'), 'no further Sheets check without credentials');

  const token = parse(refused);
  assert.ok(token.ok.has('Sheets credentials'));
  assert.match(token.failed.get('Sheets token') ?? '', /Google refused the key of deleted@doctor-test\.iam\.gserviceaccount\.com: invalid_grant.*To fix: .*create a new key/);
  assert.ok(!token.ok.has('Sheets spreadsheet') && !token.failed.has('Sheets spreadsheet'));
  assert.match(token.failed.get('Google key file permissions') ?? '', /stranger\.json is readable by other users \(mode 0644\); it holds the service account's private key\. To fix: chmod 600 /);
  assert.ok(parse(viewer).ok.has('Google key file permissions'));

  assert.match(parse(missing).failed.get('Sheets spreadsheet') ?? '', /\(404\).*To fix: check SHEETS_SPREADSHEET_ID/);
  assert.match(parse(forbidden).failed.get('Sheets spreadsheet') ?? '', new RegExp(`\\(403\\).*To fix: share the sheet with ${EMAIL.replace(/\./g, '\\.')} as Editor`));

  const e = parse(expired);
  assert.match(e.ok.get('Sheets credentials') ?? '', /^SHEETS_ACCESS_TOKEN/);
  assert.match(e.failed.get('Sheets spreadsheet') ?? '', /\(401\).*To fix: check GOOGLE_APPLICATION_CREDENTIALS or SHEETS_ACCESS_TOKEN/);
  assert.ok(!expired.stdout.includes('expired-doctor-token'), 'the token is never printed');

  const v = parse(viewer);
  assert.ok(v.ok.has('Sheets token') && v.ok.has('Sheets spreadsheet'), viewer.stdout);
  assert.match(v.failed.get('Sheets write access') ?? '', new RegExp(`can read the spreadsheet but not edit it.*To fix: share it with ${EMAIL.replace(/\./g, '\\.')} as Editor, not Viewer`));
  // The views' zone is the one the database records, not this shell's (which sets none).
  assert.match(v.failed.get('Sheets time zone') ?? '', /time zone is America\/Chicago but REPORT_TIMEZONE is America\/New_York.*To fix: set File → Settings → Time zone to America\/New_York/);
  assert.match(v.failed.get('Sheets cells') ?? '', /^9,500,000 of Google's 10,000,000 cells per spreadsheet are used \(95\.0%\).*To fix: delete tabs/);
  assert.match(viewer.stdout, /^4 of 19 checks failed$/m);
  assert.deepEqual(fake.tab(SHARED, 'Sheet1'), before, 'doctor changed nothing in the sheet');
});

test('doctor: loose secret files, an unusable CSV_DIR and a damaged database fail with what to do; no database or a bad setting is exit 2', async (t) => {
  const port = await closedPort();
  const dataDir = await dataDirWithDb(t);
  const env = { DATA_DIR: dataDir, PUBLIC_URL: `http://127.0.0.1:${port}`, SYNC_SCHEDULE: QUIET_SCHEDULE };
  chmodSync(join(dataDir, 'webhook-token'), 0o644);
  chmodSync(join(dataDir, 'ember-sync.db'), 0o644);
  const file = join(dataDir, 'a-file');
  writeFileSync(file, 'x');

  const damagedDir = tempDir(t);
  const dbPath = join(damagedDir, 'ember-sync.db');
  const store = createStore({ dbPath });
  await ingest(store, Array.from({ length: 400 }, (_, i) => generateWebhook(i, { seed: 5, idPrefix: 'doc-' })));
  await store.close();
  // Scribble over a page in the middle of the file (the schema on page 1 stays readable).
  const pages = statSync(dbPath).size / 4096;
  const fd = openSync(dbPath, 'r+');
  writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, Math.floor(pages / 2) * 4096);
  closeSync(fd);

  const [loose, damaged, noDb, badSetting] = await Promise.all([
    runCli(['doctor'], { ...env, CSV_DIR: join(file, 'exports') }),
    runCli(['doctor'], { ...env, DATA_DIR: damagedDir }),
    runCli(['doctor'], { ...env, DATA_DIR: join(dataDir, 'elsewhere') }),
    runCli(['doctor'], { ...env, SYNC_TIMEZONE: 'Mars/Olympus' }),
  ]);

  assert.equal(loose.code, 1, loose.stdout + loose.stderr);
  const l = parse(loose);
  assert.match(l.failed.get('webhook token') ?? '', new RegExp(`webhook-token is readable by other users \\(mode 0644\\).*To fix: chmod 600 ${join(dataDir, 'webhook-token')}`));
  assert.ok(l.ok.has('admin token'), loose.stdout);
  assert.match(l.failed.get('database file permissions') ?? '', /readable by other users: \S+ember-sync\.db \(mode 0644\).*To fix: chmod 600 \S+ember-sync\.db\*/);
  assert.match(l.failed.get('csv target') ?? '', /a-file is not a folder.*To fix: set CSV_DIR/);
  assert.ok(!loose.stdout.includes('doctor-webhook-token-0123456789'), 'the token itself is never printed');
  assert.equal(statSync(join(dataDir, 'webhook-token')).mode & 0o777, 0o644, 'doctor reports, it does not change files');

  assert.equal(damaged.code, 1, damaged.stdout + damaged.stderr);
  const d = parse(damaged);
  const damage = d.failed.get('database integrity') ?? d.failed.get('database') ?? '';
  assert.match(damage, /To fix: stop the server, keep the (damaged )?file aside and restore the latest `ember-sync backup`/, damaged.stdout);

  assert.equal(noDb.code, 2);
  assert.match(noDb.stderr, new RegExp(`^ember-sync: invalid setting DB_PATH: no database at ${join(dataDir, 'elsewhere', 'ember-sync.db')}`));
  assert.equal(noDb.stdout, '');
  assert.equal(badSetting.code, 2);
  assert.match(badSetting.stderr, /^ember-sync: invalid setting SYNC_TIMEZONE: unknown timezone "Mars\/Olympus"/);
  assert.equal(badSetting.stderr.trim().split('\n').length, 1, 'one line');
});

test('doctor changes nothing in the database it checks: a rollback-journal file stays one (and fails the journal check), no migration runs, nothing is written', async (t) => {
  const port = await closedPort();
  const dataDir = await dataDirWithDb(t);
  const dbPath = join(dataDir, 'ember-sync.db');
  // A copy restored with another tool: no WAL. ember-sync's own open would switch it to WAL (and so pass).
  const raw = new Database(dbPath);
  raw.pragma('journal_mode = DELETE');
  const version = raw.pragma('user_version', { simple: true });
  // An older schema version: the server that runs it has not been restarted after an upgrade.
  raw.pragma(`user_version = ${Number(version) - 1}`);
  const metaBefore = raw.prepare('SELECT key, value, updated_at FROM app_meta ORDER BY key').all();
  raw.close();
  const before = readFileSync(dbPath);

  const r = await runCli(['doctor'], { DATA_DIR: dataDir, PUBLIC_URL: `http://127.0.0.1:${port}`, SYNC_SCHEDULE: QUIET_SCHEDULE });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const lines = parse(r);
  assert.match(lines.failed.get('database journal') ?? '', /journal_mode is delete, not wal.*To fix: put DB_PATH on a local disk/, r.stdout);
  assert.ok(Buffer.compare(readFileSync(dbPath), before) === 0, 'the database file is byte for byte as before');
  const after = new Database(dbPath, { readonly: true });
  t.after(() => after.close());
  assert.equal(after.pragma('journal_mode', { simple: true }), 'delete');
  assert.equal(after.pragma('user_version', { simple: true }), Number(version) - 1, 'no migration ran');
  assert.deepEqual(after.prepare('SELECT key, value, updated_at FROM app_meta ORDER BY key').all(), metaBefore);
});

test("doctor from a shell without the server's sheets settings says the sheets target goes unchecked instead of passing without it", async (t) => {
  const port = await closedPort();
  const dataDir = await dataDirWithDb(t);
  const store = createStore({ dbPath: join(dataDir, 'ember-sync.db') });
  const at = new Date(Date.now() - 600_000);
  await store.sync.finishRun(await store.sync.startRun('sheets', at), 'sheets', { ok: true, rows: 3, error: null, details: {} }, at);
  await store.close();
  const r = await runCli(['doctor'], { DATA_DIR: dataDir, PUBLIC_URL: `http://127.0.0.1:${port}`, SYNC_SCHEDULE: QUIET_SCHEDULE });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(parse(r).failed.get('targets') ?? '', /the server synced sheets in the last 7 days, but this shell's settings have no sheets target, so it is not checked here\. To fix: run doctor with the server's environment/, r.stdout);
});

test("doctor checks RETENTION_DAYS as the running server recorded it, not as this shell says", async (t) => {
  const dataDir = await dataDirWithDb(t);
  const store = createStore({ dbPath: join(dataDir, 'ember-sync.db') });
  await store.meta.set('retention_days', '30');
  await store.close();
  const here = parse(await runCli(['doctor'], { DATA_DIR: dataDir, SYNC_SCHEDULE: '0 0 1 1 *' }));
  assert.match(here.ok.get('retention') ?? '', /^RETENTION_DAYS=30: no run yet/);
  const store2 = createStore({ dbPath: join(dataDir, 'ember-sync.db') });
  store2.meta.set('retention_days', 'unset');
  store2.close();
  const unset = parse(await runCli(['doctor'], { DATA_DIR: dataDir, SYNC_SCHEDULE: '0 0 1 1 *', RETENTION_DAYS: '7' }));
  assert.equal(unset.ok.get('retention'), 'RETENTION_DAYS unset: every webhook is kept');
});
