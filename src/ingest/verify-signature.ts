import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { InvalidSignatureError } from '../errors.js';

export interface SignatureHeaders {
  'webhook-id'?: string | undefined;
  'webhook-timestamp'?: string | undefined;
  'webhook-signature'?: string | undefined;
}

/**
 * Standard Webhooks verification over the exact bytes received. Several
 * secrets may be configured (rotation): any one of them verifying is enough.
 * Parsing stays ours (jsonParse: false), so a signed non-JSON body is a 400, not a 401.
 */
export function createSignatureCheck(secrets: readonly string[]): (body: Buffer, headers: SignatureHeaders) => void {
  const verifiers = secrets.map((s) => new Webhook(s));
  return (body, headers) => {
    const h = {
      'webhook-id': headers['webhook-id'] ?? '',
      'webhook-timestamp': headers['webhook-timestamp'] ?? '',
      'webhook-signature': headers['webhook-signature'] ?? '',
    };
    if (!h['webhook-id'] || !h['webhook-timestamp'] || !h['webhook-signature']) {
      throw new InvalidSignatureError('missing webhook-id, webhook-timestamp or webhook-signature header');
    }
    let last: unknown;
    for (const v of verifiers) {
      try {
        v.verify(body, h, { jsonParse: false });
        return;
      } catch (err) {
        last = err;
      }
    }
    const why = last instanceof WebhookVerificationError ? last.message : 'signature could not be checked';
    throw new InvalidSignatureError(`invalid webhook signature: ${why}`);
  };
}
