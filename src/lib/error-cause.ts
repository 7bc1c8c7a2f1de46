/**
 * The cause of a failed commit, made fit for one log line. node-postgres'
 * DatabaseError carries every field of the server's error message, among them
 * `where` and `internalQuery`, which hold the SQL of the failing statement
 * (kilobytes for a PL/pgSQL function) and may quote the values it was given,
 * that is a webhook's payload: they are left out.
 */

/** At most this many characters of a message or a detail (a RAISE text or a "Failing row contains (…)" can be long and quote data). */
const MAX_TEXT = 300;

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The fields of a PostgreSQL error kept in the log: what failed and where in the schema, never the statement or its values. */
const DB_FIELDS = ['severity', 'code', 'message', 'detail', 'schema', 'table', 'column', 'constraint'] as const;

type DatabaseErrorLike = Error & { severity: string; code: string } & Partial<Record<(typeof DB_FIELDS)[number], unknown>>;

/** An error PostgreSQL sent (node-postgres' DatabaseError): a severity and a SQLSTATE. Duck-typed, so that no layer above the store needs `pg`. */
export function isDatabaseError(err: unknown): err is DatabaseErrorLike {
  if (!(err instanceof Error)) return false;
  const e = err as { severity?: unknown; code?: unknown };
  return typeof e.severity === 'string' && typeof e.code === 'string' && SQLSTATE.test(e.code);
}

const cut = (text: string, max = MAX_TEXT): string => (text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text);

/**
 * What to log for an error's cause: a DatabaseError as a small plain object
 * (its severity, SQLSTATE, message, detail, and the schema/table/column/
 * constraint when the server named them); any other error as it is (a bug's
 * stack is worth its lines).
 */
export function compactCause(err: unknown): unknown {
  if (!isDatabaseError(err)) return err;
  const out: Record<string, string> = { type: 'DatabaseError' };
  for (const field of DB_FIELDS) {
    const value = err[field];
    if (typeof value !== 'string' || value === '') continue;
    // A CHECK or NOT NULL violation details the whole row: the webhook's payload.
    if (field === 'detail' && value.startsWith('Failing row contains')) out[field] = 'Failing row contains (the values are not logged)';
    else out[field] = field === 'message' || field === 'detail' ? cut(value) : value;
  }
  return out;
}

/** The SQLSTATE or system error code of a cause (`57P01`, `SQLITE_FULL`, `ECONNREFUSED`), when it has one. */
export function causeCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code !== '') return code;
  // A host with several addresses fails with one error per address.
  if (err instanceof AggregateError) for (const e of err.errors) if (causeCode(e) !== undefined) return causeCode(e);
  return undefined;
}

/** One line for a cause: `code: message`, bounded; never the statement or its values. */
export function causeText(err: unknown): string | undefined {
  if (err === undefined || err === null) return undefined;
  let message = err instanceof Error ? err.message : String(err);
  // AggregateError's own message is empty: its errors say what happened.
  if (message === '' && err instanceof AggregateError) message = err.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join('; ');
  const code = causeCode(err);
  const text = code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
  return cut(text || 'unknown error');
}
