import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import type { BurstLog } from '../lib/burst-log.js';

/** Set on ctx.state by a handler whose failure is already accounted for elsewhere (a burst log): no request line. */
export const QUIET_LOG = 'quietLog';

/** Percent-decodes byte by byte, leniently: `%41` → `A` even where the rest of the path is not valid encoding. */
function lenientDecode(s: string): string {
  return s.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Any run of this many characters of a secret found in a path hides the path. */
const SHARED_RUN = 8;

/**
 * The webhook token can be part of the path, and the router matches paths
 * case-insensitively, with repeated slashes, behind a proxy prefix: every
 * spelling must be redacted before a path reaches a log line or an answer.
 * Everything after an `emberqa` segment is redacted. A path that holds a run
 * of 8 characters of a secret anywhere — in any case, however often
 * percent-encoded, cut in pieces by other characters — is not shown at all
 * (secrets are random: 8 of their characters do not turn up by chance).
 */
export function createPathRedactor(secrets: readonly string[] = []): (path: string) => string {
  const runs = new Set<string>();
  for (const secret of secrets) {
    const s = secret.toLowerCase();
    for (let i = 0; i + SHARED_RUN <= s.length; i++) runs.add(s.slice(i, i + SHARED_RUN));
  }
  const holdsSecret = (text: string): boolean => {
    for (let i = 0; i + SHARED_RUN <= text.length; i++) if (runs.has(text.slice(i, i + SHARED_RUN))) return true;
    return false;
  };
  return (path) => {
    const structural = path.replace(/(emberqa)((?:\/|%2f)+).*$/is, '$1$2[redacted]');
    if (runs.size === 0) return structural;
    // Decoded until nothing changes (a proxy may encode the `%` of an encoded path again), with and
    // without the characters a token cannot hold (an attacker may cut it with them).
    let form = structural.toLowerCase();
    for (let round = 0; round < 8; round++) {
      if (holdsSecret(form) || holdsSecret(form.replace(/[^a-z0-9._~-]+/g, ''))) return '[redacted path]';
      const next = lenientDecode(form).toLowerCase();
      if (next === form) break;
      form = next;
    }
    return structural;
  };
}

/**
 * One line per request: method, redacted path, status, duration. No headers,
 * no bodies. Refused requests that need no reading one by one (wrong token,
 * no such route: scanners) are counted per burst, so unauthenticated traffic
 * cannot fill the disk with log lines.
 */
export function requestLog(logger: Logger, redactPath: (path: string) => string, bursts?: BurstLog): Middleware {
  return async (ctx, next) => {
    const start = performance.now();
    try {
      await next();
    } finally {
      const level = ctx.status >= 500 ? 'error' : ctx.status >= 400 ? 'warn' : 'debug';
      // Built only when it will be written: this runs for every webhook.
      if (ctx.state[QUIET_LOG] !== true && logger.isLevelEnabled(level)) {
        const line = { method: ctx.method, path: redactPath(ctx.path), status: ctx.status, ms: Math.round((performance.now() - start) * 100) / 100, ...(ctx.state['logExtra'] as object | undefined) };
        // A load balancer polls /healthz every few seconds: an unhealthy spell is one line and a count too.
        const burst = ctx.status === 401 || ctx.status === 404 || ctx.status === 405 ? `request-${ctx.status}` : ctx.status === 503 && ctx.path === '/healthz' ? 'healthz-503' : undefined;
        if (bursts && burst) bursts.report(burst, line, burst === 'healthz-503' ? 'health check failed' : 'request rejected');
        else logger[level](line, level === 'debug' ? 'request' : level === 'warn' ? 'request rejected' : 'request failed');
      }
    }
  };
}
