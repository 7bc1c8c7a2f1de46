import type { Router } from '@koa/router';
import type { Metrics } from '../../metrics/create-metrics.js';

export function registerMetricsRoutes(router: Router, deps: { metrics: Metrics; beforeScrape?: () => Promise<void> | void; onScrapeError?: (err: unknown) => void }): void {
  router.get('/metrics', async (ctx) => {
    // The counters live in this process: a database that cannot answer now (down, restarting) leaves the
    // gauges it feeds at their last values, and Prometheus still gets every counter of the outage.
    try {
      await deps.beforeScrape?.();
    } catch (err) {
      deps.onScrapeError?.(err);
    }
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });
}
