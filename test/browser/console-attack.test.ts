import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { vendorJson } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';
import { launchChromium, noChromium } from './chromium.js';

/**
 * The console under attack in chromium: markup in every payload field and
 * error the page shows, forms posted from a sandboxed iframe (Origin: null)
 * and from a page on the same host at another port, and a phone-width
 * screen. Asserted on the DOM and the database, never on timings.
 */

const XSS = `"><img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>`;

async function hostile(t: TestContext, html: string): Promise<string> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

test('markup in payloads and errors is shown as text; iframes, sandboxed forms and other ports cannot act; the page fits a phone', { skip: noChromium, timeout: 120_000 }, async (t) => {
  const s = await startTestService(t, { SYNC_SCHEDULE: '0 0 1 1 *' });
  // A payload that fails its schema, with markup in its webhook_id and in a key (the error path) and value.
  const bad = { ...vendorJson('red-flag'), webhook_id: XSS, score_details: { [`${XSS}_score`]: 'not a number' } };
  assert.equal((await s.post(JSON.stringify(bad))).status, 422);
  // A failed sync whose error (as Google or a file system could word it) holds markup.
  const run = await s.store.sync.startRun('csv');
  await s.store.sync.finishRun(run, 'csv', { ok: false, rows: 0, error: `Sheets said: ${XSS}`, details: { notices: [`notice ${XSS}`] } });

  const browser = await launchChromium(t);
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const dialogs: string[] = [];
  page.on('dialog', (d) => void (dialogs.push(d.message()), d.dismiss()));
  await page.goto(`${s.listenUrl}/`);
  // Keyboard only: skip link first, then the token field; Enter submits.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate<string | undefined>('document.activeElement?.textContent'), 'Skip to content');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate<string | undefined>('document.activeElement?.id'), 'token');
  await page.keyboard.type(s.adminToken);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  assert.equal(await page.locator('h1').textContent(), 'Console');

  assert.equal(await page.evaluate<number | undefined>('window.__pwned'), undefined, 'no injected script ran');
  assert.equal(await page.locator('#main img, #main script:not(#hourly-data), #main svg, #main iframe').count(), 0, 'no element came from a payload');
  const held = page.locator('#quarantine li[data-quarantine-id]');
  assert.equal(await held.locator('h3 code').textContent(), XSS, 'the webhook_id is shown as text, whole');
  const errorText = (await held.locator('.errors').textContent()) ?? '';
  assert.ok(errorText.includes('"><img src=x onerror="window.__pwned=1">'), `the error path is shown as text: ${errorText}`);
  const card = page.locator('li[data-target="csv"]');
  assert.ok(((await card.locator('[data-last-error]').textContent()) ?? '').includes(`Sheets said: ${XSS}`));
  assert.ok(((await card.locator('.notices').textContent()) ?? '').includes(`notice ${XSS}`));
  assert.deepEqual(dialogs, []);

  // A phone: nothing wider than the screen but the tables' own scroll boxes.
  const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px at 360px`);
  for (const name of ['Sync csv now', 'Replay all held payloads']) {
    const box = await page.getByRole('button', { name }).boundingBox();
    assert.ok(box && box.height >= 44, `${name}: a touch target of 44px or more`);
  }

  // A hostile page on another port of the same host (same-site, not same-origin), in the signed-in browser:
  // a form in a sandboxed iframe (Origin: null), a plain form, and the console itself framed.
  const runs = () => s.store.db.prepare("SELECT count(*) FROM sync_runs WHERE target = 'csv'").pluck().get() as number;
  const before = runs();
  const form = (id: string) => `<form id="${id}" method="post" action="${s.listenUrl}/console/sync/csv"><input type="hidden" name="csrf" value="x"></form><script>document.getElementById('${id}').submit()</script>`;
  const sandboxed = await hostile(t, `<!doctype html><iframe sandbox="allow-forms allow-scripts" srcdoc="${form('f').replace(/"/g, '&quot;')}"></iframe>`);
  const plain = await hostile(t, `<!doctype html>${form('g')}`);
  const framing = await hostile(t, `<!doctype html><iframe id="c" src="${s.listenUrl}/"></iframe>`);
  const attacker = await context.newPage();
  // Answers to POST /console/sync/csv, as the server logged them (a sandboxed frame's requests are not all reported to the page).
  const refusals = () => s.logs.filter((l) => /"method":"POST","path":"\/console\/sync\/csv","status":403/.test(l)).length;
  const nextRefusal = async (count: number) => {
    for (let i = 0; i < 300 && refusals() <= count; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(refusals(), count + 1, 'the POST reached the server and was refused with 403');
  };
  // The sandboxed iframe posts with Origin: null (and Sec-Fetch-Site: cross-site).
  let seen = refusals();
  await attacker.goto(sandboxed);
  await nextRefusal(seen);
  // Another port of the same host is the same site: the SameSite=Strict cookie goes along, Sec-Fetch-Site: same-site refuses it.
  seen = refusals();
  const [fromPort] = await Promise.all([attacker.waitForResponse((r) => r.url() === `${s.listenUrl}/console/sync/csv`), attacker.goto(plain)]);
  assert.equal(fromPort.status(), 403, 'a form from another port of the same host is refused');
  assert.equal((await fromPort.request().allHeaders())['sec-fetch-site'], 'same-site');
  await nextRefusal(seen);
  // Framed: the browser refuses to render the console (frame-ancestors 'none', X-Frame-Options: DENY).
  const [framedAnswer] = await Promise.all([attacker.waitForResponse(`${s.listenUrl}/`), attacker.goto(framing)]);
  assert.equal(framedAnswer.status(), 200);
  await attacker.waitForLoadState('load');
  const rendered = await Promise.all(attacker.frames().map((f) => f.evaluate<string>("document.querySelector('h1')?.textContent ?? ''").catch(() => '')));
  assert.ok(!rendered.some((h) => /Console|Sign in/.test(h)), `the console does not render inside another page: ${JSON.stringify(rendered)}`);
  assert.equal(runs(), before, 'no sync was started by any of them');
});
