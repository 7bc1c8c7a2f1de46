import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { escapeHtml } from '../../src/http/console/html.js';

/** Text from payloads (a webhook_id, an error quoting a value) shown in the console: never markup, never a raw NUL. */
test('escapeHtml: no markup character and no U+0000 survives; everything else is kept', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (text) => {
      const out = escapeHtml(text);
      assert.ok(!/[<>"'\u0000]/.test(out), JSON.stringify(out));
      // An independent decoder of the five entities gives back the text, NUL shown as U+FFFD as a browser would.
      const back = out.replace(/&(lt|gt|quot|#39|amp);/g, (_m, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[e]!);
      assert.equal(back, text.replace(/\u0000/g, '\ufffd'));
    }),
    { numRuns: 500 },
  );
});
