import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIXED_COLUMNS, KEYED_VIEWS, LOG_VIEWS, rowColumns, VIEW_DEFS, VIEW_NAMES, VIEW_OF_TYPE, WIDE_VIEWS } from '../../src/model/views.js';
import { createStore } from '../../src/store/create-store.js';
import { tempDir } from '../helpers/temp-dir.js';

test('the SQL views and tables of the migrations match the one definition of each view', (t) => {
  const store = createStore({ dbPath: join(tempDir(t), 'ember-sync.db') });
  t.after(() => store.close());
  const columnsOf = (name: string) => (store.db.prepare(`SELECT name FROM pragma_table_info(?) ORDER BY cid`).pluck().all(name) as string[]);
  for (const view of VIEW_NAMES) {
    assert.deepEqual(columnsOf(view), [...FIXED_COLUMNS[view]], `SQL view ${view}: its columns, in order`);
    const table = columnsOf(VIEW_DEFS[view].table);
    // Daily rows store their agent as agent_key ('' for none), shown as agent_name.
    const stored = (c: string) => (c === 'agent_name' && (view === 'daily_agents' || view === 'daily_metrics') ? 'agent_key' : c);
    for (const c of rowColumns(view)) assert.ok(table.includes(stored(c)), `table ${VIEW_DEFS[view].table} stores ${c}`);
    if (KEYED_VIEWS.includes(view as never)) for (const c of ['rid', 'changed_seq']) assert.ok(table.includes(c), `keyed table ${VIEW_DEFS[view].table} has ${c}`);
  }
});

test('the definitions are the contract: append-only views start with webhook_id, received_at; keyed views have their key among their columns; every webhook type has its wide view', () => {
  for (const view of LOG_VIEWS) assert.deepEqual(FIXED_COLUMNS[view].slice(0, 2), ['webhook_id', 'received_at'], view);
  assert.deepEqual([...KEYED_VIEWS], ['contents', 'content_scores', 'daily_agents', 'daily_metrics']);
  for (const view of KEYED_VIEWS) for (const k of VIEW_DEFS[view].key) assert.ok(FIXED_COLUMNS[view].includes(k), `${view}: key column ${k} is a column`);
  assert.deepEqual(Object.values(VIEW_OF_TYPE).sort(), [...WIDE_VIEWS].sort());
  assert.deepEqual([...FIXED_COLUMNS.red_flags], ['webhook_id', 'received_at', 'timestamp', 'content_id', 'content_type', 'file_name', 'agent_name', 'red_flag_reason', 'total_score']);
  assert.deepEqual([...FIXED_COLUMNS.scores], ['webhook_id', 'received_at', 'source', 'content_id', 'agent_name', 'metric', 'score', 'justification']);
});
