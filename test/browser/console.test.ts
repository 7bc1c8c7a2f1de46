import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parse } from 'csv-parse/sync';
import type { Page } from 'playwright-core';
import { ROOT_DIR, vendorJson } from '../helpers/fixtures.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { tempDir } from '../helpers/temp-dir.js';
import { launchChromium, noChromium } from './chromium.js';

/**
 * The operator console in a real browser (Debian's chromium driven by
 * playwright-core): everything is asserted on the DOM, the database or the
 * files, never on screenshots or timings.
 */

type Json = Record<string, unknown>;

/** A copy of schemas/ the story changes: at first a `*_score` may not be null. */
function copySchemas(t: TestContext): string {
  const dir = join(tempDir(t, 'ember-sync-schemas-'), 'schemas');
  cpSync(join(ROOT_DIR, 'schemas'), dir, { recursive: true });
  return dir;
}

/** The schema fix of the story (as test/jobs/replay.test.ts): a metric that was not scored has a null score. */
function allowNullScores(schemasDir: string): void {
  const file = join(schemasDir, 'definitions.json');
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { definitions: { scoreDetails: { patternProperties: Record<string, { type: unknown }> } } };
  const score = doc.definitions.scoreDetails.patternProperties['_score$'];
  assert.ok(score, 'definitions.json has the _score$ pattern');
  score.type = ['number', 'null'];
  writeFileSync(file, JSON.stringify(doc, null, 2));
}

const redFlag = (id: string, extra: Json = {}) => Buffer.from(JSON.stringify({ ...vendorJson('red-flag'), webhook_id: id, ...extra }));
const completion = (id: string) => Buffer.from(JSON.stringify({ ...vendorJson('completion-call'), webhook_id: id }));

async function post(s: TestService, body: Buffer, status: number): Promise<void> {
  const res = await s.post(body);
  const text = await res.text();
  assert.equal(res.status, status, text);
}

/** A page on another origin with a form aimed at the console (what a hostile site would serve). */
async function hostileSite(t: TestContext, host: string, action: string): Promise<string> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>hostile</title><form method="post" action="${action}"><input type="hidden" name="csrf" value="guess"><button id="go">win a prize</button></form>`);
  });
  server.listen(0, host);
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://${host}:${(server.address() as AddressInfo).port}/`;
}

const text = async (page: Page, selector: string) => ((await page.locator(selector).first().textContent()) ?? '').replace(/\s+/g, ' ').trim();
const runCount = (s: TestService) => s.store.db.prepare('SELECT count(*) FROM sync_runs').pluck().get() as number;

test('the operator console in chromium: sign in, counts and chart, replay, sync now, CSV download, sign out, refusals', { skip: noChromium, timeout: 120_000 }, async (t) => {
  const dataDir = tempDir(t);
  const schemasDir = copySchemas(t);
  // The schedule never fires during the test: every sync here is the console's.
  const env = { DATA_DIR: dataDir, SYNC_SCHEDULE: '0 0 1 1 *', LOG_LEVEL: 'warn' };

  // Before the fix, a red flag with an unscored metric is quarantined.
  const before = await startTestService(t, env, { schemasDir });
  const held = redFlag('console-held-1', { score_details: { ...(vendorJson('red-flag')['score_details'] as Json), empathy_score: null } });
  await post(before, held, 422);
  await before.close();

  // The fix ships (an upgrade), the server restarts with it.
  allowNullScores(schemasDir);
  const s = await startTestService(t, env, { schemasDir });
  const origin = s.listenUrl;

  const browser = await launchChromium(t);
  const context = await browser.newContext({ acceptDownloads: true });
  // Fail fast: a missing element is a failure, not a wait.
  context.setDefaultTimeout(10_000);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const page = await context.newPage();
  const foreign: string[] = [];
  page.on('request', (req) => {
    if (!req.url().startsWith(`${origin}/`)) foreign.push(req.url());
  });
  // Script errors and Content-Security-Policy violations (the page's CSP allows only its own files).
  const faults: string[] = [];
  page.on('pageerror', (err) => faults.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) faults.push(msg.text());
  });

  await t.test('a wrong token is refused without a session; the right one signs in', async () => {
    const res = await page.goto(`${origin}/`);
    assert.equal(res?.status(), 200);
    assert.equal(await page.locator('h1').textContent(), 'Sign in to the console');

    await page.getByLabel('Admin token').fill(`${s.adminToken.slice(0, -1)}x`);
    const [refused] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/console/sign-in')), page.getByRole('button', { name: 'Sign in' }).click()]);
    assert.equal(refused.status(), 401);
    assert.equal(await text(page, '[role=alert]'), 'Sign-in refused: that is not the admin token.');
    assert.deepEqual(await context.cookies(), [], 'no cookie for a wrong token');

    await page.getByLabel('Admin token').fill(s.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForSelector('h1:text-is("Console")');
    const cookie = (await context.cookies()).find((c) => c.name === 'ember_console');
    assert.equal(cookie?.name, 'ember_console');
    const known = (await context.cookies()).find((c) => c.name === 'ember_console_known');
    assert.equal(known?.httpOnly, true, 'the known-browser mark (sign-in goes first next time) is HttpOnly too');
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, 'Strict');
    assert.equal(await page.evaluate('document.cookie'), '', 'the page script cannot read the session cookie');
  });

  await t.test('the webhook URL with a copy button', async () => {
    assert.equal(await page.getByRole('textbox', { name: 'Webhook URL' }).inputValue(), s.webhookUrl);
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.waitForSelector('#copy-status:text("Copied")');
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), s.webhookUrl);
  });

  await t.test('webhooks that arrive show in the counts and the chart', async () => {
    await post(s, redFlag('console-rf-1'), 200);
    await post(s, redFlag('console-rf-2'), 200);
    await post(s, redFlag('console-rf-1'), 200); // a retry: duplicate
    await post(s, completion('console-c-1'), 200);
    await page.reload();
    const cell = (type: string, outcome: string) => text(page, `#traffic-totals tr[data-type="${type}"] td[data-outcome="${outcome}"]`);
    assert.equal(await cell('red_flag', 'accepted'), '2');
    assert.equal(await cell('red_flag', 'duplicate'), '1');
    assert.equal(await cell('red_flag', 'quarantined'), '1', 'the quarantined one, counted before the restart');
    assert.equal(await cell('completion', 'accepted'), '1');
    assert.equal(await text(page, '#traffic-totals tfoot th'), 'all (5)');

    // The chart: uPlot drew a canvas, and its legend names one series per type and outcome that had webhooks.
    await page.waitForSelector('#chart[data-drawn="true"] canvas');
    const labels = await page.locator('#chart .u-legend .u-series .u-label').allTextContents();
    assert.deepEqual(labels.slice(1), ['red_flag accepted', 'red_flag duplicate', 'red_flag quarantined', 'completion accepted']);
    // Pointing at the latest hour shows that hour's counts, as the table of counts per hour says.
    await page.locator('#chart .u-over').scrollIntoViewIfNeeded();
    const box = (await page.locator('#chart .u-over').boundingBox())!;
    await page.mouse.move(box.x + box.width - 1, box.y + box.height / 2, { steps: 4 });
    // uPlot updates its legend on the next animation frame.
    await page.locator('#chart .u-legend .u-series .u-value').nth(1).filter({ hasNotText: '–' }).waitFor();
    const values = await page.locator('#chart .u-legend .u-series .u-value').allTextContents();
    const latest = await page.locator('#traffic-hours tbody tr').evaluateAll((rows) => {
      const cells = rows.map((r) => [...r.querySelectorAll('td')].map((c) => c.textContent ?? ''));
      const hour = cells[0]?.[0];
      return Object.fromEntries(cells.filter((c) => c[0] === hour).map((c) => [`${c[1]} ${c[2]}`, c[3]]));
    });
    labels.slice(1).forEach((label, i) => assert.equal(values[i + 1], latest[label] ?? '0', label));
  });

  await t.test('the quarantine: errors, download of the raw payload, replay after the schema fix', async () => {
    const item = page.locator('#quarantine li[data-quarantine-id]');
    assert.equal(await item.count(), 1);
    assert.equal(await text(page, '#quarantine-held'), '1');
    assert.match(await text(page, '#quarantine li .errors'), /\/score_details\/empathy_score/);

    const [download] = await Promise.all([page.waitForEvent('download'), item.getByRole('link', { name: /Download payload/ }).click()]);
    assert.ok(Buffer.compare(readFileSync((await download.path())!), held) === 0, 'the payload byte for byte');

    await item.getByRole('button', { name: /Replay/ }).click();
    await page.waitForSelector('#flash');
    assert.equal(await text(page, '#flash'), 'Replayed 1 payload: 1 released, 0 already stored (duplicates), 0 still failing their schema.');
    assert.equal(await text(page, '#quarantine-held'), '0');
    assert.equal(await page.locator('#quarantine li[data-quarantine-id]').count(), 0);
    assert.equal(s.store.db.prepare('SELECT outcome FROM events WHERE webhook_id = ?').pluck().get('console-held-1'), 'replayed');
  });

  await t.test('sync now runs the sync and the page follows it to the end; a click while one runs says so', async () => {
    const card = page.locator('li[data-target="csv"]');
    assert.notEqual(await text(page, 'li[data-target="csv"] [data-pending]'), '0', 'rows are pending before the sync');
    await card.getByRole('button', { name: 'Sync csv now' }).click();
    assert.equal(await text(page, '#flash'), 'Sync of csv started.');
    // The page asks while the sync runs and refreshes the card when it ends.
    await page.waitForSelector('li[data-target="csv"] [data-last-run="ok"]', { timeout: 30_000 });
    assert.equal(await text(page, 'li[data-target="csv"] [data-pending]'), '0');
    assert.equal(await text(page, 'li[data-target="csv"] [data-last-error]'), 'none');
    assert.notEqual(await text(page, 'li[data-target="csv"] [data-last-success]'), '—');
    assert.ok(existsSync(join(dataDir, 'exports')), 'the CSV target wrote its files');
    const done = runCount(s);

    // Another sync holds the target's lock (the schedule, the CLI, another replica).
    const ticket = await s.store.sync.tryLock('csv', 'other-process');
    assert.ok(ticket);
    try {
      await page.reload();
      await card.getByRole('button', { name: 'Sync csv now' }).click();
      assert.match(await text(page, '#flash'), /^A sync of csv is already running \(pid \d+ on .+\): no second one was started\./);
      assert.equal(await card.getAttribute('data-running'), 'true');
      assert.equal(runCount(s), done, 'no second run started');
    } finally {
      await s.store.sync.unlock(ticket);
    }
  });

  await t.test('a CSV download per view and date range, parsed', async () => {
    await page.reload();
    await page.getByLabel('View').selectOption('red_flags');
    const today = new Date().toISOString().slice(0, 10);
    await page.getByLabel('First day (UTC)').fill(today);
    await page.getByLabel('Last day (UTC)').fill(today);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    assert.equal(download.suggestedFilename(), 'red_flags.csv');
    const rows = parse(readFileSync((await download.path())!)) as string[][];
    assert.deepEqual(rows[0]?.slice(0, 3), ['webhook_id', 'received_at', 'timestamp']);
    assert.deepEqual(rows.slice(1).map((r) => r[0]).sort(), ['console-held-1', 'console-rf-1', 'console-rf-2']);

    // A range that ends before today: none of today's rows.
    await page.getByLabel('First day (UTC)').fill('2020-01-01');
    await page.getByLabel('Last day (UTC)').fill('2020-01-31');
    const [empty] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    assert.equal((parse(readFileSync((await empty.path())!)) as string[][]).length, 1, 'the header alone');
  });

  await t.test('readable on a phone: nothing wider than the screen', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.reload();
    await page.waitForSelector('#chart[data-drawn="true"] canvas');
    assert.equal(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), true, 'no horizontal scroll of the page');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await t.test('cross-site and cross-origin POSTs are refused, and do nothing', async () => {
    const runs = runCount(s);
    for (const host of ['127.0.0.2', '127.0.0.1']) {
      const hostile = await hostileSite(t, host, `${origin}/console/sync/csv`);
      const attacker = await context.newPage();
      await attacker.goto(hostile);
      const [res] = await Promise.all([attacker.waitForResponse((r) => r.url() === `${origin}/console/sync/csv`), attacker.click('#go')]);
      assert.equal(res.status(), 403, host);
      assert.match(await text(attacker, '[role=alert]'), /^forbidden: cross-site request refused/);
      await attacker.close();
    }
    assert.equal(runCount(s), runs, 'no sync was started');
  });

  await t.test('a POST without the session cookie is refused and asks to sign in', async () => {
    await page.reload();
    const cookies = await context.cookies();
    await context.clearCookies();
    const runs = runCount(s);
    const [res] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/console/sync/csv')), page.getByRole('button', { name: 'Sync csv now' }).click()]);
    assert.equal(res.status(), 401);
    assert.match(await text(page, '[role=alert]'), /^Your session has ended/);
    assert.equal(runCount(s), runs);
    await context.addCookies(cookies);
  });

  await t.test('sign out ends the session: its cookie no longer opens the console', async () => {
    await page.goto(`${origin}/`);
    const cookie = (await context.cookies()).find((c) => c.name === 'ember_console');
    assert.ok(cookie);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForSelector('h1:text-is("Sign in to the console")');
    // Only the known-browser mark stays: it opens nothing, it only puts this browser first in the sign-in queue.
    assert.deepEqual((await context.cookies()).map((c) => c.name), ['ember_console_known']);
    const replayed = await fetch(`${origin}/`, { headers: { cookie: `${cookie.name}=${cookie.value}` } });
    assert.match(await replayed.text(), /<h1>Sign in to the console<\/h1>/, 'the old cookie is dead on the server too');
  });

  await t.test('every file came from ember-sync itself; no script error, nothing the CSP had to block', () => {
    assert.deepEqual(foreign, []);
    assert.deepEqual(faults, []);
  });
});
