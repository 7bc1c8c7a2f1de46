import type { Middleware } from 'koa';
import type { Logger } from 'pino';

/** The webhook token can be part of the path: it must never reach a log line. */
export function redactPath(path: string): string {
  return path.replace(/^(\/webhooks\/emberqa\/)[^/?#]+/, '$1[redacted]');
}

/** One line per request: method, redacted path, status, duration. No headers, no bodies. */
export function requestLog(logger: Logger): Middleware {
  return async (ctx, next) => {
    const start = process.hrtime.bigint();
    ctx.state['logPath'] = redactPath(ctx.path);
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const line = { method: ctx.method, path: ctx.state['logPath'] as string, status: ctx.status, ms: Math.round(ms * 100) / 100, ...(ctx.state['logExtra'] as object | undefined) };
      if (ctx.status >= 500) logger.error(line, 'request failed');
      else if (ctx.status >= 400) logger.warn(line, 'request rejected');
      else logger.debug(line, 'request');
    }
  };
}
