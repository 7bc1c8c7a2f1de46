/**
 * DATABASE_URL's sslmode, said outright to node-postgres. pg 8 treats
 * sslmode=prefer, require and verify-ca as verify-full (TLS, the server's
 * certificate checked against the trusted CAs and its name against the host)
 * and prints a multi-line "SECURITY WARNING" saying pg 9 will give them
 * libpq's weaker meanings (require: encrypted but unverified). ember-sync
 * keeps the stronger behaviour: those modes are passed on as verify-full,
 * which is what pg does with them today, without the warning, and what it
 * will keep doing after pg 9. An operator who wants libpq's meanings adds
 * `uselibpqcompat=true` to the URL (pg-connection-string's own switch): the
 * URL is then left as it is.
 */

import { queryEntry } from './pg-url.js';

/** The modes pg 8 already treats as verify-full (with a warning). */
const VERIFIED_ALIASES = new Set(['prefer', 'require', 'verify-ca']);

/** `url` with sslmode=prefer|require|verify-ca written as verify-full, unless it asks for libpq's semantics. */
export function pinSslMode(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const segments = url.slice(q + 1).split('&');
  const entries = segments.map(queryEntry);
  if (entries.some((e) => e?.[0] === 'uselibpqcompat' && e[1] === 'true')) return url;
  if (!entries.some((e) => e?.[0] === 'sslmode' && VERIFIED_ALIASES.has(e[1]))) return url;
  const pinned = segments.map((s, i) => {
    const e = entries[i];
    return e?.[0] === 'sslmode' && VERIFIED_ALIASES.has(e[1]) ? 'sslmode=verify-full' : s;
  });
  return `${url.slice(0, q + 1)}${pinned.join('&')}`;
}
