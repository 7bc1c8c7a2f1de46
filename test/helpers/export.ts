import { PassThrough } from 'node:stream';
import { exportView } from '../../src/jobs/export-view.js';
import type { ViewName } from '../../src/model/views.js';
import type { Store } from '../../src/store/store.js';
import { parseExportRequest } from '../../src/views/export-options.js';

/** What `ember-sync export <view>` writes (formula guard on, no BOM): a CSV target's file must equal it. */
export async function exported(store: Store, view: ViewName, delimiter = ','): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await exportView(store, parseExportRequest({ view, delimiter }, { delimiter, bom: false }), out);
  return Buffer.concat(chunks).toString('utf8');
}
