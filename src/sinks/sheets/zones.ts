/** Time zone names as Sheets and REPORT_TIMEZONE spell them. */

export { sameZone } from '../../model/time.js';
import { sameZone } from '../../model/time.js';

/** The city part of a zone name, as people say it: America/New_York → New York. */
function city(zone: string): string {
  return (zone.split('/').at(-1) ?? zone).replace(/_/g, ' ');
}

/**
 * The notice when the spreadsheet's own time zone (File → Settings) is not
 * REPORT_TIMEZONE: date-time cells hold REPORT_TIMEZONE's wall clock either
 * way, but the spreadsheet's NOW(), TODAY() and its edit history use its own.
 * Undefined when they agree (or the spreadsheet's zone is unknown).
 */
export function zoneNotice(spreadsheetZone: string | undefined, reportZone: string): string | undefined {
  if (!spreadsheetZone || sameZone(spreadsheetZone, reportZone)) return undefined;
  return `the spreadsheet's time zone is ${spreadsheetZone} but REPORT_TIMEZONE is ${reportZone}: date-time cells show ${city(reportZone)} wall-clock times; set File → Settings → Time zone to ${reportZone} (or REPORT_TIMEZONE to ${spreadsheetZone})`;
}
