import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { EmberError, ERROR_CODES, NotFoundError } from '../errors.js';
import { redactPath } from './request-log.js';

/** Errors thrown by Koa itself or its helpers (http-errors) carry status/expose. */
function fromForeign(err: unknown): EmberError {
  const e = err as { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown };
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500 && e.expose === true) {
    const code = (Object.entries(ERROR_CODES).find(([, s]) => s === status)?.[0] ?? 'bad_request') as string;
    return new EmberError(code, status, String(e.message), { cause: err });
  }
  return new EmberError('internal_error', 500, 'internal error', { expose: false, cause: err });
}

/**
 * The one place errors become responses:
 * `{"error":{"code","message","details"}}` with the error's status.
 */
export function errorMiddleware(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new NotFoundError(`no route for ${ctx.method} ${redactPath(ctx.path)}`);
    } catch (err) {
      const e = err instanceof EmberError ? err : fromForeign(err);
      ctx.status = e.status;
      ctx.body = { error: { code: e.code, message: e.expose ? e.message : 'internal error', ...(e.details ? { details: e.details } : {}) } };
      if (e.status === 401) ctx.set('WWW-Authenticate', 'Bearer');
      if (e.status >= 500) logger.error({ err: e.cause ?? e, code: e.code, path: redactPath(ctx.path) }, e.message);
    }
  };
}
