import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { startTestService } from '../helpers/service.js';
import { vendorJson } from '../helpers/fixtures.js';
import { ingest } from '../helpers/ingest.js';

type Row = Record<string, string>;

/** A red flag received on a Sunday evening in New York (Monday in UTC) with decimal numbers, and a workflow costing 0.45. */
async function seeded(t: Parameters<typeof startTestService>[0], env: Record<string, string> = {}) {
  const s = await startTestService(t, env);
  const flag = { ...vendorJson('red-flag'), webhook_id: 'rf-1', total_score: -1250.5, score_details: { empathy_score: 8.6 } };
  await ingest(s.store, [flag, { ...vendorJson('completion-workflow'), webhook_id: 'wf-1' }], () => '2026-11-30T04:30:00.000Z');
  const get = (path: string) => fetch(`${s.listenUrl}/api/export/${path}`, { headers: { authorization: `Bearer ${s.adminToken}` } });
  return { s, get };
}

test('GET /api/export: time_format=local&timezone=, decimal=, with delimiter=;', async (t) => {
  const { get } = await seeded(t);
  const iso = parse(await (await get('red_flags.csv')).text(), { columns: true }) as Row[];
  assert.equal(iso[0]!['received_at'], '2026-11-30T04:30:00.000Z');
  const res = await get('red_flags.csv?time_format=local&timezone=America%2FNew_York');
  assert.equal(res.status, 200);
  const [row] = parse(await res.text(), { columns: true }) as Row[];
  assert.equal(row!['received_at'], '2026-11-29 23:30:00.000');
  assert.equal(row!['timestamp'], '2025-01-16 10:30:45.123');
  const comma = await get('red_flags.csv?decimal=,&delimiter=%3B&time_format=local&timezone=Europe/Berlin');
  assert.equal(comma.status, 200);
  const [c] = parse(await comma.text(), { columns: true, delimiter: ';' }) as Row[];
  assert.deepEqual([c!['received_at'], c!['total_score'], c!['empathy_score']], ['2026-11-30 05:30:00,000', '-1250,5', '8,6']);
  const wf = parse(await (await get('workflows.csv?decimal=%2C&delimiter=tab')).text(), { columns: true, delimiter: '\t' }) as Row[];
  assert.equal(wf[0]!['cost'], '0,45');
});

test('GET /api/export: a bad time format, zone or decimal, or a decimal comma with , as delimiter, is a 400 saying why', async (t) => {
  const { get } = await seeded(t);
  const cases: Array<[string, RegExp]> = [
    ['decimal=,', /--decimal , needs ; \| or tab as the delimiter/],
    ['decimal=,&delimiter=,', /--decimal , needs ; \| or tab as the delimiter, not ,/],
    ['decimal=comma&delimiter=;', /--decimal must be \. or , \(got "comma"\)/],
    ['decimal=', /--decimal must be/],
    ['time_format=utc', /--time-format must be iso or local/],
    ['time_format=', /--time-format must be/],
    ['time_format=local&timezone=Mars/Olympus_Mons', /--timezone "Mars\/Olympus_Mons" is not a timezone/],
    ['time_format=local&timezone=', /is not a timezone/],
    ['timezone=America/New_York', /--timezone sets the zone of local times: add --time-format local/],
    ['time_format=local&time_format=iso', /"time_format" is given more than once/],
    ['time-format=local', /unknown query parameter "time-format"/],
  ];
  for (const [query, re] of cases) {
    const res = await get(`scores.csv?${query}`);
    assert.equal(res.status, 400, query);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'bad_request', query);
    assert.match(error.message, re, query);
  }
});

// Needs src/service.ts to pass `defaults: exportDefaults(settings)` to registerExportRoutes (it passes delimiter and bom only).
test('GET /api/export takes REPORT_TIMEZONE, CSV_TIME_FORMAT and CSV_DECIMAL as its defaults', async (t) => {
  const { get } = await seeded(t, { CSV_DELIMITER: ';', CSV_DECIMAL: ',', CSV_TIME_FORMAT: 'local', REPORT_TIMEZONE: 'America/New_York' });
  const [row] = parse(await (await get('red_flags.csv')).text(), { columns: true, delimiter: ';' }) as Row[];
  assert.deepEqual([row!['received_at'], row!['total_score']], ['2026-11-29 23:30:00,000', '-1250,5']);
  const [utc] = parse(await (await get('red_flags.csv?time_format=iso&decimal=.')).text(), { columns: true, delimiter: ';' }) as Row[];
  assert.deepEqual([utc!['received_at'], utc!['total_score']], ['2026-11-30T04:30:00.000Z', '-1250.5']);
});
