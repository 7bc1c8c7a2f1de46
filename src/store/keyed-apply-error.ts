/**
 * An event failed while feeding the keyed views: its projection batch rolls
 * back whole, then the event is parked alone and the batch runs without it
 * (projection.ts, pg/pg-projection.ts).
 */
export class KeyedApplyError extends Error {
  override name = 'KeyedApplyError';
  constructor(
    readonly seq: number,
    override readonly cause: unknown,
  ) {
    super(`event ${seq} could not feed the keyed views`);
  }
}
