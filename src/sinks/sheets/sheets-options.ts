import type { Settings } from '../../config/settings.js';
import type { SheetsTargetOptions } from './sheets-target.js';

/** The settings the Sheets target's behaviour follows (the connection settings aside). */
export type SheetsBehaviourSettings = Pick<Settings, 'sheetsViews' | 'sheetsPartition' | 'sheetsKeepMonths' | 'sheetsOnConflict' | 'reportTimezone'>;

/**
 * The target's options as the product runs it, from the settings: SHEETS_VIEWS,
 * SHEETS_PARTITION, SHEETS_KEEP_MONTHS, SHEETS_ON_CONFLICT, REPORT_TIMEZONE,
 * the `ember-sync` status tab and warning-only protection of synced tabs.
 * One place, so that every process (the server, `ember-sync sync`, tests that
 * stand in for them) builds the same target.
 */
export function sheetsBehaviour(s: SheetsBehaviourSettings): Pick<SheetsTargetOptions, 'views' | 'partition' | 'keepMonths' | 'onConflict' | 'reportTimezone' | 'statusTab' | 'protectTabs'> {
  return {
    views: s.sheetsViews,
    partition: s.sheetsPartition,
    keepMonths: s.sheetsKeepMonths,
    onConflict: s.sheetsOnConflict,
    reportTimezone: s.reportTimezone,
    statusTab: true,
    protectTabs: true,
  };
}
