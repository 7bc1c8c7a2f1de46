import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { createCsvTarget } from '../../src/sinks/csv/csv-target.js';
import { runSync } from '../../src/jobs/sync.js';
import { createLogger } from '../../src/logger.js';
import { generateWebhook } from '../../src/simulate/generate.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { tempDir } from '../helpers/temp-dir.js';

/**
 * A full disk, made real inside SQLite: `max_page_count` at the current size
 * makes every write that needs a new page fail with SQLITE_FULL, exactly as a
 * full filesystem does.
 */
function fillDisk(s: TestService): () => void {
  const pages = s.store.db.pragma('page_count', { simple: true }) as number;
  s.store.db.pragma(`max_page_count = ${pages}`);
  return () => void s.store.db.pragma('max_page_count = 4294967294');
}

const body = (i: number) => JSON.stringify(generateWebhook(i, { seed: 5, idPrefix: 'full-', metrics: ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8'] }));

test('disk full: every webhook gets 503, the log gets one line per burst with a count (no stack traces), /healthz says 503; all recovers', async (t) => {
  const s = await startTestService(t, { LOG_LEVEL: 'info' });
  assert.equal((await fetch(s.listenUrl + '/healthz')).status, 200);
  const before = s.logs.length;
  const empty = fillDisk(s);
  // Fill what is left of the last pages so that the very next commits fail.
  let i = 0;
  while ((await s.post(body(i++))).status === 200) if (i > 5000) throw new Error('the database never filled up');
  const answers = await Promise.all(Array.from({ length: 200 }, (_, j) => s.post(body(10_000 + j)).then((r) => r.status)));
  assert.ok(answers.every((st) => st === 503), `all refused: ${[...new Set(answers)].join(',')}`);
  assert.equal((await fetch(s.listenUrl + '/healthz')).status, 503, 'healthz reflects that a commit cannot succeed');
  // 201 refused webhooks: one line for the burst (its count follows when the burst ends), plus the healthz answer.
  const all = s.logs.slice(before).filter((l) => !l.includes('/healthz'));
  // The projector, which may hit the full disk too while it derives rows, has a burst log of its own.
  const projector = all.filter((l) => l.includes('projector:'));
  assert.ok(projector.length <= 1, `the projector logs one line per burst too, got ${projector.length}`);
  const lines = all.filter((l) => !l.includes('projector:'));
  assert.equal(lines.length, 1, `one line per burst, got ${lines.length}:\n${lines.slice(0, 5).join('\n')}`);
  assert.ok(!lines[0]!.includes('"stack"') && !/\\n\s+at /.test(lines[0]!), 'no stack trace');
  const first = JSON.parse(lines[0]!) as { msg?: string; cause?: string };
  assert.match(first.msg ?? '', /^a commit failed \(SQLITE_FULL: [^)]*\): webhooks are answered 503 and EmberQA retries them$/);
  assert.match(first.cause ?? '', /SQLITE_FULL/);

  empty();
  assert.equal((await s.post(body(99_999))).status, 200, 'the retry of a refused webhook succeeds once there is room');
  assert.equal((await fetch(s.listenUrl + '/healthz')).status, 200, 'healthy again once a webhook commit succeeds');
});

test('a sync whose commit and lock release are refused: the leftover lock is taken back by the next sync of this process', async (t) => {
  const s = await startTestService(t, { LOG_LEVEL: 'warn' }, { busyTimeoutMs: 50 });
  for (let i = 0; i < 5; i++) assert.equal((await s.post(body(i))).status, 200);
  const logger = createLogger('silent');
  const target = createCsvTarget({ dir: tempDir(t), delimiter: ',', bom: false });
  // Another connection takes the write lock while the files are written: every write of the
  // sync after that (cursor commit, run record, lock release) is refused, as on a full disk.
  const other = new Database(s.store.path, { timeout: 50 });
  t.after(() => other.close());
  const blocked = {
    name: target.name,
    deliver: async (...a: Parameters<typeof target.deliver>) => {
      const out = await target.deliver(...a);
      other.exec('BEGIN IMMEDIATE');
      return out;
    },
  };
  const failed = await runSync({ store: s.store, target: blocked, logger });
  assert.equal(failed.status, 'failed', JSON.stringify(failed));
  other.exec('ROLLBACK');
  assert.ok(await s.store.sync.lockHolder('csv'), 'the lock was left behind: its release was refused');
  const next = await runSync({ store: s.store, target, logger });
  assert.equal(next.status, 'ok', `the next sync of the same process takes its own leftover lock back at once: ${JSON.stringify(next)}`);
  assert.equal(await s.store.sync.lockHolder('csv'), undefined, 'and releases it');
});
