import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { backupDatabase } from '../../src/jobs/backup.js';
import { generateWebhooks } from '../../src/simulate/calls.js';
import { createStore } from '../../src/store/create-store.js';
import { runCli } from '../helpers/cli.js';
import { exported } from '../helpers/export.js';
import { startTestService } from '../helpers/service.js';
import { tempDir } from '../helpers/temp-dir.js';

test('backup under ingest load: the copy passes its check and holds every webhook acknowledged before it started; owner-only; the target path is never half a file', async (t) => {
  const svc = await startTestService(t, { SYNC_SCHEDULE: '0 0 1 1 *', LOG_LEVEL: 'warn' });
  const acked: string[] = [];
  let stop = false;
  const hooks = generateWebhooks(100_000, { seed: 5, idPrefix: 'bk-' });
  // Two senders keep webhooks coming for the whole backup.
  const sender = async () => {
    while (!stop) {
      const w = hooks.next();
      if (w.done) return;
      const res = await svc.post(JSON.stringify(w.value));
      if (res.status === 200 || res.status === 202) acked.push(w.value.webhook_id);
      await res.arrayBuffer();
    }
  };
  const senders = [sender(), sender()];
  while (acked.length < 300) await new Promise((r) => setTimeout(r, 20));
  const before = [...acked];
  const out = join(tempDir(t), 'nightly.db');
  const seenPartial: boolean[] = [];
  const watcher = setInterval(() => seenPartial.push(existsSync(out)), 1);
  const run = await runCli(['backup', '--out', out], { DATA_DIR: svc.dataDir });
  clearInterval(watcher);
  stop = true;
  await Promise.all(senders);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^backed up \d+ events \(\d+\.\d MB\) to .*nightly\.db\n$/);
  assert.equal(statSync(out).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(join(out, '..')), ['nightly.db'], 'no temp file left');
  const copy = new Database(out, { readonly: true });
  try {
    assert.equal(copy.pragma('quick_check', { simple: true }), 'ok');
    const ids = new Set(copy.prepare<[], string>('SELECT webhook_id FROM events').pluck().all());
    const missing = before.filter((id) => !ids.has(id));
    assert.deepEqual(missing, [], 'every webhook acknowledged before the backup is in it');
    const printed = Number(/backed up (\d+) events/.exec(run.stdout)![1]);
    assert.equal(printed, ids.size);
  } finally {
    copy.close();
  }
  // Restore: the copy is a database ember-sync opens as it is.
  const restored = createStore({ dbPath: out });
  t.after(() => restored.close());
  restored.projection.catchUp();
  assert.match(await exported(restored, 'completions'), /bk-/);
});

test('backup replaces an older copy atomically; a folder that does not exist is one clear line (exit 1); no database is exit 2', async (t) => {
  const dir = tempDir(t);
  const store = createStore({ dbPath: join(dir, 'ember-sync.db') });
  const out = join(dir, 'copy.db');
  const first = await backupDatabase(store, out);
  assert.equal(first.events, 0);
  assert.ok(first.bytes > 0);
  store.close();
  const again = await runCli(['backup', '--out', out], { DATA_DIR: dir });
  assert.equal(again.code, 0, again.stderr);
  const bad = await runCli(['backup', '--out', join(dir, 'no', 'such', 'dir', 'x.db')], { DATA_DIR: dir });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^ember-sync: .*directory does not exist/m);
  const self = await runCli(['backup', '--out', join(dir, 'ember-sync.db')], { DATA_DIR: dir });
  assert.equal(self.code, 2);
  assert.match(self.stderr, /--out is the database itself/);
  const none = await runCli(['backup', '--out', out], { DATA_DIR: join(dir, 'nowhere') });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no database at/);
});
