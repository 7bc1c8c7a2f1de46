import assert from 'node:assert/strict';
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createStore } from '../../src/store/create-store.js';
import { tempDir } from '../helpers/temp-dir.js';

test('regression: a new database, its WAL and shared-memory files are owner-only (raw webhooks quote customers)', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'ember-sync.db');
  const store = createStore({ dbPath: path });
  store.sqlite.probe();
  for (const f of [path, `${path}-wal`, `${path}-shm`]) assert.equal(statSync(f).mode & 0o777, 0o600, f);
  store.close();
  // An existing database keeps the mode its operator gave it (a group that reads backups, say).
  chmodSync(path, 0o640);
  createStore({ dbPath: path }).close();
  assert.equal(statSync(path).mode & 0o777, 0o640);
});

test('WAL and synchronous=FULL on every open, also on a re-open', (t) => {
  const path = join(tempDir(t), 'ember-sync.db');
  for (let i = 0; i < 2; i++) {
    const store = createStore({ dbPath: path });
    assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(store.db.pragma('synchronous', { simple: true }), 2);
    store.close();
  }
});
