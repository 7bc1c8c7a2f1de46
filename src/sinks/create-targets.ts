import type { Logger } from 'pino';
import type { Settings } from '../config/settings.js';
import type { SyncTargetName } from '../model/sync.js';
import { ensureSettingDir } from '../config/setting-dir.js';
import { createCsvTarget } from './csv/csv-target.js';
import { csvDialectFromSettings } from './csv/csv-dialect.js';
import type { SyncTarget } from '../model/sync.js';

/**
 * The targets SYNC_TARGETS names, built from the settings. A bad Google key
 * file is a SettingError here, so `serve` stops at start with exit 2. So is a
 * CSV_DIR that cannot be created or written. The Google client is loaded only
 * when the sheets target is on.
 */
export async function createTargets(settings: Settings, only?: SyncTargetName, logger?: Logger): Promise<SyncTarget[]> {
  const names = only ? [only] : settings.syncTargets;
  const targets: SyncTarget[] = [];
  for (const name of names) {
    if (name === 'csv') {
      ensureSettingDir('CSV_DIR', settings.csvDir);
      targets.push(createCsvTarget({ dir: settings.csvDir, dialect: csvDialectFromSettings(settings), partition: settings.csvPartition }));
    } else {
      const [{ createSheetsAuth }, { createSheetsTarget }, { sheetsBehaviour }] = await Promise.all([import('./sheets/auth.js'), import('./sheets/sheets-target.js'), import('./sheets/sheets-options.js')]);
      targets.push(
        createSheetsTarget({
          spreadsheetId: settings.sheetsSpreadsheetId!,
          auth: createSheetsAuth(settings),
          rootUrl: settings.sheetsApiRootUrl,
          ...sheetsBehaviour(settings),
          ...(logger ? { logger } : {}),
        }),
      );
    }
  }
  return targets;
}
