/**
 * What an export reads: the long views' pages (rows read without the events
 * join, webhook_id and received_at put in by seq) against the plain join
 * written here, for any page size, start and received_at window; and the
 * `--out` file against stdout when cells are larger than the writer's chunks.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { classify } from '../../src/ingest/validate.js';
import type { Cell } from '../../src/model/cells.js';
import { DEFAULT_CSV_DIALECT } from '../../src/model/csv.js';
import { generateWebhooks } from '../../src/simulate/calls.js';
import { createStore, type SqliteStore } from '../../src/store/create-store.js';
import { spawnCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';
import { assertCsv, viewInDb, viewTimeColumns } from '../sinks/csv/csv-oracle.js';

const START = Date.parse('2026-03-01T00:00:00.000Z');

/**
 * A history of coherent webhooks, one a minute: `scores` rows come 5-6 per
 * event in runs (dense pages), `workflow_fields` rows from the workflows
 * between them (sparse pages: their events are a few of each seq range).
 */
async function seed(dbPath: string, count: number): Promise<SqliteStore> {
  const store = createStore({ dbPath });
  // One transaction on the SQLite connection (the engine's append): the history is set up, not received.
  store.db.transaction(() => {
    let i = 0;
    for (const w of generateWebhooks(count, { seed: 3, now: START + count * 60_000, days: 2, idPrefix: 'pg-' })) {
      const type = classify(w as unknown as Record<string, unknown>)!;
      store.sqlite.events.append({ webhookId: w.webhook_id, type, receivedAt: new Date(START + i++ * 60_000).toISOString(), body: Buffer.from(JSON.stringify(w)) });
    }
  })();
  await store.projection.catchUp();
  return store;
}

/** The oracle: the view's rows by the join of its table with events, in (seq, ord) order. */
function joined(store: SqliteStore, table: string, columns: string, o: { fromSeq: number; toSeq: number; since?: string; until?: string }): Cell[][] {
  const sql = `SELECT e.webhook_id, e.received_at, ${columns} FROM ${table} r JOIN events e ON e.seq = r.seq
               WHERE r.seq > ? AND r.seq <= ? AND e.received_at >= ? AND e.received_at < ? ORDER BY r.seq, r.ord`;
  return store.db.prepare(sql).raw().all(o.fromSeq, o.toSeq, o.since ?? '', o.until ?? '\uffff') as Cell[][];
}

const LONG = {
  scores: { table: 'score_rows', columns: 'r.source, r.content_id, r.agent_name, r.metric, r.score, r.justification' },
  workflow_fields: { table: 'workflow_field_rows', columns: 'r.content_id, r.field, r.value, r.reasoning' },
} as const;

test('property: long views read page by page give the rows of the join, for any page size, start and window', async (t) => {
  const store = await seed(join(tempDir(t), 'ember-sync.db'), 400);
  t.after(() => store.close());
  const toSeq = await store.projection.cursor();
  const minute = (m: number) => new Date(START + m * 60_000).toISOString();
  const fed = Object.keys(LONG).map((v) => store.db.prepare(`SELECT count(*) FROM ${LONG[v as keyof typeof LONG].table}`).pluck().get() as number);
  assert.ok(fed.every((n) => n > 20), `both long views have rows (${fed.join(', ')})`);
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('scores' as const, 'workflow_fields' as const),
      fc.integer({ min: 1, max: 60 }),
      fc.integer({ min: 0, max: toSeq }),
      fc.option(fc.tuple(fc.integer({ min: -5, max: 410 }), fc.integer({ min: 0, max: 200 })), { nil: undefined }),
      async (view, pageSize, fromSeq, window) => {
        const slice = { fromSeq, toSeq, pageSize, ...(window ? { since: minute(window[0]), until: minute(window[0] + window[1]) } : {}) };
        const pages: Cell[][][] = [];
        for await (const page of (await store.views.snapshot(view)).rows.pages(slice)) pages.push(page);
        assert.ok(pages.every((p) => p.length > 0 && p.length <= pageSize), 'pages hold 1..pageSize rows');
        assert.deepEqual(pages.flat(), joined(store, LONG[view].table, LONG[view].columns, slice));
      },
    ),
    { numRuns: 300 },
  );
});

test('export --out and stdout write the same bytes when cells are larger than the writer hands over at once', async (t) => {
  const dataDir = tempDir(t);
  const store = await seed(join(dataDir, 'ember-sync.db'), 30);
  // Cells of 40,000 to 200,000 UTF-16 units mixing 1-, 2-, 3- and 4-byte UTF-8 (a pair split by no chunk edge).
  const piece = 'aé中🔥"\n,=';
  const huge = (n: number) => piece.repeat(Math.ceil(n / piece.length)).slice(0, n - (n % piece.length));
  store.db.prepare('UPDATE score_rows SET justification = ? WHERE seq = 1 AND ord = 0').run(huge(200_000));
  store.db.prepare('UPDATE score_rows SET justification = ? WHERE seq = 2 AND ord = 1').run(huge(40_000));
  const want = await viewInDb(store, 'scores');
  await store.close();
  assert.ok(want.rows.some((r) => typeof r[7] === 'string' && r[7].length >= 199_000), 'the big cell is in the view');

  const run = (args: string[]) =>
    new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((resolve, reject) => {
      const child = spawnCli(args, { DATA_DIR: dataDir });
      const out: Buffer[] = [];
      let err = '';
      child.stdout!.on('data', (d: Buffer) => out.push(d));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    });
  const file = join(dataDir, 'scores.csv');
  const [toStdout, toFile] = [await run(['export', 'scores']), await run(['export', 'scores', '--out', file])];
  assert.equal(toStdout.code, 0, toStdout.stderr);
  assert.equal(toFile.code, 0, toFile.stderr);
  const bytes = readFileSync(file);
  assert.ok(bytes.equals(toStdout.stdout), 'the file holds exactly what stdout got');
  assertCsv(bytes, DEFAULT_CSV_DIALECT, want.header, want.rows, 'scores with huge cells', viewTimeColumns('scores', want.header));
});
