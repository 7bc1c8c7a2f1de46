import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { payloadTypesPath, renderPayloadTypes } from '../../scripts/payload-types.js';
import { ROOT_DIR } from '../helpers/fixtures.js';

test('the committed src/model/payload-types.ts is exactly what the schemas generate (run `npm run gen:types`)', async () => {
  assert.equal(payloadTypesPath, join(ROOT_DIR, 'src', 'model', 'payload-types.ts'));
  const committed = readFileSync(payloadTypesPath, 'utf8');
  const rendered = await renderPayloadTypes();
  assert.equal(rendered, committed);
});

test('the generated types cover every webhook type schema', async () => {
  const rendered = await renderPayloadTypes();
  for (const name of ['EmberQAWebhook', 'RedFlagWebhook', 'LowScoreWebhook', 'CompletionWebhook', 'WorkflowCompletionWebhook', 'ScoreDetails', 'OutputField']) {
    assert.match(rendered, new RegExp(`export (interface|type) ${name}\\b`), name);
  }
  assert.match(rendered, /^\/\/ Generated from schemas\/\*\.json/);
  // ScoreDetails is shared: emitted once, not once per schema.
  assert.equal(rendered.match(/export interface ScoreDetails\b/g)?.length, 1);
});
