import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { createStore } from '../../src/store/create-store.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';
import { vendorJson } from '../helpers/fixtures.js';

/** Three red flags received on three different days, one with formula-looking text. */
async function seed(dataDir: string): Promise<void> {
  const store = createStore({ dbPath: join(dataDir, 'ember-sync.db') });
  const writer = store.createWriter();
  const days = ['2025-01-14T10:00:00.000Z', '2025-01-15T10:00:00.000Z', '2025-01-16T10:00:00.000Z'];
  for (const [i, day] of days.entries()) {
    const p = { ...vendorJson('red-flag'), webhook_id: `rf-${i}`, red_flag_reason: i === 1 ? '=HYPERLINK("http://evil","click")' : `reason ${i}, with "quotes"`, agent_name: i === 2 ? '@admin' : 'Zoë 🔥' };
    await writer.submit({ kind: 'event', event: { webhookId: `rf-${i}`, type: 'red_flag', receivedAt: day, body: Buffer.from(JSON.stringify(p)) } });
  }
  await writer.close();
  await store.close();
}

test('export writes a view to stdout, filtered by --since/--until, neutralised unless --raw', async (t) => {
  const dataDir = tempDir(t);
  await seed(dataDir);
  const env = { DATA_DIR: dataDir };
  const all = await runCli(['export', 'red_flags'], env);
  assert.equal(all.code, 0, all.stderr);
  const rows = parse(all.stdout, { columns: true }) as Array<Record<string, string>>;
  assert.deepEqual(rows.map((r) => r['webhook_id']), ['rf-0', 'rf-1', 'rf-2']);
  assert.equal(rows[1]!['red_flag_reason'], `'=HYPERLINK("http://evil","click")`);
  assert.equal(rows[2]!['agent_name'], "'@admin");
  assert.equal(rows[0]!['agent_name'], 'Zoë 🔥');
  assert.equal(rows[0]!['red_flag_reason'], 'reason 0, with "quotes"');
  assert.equal(rows[0]!['professionalism_score'], '2');

  const raw = parse((await runCli(['export', 'red_flags', '--raw'], env)).stdout, { columns: true }) as Array<Record<string, string>>;
  assert.equal(raw[1]!['red_flag_reason'], '=HYPERLINK("http://evil","click")');

  const window = await runCli(['export', 'red_flags', '--since', '2025-01-15', '--until', '2025-01-16T10:00:00Z'], env);
  assert.deepEqual((parse(window.stdout, { columns: true }) as Array<Record<string, string>>).map((r) => r['webhook_id']), ['rf-1'], 'since inclusive, until exclusive');
  const since = await runCli(['export', 'scores', '--since', '2025-01-16T09:00:00+00:00'], env);
  assert.deepEqual((parse(since.stdout, { columns: true }) as Array<Record<string, string>>).map((r) => [r['webhook_id'], r['metric'], r['source']]), [['rf-2', 'professionalism', 'red_flags']]);

  const semi = await runCli(['export', 'scores', '--delimiter', 'tab', '--bom'], env);
  assert.ok(semi.stdout.startsWith('\uFEFFwebhook_id\treceived_at\tsource'));
});

test('export --out replaces the file atomically and says what it wrote', async (t) => {
  const dataDir = tempDir(t);
  await seed(dataDir);
  const out = join(dataDir, 'out', '..', 'flags.csv');
  const r = await runCli(['export', 'red_flags', '--out', out, '--delimiter', ';'], { DATA_DIR: dataDir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /wrote 3 rows of red_flags/);
  assert.equal((parse(readFileSync(join(dataDir, 'flags.csv')), { delimiter: ';' }) as unknown[]).length, 4);
  assert.ok(!existsSync(`${join(dataDir, 'flags.csv')}.tmp-${process.pid}`));
});

test('bad export arguments exit 2 with one clear line', async (t) => {
  const dataDir = tempDir(t);
  const env = { DATA_DIR: dataDir };
  const cases: Array<[string[], RegExp]> = [
    [['export', 'nope'], /unknown view "nope"/],
    [['export', 'scores', '--since', 'yesterday'], /--since "yesterday" is not a date/],
    [['export', 'scores', '--until', '2025-13-45'], /--until/],
    [['export', 'scores', '--since', '2025-02-30'], /--since "2025-02-30" is not a date: 2025-02 has no day 30/],
    [['export', 'scores', '--since', '2025-13-01'], /there is no month 13/],
    [['export', 'scores', '--until', '2025-02-29T10:00:00Z'], /--until "2025-02-29T10:00:00Z" is not a date: 2025-02 has no day 29/],
    [['export', 'scores', '--since', '2025-02-01', '--until', '2025-01-01'], /--since must be earlier than --until/],
    [['export', 'scores', '--delimiter', 'x'], /--delimiter must be/],
    [['export'], /missing required argument/],
    [['export', 'scores', '--frobnicate'], /unknown option/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args, env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
  }
});

test('--out into a folder that does not exist or cannot be written: exit 2, one line naming the path given, before any work', async (t) => {
  const dataDir = tempDir(t);
  const env = { DATA_DIR: dataDir };
  const aFile = join(dataDir, 'a-file');
  writeFileSync(aFile, 'x');
  mkdirSync(join(dataDir, 'a-folder'));
  const cases: Array<[string, RegExp]> = [
    ['/nonexistent/dir/x.csv', /^ember-sync: --out "\/nonexistent\/dir\/x\.csv": the folder \/nonexistent\/dir does not exist\n$/],
    [join(aFile, 'x.csv'), /: .*a-file is not a folder\n$/],
    [join(dataDir, 'a-folder'), /: it is a folder; give a file name\n$/],
    // Found by the attack review: access() says yes under /proc (and to root), the write does not.
    ['/proc/ember-sync-x.csv', /: cannot write in the folder \/proc \(ENOENT\)\n$/],
  ];
  if (process.getuid?.() !== 0) {
    // root writes anywhere: this case only means something for an ordinary user.
    const locked = join(dataDir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o500);
    t.after(() => chmodSync(locked, 0o700));
    cases.push([join(locked, 'x.csv'), /cannot write in the folder .*locked \(EACCES\)\n$/]);
  }
  for (const [out, re] of cases) {
    const r = await runCli(['export', 'scores', '--out', out], env);
    assert.equal(r.code, 2, `${out}: ${r.stderr}`);
    assert.ok(r.stderr.startsWith(`ember-sync: --out ${JSON.stringify(out)}: `), r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.split('\n').length, 2, 'one line');
    assert.ok(!r.stderr.includes('.tmp-'), 'the temp file is not what the user asked for');
  }
  assert.ok(!existsSync(join(dataDir, 'ember-sync.db')), 'the database was not even opened');
  assert.deepEqual(readdirSync(dataDir).filter((f) => f.includes('.tmp-')), []);
});
