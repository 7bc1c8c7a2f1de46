/** A1 notation, with the sheet name quoted the way Sheets wants ('It''s'). */
export function quoteSheet(title: string): string {
  return `'${title.replace(/'/g, "''")}'`;
}

/** 0 → A, 25 → Z, 26 → AA. */
export function columnLetter(index: number): string {
  let n = index + 1;
  let s = '';
  while (n > 0) {
    const r = (n - 1) % 26;
    s = String.fromCharCode(65 + r) + s;
    n = Math.floor((n - 1) / 26);
  }
  return s;
}

/** Rows and columns are 0-based and inclusive here; A1 is 1-based. */
export function a1(title: string, firstRow: number, firstCol: number, lastRow: number, lastCol: number): string {
  return `${quoteSheet(title)}!${columnLetter(firstCol)}${firstRow + 1}:${columnLetter(lastCol)}${lastRow + 1}`;
}
