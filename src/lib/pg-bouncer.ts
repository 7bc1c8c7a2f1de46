/**
 * `?pgbouncer=true` in DATABASE_URL (Prisma's convention): the URL reaches
 * PostgreSQL through PgBouncer in transaction pooling mode, where each
 * transaction (and each statement outside one) may run on another server
 * connection. Nothing session-scoped survives there: no named prepared
 * statements (PgBouncer before 1.21 does not track them), no startup
 * parameters PgBouncer does not know (statement_timeout, lock_timeout,
 * options: it refuses the login), no session advisory lock or SET.
 *
 * The parameters ember-sync reads itself are taken out of the URL before
 * node-postgres sees it: pgbouncer (pg-connection-string would pass it on
 * in the config, where pg ignores it today, but a name it does not know has
 * no business in its startup packet), and, in that mode, statement_timeout and
 * lock_timeout, which node-postgres would send as startup parameters: they
 * are applied to each transaction instead (store/pg/pg-pool.ts).
 */

import { pinSslMode } from './pg-sslmode.js';
import { queryEntry } from './pg-url.js';

export interface PgBouncerUrl {
  /** The URL without the parameters below: what node-postgres gets. */
  url: string;
  /** pgbouncer=true was given. */
  pgbouncer: boolean;
  /** The URL's own statement_timeout (ms), in pgbouncer mode only (otherwise left in the URL, node-postgres sends it). */
  statementTimeoutMs?: number;
  /** The URL's own lock_timeout (ms), likewise. */
  lockTimeoutMs?: number;
}

/** A whole number of milliseconds as PostgreSQL takes it for a timeout, or undefined. */
function millis(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^\d{1,10}$/.test(raw)) return undefined;
  const n = Number(raw);
  return n <= 2_147_483_647 ? n : undefined;
}

/**
 * Reads and removes `pgbouncer` (and, when it is true, `statement_timeout`
 * and `lock_timeout`) from the URL's query. Any value but `true` means off;
 * settings.ts refuses what is neither true nor false before we get here.
 */
export function splitPgBouncer(url: string): PgBouncerUrl {
  const q = url.indexOf('?');
  if (q < 0) return { url, pgbouncer: false };
  const hash = url.indexOf('#', q);
  const query = url.slice(q + 1, hash < 0 ? undefined : hash);
  const segments = query.split('&');
  const pgbouncer = segments.some((s) => {
    const e = queryEntry(s);
    return e?.[0] === 'pgbouncer' && e[1] === 'true';
  });
  const taken = pgbouncer ? new Set(['pgbouncer', 'statement_timeout', 'lock_timeout']) : new Set(['pgbouncer']);
  let statementTimeoutMs: number | undefined;
  let lockTimeoutMs: number | undefined;
  const kept = segments.filter((s) => {
    const e = queryEntry(s);
    if (!e || !taken.has(e[0])) return true;
    if (e[0] === 'statement_timeout') statementTimeoutMs = millis(e[1]) ?? statementTimeoutMs;
    if (e[0] === 'lock_timeout') lockTimeoutMs = millis(e[1]) ?? lockTimeoutMs;
    return false;
  });
  const rest = hash < 0 ? '' : url.slice(hash);
  const stripped = `${url.slice(0, kept.length > 0 ? q + 1 : q)}${kept.join('&')}${rest}`;
  return {
    url: stripped,
    pgbouncer,
    ...(statementTimeoutMs === undefined ? {} : { statementTimeoutMs }),
    ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }),
  };
}

/** What node-postgres gets for DATABASE_URL: pgbouncer (and its timeouts) taken out, sslmode said outright (pg-sslmode.ts). */
export function driverTarget(url: string): PgBouncerUrl {
  const target = splitPgBouncer(url);
  return { ...target, url: pinSslMode(target.url) };
}
