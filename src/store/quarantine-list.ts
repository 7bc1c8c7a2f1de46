import type { Db } from './open-db.js';
import type { HeldPayload } from './store.js';

export type { HeldPayload } from './store.js';

/**
 * The quarantine as the console pages through it: held payloads newest
 * first, a page at a time on the (status, id) index, without their bodies;
 * one body by id for a download. Every statement prepared.
 */
export function createQuarantineList(db: Db) {
  const page = db.prepare<[number, number], HeldPayload>(
    `SELECT id, webhook_id, received_at, last_received_at, attempts, reason, errors, length(body) AS bytes
     FROM quarantine WHERE status = 'held' AND id < ? ORDER BY id DESC LIMIT ?`,
  );
  const held = db.prepare<[], number>("SELECT count(*) FROM quarantine WHERE status = 'held'").pluck();
  const body = db.prepare<[number], { body: Buffer; webhook_id: string | null; status: string }>('SELECT body, webhook_id, status FROM quarantine WHERE id = ?');
  return {
    /** Up to `limit` held payloads with an id below `beforeId`, newest first. */
    page: (beforeId: number, limit: number): HeldPayload[] => page.all(beforeId, limit),
    held: (): number => held.get()!,
    /** One payload's bytes as received (held, released or duplicate), by its quarantine id. */
    payload: (id: number) => body.get(id),
  };
}
export type QuarantineList = ReturnType<typeof createQuarantineList>;
