import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tokenFingerprint, webhookUrlFor, type Secrets } from './config/secrets.js';
import { viewsSyncedTo, type Settings } from './config/settings.js';
import { createApp } from './http/create-app.js';
import { createReceiver } from './ingest/receive.js';
import { createValidator } from './ingest/validate.js';
import { createSignatureCheck } from './ingest/verify-signature.js';
import { createTokenCheck } from './ingest/verify-token.js';
import type { Logger } from './logger.js';
import { createMetrics } from './metrics/create-metrics.js';
import { openStore } from './store/open-store.js';
import type { Store, WebhookWriter } from './store/store.js';
import { exportDefaults } from './views/export-options.js';
import { createProjector } from './jobs/projector.js';
import { collectStatus, pendingRows } from './store/status.js';
import { scheduleStatus } from './doctor/next-sync.js';
import { createScheduler } from './jobs/scheduler.js';
import { createRetentionJob, type RetentionJob } from './jobs/retention-job.js';
import { runSync } from './jobs/sync.js';
import { createTargets } from './sinks/create-targets.js';
import { answerClientErrors } from './http/client-error.js';
import { registerExportRoutes } from './http/routes/export.js';
import { consoleSessionKey, createConsole } from './http/routes/console.js';
import { createBurstLog } from './lib/burst-log.js';
import { ensureSettingDir } from './config/setting-dir.js';


export interface ServiceOptions {
  settings: Settings;
  secrets: Secrets;
  logger: Logger;
  /** Test seams for real parts: another schemas folder, a shorter lock wait. */
  schemasDir?: string;
  busyTimeoutMs?: number;
}

export interface RunningService {
  /** SQLite (DB_PATH), or PostgreSQL when DATABASE_URL is set. */
  store: Store;
  writer: WebhookWriter;
  server: Server;
  /** Where the server listens (actual port when PORT=0). */
  listenUrl: string;
  /** What to paste into EmberQA. */
  webhookUrl: string;
  /** The RETENTION_DAYS job (undefined when unset). */
  retention: RetentionJob | undefined;
  close(): Promise<void>;
}

/** Builds every part with explicit dependencies and starts listening. */
/** How often /metrics counts the rows pending per target (see beforeScrape). */
const PENDING_COUNT_EVERY_MS = 60_000;

export async function startService(options: ServiceOptions): Promise<RunningService> {
  const { settings, secrets, logger } = options;
  // Targets first: a bad Google key file stops the start before anything is opened.
  const targets = await createTargets(settings, undefined, logger);
  // DATA_DIR must be a folder ember-sync can write, else exit 2 at start (CSV_DIR is checked with the csv target).
  ensureSettingDir('DATA_DIR', settings.dataDir);
  const busy = options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs };
  const store = await openStore(settings, { ...busy, applicationName: 'ember-sync serve' });
  // The server owns REPORT_TIMEZONE: a new zone re-derives the views from the raw log, in the background.
  let rederive: boolean;
  try {
    rederive = await store.adoptReportTimezone(settings.reportTimezone);
  } catch (err) {
    await store.close();
    throw err;
  }
  if (rederive) {
    logger.warn({ report_timezone: settings.reportTimezone }, 'REPORT_TIMEZONE changed: the views are derived again from the raw log (daily rows regrouped); the keyed views are rewritten in full by the next sync');
  }
  const projectorFailures = createBurstLog((fields, message) => logger.error(fields, message), { windowMs: 60_000 });
  const projector = createProjector({
    projection: store.projection,
    // PostgreSQL: a batch holds no lock a webhook waits for (MVCC), and each costs round trips: larger ones.
    ...(store.kind === 'postgres' ? { chunk: 500 } : {}),
    onError: (err) => projectorFailures.report('projector', { error: (err as Error).message, code: (err as { code?: unknown }).code }, 'projector: could not build view rows, retrying every second'),
  });
  const metrics = createMetrics();
  const writer = store.createWriter({
    onCommit: (results) => {
      metrics.commitBatch.observe(results.length);
      projector.kick();
    },
  });
  const validator = createValidator(options.schemasDir === undefined ? {} : { schemasDir: options.schemasDir });

  // Shutdown stops a running sync at its next request (Sheets retries can take minutes; systemd waits 90 s).
  const stopping = new AbortController();
  const scheduler = createScheduler({
    schedule: settings.syncSchedule,
    timezone: settings.syncTimezone,
    logger,
    run: async () => {
      for (const target of targets) {
        if (stopping.signal.aborted) return;
        const result = await runSync({ store, target, logger, metrics, signal: stopping.signal });
        if (result.status !== 'locked') continue;
        // Several replicas (PostgreSQL) all fire the schedule and one wins each round: that is the design, not news.
        const level = store.kind === 'postgres' ? 'debug' : 'warn';
        logger[level]({ target: target.name, holder: result.holder }, `scheduled sync of ${target.name} skipped: another sync holds its lock (${result.holder})`);
      }
    },
  });
  const adminTokenMatches = createTokenCheck(secrets.adminToken);

  let closing: Promise<void> | undefined;
  let webhookUrl = '';
  const receive = createReceiver({
    validator,
    write: (op) => writer.submit(op),
    verifySignature: settings.signingSecrets.length > 0 ? createSignatureCheck(settings.signingSecrets) : undefined,
  });
  const operatorConsole = createConsole({
    store,
    logger,
    metrics,
    adminTokenMatches,
    sessionKey: consoleSessionKey(secrets.adminToken),
    publicUrl: settings.publicUrl,
    webhookUrl: () => webhookUrl,
    targets,
    validator,
    exportDefaults: exportDefaults(settings),
    signal: stopping.signal,
  });
  let pendingCountedAt = -Infinity;
  const app = createApp({
    console: operatorConsole,
    logger,
    metrics,
    receive,
    webhookTokenMatches: createTokenCheck(secrets.webhookToken),
    adminTokenMatches,
    maxBodyBytes: settings.maxBodyBytes,
    // Healthy means a webhook can be committed now: a probe commit succeeds (with the webhooks of the
    // same turn), and webhook commits are not failing (a full disk can let a tiny probe through while
    // every webhook fails; 30 s without a new failure and the probe alone decides again).
    ping: async () => {
      if (writer.closed) return false;
      const failing = writer.failingSince;
      if (failing !== undefined && Date.now() - failing < 30_000) return false;
      try {
        await writer.submit({ kind: 'probe' });
        return true;
      } catch {
        return false;
      }
    },
    status: async () => ({ webhook_url: webhookUrl, ...(await collectStatus(store, settings.syncTargets, { schedule: scheduleStatus(settings.syncSchedule, settings.syncTimezone), viewsOf: (t) => viewsSyncedTo(settings, t), retentionDays: settings.retentionDays ?? null })) }),
    beforeScrape: async () => {
      metrics.projectorLag.set(await store.projection.lag());
      // Counting a target's pending rows reads as many rows as are pending (a target weeks behind at 1M webhooks:
      // about a second of the only thread): counted at most once a minute, whatever the scrape interval.
      if (Date.now() - pendingCountedAt < PENDING_COUNT_EVERY_MS) return;
      pendingCountedAt = Date.now();
      for (const t of settings.syncTargets) metrics.rowsPending.set({ target: t }, await pendingRows(store, t, viewsSyncedTo(settings, t)));
    },
    isClosing: () => closing !== undefined,
    secrets: [secrets.webhookToken, secrets.adminToken],
    extend: (router) => registerExportRoutes(router, { store, logger, adminTokenMatches, defaults: exportDefaults(settings) }),
  });

  const server = app.listen({ port: settings.port, host: settings.host });
  answerClientErrors(server);
  try {
    await once(server, 'listening');
  } catch (err) {
    await store.close();
    throw err;
  }
  // EmberQA waits 30 s; a client that sends nothing for 30 s is dropped.
  server.requestTimeout = 30_000;
  server.headersTimeout = 30_000;
  // Catch up on events a crash left unprojected, then follow new commits.
  projector.start();
  scheduler.start();
  // RETENTION_DAYS: daily, apart from the syncs (deleting must not depend on them).
  const retention = settings.retentionDays === undefined ? undefined : createRetentionJob({ store, days: settings.retentionDays, logger });
  retention?.start();

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const listenUrl = `http://${host}:${address.port}`;
  const publicBase = settings.port === 0 && settings.publicUrl.endsWith(':0') ? listenUrl : settings.publicUrl;
  webhookUrl = webhookUrlFor(publicBase, secrets.webhookToken);
  try {
    await store.meta.set('public_url', publicBase);
    await store.meta.set('webhook_token_sha256', tokenFingerprint(secrets.webhookToken));
    // doctor from another shell can tell a different ADMIN_TOKEN (the console and /api/* would refuse it).
    await store.meta.set('admin_token_sha256', tokenFingerprint(secrets.adminToken));
    // `status` from a shell without the server's environment tells when the server syncs next.
    await store.meta.set('sync_schedule', settings.syncSchedule);
    await store.meta.set('sync_timezone', settings.syncTimezone);
    await store.meta.set('retention_days', settings.retentionDays === undefined ? 'unset' : String(settings.retentionDays));
  } catch (err) {
    // Only `status` from another shell reads it; webhooks must not wait for it.
    logger.warn({ error: (err as Error).message }, 'could not record the public URL for status');
  }

  return {
    store,
    writer,
    server,
    listenUrl,
    webhookUrl,
    retention,
    close() {
      closing ??= (async () => {
        // Stop accepting, let in-flight requests finish (their commits included), then close the database.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Connections busy now get `Connection: close` on their answer (see createApp).
        const force = setTimeout(() => server.closeAllConnections(), 10_000);
        await closed;
        clearTimeout(force);
        stopping.abort(new Error('the server is shutting down; the rows stay pending for the next sync'));
        await scheduler.stop();
        await retention?.stop();
        await operatorConsole.idle();
        await writer.close();
        await projector.stop();
        projectorFailures.flush();
        await store.close();
      })();
      return closing;
    },
  };
}
