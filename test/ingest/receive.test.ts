import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StoreRejectedError, StoreUnavailableError, webhookTypeOf } from '../../src/errors.js';
import { createReceiver } from '../../src/ingest/receive.js';
import { createValidator } from '../../src/ingest/validate.js';
import { vendorBytes, vendorJson } from '../helpers/fixtures.js';

const validator = createValidator();
const receiveWith = (failure: unknown) => createReceiver({ validator, write: () => Promise.reject(failure) });
const input = (body: string | Buffer) => ({ body: Buffer.from(body), signatureHeaders: { 'webhook-id': undefined, 'webhook-timestamp': undefined, 'webhook-signature': undefined } });

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

test('a failed commit carries the type the receiver classified; a writer\'s shared error is copied, not changed', async () => {
  // A writer rejects every webhook of a failed batch with one error: the batch holds several types.
  const cause = new Error('disk full');
  const shared = new StoreUnavailableError(cause, { outcomeUnknown: true });
  const receive = receiveWith(shared);
  const red = await failure(receive(input(vendorBytes('red-flag'))));
  const low = await failure(receive(input(vendorBytes('low-score'))));
  const quarantined = await failure(receive(input(JSON.stringify({ ...vendorJson('low-score'), total_score: 'high' }))));
  const unknown = await failure(receive(input('{"alert_type":"nope"}')));
  for (const err of [red, low, quarantined]) {
    assert.ok(err instanceof StoreUnavailableError);
    assert.equal(err.cause, cause);
    assert.equal(err.outcomeUnknown, true, 'the answer still says the commit may have happened');
    assert.equal(err.status, 503);
  }
  assert.deepEqual([red, low, quarantined, unknown].map(webhookTypeOf), ['red_flag', 'low_score', 'low_score', undefined]);
  assert.equal(unknown, shared, 'nothing to label: the error as the writer gave it');
  assert.equal(shared.webhookType, undefined, 'the shared error is not changed');

  const refused = new StoreRejectedError(new Error('check_violation'));
  const rejected = await failure(receiveWith(refused)(input(vendorBytes('completion-call'))));
  assert.ok(rejected instanceof StoreRejectedError);
  assert.equal(rejected.cause, refused.cause);
  assert.equal(webhookTypeOf(rejected), 'completion');

  // Any other error (a bug) is rethrown as it is.
  const bug = new TypeError('bug');
  assert.equal(await failure(receiveWith(bug)(input(vendorBytes('red-flag')))), bug);
});
