import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per app instance (no global default registry), so tests and CLI stay independent. */
export function createMetrics(options: { defaults?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaults ?? true) collectDefaultMetrics({ register: registry, prefix: 'ember_sync_' });
  const webhooks = new Counter({
    name: 'ember_sync_webhooks_total',
    help: 'Webhooks received, by type and outcome (accepted, duplicate, quarantined, rejected, unavailable).',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
  });
  const ingestSeconds = new Histogram({
    name: 'ember_sync_ingest_duration_seconds',
    help: 'Time from the request reaching the webhook route to its answer (includes the commit).',
    labelNames: ['outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  const syncRuns = new Counter({
    name: 'ember_sync_sync_runs_total',
    help: 'Sync runs by target and result (ok, failed, skipped).',
    labelNames: ['target', 'result'] as const,
    registers: [registry],
  });
  const rowsDelivered = new Counter({
    name: 'ember_sync_rows_delivered_total',
    help: 'Rows delivered to a target.',
    labelNames: ['target', 'view'] as const,
    registers: [registry],
  });
  const rowsPending = new Gauge({
    name: 'ember_sync_rows_pending',
    help: 'Rows not yet delivered to a target (counted at a scrape, at most once a minute).',
    labelNames: ['target'] as const,
    registers: [registry],
  });
  const projectorLag = new Gauge({
    name: 'ember_sync_projector_lag_events',
    help: 'Logged events whose view rows are not built yet.',
    registers: [registry],
  });
  const commitBatch = new Histogram({
    name: 'ember_sync_commit_batch_size',
    help: 'Writes (webhooks, quarantined payloads, health probes) committed together by one group commit of this process.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [registry],
  });
  return { registry, webhooks, ingestSeconds, syncRuns, rowsDelivered, rowsPending, projectorLag, commitBatch };
}
export type Metrics = ReturnType<typeof createMetrics>;
