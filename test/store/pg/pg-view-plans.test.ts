import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOG_VIEWS, VIEW_DEFS } from '../../../src/model/views.js';
import { generateWebhook } from '../../../src/simulate/generate.js';
import { createPgStore } from '../../../src/store/pg/create-pg-store.js';
import { pageSql } from '../../../src/store/pg/pg-view-rows.js';
import { ingest } from '../../helpers/ingest.js';
import { freshDatabase, PG_SKIP, testClient } from './pg-test-db.js';

/**
 * A page of a view reads only the events of its own seq range, also under a
 * generic plan (what PostgreSQL caches for a prepared statement after five
 * runs): a plan that joined the log from its start on every page made an
 * export of `scores` 30 times slower than SQLite's at 200k webhooks, and
 * slower the longer the log.
 */
test('view pages: under a generic plan the log is read by seq range, never from its start', { skip: PG_SKIP }, async (t) => {
  const url = await freshDatabase(t);
  const store = await createPgStore({ connectionString: url });
  t.after(() => store.close());
  await ingest(store, Array.from({ length: 400 }, (_, i) => generateWebhook(i, { seed: 8, idPrefix: 'plan-' })));
  await store.projection.catchUp();
  const client = await testClient(t, url);
  await client.query('ANALYZE');
  await client.query('SET plan_cache_mode = force_generic_plan');
  for (const view of LOG_VIEWS) {
    const wide = VIEW_DEFS[view].shape === 'wide';
    await client.query(`PREPARE page_${view} AS ${pageSql(view)}`);
    const args = wide ? '(100, 200, NULL, NULL, 500)' : '(100, 0, NULL, NULL, 200, 500)';
    const plan = (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE page_${view}${args}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
    // Every node that reads events carries the page's lower seq bound ($1) itself, whatever join the planner picks.
    const lines = plan.split('\n');
    const nodes = lines.flatMap((line, i) => (/ on events e\b/.test(line) ? [i] : []));
    assert.ok(nodes.length > 0, `${view}: the plan reads events\n${plan}`);
    for (const i of nodes) {
      const indent = lines[i]!.search(/\S/);
      const details: string[] = [];
      for (let j = i + 1; j < lines.length && lines[j]!.search(/\S/) > indent && !lines[j]!.trim().startsWith('->'); j++) details.push(lines[j]!);
      assert.ok(details.some((d) => /\bseq >=? \$1\b/.test(d)), `${view}: events read without the page's seq bound\n${plan}`);
    }
  }
});
