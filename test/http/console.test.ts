import assert from 'node:assert/strict';
import { get } from 'node:http';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { vendorJson } from '../helpers/fixtures.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { tempDir } from '../helpers/temp-dir.js';
import { createPace } from '../../src/http/console/pace.js';
import { MIGRATIONS, migrate } from '../../src/store/migrations.js';

/**
 * The operator console over HTTP (the real service on loopback, a real
 * SQLite file): sign-in, cookie, CSRF and origin checks, the pace of sign-in
 * answers, the hourly counts behind the chart, downloads. The browser test
 * (test/browser/console.test.ts) drives the same pages in chromium.
 */

type Json = Record<string, unknown>;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

async function signInRequest(s: TestService, token: string | undefined, headers: Record<string, string> = {}): Promise<Response> {
  const body = token === undefined ? 'user=admin' : new URLSearchParams({ token }).toString();
  return fetch(`${s.listenUrl}/console/sign-in`, { method: 'POST', redirect: 'manual', headers: { ...FORM, ...headers }, body });
}

interface Signed {
  cookie: string;
  csrf: string;
}

/** Signs in and reads the CSRF token off the console page, as a browser would. */
async function signIn(s: TestService): Promise<Signed> {
  const res = await signInRequest(s, s.adminToken);
  assert.equal(res.status, 303);
  const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
  const page = await (await fetch(`${s.listenUrl}/`, { headers: { cookie } })).text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
  assert.ok(csrf, 'the console page carries a CSRF token');
  return { cookie, csrf };
}

const consolePage = async (s: TestService, cookie: string) => (await fetch(`${s.listenUrl}/`, { headers: { cookie } })).text();

function postForm(s: TestService, path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${s.listenUrl}${path}`, { method: 'POST', redirect: 'manual', headers: { ...FORM, ...headers }, body: new URLSearchParams(fields).toString() });
}

function statusOf(url: string, headers: Record<string, string>): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      res.resume();
      resolve(res.statusCode);
    }).on('error', reject);
  });
}

const runCount = (s: TestService) => s.store.db.prepare('SELECT count(*) FROM sync_runs').pluck().get() as number;
const redFlag = (id: string, extra: Json = {}) => Buffer.from(JSON.stringify({ ...vendorJson('red-flag'), webhook_id: id, ...extra }));

test('GET / without a session is the sign-in page: labelled field, security headers, nothing from another host', async (t) => {
  const s = await startTestService(t);
  const res = await fetch(`${s.listenUrl}/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'; style-src 'self'/);
  assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const html = await res.text();
  assert.match(html, /<label for="token">Admin token<\/label>\s*<input id="token" name="token" type="password"/);
  for (const [, url] of html.matchAll(/(?:src|href|action)="([^"]*)"/g)) assert.doesNotMatch(url!, /^(https?:)?\/\//, `no asset from another host: ${url}`);
  assert.equal(res.headers.get('set-cookie'), null);
});

test('a wrong token is refused with one and the same answer whatever it is; no cookie', async (t) => {
  const s = await startTestService(t);
  const right = s.adminToken;
  const wrongs = ['', 'x', right.slice(0, -1), `${right.slice(0, -1)}${right.endsWith('A') ? 'B' : 'A'}`, `${right} `, `${right}${right}`, 'a'.repeat(300), s.webhookToken, '<script>alert(1)</script>'];
  const bodies = new Set<string>();
  for (const token of [...wrongs, undefined]) {
    const res = await signInRequest(s, token);
    assert.equal(res.status, 401, `token ${JSON.stringify(token)}`);
    assert.equal(res.headers.get('set-cookie'), null);
    bodies.add(await res.text());
  }
  assert.equal(bodies.size, 1, 'the same page for every wrong input');
  const [body] = [...bodies];
  assert.match(body!, /Sign-in refused: that is not the admin token\./);
  assert.doesNotMatch(body!, /alert\(1\)/, 'the input is not echoed');
});

test('sign-in answers come at one pace whatever the input: a flood waits its turn or gets 429, never a different answer', async (t) => {
  const s = await startTestService(t);
  const tokens = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? '' : i % 3 === 1 ? s.adminToken.slice(0, -1) : 'z'.repeat(i * 7)));
  const answers = await Promise.all(tokens.map(async (token) => {
    const res = await signInRequest(s, token);
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
  }));
  const refused = answers.filter((a) => a.status === 429);
  const wrong = answers.filter((a) => a.status === 401);
  assert.equal(refused.length + wrong.length, answers.length, JSON.stringify(answers.map((a) => a.status)));
  assert.ok(refused.length > 0, 'more attempts than may wait are refused at once');
  assert.ok(refused.every((a) => /^\d+$/.test(a.retryAfter ?? '')), 'with Retry-After');
  assert.equal(new Set(refused.map((a) => a.body)).size, 1);
  assert.equal(new Set(wrong.map((a) => a.body)).size, 1);
});

test('the pace: one answer per interval in arrival order, a bounded queue, then refusals', async () => {
  let clock = 1000;
  const slept: number[] = [];
  const pace = createPace({ intervalMs: 250, maxWaiting: 3, now: () => clock, sleep: async (ms) => void slept.push(ms) });
  const turns = [pace.turn(), pace.turn(), pace.turn(), pace.turn()];
  assert.deepEqual(await Promise.all(turns), [true, true, true, false], 'the fourth waiting attempt is refused');
  assert.deepEqual(slept, [0, 250, 500], 'each waits for its own slot');
  assert.equal(pace.retryAfterSeconds(), 1);
  // Later attempts get slots after those already given, however quickly they come.
  clock += 100;
  assert.equal(await pace.turn(), true);
  assert.deepEqual(slept.at(-1), 650);
});

test('the right token signs in: a session cookie that is HttpOnly and SameSite=Strict (not Secure over http)', async (t) => {
  const s = await startTestService(t);
  const res = await signInRequest(s, s.adminToken);
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '../');
  const cookie = res.headers.get('set-cookie') ?? '';
  assert.match(cookie, /^ember_console=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict$/);
  const page = await consolePage(s, cookie.split(';')[0]!);
  assert.match(page, /<h1>Console<\/h1>/);
  assert.ok(page.includes(`value="${s.webhookUrl}"`), 'the webhook URL to paste into EmberQA');
  // The database keeps no session id, only its HMAC.
  const id = cookie.split(';')[0]!.split('=')[1]!;
  const keys = s.store.db.prepare('SELECT key FROM console_sessions').pluck().all() as string[];
  assert.equal(keys.length, 1);
  assert.ok(!keys.includes(id));
});

test('with an https PUBLIC_URL the cookie is Secure, under the __Host- prefix', async (t) => {
  const s = await startTestService(t, { PUBLIC_URL: 'https://hooks.example.com' });
  const res = await signInRequest(s, s.adminToken, { origin: 'https://hooks.example.com', 'sec-fetch-site': 'same-origin' });
  assert.equal(res.status, 303);
  assert.match(res.headers.get('set-cookie') ?? '', /^__Host-ember_console=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict; Secure$/);
});

test('POSTs from another origin are refused before anything is read, signed in or not', async (t) => {
  const s = await startTestService(t);
  const { cookie, csrf } = await signIn(s);
  const runs = runCount(s);
  const cases: Array<Record<string, string>> = [
    { origin: 'http://evil.example' },
    { origin: 'null' },
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site', origin: 'http://127.0.0.1:1' },
  ];
  for (const headers of cases) {
    const sync = await postForm(s, '/console/sync/csv', { csrf }, { cookie, ...headers });
    assert.equal(sync.status, 403, JSON.stringify(headers));
    assert.match(await sync.text(), /forbidden/);
    const signin = await signInRequest(s, s.adminToken, headers);
    assert.equal(signin.status, 403, `sign-in ${JSON.stringify(headers)}`);
    assert.equal(signin.headers.get('set-cookie'), null);
  }
  assert.equal(runCount(s), runs, 'no sync was started');
});

test('a POST needs the session cookie and its CSRF token: missing cookie 401, missing or wrong token 403, twice 400', async (t) => {
  const s = await startTestService(t, { SYNC_SCHEDULE: '0 0 1 1 *' });
  const { cookie, csrf } = await signIn(s);
  const other = await signIn(s);
  const runs = runCount(s);

  const noCookie = await postForm(s, '/console/sync/csv', { csrf });
  assert.equal(noCookie.status, 401);
  assert.match(await noCookie.text(), /Your session has ended/);
  assert.equal((await postForm(s, '/console/sync/csv', {}, { cookie })).status, 403);
  assert.equal((await postForm(s, '/console/sync/csv', { csrf: other.csrf }, { cookie })).status, 403, "another session's token");
  const twice = await fetch(`${s.listenUrl}/console/sync/csv`, { method: 'POST', redirect: 'manual', headers: { ...FORM, cookie }, body: `csrf=${csrf}&csrf=x` });
  assert.equal(twice.status, 400);
  const json = await fetch(`${s.listenUrl}/console/sync/csv`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json', cookie }, body: JSON.stringify({ csrf }) });
  assert.equal(json.status, 415);
  assert.equal(runCount(s), runs, 'nothing was started');

  const ok = await postForm(s, '/console/sync/csv', { csrf }, { cookie, origin: s.listenUrl, 'sec-fetch-site': 'same-origin' });
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.get('location'), '../../');
  assert.match(await consolePage(s, cookie), /<p class="notice" role="status" id="flash">Sync of csv started\.<\/p>/);
  assert.doesNotMatch(await consolePage(s, cookie), /id="flash"/, 'the message is shown once');

  const unknown = await postForm(s, '/console/sync/nowhere', { csrf }, { cookie });
  assert.equal(unknown.status, 404);
});

test('sign-out ends the session on the server and clears the cookie; a new ADMIN_TOKEN ends every session', async (t) => {
  const dataDir = tempDir(t);
  const first = await startTestService(t, { DATA_DIR: dataDir, ADMIN_TOKEN: 'first-admin-token-0123456789' });
  const a = await signIn(first);
  const b = await signIn(first);
  assert.equal((await postForm(first, '/console/sign-out', {}, { cookie: a.cookie })).status, 403, 'a session is ended by its own form only');
  const out = await postForm(first, '/console/sign-out', { csrf: a.csrf }, { cookie: a.cookie });
  assert.equal(out.status, 303);
  assert.match(out.headers.get('set-cookie') ?? '', /^ember_console=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict$/);
  assert.match(await consolePage(first, a.cookie), /Sign in to the console/);
  assert.match(await consolePage(first, b.cookie), /<h1>Console<\/h1>/, 'other sessions go on');
  await first.close();

  const same = await startTestService(t, { DATA_DIR: dataDir, ADMIN_TOKEN: 'first-admin-token-0123456789' });
  assert.match(await consolePage(same, b.cookie), /<h1>Console<\/h1>/, 'a session outlives a restart');
  await same.close();

  const rotated = await startTestService(t, { DATA_DIR: dataDir, ADMIN_TOKEN: 'second-admin-token-0123456789' });
  assert.match(await consolePage(rotated, b.cookie), /Sign in to the console/, 'a new admin token ends it');
});

test('webhooks per hour: counted by type and outcome in the commit, kept across restarts; refused requests are not', async (t) => {
  const dataDir = tempDir(t);
  const s = await startTestService(t, { DATA_DIR: dataDir });
  assert.equal((await s.post(redFlag('hours-1'))).status, 200);
  assert.equal((await s.post(redFlag('hours-1'))).status, 200);
  assert.equal((await s.post(Buffer.from(JSON.stringify({ ...vendorJson('low-score'), webhook_id: 'hours-2' })))).status, 200);
  assert.equal((await s.post(redFlag('hours-3', { total_score: 'high' }))).status, 422);
  assert.equal((await s.post(Buffer.from(JSON.stringify({ webhook_id: 'hours-4', alert_type: 'mystery' })))).status, 422);
  assert.equal((await fetch(`${s.listenUrl}/webhooks/emberqa/wrong-token-0123456789`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 401);
  assert.equal((await s.post(Buffer.from('{'))).status, 400);

  const rows = s.store.db.prepare('SELECT type, outcome, n FROM webhook_hours ORDER BY type, outcome').all();
  assert.deepEqual(rows, [
    { type: 'low_score', outcome: 'accepted', n: 1 },
    { type: 'red_flag', outcome: 'accepted', n: 1 },
    { type: 'red_flag', outcome: 'duplicate', n: 1 },
    { type: 'red_flag', outcome: 'quarantined', n: 1 },
    { type: 'unknown', outcome: 'quarantined', n: 1 },
  ]);
  await s.close();

  const again = await startTestService(t, { DATA_DIR: dataDir });
  const { cookie } = await signIn(again);
  const hourBefore = new Date().toISOString().slice(0, 13);
  const page = await consolePage(again, cookie);
  const hourAfter = new Date().toISOString().slice(0, 13);
  const cell = (type: string, outcome: string) => new RegExp(`<tr data-type="${type}">.*?<td class="num" data-outcome="${outcome}">(\\d+)</td>`, 's').exec(page)?.[1];
  assert.equal(cell('red_flag', 'accepted'), '1');
  assert.equal(cell('red_flag', 'duplicate'), '1');
  assert.equal(cell('red_flag', 'quarantined'), '1');
  assert.equal(cell('low_score', 'accepted'), '1');
  assert.equal(cell('unknown', 'quarantined'), '1');
  const data = JSON.parse(/<script type="application\/json" id="hourly-data">(.*?)<\/script>/s.exec(page)![1]!) as { hours: string[]; series: Array<{ type: string; outcome: string; counts: number[] }> };
  assert.equal(data.hours.length, 48);
  assert.ok([hourBefore, hourAfter].includes(data.hours.at(-1)!), 'the window ends with the current hour');
  const redAccepted = data.series.find((x) => x.type === 'red_flag' && x.outcome === 'accepted');
  assert.equal(redAccepted?.counts.reduce((a, b) => a + b, 0), 1);
});

test('migration 6 counts the hours the log still tells of: accepted events and quarantine attempts', (t) => {
  const db = new Database(`${tempDir(t)}/v5.db`);
  t.after(() => db.close());
  migrate(db, MIGRATIONS.filter((m) => m.version <= 5));
  const event = db.prepare("INSERT INTO events (webhook_id, type, received_at, outcome, body) VALUES (?, ?, ?, ?, x'7b7d')");
  event.run('a', 'red_flag', '2026-11-29T10:05:00.000Z', 'accepted');
  event.run('b', 'red_flag', '2026-11-29T10:59:59.999Z', 'accepted');
  event.run('c', 'completion', '2026-11-29T11:00:00.000Z', 'accepted');
  event.run('d', 'red_flag', '2026-11-29T09:00:00.000Z', 'replayed');
  db.prepare("INSERT INTO quarantine (body_sha256, webhook_id, received_at, last_received_at, attempts, reason, errors, body) VALUES ('s1', 'd', '2026-11-29T09:00:00.000Z', '2026-11-29T11:30:00.000Z', 3, 'schema_validation_failed', '[]', x'7b7d')").run();
  migrate(db);
  assert.deepEqual(db.prepare('SELECT hour, type, outcome, n FROM webhook_hours ORDER BY hour, type').all(), [
    { hour: '2026-11-29T09', type: 'unknown', outcome: 'quarantined', n: 1 },
    { hour: '2026-11-29T10', type: 'red_flag', outcome: 'accepted', n: 2 },
    { hour: '2026-11-29T11', type: 'completion', outcome: 'accepted', n: 1 },
    { hour: '2026-11-29T11', type: 'unknown', outcome: 'quarantined', n: 2 },
  ]);
});

test('the quarantine on the page: escaped text, errors, the raw payload for a signed-in operator only', async (t) => {
  const s = await startTestService(t);
  const hostileId = '<script>alert("id")</script>';
  const bytes = redFlag(hostileId, { total_score: '<img src=x onerror=alert(1)>' });
  assert.equal((await s.post(bytes)).status, 422);
  const id = s.store.db.prepare('SELECT id FROM quarantine').pluck().get() as number;
  const { cookie } = await signIn(s);
  const page = await consolePage(s, cookie);
  assert.ok(!page.includes('<script>alert'), 'a webhook_id is text, never markup');
  assert.ok(!page.includes('<img src=x'), 'an echoed value is text, never markup');
  assert.ok(page.includes('&lt;script&gt;alert(&quot;id&quot;)&lt;/script&gt;'));
  assert.match(page, /<code>\/total_score<\/code>/);
  assert.match(page, /<strong id="quarantine-held">1<\/strong>/);

  const anonymous = await fetch(`${s.listenUrl}/console/quarantine/${id}/payload`);
  assert.equal(anonymous.status, 401);
  const res = await fetch(`${s.listenUrl}/console/quarantine/${id}/payload`, { headers: { cookie } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-disposition'), `attachment; filename="quarantine-${id}.json"`);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.ok(Buffer.compare(Buffer.from(await res.arrayBuffer()), bytes) === 0, 'byte for byte');
  for (const bad of ['999999', 'abc', '0', '1e3']) assert.equal((await fetch(`${s.listenUrl}/console/quarantine/${bad}/payload`, { headers: { cookie } })).status, 404, bad);
});

test('CSV downloads per view and date range: the last day included, bad ranges refused, a session required', async (t) => {
  const s = await startTestService(t);
  assert.equal((await s.post(redFlag('dl-1'))).status, 200);
  const { cookie } = await signIn(s);
  const go = (query: string) => fetch(`${s.listenUrl}/console/download?${query}`, { redirect: 'manual', headers: { cookie } });

  const ranged = await go('view=red_flags&from=2026-11-01&to=2026-11-30');
  assert.equal(ranged.status, 303);
  assert.equal(ranged.headers.get('location'), 'api/export/red_flags.csv?since=2026-11-01&until=2026-12-01');
  assert.equal((await go('view=scores&from=&to=')).headers.get('location'), 'api/export/scores.csv');
  for (const [query, status] of [['view=nope', 404], ['view=scores&from=2025-02-30', 400], ['view=scores&from=2026-11-02&to=2026-11-01', 400], ['view=scores&view=scores', 400], ['view=scores&since=2026-01-01', 400]] as const) {
    assert.equal((await go(query)).status, status, query);
  }
  assert.equal((await fetch(`${s.listenUrl}/console/download?view=scores`, { redirect: 'manual' })).status, 401);

  const today = new Date().toISOString().slice(0, 10);
  const csv = await fetch(`${s.listenUrl}/console/api/export/red_flags.csv?since=${today}`, { headers: { cookie } });
  assert.equal(csv.status, 200);
  assert.equal(csv.headers.get('content-disposition'), 'attachment; filename="red_flags.csv"');
  const rows = parse(await csv.text()) as string[][];
  assert.deepEqual(rows.map((r) => r[0]), ['webhook_id', 'dl-1']);
  assert.equal((await fetch(`${s.listenUrl}/console/api/export/red_flags.csv`)).status, 401, 'no session, no rows');
  const bearer = await fetch(`${s.listenUrl}/console/api/export/red_flags.csv`, { headers: { authorization: `Bearer ${s.adminToken}` } });
  assert.equal(bearer.status, 401, 'the console path takes a session, not the bearer token (that is /api/export)');
});

test('the console files are served by ember-sync itself, with validators', async (t) => {
  const s = await startTestService(t);
  for (const [file, type] of [['uplot.iife.min.js', 'text/javascript'], ['uplot.min.css', 'text/css'], ['console.js', 'text/javascript'], ['console.css', 'text/css']] as const) {
    const res = await fetch(`${s.listenUrl}/console/assets/${file}`);
    assert.equal(res.status, 200, file);
    assert.match(res.headers.get('content-type') ?? '', new RegExp(`^${type}`));
    assert.ok((await res.arrayBuffer()).byteLength > 500);
    const etag = res.headers.get('etag');
    assert.ok(etag);
    // node:http, not fetch: fetch adds `Cache-Control: no-cache` to a conditional request, which asks for the body again.
    assert.equal(await statusOf(`${s.listenUrl}/console/assets/${file}`, { 'if-none-match': etag }), 304);
  }
  assert.equal((await fetch(`${s.listenUrl}/console/assets/..%2Fpackage.json`)).status, 404);
  assert.equal((await fetch(`${s.listenUrl}/console/state`, { headers: { accept: 'application/json' } })).status, 401);
});
