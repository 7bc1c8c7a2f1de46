import type { Logger } from 'pino';
import type { Settings, SyncTargetName } from '../config/settings.js';
import { createCsvTarget } from './csv/csv-target.js';
import type { SyncTarget } from '../model/sync.js';

/**
 * The targets SYNC_TARGETS names, built from the settings. A bad Google key
 * file is a SettingError here, so `serve` stops at start with exit 2. The
 * Google client is loaded only when the sheets target is on.
 */
export async function createTargets(settings: Settings, only?: SyncTargetName, logger?: Logger): Promise<SyncTarget[]> {
  const names = only ? [only] : settings.syncTargets;
  const targets: SyncTarget[] = [];
  for (const name of names) {
    if (name === 'csv') {
      targets.push(createCsvTarget({ dir: settings.csvDir, delimiter: settings.csvDelimiter, bom: settings.csvBom }));
    } else {
      const [{ createSheetsAuth }, { createSheetsTarget }] = await Promise.all([import('./sheets/auth.js'), import('./sheets/sheets-target.js')]);
      targets.push(
        createSheetsTarget({
          spreadsheetId: settings.sheetsSpreadsheetId!,
          auth: createSheetsAuth(settings),
          rootUrl: settings.sheetsApiRootUrl,
          ...(logger ? { logger } : {}),
        }),
      );
    }
  }
  return targets;
}
