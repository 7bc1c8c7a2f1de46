import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { EmberError, MethodNotAllowedError, NotFoundError, type ErrorCode } from '../errors.js';
import { createBurstLog } from '../lib/burst-log.js';
import { causeCode, causeText, compactCause } from '../lib/error-cause.js';
import { QUIET_LOG } from './request-log.js';

const FOREIGN_CODES: Record<number, ErrorCode> = { 401: 'unauthorized', 404: 'not_found', 405: 'method_not_allowed', 408: 'request_timeout', 413: 'payload_too_large', 415: 'unsupported_media_type', 431: 'headers_too_large' };

/** Errors thrown by Koa itself or its helpers (http-errors) carry status/expose. */
function fromForeign(err: unknown): EmberError {
  const e = err as { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown };
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500 && e.expose === true) {
    // A fixed, generic code per status: the first table entry with the same status (empty_body for 400) would mislead.
    const code = FOREIGN_CODES[status] ?? 'bad_request';
    return new EmberError(code, status, String(e.message), { cause: err });
  }
  return new EmberError('internal_error', 500, 'internal error', { expose: false, cause: err });
}

/**
 * The one place errors become responses:
 * `{"error":{"code","message","details"}}` with the error's status. A failed
 * commit (503) is logged once per burst of the same cause with a count,
 * without a stack: when the disk is full every webhook fails the same way.
 * Causes from PostgreSQL are logged compactly (lib/error-cause.ts): never the
 * SQL or the values it was given.
 */
export function errorMiddleware(logger: Logger, redactPath: (path: string) => string): Middleware {
  const refused = createBurstLog((fields, message) => logger.error(fields, message));
  return async (ctx, next) => {
    try {
      await next();
      if ((ctx.status === 405 || ctx.status === 501) && ctx.body == null) {
        // The router answered for a path that exists with other methods; it set Allow (RFC 9110).
        throw new MethodNotAllowedError(`${ctx.method} is not allowed on this path; allowed: ${ctx.response.get('Allow') || 'none'}`);
      }
      if (ctx.status === 404 && ctx.body === undefined) throw new NotFoundError(`no route for ${ctx.method} ${redactPath(ctx.path)}`);
    } catch (err) {
      const e = err instanceof EmberError ? err : fromForeign(err);
      ctx.status = e.status;
      ctx.body = { error: { code: e.code, message: e.expose ? e.message : 'internal error', ...(e.details ? { details: e.details } : {}) } };
      if (e.status === 401) ctx.set('WWW-Authenticate', 'Bearer');
      // A body that stopped arriving is not read to its end: the connection goes once the answer is out.
      if (e.status === 408) ctx.set('Connection', 'close');
      if (e.code === 'store_unavailable') {
        ctx.state[QUIET_LOG] = true;
        // Not "refused": the server may be down or the connection killed. One burst per cause code, so each line's cause is true.
        const cause = causeText(e.cause) ?? 'unknown cause';
        refused.report(`store_unavailable/${causeCode(e.cause) ?? ''}`, { code: e.code, cause }, `a commit failed (${cause}): webhooks are answered 503 and EmberQA retries them`);
      } else if (e.status >= 500) {
        logger.error({ err: compactCause(e.cause ?? e), code: e.code, path: redactPath(ctx.path) }, e.message);
      }
    }
  };
}
