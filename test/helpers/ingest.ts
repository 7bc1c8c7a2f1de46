import { classify } from '../../src/ingest/validate.js';
import type { Store } from '../../src/store/store.js';

/** Logs payloads through the real writer (as the receiver would after validation). */
export async function ingest(store: Store, payloads: ReadonlyArray<object>, receivedAt: (i: number) => string = () => new Date().toISOString()): Promise<void> {
  const writer = store.createWriter();
  for (const [i, p] of payloads.entries()) {
    const payload = p as Record<string, unknown>;
    const type = classify(payload);
    if (!type) throw new Error(`not an EmberQA webhook: ${JSON.stringify(p).slice(0, 80)}`);
    await writer.submit({ kind: 'event', event: { webhookId: String(payload['webhook_id']), type, receivedAt: receivedAt(i), body: Buffer.from(JSON.stringify(p)) } });
  }
  await writer.close();
}
