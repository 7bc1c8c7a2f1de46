import { withWebhookType, type EmberError } from '../errors.js';
import { parseJsonObject } from '../lib/json-object.js';
import type { WebhookType } from '../model/webhooks.js';
import type { NewQuarantined, WriteOp, WriteResult } from '../model/writes.js';
import type { Validator } from './validate.js';
import type { SignatureHeaders } from './verify-signature.js';

export interface ReceiveInput {
  /** The exact bytes of the request body. */
  body: Buffer;
  signatureHeaders: SignatureHeaders;
}

export interface Received {
  webhookId: string;
  type: WebhookType;
  duplicate: boolean;
  seq: number | undefined;
}

/** A quarantined payload carries the type whose schema it failed, when it has one (the hourly counts are by type). */
export type ReceiveWriteOp = Exclude<WriteOp, { kind: 'quarantine' }> | { kind: 'quarantine'; item: NewQuarantined & { type: WebhookType | undefined } };

export interface ReceiverDeps {
  validator: Validator;
  /** Resolves once the write is committed to disk (group commit). */
  write: (op: ReceiveWriteOp) => Promise<WriteResult>;
  /** Present when WEBHOOK_SIGNING_SECRET is set. */
  verifySignature?: ((body: Buffer, headers: SignatureHeaders) => void) | undefined;
  now?: () => Date;
}

/**
 * One webhook, framework-free: signature, parse, schema, then the raw log (or
 * the quarantine) — committed before this resolves. Throws an EmberError for
 * every client problem; a schema failure throws only after its quarantine
 * copy is committed, so nothing a client sends is lost.
 */
export function createReceiver(deps: ReceiverDeps) {
  const now = deps.now ?? (() => new Date());
  /** The commit of one classified webhook: its failure (503, 500) carries the type, which /metrics labels it by. */
  const write = async (op: ReceiveWriteOp, type: WebhookType | undefined): Promise<WriteResult> => {
    try {
      return await deps.write(op);
    } catch (err) {
      throw withWebhookType(err, type);
    }
  };
  return async function receive(input: ReceiveInput): Promise<Received> {
    deps.verifySignature?.(input.body, input.signatureHeaders);
    const payload = parseJsonObject(input.body);
    const receivedAt = now().toISOString();
    const outcome = deps.validator.validate(payload);
    if (!outcome.ok) {
      const id = payload['webhook_id'];
      await write({
        kind: 'quarantine',
        item: {
          webhookId: typeof id === 'string' && id !== '' ? id : undefined,
          receivedAt,
          body: input.body,
          reason: outcome.error.code,
          errors: outcome.error.details ?? [],
          type: outcome.type,
        },
      }, outcome.type);
      throw outcome.error satisfies EmberError;
    }
    const { type, payload: typed } = outcome.typed;
    const result = await write({ kind: 'event', event: { webhookId: typed.webhook_id, type, receivedAt, body: input.body } }, type);
    if (result.kind !== 'event') throw new Error('unexpected write result');
    return { webhookId: typed.webhook_id, type, duplicate: result.duplicate, seq: result.seq };
  };
}
export type Receive = ReturnType<typeof createReceiver>;
