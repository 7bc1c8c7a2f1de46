import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateWebhook } from '../../src/simulate/generate.js';
import { tokenFingerprint } from '../../src/config/secrets.js';
import { createStore } from '../../src/store/create-store.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { ingest } from '../helpers/ingest.js';
import { tempDir } from '../helpers/temp-dir.js';
import { startTestService } from '../helpers/service.js';

/** `ember-sync status` as a real child process: the URL, and each target's run state in words that say what happens next. */

interface TargetJson {
  state: string;
  state_since: string | null;
  lock: { pid: number; host: string; heartbeat_at: string } | null;
  last_run: { ok: boolean; rows: number; finished_at: string } | null;
  last_success_at: string | null;
  rows_delivered: number;
  rows_pending: number;
  view_errors: Record<string, unknown>;
}
interface StatusJson {
  webhook_url: string | null;
  events: { total: number };
  quarantine: { held: number };
  projector: { lag: number };
  report_timezone: string;
  columns_over_cap: Record<string, number>;
  schedule: { expression: string; timezone: string; next_run_at: string | null } | null;
  retention: { days: number | null; oldest_kept_day: string | null; oldest_event_at: string | null; last_run_at: string | null; last_result: string | null };
  targets: Record<string, TargetJson>;
}

const TOKEN = 'status-webhook-token-0123456789';

async function status(env: Record<string, string>): Promise<{ text: string; json: StatusJson }> {
  const [text, json] = await Promise.all([runCli(['status'], env), runCli(['status', '--json'], env)]);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(json.code, 0, json.stderr);
  return { text: text.stdout, json: JSON.parse(json.stdout) as StatusJson };
}

test('status prints the webhook URL as serve does, and says never, ok with rows pending (and when they go out), crashed, running and failed', async (t) => {
  const dataDir = tempDir(t);
  const dbPath = join(dataDir, 'ember-sync.db');
  const store = createStore({ dbPath });
  t.after(() => store.close());
  // What serve leaves: its token and the URL it announced.
  writeFileSync(join(dataDir, 'webhook-token'), `${TOKEN}\n`, { mode: 0o600 });
  await store.meta.set('public_url', 'https://hooks.example.com/qa');
  const env = { DATA_DIR: dataDir, SYNC_SCHEDULE: '*/5 * * * *', SYNC_TIMEZONE: 'Europe/Paris' };

  // Never synced.
  let s = await status(env);
  assert.match(s.text, /^Paste this URL into EmberQA \(Settings → Alerts → Create New Alert → Webhook\):\n {2}https:\/\/hooks\.example\.com\/qa\/webhooks\/emberqa\/status-webhook-token-0123456789\n/);
  assert.match(s.text, /^target csv: never synced yet$/m);
  assert.equal(s.json.webhook_url, `https://hooks.example.com/qa/webhooks/emberqa/${TOKEN}`);
  assert.equal(s.json.targets['csv']!.state, 'never');
  assert.equal(s.json.schedule?.expression, '*/5 * * * *');
  assert.equal(s.json.schedule?.timezone, 'Europe/Paris');
  const next = Date.parse(s.json.schedule?.next_run_at ?? '');
  assert.ok(next > Date.now() - 60_000 && new Date(next).getUTCMinutes() % 5 === 0, `a five-minute slot: ${s.json.schedule?.next_run_at}`);
  assert.match(s.text, /^schedule: SYNC_SCHEDULE "\*\/5 \* \* \* \*" in Europe\/Paris; next sync at \S+Z \(in \d+ (s|min)\) while ember-sync serve runs$/m);

  // A sync with nothing to deliver, then traffic: ok with 0 rows reads as what it is, and the pending rows say when they go out.
  const first = await runCli(['sync'], env);
  assert.equal(first.code, 0, first.stderr);
  await ingest(store, Array.from({ length: 6 }, (_, i) => generateWebhook(i, { seed: 9, idPrefix: 'st-' })));
  // What the server's projector does right after the commits.
  await store.projection.catchUp();
  s = await status(env);
  const csv = s.json.targets['csv']!;
  assert.equal(csv.state, 'ok');
  assert.equal(csv.last_run?.rows, 0);
  assert.ok(csv.rows_pending > 0);
  assert.match(s.text, /^target csv: last finished run \S+: ok, 0 rows written \(nothing was new then\); last success \S+; 0 rows delivered in all$/m);
  assert.match(s.text, new RegExp(`^ {2}${csv.rows_pending} rows pending \\(new or changed since the last run\\): the next scheduled sync delivers them at ${s.json.schedule!.next_run_at!.replace(/\./g, '\\.')} \\(in \\d+ (s|min), while ember-sync serve runs\\), or run \`ember-sync sync\` now$`, 'm'));
  assert.doesNotMatch(s.text, /FAILED|CRASHED/);

  // A sync killed after it wrote, before it recorded the end: crashed (its process is gone, its lock with it).
  const killed = await runCli(['sync'], { ...env, EMBER_SYNC_FAULT: 'after-deliver' });
  assert.equal(killed.signal, 'SIGKILL');
  s = await status(env);
  const crashed = s.json.targets['csv']!;
  assert.equal(crashed.state, 'crashed');
  assert.equal(crashed.lock, null);
  assert.match(s.text, new RegExp(`^target csv: CRASHED: the run started at ${crashed.state_since!.replace(/\./g, '\\.')} never finished and no process holds its lock`, 'm'));
  assert.match(s.text, /^ {2}\d+ rows pending: the last run did not finish its work; the next scheduled sync delivers them at /m);

  // A run in progress: this test process holds the lock and beats.
  const ticket = (await store.sync.tryLock('csv', store.sync.newOwner()))!;
  const run = await store.sync.startRun('csv');
  s = await status(env);
  const running = s.json.targets['csv']!;
  assert.equal(running.state, 'running');
  assert.equal(running.lock?.pid, process.pid);
  assert.match(s.text, new RegExp(`^target csv: syncing now \\(started \\S+, pid ${process.pid} on \\S+, heartbeat \\d+ s ago\\)`, 'm'));
  assert.match(s.text, /^ {2}\d+ rows pending: the sync running now is delivering them$/m);
  await store.sync.finishRun(run, 'csv', { ok: true, rows: 0, error: null, details: { views: [], notices: [] } });
  await store.sync.unlock(ticket);

  // A run that failed (as a full disk would make it).
  const failedRun = await store.sync.startRun('csv');
  await store.sync.finishRun(failedRun, 'csv', { ok: false, rows: 0, error: 'scores: ENOSPC: no space left on device', details: { views: [], notices: [] } });
  s = await status(env);
  assert.equal(s.json.targets['csv']!.state, 'failed');
  assert.match(s.text, /^target csv: last finished run \S+: FAILED: scores: ENOSPC: no space left on device; last success \S+; 0 rows delivered in all$/m);
  assert.match(s.text, /^ {2}\d+ rows pending: the last run failed \(above\); the next scheduled sync tries again at \S+Z /m);

  // And once delivered, nothing pending.
  assert.equal((await runCli(['sync'], env)).code, 0);
  s = await status(env);
  assert.equal(s.json.targets['csv']!.state, 'ok');
  assert.equal(s.json.targets['csv']!.rows_pending, 0);
  assert.match(s.text, /^ {2}nothing pending: every row is delivered$/m);
});

test('status --json keeps every field it had (GET /api/status reads the same) and adds state, state_since, lock and schedule', async (t) => {
  const dataDir = tempDir(t);
  createStore({ dbPath: join(dataDir, 'ember-sync.db') }).close();
  const { json } = await status({ DATA_DIR: dataDir });
  assert.deepEqual(Object.keys(json).sort(), ['columns_over_cap', 'events', 'projector', 'quarantine', 'report_timezone', 'retention', 'schedule', 'targets', 'webhook_url']);
  assert.deepEqual(Object.keys(json.targets['csv']!).sort(), ['last_run', 'last_success_at', 'lock', 'rows_delivered', 'rows_pending', 'state', 'state_since', 'view_errors']);
  // No token anywhere yet: no URL, and the text says how to get one.
  assert.equal(json.webhook_url, null);
  const text = await runCli(['status'], { DATA_DIR: dataDir });
  assert.match(text.stdout, /^webhook URL for EmberQA: \(no token yet: start ember-sync serve once\)$/m);
});

test('status shows RETENTION_DAYS as the server runs it, the oldest kept day and what the last run deleted', async (t) => {
  const dataDir = tempDir(t);
  const store = createStore({ dbPath: join(dataDir, 'ember-sync.db') });
  t.after(() => store.close());
  const none = await status({ DATA_DIR: dataDir });
  assert.match(none.text, /^retention: keeps everything \(RETENTION_DAYS unset\); nothing stored yet$/m);
  assert.deepEqual(none.json.retention, { days: null, oldest_kept_day: null, oldest_event_at: null, last_run_at: null, last_result: null });
  // This shell's setting when the server recorded none…
  assert.equal((await status({ DATA_DIR: dataDir, RETENTION_DAYS: '45' })).json.retention.days, 45);
  // …the server's once it recorded it at start (its unit file sets it; this shell does not).
  await store.meta.set('retention_days', '30');
  await store.retention.close('2026-10-31', '2026-10-31T00:00:00.000Z');
  await store.retention.finish('2026-11-30T10:00:00.000Z', 'deleted 4 webhooks, 1 quarantined payload, 2 calls (2 metric rows) before 2026-10-31; 1.2 MB given back');
  const s = await status({ DATA_DIR: dataDir });
  assert.equal(s.json.retention.days, 30);
  assert.equal(s.json.retention.oldest_kept_day, '2026-10-31');
  assert.match(s.text, /^retention: RETENTION_DAYS=30 \(.*daily summaries stay\); oldest kept day 2026-10-31; last run 2026-11-30T10:00:00.000Z: deleted 4 webhooks, .*1\.2 MB given back$/m);
  await store.meta.set('retention_days', 'unset');
  assert.equal((await status({ DATA_DIR: dataDir, RETENTION_DAYS: '45' })).json.retention.days, null, 'the server keeps everything, whatever this shell says');
});

test("status run without the server's environment still shows a target the server synced in the last 7 days (a failing sheets target is not hidden)", async (t) => {
  const dataDir = tempDir(t);
  const store = createStore({ dbPath: join(dataDir, 'ember-sync.db') });
  t.after(() => store.close());
  writeFileSync(join(dataDir, 'webhook-token'), `${TOKEN}\n`, { mode: 0o600 });
  // The server (SHEETS_SPREADSHEET_ID in its unit file) ran a sheets sync an hour ago, and it failed.
  const hourAgo = new Date(Date.now() - 3600_000);
  await store.sync.finishRun(await store.sync.startRun('sheets', hourAgo), 'sheets', { ok: false, rows: 0, error: 'The caller does not have permission', details: {} }, hourAgo);
  // A csv run long ago only (the target was dropped since): not brought back.
  const old = new Date(Date.now() - 30 * 86_400_000);
  const env = { DATA_DIR: dataDir, SYNC_TARGETS: 'sheets', SHEETS_SPREADSHEET_ID: '1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdEFG', SHEETS_ACCESS_TOKEN: 'ya29.test-token' };
  await store.sync.finishRun(await store.sync.startRun('csv', old), 'csv', { ok: true, rows: 0, error: null, details: {} }, old);

  // This shell sets nothing: its only target would be csv.
  const s = await status({ DATA_DIR: dataDir });
  assert.match(s.text, /^target sheets: last finished run \S+: FAILED: The caller does not have permission;/m);
  assert.match(s.text, /^ {2}\(sheets is not a target in this shell's settings, but the server synced it in the last 7 days/m);
  assert.equal(s.json.targets['sheets']?.state, 'failed');
  assert.deepEqual((s.json as unknown as { targets_not_set_here?: string[] }).targets_not_set_here, ['sheets']);
  // With the server's environment: no note; csv (last run 30 days ago, not a target there) is not brought back.
  const same = await status(env);
  assert.doesNotMatch(same.text, /not a target in this shell's settings/);
  assert.deepEqual(Object.keys(same.json.targets), ['sheets']);
  assert.equal((same.json as unknown as { targets_not_set_here?: string[] }).targets_not_set_here, undefined);
});

test('status without a token file, when the server runs with WEBHOOK_TOKEN from its environment, says so instead of "no token yet"', async (t) => {
  const dataDir = tempDir(t);
  const store = createStore({ dbPath: join(dataDir, 'ember-sync.db') });
  t.after(() => store.close());
  // What serve records when its token came from WEBHOOK_TOKEN: the fingerprint, no file.
  await store.meta.set('webhook_token_sha256', tokenFingerprint('from-the-unit-file-0123456789'));
  const s = await status({ DATA_DIR: dataDir });
  assert.equal(s.json.webhook_url, null);
  assert.match(s.text, /^webhook URL for EmberQA: the server's webhook token comes from its environment \(WEBHOOK_TOKEN\), which this shell does not have: run status with the same environment to see its URL$/m);
  assert.doesNotMatch(s.text, /no token yet/);
  // With that environment, the URL.
  const same = await status({ DATA_DIR: dataDir, WEBHOOK_TOKEN: 'from-the-unit-file-0123456789' });
  assert.match(same.json.webhook_url ?? '', /\/webhooks\/emberqa\/from-the-unit-file-0123456789$/);
});

test('status and doctor piped into a reader that leaves at once (`| head`) end quietly: no EPIPE stack trace', async (t) => {
  const dataDir = tempDir(t);
  createStore({ dbPath: join(dataDir, 'ember-sync.db') }).close();
  writeFileSync(join(dataDir, 'webhook-token'), `${TOKEN}\n`, { mode: 0o600 });
  for (const args of [['status'], ['status', '--json'], ['doctor']]) {
    const child = spawnCli(args, { DATA_DIR: dataDir, PUBLIC_URL: 'http://127.0.0.1:1', SYNC_SCHEDULE: '0 0 1 1 *' });
    // The reading end is closed before the command writes its first line (it takes a moment to start).
    child.stdout!.destroy();
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => void (stderr += c));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.doesNotMatch(stderr, /EPIPE|Unhandled 'error' event|\n\s+at /, `${args.join(' ')}: ${stderr}`);
    assert.ok(code === 0 || code === 1, `${args.join(' ')} exit ${code}`);
  }
});

test('status warns under the URL when EmberQA cannot reach it (PUBLIC_URL unset: 127.0.0.1), in text and JSON', async (t) => {
  const dataDir = tempDir(t);
  createStore({ dbPath: join(dataDir, 'ember-sync.db') }).close();
  writeFileSync(join(dataDir, 'webhook-token'), `${TOKEN}\n`, { mode: 0o600 });
  const s = await status({ DATA_DIR: dataDir });
  assert.match(s.text, /^ {2}http:\/\/127\.0\.0\.1:3000\/webhooks\/emberqa\/status-webhook-token-0123456789\n {2}WARNING: 127\.0\.0\.1 is this machine only: EmberQA cannot reach it\. Set PUBLIC_URL/m);
  assert.match((s.json as unknown as { webhook_url_warning?: string }).webhook_url_warning ?? '', /127\.0\.0\.1 is this machine only/);
  const pub = await status({ DATA_DIR: dataDir, PUBLIC_URL: 'https://hooks.example.com' });
  assert.doesNotMatch(pub.text, /WARNING/);
  assert.equal((pub.json as unknown as { webhook_url_warning?: string }).webhook_url_warning, undefined);
});

test("status tells the schedule the server recorded at start, not this shell's", async (t) => {
  const svc = await startTestService(t, { SYNC_SCHEDULE: '7 */2 * * *', SYNC_TIMEZONE: 'Asia/Tokyo' });
  // A shell without the server's environment (another SYNC_SCHEDULE, or none).
  const s = await status({ DATA_DIR: svc.dataDir, SYNC_SCHEDULE: '* * * * *' });
  assert.equal(s.json.schedule?.expression, '7 */2 * * *');
  assert.equal(s.json.schedule?.timezone, 'Asia/Tokyo');
  assert.equal(new Date(Date.parse(s.json.schedule!.next_run_at!)).getUTCMinutes(), 7);
  assert.match(s.text, /^schedule: SYNC_SCHEDULE "7 \*\/2 \* \* \*" in Asia\/Tokyo; next sync at /m);
});
