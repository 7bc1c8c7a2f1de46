import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { BackupTargetError, BackupUnsupportedError, backupDatabase, backupTargetProblem } from '../../src/jobs/backup.js';
import { generateWebhooks } from '../../src/simulate/calls.js';
import { generateWebhook } from '../../src/simulate/generate.js';
import { createStore } from '../../src/store/create-store.js';
import type { Store } from '../../src/store/store.js';
import { runCli } from '../helpers/cli.js';
import { exported } from '../helpers/export.js';
import { ingest } from '../helpers/ingest.js';
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
  await restored.projection.catchUp();
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

test('backup refuses --out that is the database or its -wal/-shm/-journal under any spelling (symlinked folder, symlink, hard link) and a folder; the live database stays intact', async (t) => {
  const dir = tempDir(t);
  const dbPath = join(dir, 'ember-sync.db');
  const store = createStore({ dbPath });
  t.after(() => store.close());
  await ingest(store, [generateWebhook(0, { seed: 9, idPrefix: 'wal-' })]);
  symlinkSync(dir, join(dir, 'via-link'));
  symlinkSync(dbPath, join(dir, 'db-link.db'));
  linkSync(dbPath, join(dir, 'hard.db'));
  const refused: Array<[string, RegExp]> = [
    [`${dbPath}-wal`, /database's wal file/],
    [`${dbPath}-shm`, /database's shm file/],
    [`${dbPath}-journal`, /database's journal file/],
    [join(dir, 'via-link', 'ember-sync.db-wal'), /database's wal file/],
    [join(dir, 'via-link', 'ember-sync.db'), /database itself/],
    [join(dir, 'db-link.db'), /database itself/],
    [join(dir, 'hard.db'), /database itself/],
    [join(dir, 'x', '..', 'ember-sync.db'), /database itself/],
    [dir, /is a folder; give a file name/],
  ];
  for (const [out, why] of refused) {
    assert.match((await backupTargetProblem(dbPath, out)) ?? 'accepted', why, out);
    await assert.rejects(backupDatabase(store, out), (err: Error) => err instanceof BackupTargetError && why.test(err.message), out);
  }
  assert.equal(await backupTargetProblem(dbPath, join(dir, 'copy.db')), undefined);
  // The database still answers, with its webhook.
  assert.equal(store.db.prepare('SELECT count(*) FROM events').pluck().get(), 1);
  assert.equal(statSync(`${dbPath}-wal`).isFile(), true);
  const cli = await runCli(['backup', '--out', join(dir, 'via-link', 'ember-sync.db-wal')], { DATA_DIR: dir });
  assert.equal(cli.code, 2, cli.stderr);
  assert.match(cli.stderr, /^ember-sync: --out is the database's wal file/m);
});

test('a backup that cannot be written names the path', async (t) => {
  const dir = tempDir(t);
  const store = createStore({ dbPath: join(dir, 'ember-sync.db') });
  t.after(() => store.close());
  writeFileSync(join(dir, 'a-file'), 'x');
  const out = join(dir, 'a-file', 'copy.db');
  await assert.rejects(backupDatabase(store, out), (err: Error) => err.message.startsWith(`no backup written to ${out}: `));
});

test('the copy is owner-only from its first byte (not 0644 until the end), and copies a killed backup left beside --out are removed', async (t) => {
  const dir = tempDir(t);
  const store = createStore({ dbPath: join(dir, 'ember-sync.db') });
  t.after(() => store.close());
  await ingest(store, Array.from({ length: 200 }, (_, i) => generateWebhook(i, { seed: 4, idPrefix: 'mode-' })));
  const outDir = join(dir, 'backups');
  mkdirSync(outDir);
  // What a backup killed with -9 leaves: its temp copy and journal, named after a process that is gone.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  const leftovers = [`.copy.db.tmp-${dead}-0badc0de`, `.copy.db.tmp-${dead}-0badc0de-journal`];
  for (const n of leftovers) writeFileSync(join(outDir, n), 'old copy');
  writeFileSync(join(outDir, `.other.db.tmp-${dead}-0badc0de`), 'not this backup');
  const modes: number[] = [];
  await backupDatabase(store, join(outDir, 'copy.db'), () => {
    for (const n of readdirSync(outDir)) if (n.startsWith('.copy.db.tmp-')) modes.push(statSync(join(outDir, n)).mode & 0o777);
  });
  assert.ok(modes.length > 0, 'the temp copy was seen while it was written');
  assert.deepEqual([...new Set(modes)], [0o600]);
  assert.deepEqual(readdirSync(outDir).sort(), [`.other.db.tmp-${dead}-0badc0de`, 'copy.db']);
});

test("restore over a crashed database whose -wal and -shm were left in place: the old WAL is set aside, not replayed onto the copy", async (t) => {
  const dir = tempDir(t);
  const live = createStore({ dbPath: join(dir, 'ember-sync.db') });
  await ingest(live, Array.from({ length: 50 }, (_, i) => generateWebhook(i, { seed: 8, idPrefix: 'rs-' })));
  const backup = join(dir, 'backup.db');
  await backupDatabase(live, backup);
  // More webhooks after the backup: they live in the -wal (no checkpoint yet) when the "crash" happens.
  await ingest(live, Array.from({ length: 30 }, (_, i) => generateWebhook(100 + i, { seed: 8, idPrefix: 'rs-' })));
  const crashed = join(dir, 'crashed');
  mkdirSync(crashed);
  for (const f of ['ember-sync.db', 'ember-sync.db-wal', 'ember-sync.db-shm']) copyFileSync(join(dir, f), join(crashed, f));
  live.close();
  assert.ok(statSync(join(crashed, 'ember-sync.db-wal')).size > 0, 'the crashed database left a WAL with commits in it');
  // The README's restore, done carelessly: only the main file replaced.
  copyFileSync(backup, join(crashed, 'ember-sync.db'));
  const restored = createStore({ dbPath: join(crashed, 'ember-sync.db') });
  t.after(() => restored.close());
  assert.equal(restored.db.pragma('quick_check', { simple: true }), 'ok');
  assert.equal((await restored.events.counts()).events, 50, 'the copy as it was backed up');
  const aside = readdirSync(crashed).filter((f) => f.includes('.set-aside-'));
  assert.equal(aside.filter((f) => f.startsWith('ember-sync.db-wal.set-aside-')).length, 1, 'the old WAL kept aside, not deleted');
});

test('backup --compact converts a database from before incremental vacuum: the restored copy gives freed space back (RETENTION_DAYS)', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'ember-sync.db');
  // A database as an older ember-sync created it: auto_vacuum off (the file existed before the store opened it).
  const old = new Database(path);
  old.pragma('journal_mode = WAL');
  old.close();
  const store = createStore({ dbPath: path });
  t.after(() => store.close());
  assert.equal(store.sqlite.retention.autoVacuum(), 0);
  await ingest(store, [...generateWebhooks(50, { seed: 3, idPrefix: "cmp-" })]);
  const plain = join(dir, 'plain.db');
  await backupDatabase(store, plain);
  const compact = join(dir, 'compact.db');
  const r = await backupDatabase(store, compact, undefined, { compact: true });
  assert.equal(r.events, 50);
  const read = (p: string) => {
    const db = new Database(p, { readonly: true });
    try {
      return { autoVacuum: db.pragma('auto_vacuum', { simple: true }), check: db.pragma('quick_check', { simple: true }), events: db.prepare('SELECT count(*) FROM events').pluck().get() };
    } finally {
      db.close();
    }
  };
  assert.deepEqual(read(plain), { autoVacuum: 0, check: 'ok', events: 50 }, 'a plain backup copies the file as it is');
  assert.deepEqual(read(compact), { autoVacuum: 2, check: 'ok', events: 50 });
  const cli = await runCli(['backup', '--out', join(dir, 'cli.db'), '--compact'], { DATA_DIR: dir });
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(read(join(dir, 'cli.db')).autoVacuum, 2);
});

test('backup copies SQLite only: a PostgreSQL store is refused in one line that points to pg_dump, and nothing is written', async (t) => {
  const out = join(tempDir(t), 'copy.db');
  // Only what backup may look at before refusing: a store of another kind has no connection to copy.
  const pg = { kind: 'postgres', location: 'postgres://ember@db.internal:5432/ember_sync' } as Store;
  await assert.rejects(backupDatabase(pg, out), (err: unknown) => err instanceof BackupUnsupportedError && /pg_dump/.test(err.message) && /postgres:\/\/ember@db\.internal/.test(err.message));
  assert.equal(existsSync(out), false);
});
