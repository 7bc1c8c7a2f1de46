import type { Router } from '@koa/router';
import type { Metrics } from '../../metrics/create-metrics.js';

export function registerMetricsRoutes(router: Router, deps: { metrics: Metrics; beforeScrape?: () => Promise<void> | void }): void {
  router.get('/metrics', async (ctx) => {
    await deps.beforeScrape?.();
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });
}
