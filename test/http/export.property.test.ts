import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { VIEW_NAMES } from '../../src/model/views.js';
import { startTestService } from '../helpers/service.js';
import { assertCsv, dialect, hostilePayload, payloadParts, viewInDb, viewTimeColumns } from '../sinks/csv/csv-oracle.js';

test('property: GET /api/export/<view>.csv of hostile webhooks reads back as the database holds them, in every dialect', async (t) => {
  const s = await startTestService(t, { LOG_LEVEL: 'warn' });
  const auth = { authorization: `Bearer ${s.adminToken}` };
  let n = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(payloadParts, { maxLength: 3 }), fc.constantFrom(...VIEW_NAMES), dialect, async (parts, view, d) => {
      // Through the real webhook endpoint: schema, group commit, projection.
      for (const p of parts) {
        const res = await s.post(JSON.stringify(hostilePayload(n++, p, 'api-prop-')));
        assert.equal(res.status, 200, await res.text());
      }
      const query = new URLSearchParams({ delimiter: d.delimiter === '\t' ? 'tab' : d.delimiter, bom: String(d.bom), raw: String(!d.guard), decimal: d.decimal, time_format: d.timeFormat, ...(d.timeFormat === 'local' ? { timezone: d.timeZone } : {}) });
      const res = await fetch(`${s.listenUrl}/api/export/${view}.csv?${query}`, { headers: auth });
      assert.equal(res.status, 200);
      const body = Buffer.from(await res.arrayBuffer());
      const { header, rows } = await viewInDb(s.store, view);
      assertCsv(body, d, header, rows, `${view} ${JSON.stringify(d)}`, viewTimeColumns(view, header));
    }),
    { numRuns: 100 },
  );
});
