/** Time zone names as Sheets and REPORT_TIMEZONE spell them. */

/** The zone Intl resolves a name to (links such as US/Eastern and Etc/GMT to their zone), or the name itself when Intl does not know it. */
function canonical(zone: string): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return zone;
  }
}

/** Do two zone names name the same zone (`Etc/GMT` and `UTC`, `US/Eastern` and `America/New_York`)? */
export function sameZone(a: string, b: string): boolean {
  return a === b || canonical(a) === canonical(b);
}

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
