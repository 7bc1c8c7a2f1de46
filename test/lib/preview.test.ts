import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { clip, previewJson } from '../../src/lib/preview.js';

test('previewJson: any JSON value, however deep or wide: never throws, never longer than max, exact when it fits', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.integer({ min: 5, max: 200 }), (value, max) => {
      const out = previewJson(value, max);
      assert.ok(out.length <= max, `${out.length} > ${max}`);
      const full = JSON.stringify(value);
      if (full.length <= max) assert.equal(out, full);
      else assert.ok(out.endsWith('…'));
    }),
    { numRuns: 500 },
  );
});

test('previewJson: 100,000 deep arrays and objects, a 1 MB string, a million items', () => {
  const deepArray = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)) as unknown;
  const deepObject = JSON.parse('{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000)) as unknown;
  for (const v of [deepArray, deepObject, 'x'.repeat(1_000_000), Array(1_000_000).fill(1)]) {
    const out = previewJson(v);
    assert.ok(out.length <= 80);
    assert.ok(out.endsWith('…'));
  }
});

test('clip says how long the text was', () => {
  assert.equal(clip('abc', 5), 'abc');
  assert.equal(clip('abcdefgh', 3), 'abc… (8 characters)');
});
