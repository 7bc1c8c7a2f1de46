/**
 * The query of a DATABASE_URL as node-postgres reads it (pg-connection-string:
 * URLSearchParams, so keys and values are percent-decoded), and the keys it
 * or ember-sync knows.
 */

/** One `key=value` of a query, decoded as pg-connection-string decodes it. */
export function queryEntry(segment: string): [string, string] | undefined {
  for (const pair of new URLSearchParams(segment)) return pair;
  return undefined;
}

/** The values of `key` in the URL's query (decoded), in order. */
export function urlParams(url: string, key: string): string[] {
  const q = url.indexOf('?');
  if (q < 0) return [];
  const out: string[] = [];
  for (const s of url.slice(q + 1).split('#')[0]!.split('&')) {
    const e = queryEntry(s);
    if (e?.[0] === key) out.push(e[1]);
  }
  return out;
}

/** Keys whose values are secrets or may hold them (options can carry anything): never shown. */
export const SECRET_URL_KEYS: ReadonlySet<string> = new Set(['password', 'sslpassword', 'options']);

/** Keys whose values are connection details, fit to show. */
export const SHOWN_URL_KEYS: ReadonlySet<string> = new Set([
  'host', 'port', 'user', 'dbname', 'database', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslnegotiation', 'ssl',
  'uselibpqcompat', 'pgbouncer', 'application_name', 'fallback_application_name', 'connect_timeout', 'statement_timeout',
  'lock_timeout', 'query_timeout', 'idle_in_transaction_session_timeout', 'keepalives', 'client_encoding', 'target_session_attrs', 'replication',
]);

/** Every query key node-postgres or ember-sync reads, all in lower case. */
export const PG_URL_KEYS: ReadonlySet<string> = new Set([...SHOWN_URL_KEYS, ...SECRET_URL_KEYS]);
