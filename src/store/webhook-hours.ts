import { WEBHOOK_TYPES } from '../model/webhooks.js';
import type { Db } from './open-db.js';
import type { HourCount, HourOutcome, HourType } from './store.js';

export type { HourCount, HourOutcome, HourType } from './store.js';

/** Every HourOutcome, in the console's order. */
export const HOUR_OUTCOMES = ['accepted', 'duplicate', 'quarantined'] as const satisfies readonly HourOutcome[];
export const HOUR_TYPES: readonly HourType[] = [...WEBHOOK_TYPES, 'unknown'];

/** The hour bucket of an ISO 8601 UTC time (received_at is always `…Z` with milliseconds). */
export const hourOf = (iso: string): string => iso.slice(0, 13);

/**
 * Webhooks per hour by type and outcome (table webhook_hours, migration 6).
 * `count` runs inside the ingest commit's transaction; `since` reads a range
 * of the primary key: at most hours × 5 types × 3 outcomes rows.
 */
export function createWebhookHours(db: Db) {
  const bump = db.prepare<[string, string, string, number]>(
    'INSERT INTO webhook_hours (hour, type, outcome, n) VALUES (?, ?, ?, ?) ON CONFLICT (hour, type, outcome) DO UPDATE SET n = n + excluded.n',
  );
  const range = db.prepare<[string], HourCount>('SELECT hour, type, outcome, n FROM webhook_hours WHERE hour >= ? ORDER BY hour, type, outcome');
  return {
    /** `n` webhooks. Call inside the transaction that commits them. */
    count(receivedAt: string, type: HourType, outcome: HourOutcome, n = 1): void {
      bump.run(hourOf(receivedAt), type, outcome, n);
    },
    /** Every counted hour from `fromHour` (`yyyy-mm-ddThh`) on, oldest first. */
    since(fromHour: string): HourCount[] {
      return range.all(fromHour);
    },
  };
}
export type WebhookHours = ReturnType<typeof createWebhookHours>;

/**
 * The counts of one group commit, added up in memory and written once per
 * (hour, type, outcome) before the batch commits: one statement per batch
 * instead of one per webhook (a batch of a thousand webhooks of one hour is
 * one row to update). `clear` forgets a batch that was rolled back.
 */
export function createHourTally(hours: WebhookHours) {
  const pending = new Map<string, { at: string; type: HourType; outcome: HourOutcome; n: number }>();
  return {
    add(receivedAt: string, type: HourType, outcome: HourOutcome): void {
      const key = `${hourOf(receivedAt)}/${type}/${outcome}`;
      const seen = pending.get(key);
      if (seen) seen.n++;
      else pending.set(key, { at: receivedAt, type, outcome, n: 1 });
    },
    /** Writes the batch's counts; call inside its transaction. */
    flush(): void {
      for (const c of pending.values()) hours.count(c.at, c.type, c.outcome, c.n);
      pending.clear();
    },
    clear(): void {
      pending.clear();
    },
  };
}
