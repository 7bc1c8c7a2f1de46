import type { Db } from './open-db.js';

/**
 * Sign-ins to the operator console (table console_sessions, migration 6).
 * Rows are found by `key`, which the caller derives from the cookie's session
 * id (an HMAC: the id itself is never stored). Every statement prepared.
 */
export function createConsoleSessions(db: Db) {
  const insert = db.prepare<[string, string, string]>('INSERT INTO console_sessions (key, created_at, expires_at) VALUES (?, ?, ?)');
  const find = db.prepare<[string, string], { created_at: string; expires_at: string }>('SELECT created_at, expires_at FROM console_sessions WHERE key = ? AND expires_at > ?');
  const drop = db.prepare<[string]>('DELETE FROM console_sessions WHERE key = ?');
  const prune = db.prepare<[string]>('DELETE FROM console_sessions WHERE expires_at <= ?');
  const putFlash = db.prepare<[string, string]>('UPDATE console_sessions SET flash = ? WHERE key = ?');
  const clearFlash = db.prepare<[string]>('UPDATE console_sessions SET flash = NULL WHERE key = ?');
  const getFlash = db.prepare<[string], string | null>('SELECT flash FROM console_sessions WHERE key = ?').pluck();
  return {
    /** A new session; expired ones are deleted on the way (sign-ins are rare, the table stays tiny). */
    create(key: string, expiresAt: Date, now = new Date()): void {
      db.transaction(() => {
        prune.run(now.toISOString());
        insert.run(key, now.toISOString(), expiresAt.toISOString());
      }).immediate();
    },
    /** The live session with this key, if any. */
    find: (key: string, now = new Date()) => find.get(key, now.toISOString()),
    delete: (key: string): void => void drop.run(key),
    setFlash: (key: string, message: string): void => void putFlash.run(message, key),
    /** The message left for this session, once. */
    takeFlash(key: string): string | undefined {
      const flash = getFlash.get(key);
      if (flash == null) return undefined;
      clearFlash.run(key);
      return flash;
    },
  };
}
export type ConsoleSessions = ReturnType<typeof createConsoleSessions>;
