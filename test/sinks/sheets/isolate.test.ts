/** Isolating the view Google refuses from a batch — pure, no server. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ViewName } from '../../../src/model/views.js';
import { sendIsolating, whatFor } from '../../../src/sinks/sheets/isolate.js';
import { refusedForContent, SheetsTargetError } from '../../../src/sinks/sheets/sheets-client.js';

const parts = [
  { view: 'red_flags' as ViewName, n: 1 },
  { view: 'scores' as ViewName, n: 2 },
  { view: 'red_flags' as ViewName, n: 3 },
  { view: 'workflows' as ViewName, n: 4 },
];
const refusal = (status = 400) => new SheetsTargetError(`refused (${status})`, status);

/** A server that refuses any request holding a part of `bad` with `err`. */
function server(bad: ViewName | undefined, err: () => Error = () => refusal()) {
  const sent: number[][] = [];
  const refused: Array<[string, string]> = [];
  return {
    sent,
    refused,
    send: async (ps: readonly (typeof parts)[number][]) => {
      sent.push(ps.map((p) => p.n));
      if (ps.some((p) => p.view === bad)) throw err();
    },
    refuse: (view: string, e: unknown) => refused.push([view, (e as Error).message]),
  };
}

test('all good: one request', async () => {
  const s = server(undefined);
  await sendIsolating(parts, s.send, refusedForContent, s.refuse);
  assert.deepEqual(s.sent, [[1, 2, 3, 4]]);
  assert.deepEqual(s.refused, []);
});

test('one view refused (400): the batch is sent again view by view, only that view is refused', async () => {
  const s = server('scores');
  await sendIsolating(parts, s.send, refusedForContent, s.refuse);
  assert.deepEqual(s.sent, [[1, 2, 3, 4], [1, 3], [2], [4]]);
  assert.deepEqual(s.refused, [['scores', 'refused (400)']]);
});

test('a batch of one view refused: that view, without sending it again', async () => {
  const s = server('scores');
  await sendIsolating(parts.filter((p) => p.view === 'scores'), s.send, refusedForContent, s.refuse);
  assert.deepEqual(s.sent, [[2]]);
  assert.deepEqual(s.refused, [['scores', 'refused (400)']]);
});

test('failures that are not about one view (quota, server, permission, a stopped sync) are thrown, not isolated', async () => {
  for (const err of [refusal(429), refusal(500), refusal(403), refusal(404), refusal(401), new SheetsTargetError('stopped before writing rows', undefined, true), new Error('boom')]) {
    const s = server('scores', () => err);
    await assert.rejects(sendIsolating(parts, s.send, refusedForContent, s.refuse), err);
    assert.equal(s.sent.length, 1, err.message);
  }
  // …also when one shows up while isolating.
  let calls = 0;
  await assert.rejects(
    sendIsolating(
      parts,
      async () => {
        calls++;
        throw calls === 1 ? refusal() : refusal(503);
      },
      refusedForContent,
      () => assert.fail('nothing is refused'),
    ),
    /503/,
  );
  assert.equal(calls, 2);
});

test('errors name the tab when a request is about one view', async () => {
  assert.equal(whatFor(['scores'], 'writing rows', 'writing the rows of tab'), 'writing the rows of tab "scores"');
  assert.equal(whatFor(['scores', 'red_flags'], 'writing rows', 'writing the rows of tab'), 'writing rows');
});
