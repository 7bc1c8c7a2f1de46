const ESC = '\uffff';

/**
 * Text PostgreSQL can hold: U+0000 (valid in JSON and kept by SQLite, refused
 * by a PostgreSQL text) becomes U+FFFF '0', and U+FFFF itself U+FFFF U+FFFF,
 * so that the mapping is reversible (fromPgText) and keeps equality (keys
 * still match). U+FFFF is a noncharacter, never sent in practice: nearly
 * every text is stored as it is.
 */
export function toPgText(s: string): string {
  return s.includes('\u0000') || s.includes(ESC) ? s.replace(/[\u0000\uffff]/g, (c) => (c === ESC ? ESC + ESC : `${ESC}0`)) : s;
}

/** The text toPgText was given. */
export function fromPgText(s: string): string {
  return s.includes(ESC) ? s.replace(/\uffff([0\uffff])/g, (_, c: string) => (c === '0' ? '\u0000' : ESC)) : s;
}
