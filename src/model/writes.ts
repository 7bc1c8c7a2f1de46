import type { ErrorDetail, WebhookType } from './webhooks.js';

/** A webhook that passed its schema, as the raw log keeps it. */
export interface NewEvent {
  webhookId: string;
  type: WebhookType;
  receivedAt: string;
  body: Buffer;
  outcome?: 'accepted' | 'replayed';
}
export type AppendResult = { duplicate: false; seq: number } | { duplicate: true; seq: number | undefined };

/** A payload that failed its schema, kept verbatim with its errors. */
export interface NewQuarantined {
  webhookId: string | undefined;
  receivedAt: string;
  body: Buffer;
  reason: string;
  errors: ErrorDetail[];
}

/** What the receiver asks the store to commit (group-committed by the server). */
export type WriteOp = { kind: 'event'; event: NewEvent } | { kind: 'quarantine'; item: NewQuarantined } | { kind: 'probe' };
export type WriteResult = ({ kind: 'event' } & AppendResult) | { kind: 'quarantine'; id: number; attempts: number } | { kind: 'probe' };
