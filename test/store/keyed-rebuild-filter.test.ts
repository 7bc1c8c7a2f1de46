import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateWebhooks } from '../../src/simulate/calls.js';
import { createStore, type SqliteStore } from '../../src/store/create-store.js';
import { ingest } from '../helpers/ingest.js';
import { tempDir } from '../helpers/temp-dir.js';

const KEYED = ['content_rows', 'content_score_rows', 'daily_agent_rows', 'daily_metric_rows', 'keyed_parts'];
const rows = (s: SqliteStore) => Object.fromEntries(KEYED.map((t) => [t, s.db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all()]));

/**
 * A rebuild skips looking for contents it has not derived since its wipe (keyed-projection `derived`):
 * that holds only while no other connection derives keyed rows. Two connections taking turns, a wipe by
 * the other one, and the same rows as one connection alone.
 */
test('keyed rows derived by two connections taking turns after a wipe are the rows one connection derives alone', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'ember-sync.db');
  const seed = createStore({ dbPath: path, reportTimezone: 'America/New_York' });
  const start = Date.parse('2026-09-01T00:00:00Z');
  await ingest(seed, [...generateWebhooks(600, { seed: 7 })], (i) => new Date(start + i * 600_000 - (i % 11 === 0 ? 5_400_000 : 0)).toISOString());
  await seed.projection.catchUp(40);
  seed.close();
  const alonePath = join(dir, 'alone.db');
  copyFileSync(path, alonePath);

  const alone = createStore({ dbPath: alonePath });
  t.after(() => alone.close());
  await alone.projection.rebuildKeyed(40);
  const expected = rows(alone);

  const a = createStore({ dbPath: path });
  const b = createStore({ dbPath: path });
  t.after(() => (a.close(), b.close()));
  // a wipes and derives; b takes every third batch; b wipes once half-way and they start over.
  await a.projection.resetKeyed();
  let turn = 0;
  let wiped = false;
  for (;;) {
    const who = turn++ % 3 === 2 ? b : a;
    if (!wiped && turn === 9) {
      await b.projection.resetKeyed();
      wiped = true;
    }
    if (await who.projection.projectBatch(40) === 0) break;
  }
  assert.equal(await a.projection.lag(), 0);
  assert.deepEqual(rows(a), expected);
});
