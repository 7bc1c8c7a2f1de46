import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { get, request } from 'node:http';
import { hostname } from 'node:os';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { vendorJson } from '../helpers/fixtures.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { tempDir } from '../helpers/temp-dir.js';
import type { Context } from 'koa';
import { clientOf, createPace } from '../../src/http/console/pace.js';
import { createConsoleAuth } from '../../src/http/console/session.js';
import { consoleSessionKey } from '../../src/http/routes/console.js';
import { createStore } from '../../src/store/create-store.js';
import { hourlyWindow } from '../../src/http/console/hourly.js';
import { consolePage as consolePageHtml } from '../../src/http/console/pages.js';
import { VIEW_NAMES } from '../../src/model/views.js';
import { pendingRows, pendingRowsBounded } from '../../src/store/status.js';
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
  // The hint (where the token is kept) is read out with the field.
  assert.match(html, /<input id="token"[^>]* aria-describedby="token-hint">[\s\S]*<p class="hint" id="token-hint">/);
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

/** A pace on a fake clock: sleeping moves the clock, so the order and times of the turns can be read off. */
function fakePace(options: { maxWaiting: number; perClient?: number; maxKnownWaiting?: number }) {
  let clock = 1000;
  const served: Array<{ who: string; at: number }> = [];
  // The clock moves when the sleep ends (on a later turn of the event loop), after the served attempt has been recorded.
  const sleep = (ms: number) => new Promise<void>((resolve) => setImmediate(() => { clock += ms; resolve(); }));
  const pace = createPace({ intervalMs: 250, ...options, now: () => clock, sleep });
  const ask = (who: string, options: { client?: string; known?: boolean } = {}) =>
    pace.turn(options).then((ok) => {
      if (ok) served.push({ who, at: clock });
      return ok;
    });
  return { pace, ask, served, start: 1000 };
}

test('the pace: one answer per interval for the whole server, a bounded queue, then refusals', async () => {
  const { pace, ask, served, start } = fakePace({ maxWaiting: 3, perClient: 3 });
  const turns = [ask('a'), ask('b'), ask('c'), ask('d')];
  assert.equal(pace.waiting(), 3);
  assert.ok(pace.retryAfterSeconds() >= 1);
  assert.deepEqual(await Promise.all(turns), [true, true, true, false], 'the fourth waiting attempt is refused');
  assert.deepEqual(served, [{ who: 'a', at: start }, { who: 'b', at: start + 250 }, { who: 'c', at: start + 500 }], 'one per interval, in arrival order');
  // Later attempts get slots after those already given, however quickly they come.
  assert.equal(await ask('e'), true);
  assert.equal(served.at(-1)?.at, start + 750);
});

test('the pace is fair: one address cannot fill the queue, and a browser that signed in before goes first', async () => {
  const { ask, served } = fakePace({ maxWaiting: 8, perClient: 2, maxKnownWaiting: 2 });
  // A flood from one address: two wait, the rest are refused at once.
  const flood = Array.from({ length: 10 }, (_, i) => ask(`flood${i}`, { client: '203.0.113.9' }));
  const operator = ask('operator', { client: '198.51.100.7' });
  const known = ask('known', { client: '203.0.113.9', known: true });
  const results = await Promise.all([...flood, operator, known]);
  assert.equal(results.filter((ok) => !ok).length, 8, 'eight of the flood are refused');
  assert.equal(await operator, true, 'the operator from another address gets a turn');
  assert.equal(await known, true, 'a known browser gets a turn even from the flooding address');
  // The known browser first, then the addresses take turns.
  assert.deepEqual(served.map((s) => s.who), ['known', 'flood0', 'operator', 'flood1']);
});

test('clientOf: IPv4 (also IPv4-mapped) by address, IPv6 by its /64', async () => {
  assert.equal(clientOf('203.0.113.9'), '203.0.113.9');
  assert.equal(clientOf('::ffff:203.0.113.9'), '203.0.113.9');
  assert.equal(clientOf('2001:db8:0:1::1'), clientOf('2001:db8:0:1:ffff:1:2:3'));
  assert.notEqual(clientOf('2001:db8:0:1::1'), clientOf('2001:db8:0:2::1'));
  assert.equal(clientOf('::1'), '0:0:0:0::/64');
  assert.equal(clientOf(undefined), '');
});

test('a flood of guesses from one address cannot lock the operator out: another address and a known browser still sign in', async (t) => {
  const s = await startTestService(t);
  // The known-browser mark comes with a sign-in.
  const first = await signInRequest(s, s.adminToken);
  const known = first.headers.getSetCookie().find((c) => c.startsWith('ember_console_known='));
  assert.match(known ?? '', /^ember_console_known=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}; Path=\/; Max-Age=34560000; HttpOnly; SameSite=Strict$/);
  const mark = known!.split(';')[0]!;
  // A sustained flood from 127.0.0.1: twelve loops guessing as fast as they are answered (a 429 comes at once).
  let flooding = true;
  const statuses: number[] = [];
  const loop = async () => {
    while (flooding) {
      const r = await signInRequest(s, `guess-${statuses.length}`);
      await r.text();
      statuses.push(r.status);
    }
  };
  const loops = Array.from({ length: 12 }, loop);
  try {
    while (statuses.filter((x) => x === 429).length < 20) await new Promise((resolve) => setTimeout(resolve, 10));
    const port = new URL(s.listenUrl).port;
    const fromOther = await new Promise<number | undefined>((resolve, reject) => {
      const body = new URLSearchParams({ token: s.adminToken }).toString();
      const req = request(`http://127.0.0.1:${port}/console/sign-in`, { method: 'POST', localAddress: '127.0.0.2', headers: { ...FORM, 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(fromOther, 303, 'the operator at another address signs in during the flood');
    const knownAgain = await signInRequest(s, s.adminToken, { cookie: mark });
    assert.equal(knownAgain.status, 303, 'a browser that signed in before signs in during the flood, from the flooding address');
  } finally {
    flooding = false;
    await Promise.all(loops);
  }
  assert.ok(statuses.filter((x) => x === 401).length <= statuses.length / 4, 'the flood is mostly refused at once, not answered');
});

test('the known-browser mark: only a sign-in makes one; a forged one, or one from before a new ADMIN_TOKEN, gives no priority', async (t) => {
  const store = createStore({ dbPath: `${tempDir(t)}/sessions.db` });
  t.after(() => store.close());
  const sessions = store.console.sessions;
  const auth = createConsoleAuth({ sessions, sessionKey: consoleSessionKey('a'.repeat(43)), publicUrl: 'http://127.0.0.1:3000' });
  const set: string[] = [];
  const ctx = (cookie: string) => ({ get: (name: string) => (name === 'cookie' ? cookie : ''), append: (_: string, value: string) => void set.push(value) }) as unknown as Context;
  await auth.signIn(ctx(''));
  const mark = set.find((c) => c.startsWith('ember_console_known='))!.split(';')[0]!;
  assert.equal(auth.knownBrowser(ctx(mark)), true);
  assert.equal(auth.knownBrowser(ctx(`other=1; ${mark}`)), true);
  assert.equal(auth.knownBrowser(ctx('')), false);
  assert.equal(auth.knownBrowser(ctx(`ember_console_known=${'A'.repeat(22)}.${'A'.repeat(43)}`)), false, 'forged');
  assert.equal(auth.knownBrowser(ctx(mark.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')))), false, 'tampered');
  const rotated = createConsoleAuth({ sessions, sessionKey: consoleSessionKey('b'.repeat(43)), publicUrl: 'http://127.0.0.1:3000' });
  assert.equal(rotated.knownBrowser(ctx(mark)), false, 'a new ADMIN_TOKEN voids the marks');
});

test('the right token signs in: a session cookie that is HttpOnly and SameSite=Strict (not Secure over http)', async (t) => {
  const s = await startTestService(t);
  const res = await signInRequest(s, s.adminToken);
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '../');
  const cookie = res.headers.getSetCookie()[0] ?? '';
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
  const [session, known] = res.headers.getSetCookie();
  assert.match(session ?? '', /^__Host-ember_console=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; HttpOnly; SameSite=Strict; Secure$/);
  assert.match(known ?? '', /^__Host-ember_console_known=[A-Za-z0-9_.-]{66}; Path=\/; Max-Age=34560000; HttpOnly; SameSite=Strict; Secure$/);
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

test('migration 6 counts the hours the log still tells of: accepted events and quarantine attempts', async (t) => {
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
  // Every day the date field accepts leads to a download, the first and the last there is included.
  for (const query of ['view=red_flags&from=0000-01-01&to=9999-12-31', 'view=red_flags&to=9999-12-31', 'view=red_flags&from=9999-12-31&to=9999-12-31']) {
    const hop = await go(query);
    assert.equal(hop.status, 303, query);
    const file = await fetch(new URL(hop.headers.get('location')!, `${s.listenUrl}/console/download`), { headers: { cookie } });
    assert.equal(file.status, 200, `${query} -> ${hop.headers.get('location')}`);
    await file.text();
  }

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

test('pending rows on the page are bounded: a target far behind is not counted row by row on each page load', async (t) => {
  const s = await startTestService(t, { SYNC_SCHEDULE: '0 0 1 1 *' });
  for (let i = 0; i < 5; i++) assert.equal((await s.post(redFlag(`behind-${i}`))).status, 200);
  while (await s.store.projection.lag() > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  const exact = await pendingRows(s.store, 'csv');
  assert.ok(exact >= 5);
  assert.deepEqual(await pendingRowsBounded(s.store, 'csv', VIEW_NAMES, 100), { rows: exact }, 'close enough: counted');
  assert.deepEqual(await pendingRowsBounded(s.store, 'csv', VIEW_NAMES, 4), { behind: 5 }, 'too far behind: not counted');
  // The page with the server's bound (50,000 webhooks) counts these few exactly.
  const { cookie } = await signIn(s);
  const page = await consolePage(s, cookie);
  assert.match(page, new RegExp(`<dd data-pending>${exact}</dd>`));
  // And a card of a target far behind says so instead of a number.
  const card = consolePageHtml({
    home: './', csrf: 'x', flash: undefined, webhookUrl: 'http://h/webhooks/emberqa/t', hourly: hourlyWindow([], new Date()), quarantine: { held: 0, items: [], paged: false, olderThan: undefined },
    projector: { lag: 0, parked: 0 }, views: VIEW_NAMES, today: '2026-11-30', weekAgo: '2026-11-24', retention: { days: null, keptFromDay: null },
    targets: [{ name: 'csv', activity: { running: false }, note: undefined, lastRun: undefined, lastSuccessAt: null, pending: undefined, behind: 1_000_000, viewErrors: [] }],
  });
  assert.match(card, /<dd data-pending>rows of more than 1,000,000 webhooks \(not counted here: <code>ember-sync status<\/code> counts them\)<\/dd>/);
});

test('the console says what RETENTION_DAYS deleted: the oldest kept day above the downloads; nothing when it is unset and never ran', async (t) => {
  const plain = await startTestService(t, { SYNC_SCHEDULE: '0 0 1 1 *' });
  assert.doesNotMatch(await consolePage(plain, (await signIn(plain)).cookie), /id="retention"/);
  const s = await startTestService(t, { SYNC_SCHEDULE: '0 0 1 1 *', RETENTION_DAYS: '30' });
  const { cookie } = await signIn(s);
  assert.match(await consolePage(s, cookie), /<p class="hint" id="retention">Retention \(<code>RETENTION_DAYS=30<\/code>\): nothing deleted yet;/);
  await s.retention!.runNow();
  const keptFrom = (await s.store.retention.state()).keptFromDay!;
  assert.match(await consolePage(s, cookie), new RegExp(`id="retention">Retention \\(<code>RETENTION_DAYS=30</code>\\): webhooks and calls before <strong>${keptFrom}</strong> are deleted`));
});

test("an action's address opened with GET (Enter in the address bar after a refusal) leads back to the console, not to a JSON 405", async (t) => {
  const s = await startTestService(t, { SYNC_SCHEDULE: '0 0 1 1 *' });
  for (const path of ['/console/sign-in', '/console/sign-out', '/console/sync/csv', '/console/quarantine/replay', '/console/quarantine/7/replay']) {
    const res = await fetch(`${s.listenUrl}${path}`, { redirect: 'manual', headers: { accept: 'text/html' } });
    assert.equal(res.status, 303, path);
    assert.equal(new URL(res.headers.get('location')!, `${s.listenUrl}${path}`).href, `${s.listenUrl}/`, path);
    assert.equal(res.headers.get('cache-control'), 'no-store');
  }
  assert.equal(runCount(s), 0, 'a GET starts nothing');
});

/** A sign-in POST with any Host header (fetch cannot set one): what a browser at that address sends. */
function signInAs(s: TestService, token: string, headers: Record<string, string>): Promise<{ status: number | undefined; cookies: string[]; body: string }> {
  return new Promise((resolve, reject) => {
    const body = new URLSearchParams({ token }).toString();
    const req = request(`${s.listenUrl}/console/sign-in`, { method: 'POST', headers: { ...FORM, 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => void (text += c));
      res.on('end', () => resolve({ status: res.statusCode, cookies: res.headers['set-cookie'] ?? [], body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('with an https PUBLIC_URL, signing in from a plain-http page (not loopback) says to use PUBLIC_URL instead of looping back to the form', async (t) => {
  const s = await startTestService(t, { PUBLIC_URL: 'https://hooks.example.com' });
  const lan = await signInAs(s, s.adminToken, { origin: 'http://192.0.2.2:3000', host: '192.0.2.2:3000', 'sec-fetch-site': 'same-origin' });
  assert.equal(lan.status, 400);
  assert.deepEqual(lan.cookies, [], 'no cookie the browser would drop');
  assert.match(lan.body, /plain http, and the console&#39;s session cookie is Secure.*Open the console at https:\/\/hooks\.example\.com\/ instead/);
  // Loopback addresses keep Secure cookies over http; the proxy's https origin is the normal case.
  for (const origin of ['http://127.0.0.1:3000', 'http://localhost:3000', 'http://[::1]:3000', 'https://hooks.example.com']) {
    const res = await signInAs(s, s.adminToken, { origin, host: new URL(origin).host, 'sec-fetch-site': 'same-origin' });
    assert.equal(res.status, 303, origin);
  }
});

test('"Sync now" over a lock whose holder was killed seconds ago (dead pid on this host, fresh heartbeat) starts the sync: the same liveness rule as status', async (t) => {
  const s = await startTestService(t, { SYNC_SCHEDULE: '0 0 1 1 *' });
  const { cookie, csrf } = await signIn(s);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  s.store.db
    .prepare('INSERT INTO sync_locks (target, owner, pid, host, acquired_at, heartbeat_at, generation) VALUES (?, ?, ?, ?, ?, ?, 1)')
    .run('csv', 'killed-sync', dead, hostname(), new Date().toISOString(), new Date().toISOString());
  const runs = runCount(s);
  const res = await postForm(s, '/console/sync/csv', { csrf }, { cookie });
  assert.equal(res.status, 303);
  for (let i = 0; i < 200 && runCount(s) === runs; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(runCount(s), runs + 1, 'the sync ran (it took the dead holder\'s lock over)');
  // A live holder (this process) is busy: nothing starts.
  // (once the console's own sync has finished and let the lock go)
  let ticket = await s.store.sync.tryLock('csv', 'live-owner');
  for (let i = 0; i < 250 && !ticket; i++) {
    await new Promise((r) => setTimeout(r, 20));
    ticket = await s.store.sync.tryLock('csv', 'live-owner');
  }
  assert.ok(ticket);
  try {
    const busy = await postForm(s, '/console/sync/csv', { csrf }, { cookie });
    assert.equal(busy.status, 303);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(runCount(s), runs + 1, 'nothing started while a live process holds the lock');
  } finally {
    await s.store.sync.unlock(ticket);
  }
});

test('a sync run that never finished and whose process is gone shows as crashed on the card, as status says', async (t) => {
  const s = await startTestService(t, { SYNC_SCHEDULE: '0 0 1 1 *' });
  const { cookie } = await signIn(s);
  assert.doesNotMatch(await consolePage(s, cookie), /data-crashed/, 'nothing crashed yet');
  // A run that started (by a process killed since): no finish, no lock holder.
  await s.store.sync.startRun('csv', new Date('2026-11-30T10:00:00.000Z'));
  const page = await consolePage(s, cookie);
  assert.match(page, /<p class="notice error" data-crashed>The run started at <time datetime="2026-11-30T10:00:00.000Z">2026-11-30 10:00:00 UTC<\/time> never finished, and no process holds its lock: it crashed/);
  // While a live process holds the lock, the same unfinished run is a running one, not a crash.
  const ticket = await s.store.sync.tryLock('csv', 'other-process');
  assert.ok(ticket);
  try {
    assert.doesNotMatch(await consolePage(s, cookie), /data-crashed/);
  } finally {
    await s.store.sync.unlock(ticket);
  }
});

test('/console/state (the page poll) answers JSON whatever the Accept header, signed in or not', async (t) => {
  const s = await startTestService(t, { SYNC_SCHEDULE: '0 0 1 1 *' });
  for (const accept of [undefined, '*/*', 'text/html', 'application/json']) {
    const res = await fetch(`${s.listenUrl}/console/state`, { headers: accept ? { accept } : {} });
    assert.equal(res.status, 401, String(accept));
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/, String(accept));
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unauthorized');
  }
  const { cookie } = await signIn(s);
  const ok = await fetch(`${s.listenUrl}/console/state`, { headers: { cookie, accept: 'text/html' } });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { targets: { csv: { running: false } } });
});

test('the console warns when the webhook URL is one EmberQA cannot reach (the default 127.0.0.1), and not behind a public PUBLIC_URL', async (t) => {
  const local = await startTestService(t);
  const page = await consolePage(local, (await signIn(local)).cookie);
  assert.match(page, /<p class="notice error" id="webhook-url-warning"><strong>EmberQA cannot use this URL yet\.<\/strong> 127\.0\.0\.1 is this machine only: EmberQA cannot reach it\. Set PUBLIC_URL/);
  const proxied = await startTestService(t, { PUBLIC_URL: 'https://hooks.example.com' });
  const signin = await signInRequest(proxied, proxied.adminToken, { origin: 'https://hooks.example.com', 'sec-fetch-site': 'same-origin' });
  const cookie = signin.headers.getSetCookie()[0]!.split(';')[0]!;
  assert.doesNotMatch(await consolePage(proxied, cookie), /webhook-url-warning/);
});
