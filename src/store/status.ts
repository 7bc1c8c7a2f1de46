import type { Store } from './create-store.js';

/** Counts and state for `ember-sync status` and GET /api/status. */
export function collectStatus(store: Store) {
  const c = store.events.counts();
  return {
    events: { total: c.events, last_seq: c.lastSeq, by_type: c.byType },
    quarantine: { held: c.quarantineHeld, attempts: c.quarantineAttempts },
    projector: { cursor: store.projection.cursor(), lag: store.projection.lag() },
  };
}
export type Status = ReturnType<typeof collectStatus>;
