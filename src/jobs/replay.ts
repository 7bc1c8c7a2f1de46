import { parseJsonObject } from '../lib/json-object.js';
import type { Validator } from '../ingest/validate.js';
import type { QuarantinedRow, Store } from '../store/store.js';

export interface ReplayResult {
  checked: number;
  released: number;
  duplicates: number;
  stillHeld: number;
  /** Parked events (that could not be projected) retried: moved back into the views, or still parked. */
  parked: { moved: number; still: number };
  /** Per payload, for the CLI to print. */
  items: Array<{ id: number; webhookId: string | null; result: 'released' | 'duplicate' | 'held'; seq?: number; errors?: unknown }>;
}

/**
 * Re-validates held quarantine payloads with the current schemas, then
 * retries parked events (see projection.ts). Payloads that pass become normal events (outcome "replayed", their original received_at),
 * a webhook_id already in the log is marked duplicate. Each payload is settled
 * in its own short transaction, so a running server is never blocked for long.
 */
export async function replayQuarantine(deps: { store: Store; validator: Validator; webhookId?: string | undefined; now?: () => Date }): Promise<ReplayResult> {
  const { store, validator } = deps;
  const now = deps.now ?? (() => new Date());
  const result: ReplayResult = { checked: 0, released: 0, duplicates: 0, stillHeld: 0, parked: { moved: 0, still: 0 }, items: [] };

  // RETENTION_DAYS: a payload first received before the cutoff was kept because it came again since; released with
  // its first receipt it would land in a deleted month, on a closed day, and go at the next run. It takes its last.
  const cutoff = (await store.retention.state()).cutoff;
  const receivedAt = (row: QuarantinedRow) => (cutoff !== null && row.received_at < cutoff ? row.last_received_at : row.received_at);
  // Validation needs no database; the store settles each payload in one transaction of its own.
  const settle = async (row: QuarantinedRow): Promise<ReplayResult['items'][number]> => {
    let payload: Record<string, unknown>;
    try {
      payload = parseJsonObject(row.body);
    } catch {
      return { id: row.id, webhookId: row.webhook_id, result: 'held' as const };
    }
    const outcome = validator.validate(payload);
    if (!outcome.ok) {
      await store.events.settleQuarantine(row.id, { kind: 'still-held', reason: outcome.error.code, errors: outcome.error.details ?? [] });
      return { id: row.id, webhookId: row.webhook_id, result: 'held' as const, errors: outcome.error.details };
    }
    const event = { webhookId: outcome.typed.payload.webhook_id, type: outcome.typed.type, receivedAt: receivedAt(row), body: row.body, outcome: 'replayed' as const };
    const settled = await store.events.settleQuarantine(row.id, { kind: 'append', event, at: now().toISOString() });
    const status = settled.status === 'duplicate' ? ('duplicate' as const) : ('released' as const);
    return { id: row.id, webhookId: row.webhook_id, result: status, ...(settled.seq === undefined ? {} : { seq: settled.seq }) };
  };

  const take = (item: ReplayResult['items'][number]) => {
    result.checked++;
    result.items.push(item);
    if (item.result === 'released') result.released++;
    else if (item.result === 'duplicate') result.duplicates++;
    else result.stillHeld++;
  };

  if (deps.webhookId !== undefined) {
    for (const row of await store.events.heldQuarantineFor(deps.webhookId)) take(await settle(row));
  } else {
    let after = 0;
    for (let rows = await store.events.heldQuarantine(after, 200); rows.length > 0; rows = await store.events.heldQuarantine(after, 200)) {
      for (const row of rows) take(await settle(row));
      after = rows.at(-1)!.id;
    }
  }
  if (result.released > 0) await store.projection.catchUp();
  // Events that passed their schema but could not be turned into rows get another chance too.
  if (deps.webhookId === undefined) result.parked = await store.projection.retryParked();
  return result;
}
