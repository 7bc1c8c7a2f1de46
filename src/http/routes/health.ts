import type { Router } from '@koa/router';

export function registerHealthRoutes(router: Router, deps: { ping: () => Promise<boolean> }): void {
  router.get('/healthz', async (ctx) => {
    const ok = await deps.ping();
    ctx.status = ok ? 200 : 503;
    ctx.body = ok
      ? { status: 'ok' }
      : { status: 'unavailable', error: { code: 'store_unavailable', message: 'a webhook cannot be committed now (the database is unreachable, full, or locked by another process): webhooks get 503 and EmberQA retries them' } };
  });
}
