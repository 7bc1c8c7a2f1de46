import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import fc from 'fast-check';
import { createPathRedactor } from '../../src/http/request-log.js';
import { vendorBytes } from '../helpers/fixtures.js';
import { startTestService } from '../helpers/service.js';

const TOKEN = 'Tok3n-secret_value.0123456789abcdef';

/** Every spelling the router accepts, or a proxy or a typo might produce. */
const spellings = (token: string) => [
  `/webhooks/emberqa/${token}`,
  `/WEBHOOKS/EMBERQA/${token}`,
  `/Webhooks/EmberQA/${token}/`,
  `//webhooks//emberqa//${token}`,
  `/proxy/prefix/webhooks/emberqa/${token}`,
  `/webhooks/emberqa/${token}/extra/segments`,
  `/webhooks/emberqa/${encodeURIComponent(token).replace(/[A-Za-z]/g, (c) => `%${c.charCodeAt(0).toString(16)}`)}`,
  `/webhooks/emberqa%2F${token}`,
  `/webhooks/emberqa/${token.toUpperCase()}`,
  `/webhook/emberqa/${token}`,
  `/${token}`,
  `/api/export/${token}.csv`,
  `/anything/%25${Buffer.from(token).toString('hex').replace(/(..)/g, '%$1')}`,
  // Found by the attack review: a token cut in two segments, cut by other characters, encoded three times.
  `/webhooks/emberqa/${token.slice(0, 20)}/${token.slice(20)}`,
  `/${token.slice(0, 15)}%${token.slice(15, 30)}%zz${token.slice(30)}`,
  `/x/${token.slice(0, 12)}`,
  `/x/%2525${Buffer.from(token).toString('hex').replace(/(..)/g, '%2525$1')}`,
];

test('the redactor hides the token in every spelling of the path (case, slashes, prefixes, percent-encoding)', async () => {
  const redact = createPathRedactor([TOKEN]);
  for (const path of spellings(TOKEN)) {
    const out = redact(path);
    assert.ok(!out.toLowerCase().includes(TOKEN.toLowerCase()), `${path} → ${out}`);
    assert.ok(!/tok3n-se|ue\.01234|cret_val/i.test(out), `no run of the token: ${path} → ${out}`);
  }
  assert.equal(redact('/healthz'), '/healthz', 'other paths are kept');
  assert.equal(redact('/api/export/scores.csv'), '/api/export/scores.csv');
});

test('generated tokens, anywhere in any generated path, never come out of the redactor', async () => {
  const tokenChar = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-');
  fc.assert(
    fc.property(fc.string({ unit: tokenChar, minLength: 16, maxLength: 64 }), fc.string(), fc.string(), fc.boolean(), (token, before, after, upper) => {
      const shown = upper ? token.toUpperCase() : token;
      const out = createPathRedactor([token])(`/${encodeURI(before)}${shown}${encodeURI(after)}`);
      assert.ok(!out.toLowerCase().includes(token.toLowerCase()), out);
    }),
    { numRuns: 300 },
  );
});

/** A raw request: fetch would normalise the path, a proxy or an attacker does not. */
function rawPost(base: string, path: string, body: Buffer, contentType = 'application/json'): Promise<number> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: 'POST', path, headers: { 'content-type': contentType, 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('regression: no log line and no answer holds the webhook token, whatever the spelling and the outcome', async (t) => {
  const s = await startTestService(t, { LOG_LEVEL: 'debug' });
  const token = s.webhookToken;
  const answers: string[] = [];
  for (const path of spellings(token)) {
    for (const [body, type] of [[vendorBytes('red-flag'), 'application/json'], [Buffer.from('{not json'), 'application/json'], [Buffer.from('x'), 'text/plain']] as const) {
      await rawPost(s.listenUrl, path, body, type);
    }
    const res = await fetch(s.listenUrl + path.replace(/^\/\//, '/'), { method: 'GET' });
    answers.push(await res.text());
  }
  const all = [...s.logs, ...answers].join('\n');
  assert.ok(s.logs.length > 5, 'requests were logged');
  assert.ok(!all.toLowerCase().includes(token.toLowerCase()), 'the token never appears, in any case');
});

test('a flood of unauthenticated requests is counted per burst, not logged line by line', async (t) => {
  const s = await startTestService(t, { LOG_LEVEL: 'info' });
  const before = s.logs.length;
  await Promise.all(Array.from({ length: 300 }, (_, i) => fetch(`${s.listenUrl}/webhooks/emberqa/wrong-token-${i}-0123456789`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })));
  await Promise.all(Array.from({ length: 300 }, (_, i) => fetch(`${s.listenUrl}/scan/${i}`)));
  const lines = s.logs.slice(before);
  assert.ok(lines.length <= 2, `one line per kind of refusal in a burst, got ${lines.length}: ${lines.join("\n")}`);
  assert.ok(lines.some((l) => l.includes('"status":401')) && lines.some((l) => l.includes('"status":404')));
});
