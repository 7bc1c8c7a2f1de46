/**
 * bench/pg-append — appends to the PostgreSQL raw log through append_events
 * (src/store/pg): events per second by batch size, against the batch-of-1
 * baseline, with 1 and with several writers on their own connections (several
 * replicas). Every append is one statement, committed before the next one; the
 * appends are serialised by the function's lock, so each batch costs one
 * commit (one WAL flush) whatever the number of writers.
 *
 * For comparison, (b) the same batches as one plain multi-row INSERT into a
 * bigserial table without the lock (the gap-prone way, see
 * test/store/pg/pg-visibility.test.ts): what the lock costs.
 *
 * Needs a server where it may create a database: BENCH_DATABASE_URL, else
 * EMBER_SYNC_TEST_DATABASE_URL. A throwaway one with the server's default
 * durability (fsync on, synchronous_commit on):
 *
 *   test/store/pg/pg-cluster.sh npx tsx bench/pg-append.ts
 *
 * Bodies are realistic payloads from simulate's call stream (the same bytes
 * reused under new webhook_ids). BENCH_SECONDS (default 4) per measurement,
 * BENCH_WRITERS (default 4), BENCH_BATCHES (default 1,50,200).
 */
import { loadavg } from 'node:os';
import { Client, escapeIdentifier } from 'pg';
import { classify } from '../src/ingest/validate.js';
import type { NewEvent } from '../src/model/writes.js';
import { generateWebhooks } from '../src/simulate/calls.js';
import { createPgEventLog } from '../src/store/pg/pg-event-log.js';
import { migratePg } from '../src/store/pg/pg-migrations.js';
import { createPgPool, type PgPool } from '../src/store/pg/pg-pool.js';
import { machine } from './lib/proc.js';

const URL = process.env['BENCH_DATABASE_URL'] || process.env['EMBER_SYNC_TEST_DATABASE_URL'];
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 4);
const WRITERS = Number(process.env['BENCH_WRITERS'] ?? 4);
const BATCHES = (process.env['BENCH_BATCHES'] ?? '1,50,200').split(',').map(Number);

if (!URL) {
  console.error('bench/pg-append: set BENCH_DATABASE_URL (or run it under test/store/pg/pg-cluster.sh)');
  process.exit(2);
}

function withDatabase(url: string, database: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?/, `$1/${encodeURIComponent(database)}`);
}

async function admin(sql: string): Promise<void> {
  const c = new Client({ connectionString: URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

type Append = (pool: PgPool, batch: NewEvent[]) => Promise<unknown>;

/** The unlocked way: one multi-row INSERT into a bigserial table (seq assigned at insert, visible at commit). */
const unlockedInsert: Append = (pool, batch) =>
  pool.query({
    name: 'bench_unlocked',
    text: `INSERT INTO unlocked_events (webhook_id, type, received_at, outcome, body)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[]) ON CONFLICT (webhook_id) DO NOTHING`,
    values: [batch.map((e) => e.webhookId), batch.map((e) => e.type), batch.map((e) => e.receivedAt), batch.map((e) => e.outcome ?? 'accepted'), batch.map((e) => e.body)],
  });

async function main(): Promise<void> {
  const db = `ember_sync_bench_${process.pid}`;
  await admin(`CREATE DATABASE ${escapeIdentifier(db)}`);
  const url = withDatabase(URL!, db);
  const pools = Array.from({ length: Math.max(WRITERS, 1) }, (_, w) => createPgPool({ connectionString: url, max: 1, applicationName: `bench-writer-${w}` }));
  try {
    await migratePg(pools[0]!);
    await pools[0]!.query({
      text: `CREATE TABLE unlocked_events (seq bigserial PRIMARY KEY, webhook_id text NOT NULL UNIQUE, type text NOT NULL,
             received_at text NOT NULL, outcome text NOT NULL, body bytea NOT NULL);
             CREATE INDEX unlocked_events_received_at ON unlocked_events (received_at, seq)`,
    });
    const settings = await pools[0]!.query<{ v: string; f: string; s: string }>({
      text: "SELECT version() AS v, current_setting('fsync') AS f, current_setting('synchronous_commit') AS s",
    });
    const bodies: Array<Pick<NewEvent, 'type' | 'body'>> = [];
    for (const w of generateWebhooks(5_000, { seed: 11 })) bodies.push({ type: classify(w as unknown as Record<string, unknown>)!, body: Buffer.from(JSON.stringify(w)) });
    const avgBytes = bodies.reduce((n, b) => n + b.body.length, 0) / bodies.length;
    // Every batch's commit hands the lock to a sleeping writer: on a loaded machine that wake-up waits for a core.
    console.log(`bench/pg-append on ${machine()}; load average ${loadavg()[0]!.toFixed(2)} at the start`);
    const s = settings.rows[0]!;
    console.log(`${s.v.split(',')[0]}, fsync=${s.f}, synchronous_commit=${s.s}; bodies ${Math.round(avgBytes)} bytes on average; ${SECONDS} s per row`);

    let next = 0;
    const make = (n: number): NewEvent[] =>
      Array.from({ length: n }, () => {
        const b = bodies[next % bodies.length]!;
        return { webhookId: `bench-${next++}`, type: b.type, receivedAt: new Date().toISOString(), body: b.body };
      });

    const ways: Array<[string, Append]> = [
      ['append_events', (pool, batch) => createPgEventLog(pool).appendBatch(batch)],
      ['unlocked INSERT', unlockedInsert],
    ];
    const rows: string[] = [];
    for (const [how, append] of ways) {
      for (const writers of [...new Set([1, WRITERS])]) {
        let baseline = NaN;
        for (const size of BATCHES) {
          const latencies: number[] = [];
          let events = 0;
          const started = performance.now();
          const until = started + SECONDS * 1000;
          await Promise.all(
            pools.slice(0, writers).map(async (pool) => {
              while (performance.now() < until) {
                const batch = make(size);
                const t0 = performance.now();
                await append(pool, batch);
                latencies.push(performance.now() - t0);
                events += size;
              }
            }),
          );
          const rate = events / ((performance.now() - started) / 1000);
          if (size === 1) baseline = rate;
          latencies.sort((a, b) => a - b);
          const ratio = Number.isNaN(baseline) ? '' : `${(rate / baseline).toFixed(1)}×`;
          rows.push(`| ${how} | ${writers} | ${size} | ${Math.round(rate).toLocaleString('en-US')} | ${ratio} | ${pct(latencies, 50).toFixed(1)} ms | ${pct(latencies, 99).toFixed(1)} ms |`);
          console.log(rows.at(-1));
        }
      }
    }
    console.log(`\nload average ${loadavg()[0]!.toFixed(2)} at the end\n`);
    console.log('| | writers | batch | events/s | vs batch of 1 | p50 per batch | p99 per batch |\n|---|---|---|---|---|---|---|');
    for (const r of rows) console.log(r);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    await admin(`DROP DATABASE IF EXISTS ${escapeIdentifier(db)} WITH (FORCE)`);
  }
}

await main();
