/**
 * A full rewrite of a view with centuries of months (a new column) writes a
 * file per month in one scan: they must not each hold a descriptor, or a
 * process with a 1024-descriptor limit fails that view on every sync (EMFILE).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { tempDir } from '../../helpers/temp-dir.js';

const root = join(import.meta.dirname, '..', '..', '..');
const src = (p: string) => JSON.stringify(pathToFileURL(join(root, p)).href);

test('a rewrite of 300 month files runs under a 100-descriptor limit, and every file is exact', async (t) => {
  const dir = tempDir(t);
  const script = join(dir, 'many-months.mts');
  writeFileSync(
    script,
    `
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pinoModule from ${src('node_modules/pino/pino.js')};
const { pino } = pinoModule;
import { runSync } from ${src('src/jobs/sync.ts')};
import { createCsvTarget } from ${src('src/sinks/csv/csv-target.ts')};
import { generateWebhook } from ${src('src/simulate/generate.ts')};
import { createStore } from ${src('src/store/create-store.ts')};
import { ingest } from ${src('test/helpers/ingest.ts')};
import { exportedMonth } from ${src('test/helpers/month-files.ts')};
const dir = ${JSON.stringify(dir)};
const store = createStore({ dbPath: join(dir, 'db.sqlite'), reportTimezone: 'UTC' });
const csvDir = join(dir, 'exports');
const target = createCsvTarget({ dir: csvDir, delimiter: ',', bom: false, partition: 'month' });
// One webhook a month for 300 months, only call completions (rows in completions and scores every month).
const hooks = [];
for (let i = 0; hooks.length < 300; i++) { const w = generateWebhook(i, { seed: 21, idPrefix: 'mm-' }); if (w.trigger_reason === 'completed_action' && w.data?.score_details && !w.data.output_schema) hooks.push(w); }
await ingest(store, hooks, (i) => new Date(Date.UTC(1990, i, 15)).toISOString());
const month = (i) => new Date(Date.UTC(1990, i, 15)).toISOString().slice(0, 7);
const r = await runSync({ store, target, logger: pino({ level: 'silent' }) });
// A new key: every month file of the view is written again, in one scan.
const late = { ...hooks[0], webhook_id: 'mm-late', data: { ...hooks[0].data, score_details: { ...hooks[0].data.score_details, brand_new_score: 5 } } };
await ingest(store, [late], () => new Date(Date.UTC(1990, 0, 20)).toISOString());
const again = await runSync({ store, target, logger: pino({ level: 'silent' }) });
console.log(JSON.stringify({ first: r.status, again: again.status, error: again.error ?? r.error ?? null }));
const names = readdirSync(join(csvDir, 'scores'));
assert.equal(names.length, 300);
for (const i of [0, 1, 150, 299]) assert.equal(readFileSync(join(csvDir, 'scores', 'scores-' + month(i) + '.csv'), 'utf8'), await exportedMonth(store, 'scores', month(i), 'UTC'));
assert.equal(readdirSync(join(csvDir, 'completions')).length, 300);
for (const i of [0, 299]) {
  const text = readFileSync(join(csvDir, 'completions', 'completions-' + month(i) + '.csv'), 'utf8');
  assert.match(text.split('\\r\\n')[0], /brand_new_score$/, 'the new column reached every month');
  assert.equal(text, await exportedMonth(store, 'completions', month(i), 'UTC'));
}
await store.close();
`,
  );
  const run = spawnSync('sh', ['-c', `ulimit -n 100 && exec "${process.execPath}" --import tsx "${script}"`], { cwd: root, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout.trim().split('\n').pop()!), { first: 'ok', again: 'ok', error: null });
});
