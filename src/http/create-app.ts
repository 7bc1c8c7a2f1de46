import { Router } from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { Receive } from '../ingest/receive.js';
import type { Metrics } from '../metrics/create-metrics.js';
import { errorMiddleware } from './error-middleware.js';
import { createBurstLog } from '../lib/burst-log.js';
import { createPathRedactor, requestLog } from './request-log.js';
import { registerApiRoutes } from './routes/api.js';
import type { Console } from './routes/console.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerMetricsRoutes } from './routes/metrics.js';
import { registerWebhookRoutes } from './routes/webhooks.js';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  receive: Receive;
  webhookTokenMatches: (presented: string | undefined) => boolean;
  adminTokenMatches: (presented: string | undefined) => boolean;
  maxBodyBytes: number;
  ping: () => Promise<boolean>;
  status: () => Promise<unknown>;
  beforeScrape?: () => Promise<void> | void;
  /** The operator console at `/` (routes/console.ts), when the server has one. */
  console?: Console;
  /** Extra routes that need more than these deps (the CSV export registers itself here). */
  extend?: (router: Router) => void;
  /** True once shutdown began: answers then close their connection. */
  isClosing?: () => boolean;
  /** Secrets that must never appear in a logged or echoed path (the webhook token). */
  secrets?: readonly string[];
}

/** Koa wiring only: every decision lives in ingest/, store/ and friends. */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.proxy = false;
  // Errors are answered by errorMiddleware and logged there; keep Koa's default printer quiet.
  app.silent = true;
  const router = new Router();
  registerWebhookRoutes(router, { tokenMatches: deps.webhookTokenMatches, receive: deps.receive, maxBodyBytes: deps.maxBodyBytes, metrics: deps.metrics });
  registerHealthRoutes(router, { ping: deps.ping });
  registerMetricsRoutes(router, {
    metrics: deps.metrics,
    ...(deps.beforeScrape ? { beforeScrape: deps.beforeScrape } : {}),
    onScrapeError: (err) => deps.logger.warn({ error: err instanceof Error ? err.message : String(err) }, '/metrics: the gauges read from the database keep their last values (the database did not answer)'),
  });
  registerApiRoutes(router, { adminTokenMatches: deps.adminTokenMatches, status: deps.status });
  deps.console?.register(router);
  deps.extend?.(router);

  // During shutdown keep-alive clients must move on, or server.close() waits for them.
  if (deps.isClosing) {
    const closing = deps.isClosing;
    app.use(async (ctx, next) => {
      if (closing()) ctx.set('Connection', 'close');
      await next();
    });
  }
  const redact = createPathRedactor(deps.secrets);
  app.use(requestLog(deps.logger, redact, createBurstLog((fields, message) => deps.logger.warn(fields, message))));
  app.use(errorMiddleware(deps.logger, redact));
  app.use(router.routes());
  // Without throw, the router sets the Allow header; the error middleware writes the 405 body.
  app.use(router.allowedMethods());
  return app;
}
