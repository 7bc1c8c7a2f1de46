import type { Middleware } from 'koa';
import type { Logger } from 'pino';

/** The webhook token can be part of the path: it must never reach a log line. */
export function redactPath(path: string): string {
  return path.replace(/^(\/webhooks\/emberqa\/)[^/?#]+/, '$1[redacted]');
}

/** One line per request: method, redacted path, status, duration. No headers, no bodies. */
export function requestLog(logger: Logger): Middleware {
  return async (ctx, next) => {
    const start = performance.now();
    try {
      await next();
    } finally {
      const level = ctx.status >= 500 ? 'error' : ctx.status >= 400 ? 'warn' : 'debug';
      // Built only when it will be written: this runs for every webhook.
      if (logger.isLevelEnabled(level)) {
        const line = { method: ctx.method, path: redactPath(ctx.path), status: ctx.status, ms: Math.round((performance.now() - start) * 100) / 100, ...(ctx.state['logExtra'] as object | undefined) };
        logger[level](line, level === 'debug' ? 'request' : level === 'warn' ? 'request rejected' : 'request failed');
      }
    }
  };
}
