import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBurstLog } from '../../src/lib/burst-log.js';

test('a burst: the first failure is logged at once, the rest counted into one summary line when it ends', async () => {
  const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const log = createBurstLog((fields, message) => lines.push({ fields, message }), { windowMs: 50 });
  for (let i = 0; i < 1000; i++) log.report('full', { i }, 'refused');
  assert.equal(lines.length, 1);
  assert.deepEqual(lines[0], { fields: { i: 0 }, message: 'refused' });
  await sleep(120);
  assert.equal(lines.length, 2);
  assert.equal(lines[1]!.fields['repeated'], 999);
  assert.equal(lines[1]!.fields['i'], 999, 'the summary carries the last fields');
  assert.match(lines[1]!.message, /999 more times/);
  // A new burst after the window starts with a line of its own; other keys are independent.
  log.report('full', {}, 'refused');
  log.report('other', {}, 'other');
  assert.equal(lines.length, 4);
  log.flush();
  assert.equal(lines.length, 4, 'nothing counted, nothing to summarise');
});

test('flush writes the pending summary (shutdown)', () => {
  const lines: string[] = [];
  const log = createBurstLog((_f, m) => lines.push(m), { windowMs: 60_000 });
  log.report('k', {}, 'x');
  log.report('k', {}, 'x');
  log.flush();
  assert.deepEqual(lines, ['x', 'x (1 more times in the last 60 s)']);
});
