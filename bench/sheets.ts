/**
 * bench/sheets — the Google Sheets target against the fake Sheets API (test/fakes),
 * driven by the real Google client library, with the production limiter (1 request/s,
 * 60 writes/min) and retry settings.
 *
 * 1. Backlog: BACKLOG webhooks (default 100,000) synced from scratch — write requests,
 *    total requests, bytes sent, wall time. Target: write requests ≤ 3 + ⌈bytes / 2 MB⌉.
 * 2. Steady state: one webhook per second, a sync per minute (the default schedule):
 *    requests per sync, and which. Target ≤ 4.
 *
 * BENCH_BACKLOG and BENCH_STEADY_MINUTES make a shorter run (e.g. 5000 and 2: about 15 s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { runSync } from '../src/jobs/sync.js';
import { createSheetsAuth } from '../src/sinks/sheets/auth.js';
import { createSheetsTarget } from '../src/sinks/sheets/sheets-target.js';
import { createStore, type Store } from '../src/store/create-store.js';
import { generateWebhook } from '../src/simulate/generate.js';
import { classify } from '../src/ingest/validate.js';
import { startFakeSheets } from '../test/fakes/fake-sheets.js';
import { machine } from './lib/proc.js';

const BACKLOG = Number(process.env['BENCH_BACKLOG'] ?? 100_000);
const STEADY_MINUTES = Number(process.env['BENCH_STEADY_MINUTES'] ?? 3);
const SHEET = 'bench-spreadsheet-0001';
const TOKEN = 'bench-token';


function add(store: Store, from: number, n: number, startMs: number, stepMs: number): void {
  store.db.transaction(() => {
    for (let i = from; i < from + n; i++) {
      const w = generateWebhook(i, { seed: 99, idPrefix: `b${i}-` }) as unknown as Record<string, unknown>;
      store.events.append({ webhookId: w['webhook_id'] as string, type: classify(w)!, receivedAt: new Date(startMs + (i - from) * stepMs).toISOString(), body: Buffer.from(JSON.stringify(w)) });
    }
  })();
  store.projection.catchUp(5000);
}

async function main() {
  const fake = await startFakeSheets();
  fake.createSpreadsheet(SHEET, { defaultSheet: true });
  fake.allowToken(TOKEN);
  const dir = mkdtempSync(join(tmpdir(), 'ember-bench-sheets-'));
  const store = createStore({ dbPath: join(dir, 'db.sqlite') });
  const target = createSheetsTarget({ spreadsheetId: SHEET, auth: createSheetsAuth({ sheetsAccessToken: TOKEN, googleApplicationCredentials: undefined, googleOauthTokenUrl: undefined }), rootUrl: fake.url });
  const logger = pino({ level: 'warn' });
  console.log(`bench/sheets on ${machine()}; fake Sheets API on loopback, production limiter (1 request/s, 60 writes/min)`);

  add(store, 0, BACKLOG, Date.now() - BACKLOG * 1000, 1000);
  const t0 = Date.now();
  const backlog = await runSync({ store, target, logger });
  const wall = (Date.now() - t0) / 1000;
  if (backlog.status !== 'ok') throw new Error(`backlog sync failed: ${JSON.stringify(backlog)}`);
  const writes = fake.requests.filter((r) => r.kind === 'batchUpdate' || r.kind === 'values.batchUpdate' || r.kind === 'values.update').length;
  const bytes = fake.requests.reduce((n, r) => n + (r.kind === 'batchUpdate' || r.kind.startsWith('values.') ? r.bytesIn : 0), 0);
  const bound = 3 + Math.ceil(bytes / (2 * 1024 * 1024));
  const largest = Math.max(...fake.requests.filter((r) => r.kind === 'values.batchUpdate').map((r) => r.bytesIn));
  console.log(`backlog of ${BACKLOG.toLocaleString('en')} webhooks (${backlog.rows.toLocaleString('en')} rows, ${fake.totalCells(SHEET).toLocaleString('en')} cells): ${writes} write requests, ${fake.requests.length} requests in all, ${(bytes / 2 ** 20).toFixed(1)} MB sent, ${wall.toFixed(1)} s (limiter waits included)`);
  console.log(`  target: write requests ≤ 3 + ⌈bytes / 2 MiB⌉ = ${bound} → ${writes <= bound ? 'met' : 'MISSED'}; largest values.batchUpdate ${(largest / 2 ** 20).toFixed(2)} MiB`);

  const perSync: number[] = [];
  const kinds = new Map<string, number>();
  let next = BACKLOG;
  for (let m = 0; m < STEADY_MINUTES; m++) {
    add(store, next, 60, Date.now(), 1000);
    next += 60;
    fake.requests.length = 0;
    const r = await runSync({ store, target, logger });
    if (r.status !== 'ok') throw new Error(`steady sync failed: ${JSON.stringify(r)}`);
    perSync.push(fake.requests.length);
    const shape = fake.requests.map((q) => q.kind).join(' + ');
    kinds.set(shape, (kinds.get(shape) ?? 0) + 1);
  }
  console.log(`steady state, 60 webhooks per one-minute sync: requests per sync ${perSync.join(', ')} (max ${Math.max(...perSync)}; target ≤ 4 → ${Math.max(...perSync) <= 4 ? 'met' : 'MISSED'})`);
  for (const [shape, n] of kinds) console.log(`  ${n} × ${shape}`);
  store.close();
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
