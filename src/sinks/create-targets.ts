import type { Settings, SyncTargetName } from '../config/settings.js';
import { createCsvTarget } from './csv/csv-target.js';
import type { SyncTarget } from './target.js';

/** The targets SYNC_TARGETS names, built from the settings. */
export async function createTargets(settings: Settings, only?: SyncTargetName): Promise<SyncTarget[]> {
  const names = only ? [only] : settings.syncTargets;
  const targets: SyncTarget[] = [];
  for (const name of names) {
    if (name === 'csv') targets.push(createCsvTarget({ dir: settings.csvDir, delimiter: settings.csvDelimiter, bom: settings.csvBom }));
    else throw new Error(`the ${name} target is not available yet`);
  }
  return targets;
}
