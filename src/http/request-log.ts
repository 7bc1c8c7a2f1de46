import type { Middleware } from 'koa';
import type { Logger } from 'pino';

/** Set on ctx.state by a handler whose failure is already accounted for elsewhere (a burst log): no request line. */
export const QUIET_LOG = 'quietLog';

/** Percent-decodes byte by byte, leniently: `%41` → `A` even where the rest of the path is not valid encoding. */
function lenientDecode(s: string): string {
  return s.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * The webhook token can be part of the path, and the router matches paths
 * case-insensitively, with repeated slashes, behind a proxy prefix: every
 * spelling must be redacted before a path reaches a log line or an answer.
 * Whatever follows an `emberqa` segment is redacted, and a path that holds a
 * secret anywhere (in any case, however percent-encoded) is not shown at all.
 */
export function createPathRedactor(secrets: readonly string[] = []): (path: string) => string {
  const lowered = secrets.filter((s) => s.length > 0).map((s) => s.toLowerCase());
  return (path) => {
    const structural = path.replace(/(emberqa)((?:\/|%2f)+)[^/?#]*/gi, '$1$2[redacted]');
    if (lowered.length === 0) return structural;
    // As sent, decoded, and decoded twice (a proxy may have encoded the `%` of an encoded path once more).
    const once = lenientDecode(structural);
    const forms = [structural, once, lenientDecode(once)].map((f) => f.toLowerCase());
    return lowered.some((s) => forms.some((f) => f.includes(s))) ? '[redacted path]' : structural;
  };
}

/** One line per request: method, redacted path, status, duration. No headers, no bodies. */
export function requestLog(logger: Logger, redactPath: (path: string) => string): Middleware {
  return async (ctx, next) => {
    const start = performance.now();
    try {
      await next();
    } finally {
      const level = ctx.status >= 500 ? 'error' : ctx.status >= 400 ? 'warn' : 'debug';
      // Built only when it will be written: this runs for every webhook.
      if (ctx.state[QUIET_LOG] !== true && logger.isLevelEnabled(level)) {
        const line = { method: ctx.method, path: redactPath(ctx.path), status: ctx.status, ms: Math.round((performance.now() - start) * 100) / 100, ...(ctx.state['logExtra'] as object | undefined) };
        logger[level](line, level === 'debug' ? 'request' : level === 'warn' ? 'request rejected' : 'request failed');
      }
    }
  };
}
