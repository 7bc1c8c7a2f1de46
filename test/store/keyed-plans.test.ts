import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Db } from '../../src/store/open-db.js';
import { createKeyedRows } from '../../src/store/keyed-rows.js';
import { createStore } from '../../src/store/create-store.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * Regression: what changed since a cursor must be read through the changed_seq
 * index. Without statistics SQLite picked the rid range or the month index for
 * these reads, scanning every row a target holds (millions of metric rows) on
 * every sync, status and scrape: 0.6 s of a one-minute sync at 1M webhooks.
 */
test("every read of keyed rows changed since a cursor goes through the table's changed_seq index", (t) => {
  const store = createStore({ dbPath: join(tempDir(t), 'ember-sync.db') });
  t.after(() => store.close());
  const sqls: string[] = [];
  const spy = new Proxy(store.db, {
    get(target, prop, receiver) {
      if (prop === 'prepare') return (sql: string) => (sqls.push(sql), target.prepare(sql));
      return Reflect.get(target, prop, receiver) as unknown;
    },
  }) as Db;
  createKeyedRows(spy);
  const byChange = sqls.filter((sql) => /changed_seq >/.test(sql));
  assert.ok(byChange.length >= 8, `the reads by change (${byChange.length})`);
  for (const sql of byChange) {
    const plan = store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...Array.from({ length: (sql.match(/\?/g) ?? []).length }, () => 1)) as Array<{ detail: string }>;
    const text = plan.map((p) => p.detail).join(' / ');
    assert.match(text, /SEARCH \w+ USING (COVERING )?INDEX \w+_changed \(changed_seq>\?\)/, `${sql}\n  plan: ${text}`);
  }
});
