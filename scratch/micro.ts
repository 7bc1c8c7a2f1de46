import { readFileSync } from 'node:fs';
import { createValidator } from '../src/ingest/validate.ts';
import { parseJsonObject } from '../src/ingest/parse-body.ts';
import { createTokenCheck } from '../src/ingest/verify-token.ts';
import { createMetrics } from '../src/metrics/create-metrics.ts';
import { redactPath } from '../src/http/request-log.ts';
import { is as typeIs } from 'type-is';
const body = readFileSync('/tmp/prof/body.json');
const v = createValidator();
const tc = createTokenCheck('a'.repeat(43));
const m = createMetrics();
function time(name: string, fn: () => unknown, n = 50000) {
  for (let i = 0; i < 2000; i++) fn();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  console.log(name.padEnd(20), ((performance.now() - t0) * 1000 / n).toFixed(2), 'us');
}
const parsed = parseJsonObject(body);
time('JSON.parse', () => JSON.parse(body.toString()));
time('parseJsonObject', () => parseJsonObject(body));
time('validate', () => v.validate(parsed));
time('tokenCheck', () => tc('a'.repeat(43)));
time('metrics', () => { m.webhooks.inc({ type: 'low_score', outcome: 'accepted' }); m.ingestSeconds.observe({ outcome: 'ok' }, 0.001); });
time('redact', () => redactPath('/webhooks/emberqa/' + 'a'.repeat(43)));
time('typeIs', () => typeIs('application/json', ['application/json']));
time('toISOString', () => new Date().toISOString());
