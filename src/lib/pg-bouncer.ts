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

/** One `key=value` of a query, decoded as pg-connection-string decodes it (URLSearchParams). */
function entry(segment: string): [string, string] | undefined {
  for (const pair of new URLSearchParams(segment)) return pair;
  return undefined;
}

/** The values of `key` in the URL's query (decoded), in order. */
export function urlParams(url: string, key: string): string[] {
  const q = url.indexOf('?');
  if (q < 0) return [];
  const out: string[] = [];
  for (const s of url.slice(q + 1).split('#')[0]!.split('&')) {
    const e = entry(s);
    if (e?.[0] === key) out.push(e[1]);
  }
  return out;
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
    const e = entry(s);
    return e?.[0] === 'pgbouncer' && e[1] === 'true';
  });
  const taken = pgbouncer ? new Set(['pgbouncer', 'statement_timeout', 'lock_timeout']) : new Set(['pgbouncer']);
  let statementTimeoutMs: number | undefined;
  let lockTimeoutMs: number | undefined;
  const kept = segments.filter((s) => {
    const e = entry(s);
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
