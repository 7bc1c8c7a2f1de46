import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { VIEW_NAMES, type ViewName } from '../../src/model/views.js';
import { createStore } from '../../src/store/create-store.js';
import { spawnCli } from '../helpers/cli.js';
import { ingest } from '../helpers/ingest.js';
import { assertCsv, dialect, hostilePayload, payloadParts, viewInDb, viewTimeColumns, type PayloadParts } from '../sinks/csv/csv-oracle.js';

/** The CLI's stdout as bytes: decoding chunk by chunk would split UTF-8 sequences at chunk edges. */
function runCliBytes(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const child = spawnCli(args, env);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

const WIDE_VIEW_OF = { red_flag: 'red_flags', low_score: 'low_scores', completion: 'completions', workflow: 'workflows' } as const;

/** A view the generated webhooks put rows in (each run spawns the CLI once: an empty view would waste it). */
function viewFed(parts: readonly PayloadParts[], pick: number): ViewName {
  const fed = new Set<ViewName>(parts.map((p) => WIDE_VIEW_OF[p.kind]));
  if (parts.some((p) => Object.keys(p.details).length > 0)) fed.add('scores');
  if (parts.some((p) => p.kind === 'workflow' && Object.keys(p.outputs).length > 0)) fed.add('workflow_fields');
  const views = VIEW_NAMES.filter((v) => fed.has(v));
  return views[pick % views.length]!;
}

test('property: `ember-sync export <view>` of hostile webhooks reads back as the database holds them (stdout and --out)', async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(payloadParts, { minLength: 1, maxLength: 4 }), fc.nat(), dialect, fc.boolean(), async (parts, pick, d, toFile) => {
      const view = viewFed(parts, pick);
      const dataDir = mkdtempSync(join(tmpdir(), 'ember-sync-cli-prop-'));
      try {
        const dbPath = join(dataDir, 'ember-sync.db');
        let store = createStore({ dbPath });
        await ingest(store, parts.map((p) => hostilePayload(n++, p, 'cli-prop-')));
        await store.close();
        const out = join(dataDir, 'out.csv');
        const args = [
          'export',
          view,
          '--delimiter',
          d.delimiter === '\t' ? 'tab' : d.delimiter,
          '--decimal',
          d.decimal,
          '--time-format',
          d.timeFormat,
          ...(d.timeFormat === 'local' ? ['--timezone', d.timeZone] : []),
          ...(d.bom ? ['--bom'] : []),
          ...(d.guard ? [] : ['--raw']),
          ...(toFile ? ['--out', out] : []),
        ];
        const r = await runCliBytes(args, { DATA_DIR: dataDir, CSV_BOM: 'false' });
        assert.equal(r.code, 0, r.stderr);
        // The export projected what was pending; the database now holds the rows it wrote.
        store = createStore({ dbPath });
        try {
          const { header, rows } = await viewInDb(store, view);
          assertCsv(toFile ? readFileSync(out) : r.stdout, d, header, rows, `${args.join(' ')}`, viewTimeColumns(view, header));
        } finally {
          await store.close();
        }
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }),
    { numRuns: 15 },
  );
});
