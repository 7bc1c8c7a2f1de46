import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import { DEFAULT_CSV_DIALECT } from '../../../src/model/csv.js';
import { VIEW_NAMES } from '../../../src/model/views.js';
import { runSync } from '../../../src/jobs/sync.js';
import { createCsvTarget } from '../../../src/sinks/csv/csv-target.js';
import { createStore } from '../../../src/store/create-store.js';
import { ingest } from '../../helpers/ingest.js';
import { assertCsv, hostilePayload, payloadParts, viewInDb } from './csv-oracle.js';

const silent = pino({ level: 'silent' });

test('property: the CSV target through runSync writes every view as the database holds it, in every dialect, first sync and appends', async () => {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(payloadParts, { minLength: 1, maxLength: 4 }),
      fc.array(payloadParts, { maxLength: 3 }),
      fc.constantFrom(',', ';', '\t', '|'),
      fc.boolean(),
      async (first, second, delimiter, bom) => {
        // A fresh database per run (fast-check shrinks by rerunning: nothing may carry over).
        const dir = mkdtempSync(join(tmpdir(), 'ember-sync-prop-'));
        const store = createStore({ dbPath: join(dir, 'db.sqlite') });
        try {
          const csvDir = join(dir, 'exports');
          const target = createCsvTarget({ dir: csvDir, delimiter, bom });
          const dialect = { ...DEFAULT_CSV_DIALECT, delimiter, bom };
          for (const parts of [first, second]) {
            await ingest(store, parts.map((p) => hostilePayload(n++, p)));
            const result = await runSync({ store, target, logger: silent });
            assert.equal(result.status, 'ok', JSON.stringify(result));
            for (const view of VIEW_NAMES) {
              const { header, rows } = await viewInDb(store, view);
              assertCsv(readFileSync(join(csvDir, `${view}.csv`)), dialect, header, rows, view);
            }
          }
        } finally {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        }
      },
    ),
    { numRuns: 100 },
  );
});
