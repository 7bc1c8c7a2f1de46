import type { Router } from '@koa/router';
import type { Middleware } from 'koa';
import { UnauthorizedError } from '../../errors.js';
import { bearerToken } from '../../ingest/verify-token.js';

export interface ApiRouteDeps {
  adminTokenMatches: (presented: string | undefined) => boolean;
  status: () => Promise<unknown>;
}

export function requireAdmin(matches: (presented: string | undefined) => boolean): Middleware {
  return async (ctx, next) => {
    if (!matches(bearerToken(ctx.get('authorization') || undefined))) throw new UnauthorizedError('missing or wrong admin token (Authorization: Bearer <ADMIN_TOKEN>)');
    await next();
  };
}

export function registerApiRoutes(router: Router, deps: ApiRouteDeps): void {
  const admin = requireAdmin(deps.adminTokenMatches);
  router.get('/api/status', admin, async (ctx) => {
    ctx.body = await deps.status();
  });
}
