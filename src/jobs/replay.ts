import { parseJsonObject } from '../lib/json-object.js';
import type { Validator } from '../ingest/validate.js';
import type { Store } from '../store/create-store.js';
import type { QuarantinedRow } from '../store/event-log.js';

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
export function replayQuarantine(deps: { store: Store; validator: Validator; webhookId?: string | undefined; now?: () => Date }): ReplayResult {
  const { store, validator } = deps;
  const now = deps.now ?? (() => new Date());
  const result: ReplayResult = { checked: 0, released: 0, duplicates: 0, stillHeld: 0, parked: { moved: 0, still: 0 }, items: [] };

  // RETENTION_DAYS: a payload first received before the cutoff was kept because it came again since; released with
  // its first receipt it would land in a deleted month, on a closed day, and go at the next run. It takes its last.
  const cutoff = store.retention.state().cutoff;
  const receivedAt = (row: QuarantinedRow) => (cutoff !== null && row.received_at < cutoff ? row.last_received_at : row.received_at);
  const settle = store.db.transaction((row: QuarantinedRow) => {
    let payload: Record<string, unknown>;
    try {
      payload = parseJsonObject(row.body);
    } catch {
      return { id: row.id, webhookId: row.webhook_id, result: 'held' as const };
    }
    const outcome = validator.validate(payload);
    if (!outcome.ok) {
      store.events.updateQuarantineErrors(row.id, outcome.error.code, outcome.error.details ?? []);
      return { id: row.id, webhookId: row.webhook_id, result: 'held' as const, errors: outcome.error.details };
    }
    const appended = store.events.append({ webhookId: outcome.typed.payload.webhook_id, type: outcome.typed.type, receivedAt: receivedAt(row), body: row.body, outcome: 'replayed' });
    const status = appended.duplicate ? ('duplicate' as const) : ('released' as const);
    store.events.resolveQuarantine(row.id, status, appended.seq, now().toISOString());
    return { id: row.id, webhookId: row.webhook_id, result: status, ...(appended.seq === undefined ? {} : { seq: appended.seq }) };
  });

  const take = (item: ReplayResult['items'][number]) => {
    result.checked++;
    result.items.push(item);
    if (item.result === 'released') result.released++;
    else if (item.result === 'duplicate') result.duplicates++;
    else result.stillHeld++;
  };

  if (deps.webhookId !== undefined) {
    for (const row of store.events.heldQuarantineFor(deps.webhookId)) take(settle.immediate(row));
  } else {
    let after = 0;
    for (let rows = store.events.heldQuarantine(after, 200); rows.length > 0; rows = store.events.heldQuarantine(after, 200)) {
      for (const row of rows) take(settle.immediate(row));
      after = rows.at(-1)!.id;
    }
  }
  if (result.released > 0) store.projection.catchUp();
  // Events that passed their schema but could not be turned into rows get another chance too.
  if (deps.webhookId === undefined) result.parked = store.projection.retryParked();
  return result;
}
