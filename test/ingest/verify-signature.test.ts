import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { createSignatureCheck, type SignatureHeaders } from '../../src/ingest/verify-signature.js';
import { InvalidSignatureError } from '../../src/errors.js';
import { vendorBytes } from '../helpers/fixtures.js';

const secretOf = (seed: string) => 'whsec_' + Buffer.from(seed.padEnd(24, '.')).toString('base64');
const OLD = secretOf('old-secret-0123456789');
const NEW = secretOf('new-secret-0123456789');
const RETIRED = secretOf('retired-secret-0123456789');

/** Headers exactly as a Standard Webhooks sender makes them. */
function sign(secret: string, id: string, body: Buffer | string, at = new Date()): Required<SignatureHeaders> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, body),
  };
}

function assertRejected(fn: () => void, why: RegExp | undefined = undefined, label = '') {
  assert.throws(
    fn,
    (err: unknown) => {
      assert.ok(err instanceof InvalidSignatureError, `${label}: expected InvalidSignatureError, got ${String(err)}`);
      assert.equal(err.code, 'invalid_signature');
      assert.equal(err.status, 401);
      if (why) assert.match(err.message, why, label);
      return true;
    },
    label,
  );
}

test('a valid signature over the exact bytes passes', () => {
  const check = createSignatureCheck([NEW]);
  const body = vendorBytes('red-flag');
  assert.doesNotThrow(() => check(body, sign(NEW, 'msg_1', body)));
  // Multi-byte characters are signed and verified over the same bytes.
  const utf8 = Buffer.from(JSON.stringify({ agent_name: 'Lukas Müller', note: 'Tom O’Brien' }), 'utf8');
  assert.doesNotThrow(() => check(utf8, sign(NEW, 'msg_2', utf8)));
});

test('a signed body that is not JSON still verifies (parsing is not the signature check’s job)', () => {
  const check = createSignatureCheck([NEW]);
  const body = Buffer.from('not json');
  assert.doesNotThrow(() => check(body, sign(NEW, 'msg_1', body)));
});

test('a tampered body, id or timestamp is rejected', () => {
  const check = createSignatureCheck([NEW]);
  const body = vendorBytes('red-flag');
  const headers = sign(NEW, 'msg_1', body);
  const tampered = Buffer.from(body.toString('utf8').replace('John Doe', 'Jane Doe'));
  assertRejected(() => check(tampered, headers), /invalid webhook signature/, 'body changed');
  const extraSpace = Buffer.concat([body, Buffer.from(' ')]);
  assertRejected(() => check(extraSpace, headers), undefined, 'one trailing byte added');
  assertRejected(() => check(body, { ...headers, 'webhook-id': 'msg_2' }), undefined, 'other id');
  assertRejected(() => check(body, { ...headers, 'webhook-timestamp': String(Number(headers['webhook-timestamp']) - 1) }), undefined, 'other timestamp');
  const sig = headers['webhook-signature'];
  const flipped = sig.slice(0, -2) + (sig.at(-2) === 'A' ? 'B' : 'A') + sig.at(-1);
  assertRejected(() => check(body, { ...headers, 'webhook-signature': flipped }), undefined, 'one signature character changed');
  assertRejected(() => check(body, { ...headers, 'webhook-signature': sig.replace('v1,', 'v2,') }), undefined, 'unknown version');
});

test('expired and future timestamps are rejected even with a correct signature', () => {
  const check = createSignatureCheck([NEW]);
  const body = vendorBytes('low-score');
  assertRejected(() => check(body, sign(NEW, 'msg_old', body, new Date(Date.now() - 10 * 60_000))), /too old/i, 'ten minutes old');
  assertRejected(() => check(body, sign(NEW, 'msg_new', body, new Date(Date.now() + 10 * 60_000))), /too new/i, 'ten minutes ahead');
  assertRejected(() => check(body, { ...sign(NEW, 'msg_x', body), 'webhook-timestamp': 'yesterday' }), undefined, 'not a number');
});

test('missing headers are rejected, naming the headers', () => {
  const check = createSignatureCheck([NEW]);
  const body = vendorBytes('red-flag');
  const full = sign(NEW, 'msg_1', body);
  assertRejected(() => check(body, {}), /webhook-signature/, 'none');
  for (const h of ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const) {
    const without: SignatureHeaders = { ...full };
    delete without[h];
    assertRejected(() => check(body, without), /missing/, `without ${h}`);
    assertRejected(() => check(body, { ...full, [h]: '' }), /missing/, `empty ${h}`);
    assertRejected(() => check(body, { ...full, [h]: undefined }), /missing/, `undefined ${h}`);
  }
});

test('a signature from a secret that is not configured is rejected', () => {
  const check = createSignatureCheck([OLD, NEW]);
  const body = vendorBytes('red-flag');
  assertRejected(() => check(body, sign(RETIRED, 'msg_1', body)), undefined, 'retired secret');
});

test('rotation: with several secrets configured, a signature from any of them passes', () => {
  const check = createSignatureCheck([OLD, NEW]);
  const body = vendorBytes('completion-call');
  assert.doesNotThrow(() => check(body, sign(OLD, 'msg_1', body)), 'old secret');
  assert.doesNotThrow(() => check(body, sign(NEW, 'msg_2', body)), 'new secret');
  // Order of configuration does not matter.
  const reversed = createSignatureCheck([NEW, OLD]);
  assert.doesNotThrow(() => reversed(body, sign(OLD, 'msg_3', body)));
  // After rotation ends, the old secret is refused.
  const onlyNew = createSignatureCheck([NEW]);
  assertRejected(() => onlyNew(body, sign(OLD, 'msg_4', body)), undefined, 'old secret after rotation');
});

test('several signatures in one header: one matching is enough, in any position', () => {
  const check = createSignatureCheck([NEW]);
  const body = vendorBytes('completion-workflow');
  const at = new Date();
  const good = sign(NEW, 'msg_1', body, at);
  const other = sign(RETIRED, 'msg_1', body, at)['webhook-signature'];
  assert.doesNotThrow(() => check(body, { ...good, 'webhook-signature': `${other} ${good['webhook-signature']}` }), 'matching one last');
  assert.doesNotThrow(() => check(body, { ...good, 'webhook-signature': `${good['webhook-signature']} ${other}` }), 'matching one first');
  assert.doesNotThrow(() => check(body, { ...good, 'webhook-signature': `v2,abc ${other} ${good['webhook-signature']}` }), 'unknown versions are skipped');
  const alsoWrong = sign(OLD, 'msg_1', body, at)['webhook-signature'];
  assertRejected(() => check(body, { ...good, 'webhook-signature': `${other} ${alsoWrong}` }), undefined, 'none matching');
});

test('a secret without the whsec_ prefix is the same key (the library accepts both forms)', () => {
  const bare = NEW.slice('whsec_'.length);
  const check = createSignatureCheck([bare]);
  const body = vendorBytes('red-flag');
  assert.doesNotThrow(() => check(body, sign(NEW, 'msg_1', body)));
});

test('no secrets configured: nothing can verify', () => {
  const check = createSignatureCheck([]);
  const body = vendorBytes('red-flag');
  assertRejected(() => check(body, sign(NEW, 'msg_1', body)), undefined, 'empty secret list');
});
