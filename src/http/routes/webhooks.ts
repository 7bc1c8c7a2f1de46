import type { Router, RouterContext } from '@koa/router';
import { is as typeIs } from 'type-is';
import { EmberError, UnauthorizedError, UnsupportedMediaTypeError, webhookTypeOf } from '../../errors.js';
import type { Receive } from '../../ingest/receive.js';
import { bearerToken } from '../../ingest/verify-token.js';
import type { Metrics } from '../../metrics/create-metrics.js';
import type { WebhookType } from '../../model/webhooks.js';
import { previewJson } from '../../lib/preview.js';
import { readBody } from '../read-body.js';

export interface WebhookRouteDeps {
  tokenMatches: (presented: string | undefined) => boolean;
  receive: Receive;
  maxBodyBytes: number;
  metrics: Metrics;
}

function outcomeOf(err: unknown): string {
  if (!(err instanceof EmberError)) return 'error';
  if (err.status === 422) return 'quarantined';
  if (err.status === 503) return 'unavailable';
  return 'rejected';
}

/**
 * POST /webhooks/emberqa/<token> and POST /webhooks/emberqa with a bearer token.
 * Order of checks: token (401), media type (415), size (413), then the
 * receiver: signature (401), JSON (400), schema (422), commit (503).
 */
export function registerWebhookRoutes(router: Router, deps: WebhookRouteDeps): void {
  const handler = (tokenFrom: 'path' | 'header') => async (ctx: RouterContext) => {
    const start = process.hrtime.bigint();
    let type: WebhookType | 'unknown' = 'unknown';
    try {
      const presented = tokenFrom === 'path' ? (ctx.params as Record<string, string>)['token'] : bearerToken(ctx.get('authorization') || undefined);
      if (!deps.tokenMatches(presented)) throw new UnauthorizedError();
      const contentType = ctx.get('content-type');
      if (!contentType || typeIs(contentType, ['application/json']) === false) {
        // The header is echoed, cut: a client's 10 KB header must not come back as a 10 KB (or, escaped, 20 KB) answer.
        throw new UnsupportedMediaTypeError(`Content-Type must be application/json (got ${previewJson(contentType || 'none', 100)})`);
      }
      const body = await readBody(ctx.req, deps.maxBodyBytes);
      const received = await deps.receive({
        body,
        signatureHeaders: {
          'webhook-id': ctx.get('webhook-id') || undefined,
          'webhook-timestamp': ctx.get('webhook-timestamp') || undefined,
          'webhook-signature': ctx.get('webhook-signature') || undefined,
        },
      });
      type = received.type;
      ctx.status = 200;
      ctx.body = { received: true, duplicate: received.duplicate, webhook_id: received.webhookId };
      ctx.state['logExtra'] = { webhook_id: received.webhookId, type, duplicate: received.duplicate, seq: received.seq };
      deps.metrics.webhooks.inc({ type, outcome: received.duplicate ? 'duplicate' : 'accepted' });
      deps.metrics.ingestSeconds.observe({ outcome: 'ok' }, Number(process.hrtime.bigint() - start) / 1e9);
    } catch (err) {
      const outcome = outcomeOf(err);
      // A payload that failed its type's schema, or whose commit failed (503, 500), was classified first.
      type = webhookTypeOf(err) ?? type;
      deps.metrics.webhooks.inc({ type, outcome });
      deps.metrics.ingestSeconds.observe({ outcome }, Number(process.hrtime.bigint() - start) / 1e9);
      throw err;
    }
  };
  router.post('/webhooks/emberqa/:token', handler('path'));
  router.post('/webhooks/emberqa', handler('header'));
}
