import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bearerToken, createTokenCheck } from '../../src/ingest/verify-token.js';

const TOKEN = 'Zx9_k-3qLmN0pQrStUvWxYz0123456789abcdefABCD'; // 43 chars, like a generated one

test('createTokenCheck: the exact token passes', () => {
  assert.equal(TOKEN.length, 43);
  const check = createTokenCheck(TOKEN);
  assert.equal(check(TOKEN), true);
  assert.equal(check(String(TOKEN)), true, 'a different string instance with the same content');
});

test('createTokenCheck: missing, empty, shorter, longer, one character off, other case all fail', () => {
  const check = createTokenCheck(TOKEN);
  const wrong = [
    undefined,
    '',
    TOKEN.slice(0, -1),
    TOKEN + 'x',
    TOKEN.slice(0, -1) + (TOKEN.endsWith('C') ? 'D' : 'C'),
    'x' + TOKEN.slice(1),
    TOKEN.toLowerCase(),
    TOKEN.toUpperCase(),
    ` ${TOKEN}`,
    `${TOKEN} `,
    'x'.repeat(TOKEN.length),
  ];
  for (const w of wrong) assert.equal(check(w), false, JSON.stringify(w));
});

test('createTokenCheck: non-ASCII input of the same character length or byte length fails without throwing', () => {
  const check = createTokenCheck('aaaaaaaaaaaaaaaa');
  assert.equal(check('aaaaaaaaaaaaaaaé'), false, 'same characters count, more bytes');
  assert.equal(check('aaaaaaaaaaaaaaé'), false, 'same byte count, fewer characters');
  assert.equal(check('😀'.repeat(8)), false);
});

test('createTokenCheck: each check is bound to its own token', () => {
  const a = createTokenCheck('token-a-0123456789');
  const b = createTokenCheck('token-b-0123456789');
  assert.equal(a('token-a-0123456789'), true);
  assert.equal(a('token-b-0123456789'), false);
  assert.equal(b('token-b-0123456789'), true);
  assert.equal(b('token-a-0123456789'), false);
});

test('bearerToken: the token of "Bearer <token>", scheme case-insensitive, spaces or tabs', () => {
  assert.equal(bearerToken(`Bearer ${TOKEN}`), TOKEN);
  assert.equal(bearerToken(`bearer ${TOKEN}`), TOKEN);
  assert.equal(bearerToken(`BEARER ${TOKEN}`), TOKEN);
  assert.equal(bearerToken(`Bearer   ${TOKEN}`), TOKEN);
  assert.equal(bearerToken(`Bearer\t${TOKEN}`), TOKEN);
  assert.equal(bearerToken(`Bearer ${TOKEN}  `), TOKEN, 'trailing whitespace is not part of the token');
});

test('bearerToken: anything else gives undefined', () => {
  for (const h of [undefined, '', 'Bearer', 'Bearer ', `Bearer${TOKEN}`, `Basic ${TOKEN}`, `Token ${TOKEN}`, `Bearer ${TOKEN} extra`, `Bearer a b`, TOKEN, `Bearer: ${TOKEN}`]) {
    assert.equal(bearerToken(h), undefined, JSON.stringify(h));
  }
});

test('bearerToken and createTokenCheck together: the header form of the webhook URL', () => {
  const check = createTokenCheck(TOKEN);
  assert.equal(check(bearerToken(`Bearer ${TOKEN}`)), true);
  assert.equal(check(bearerToken(`Basic ${TOKEN}`)), false);
  assert.equal(check(bearerToken(undefined)), false);
});
