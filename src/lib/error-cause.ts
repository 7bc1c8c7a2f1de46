/**
 * The cause of a failed commit, made fit for one log line. node-postgres'
 * DatabaseError carries every field of the server's error message, among them
 * `where` and `internalQuery`, which hold the SQL of the failing statement
 * (kilobytes for a PL/pgSQL function): they are left out. Its message and
 * detail may quote the values a statement was given, that is a webhook's
 * payload ("invalid input syntax for type integer: "{…", "Key (v)=(…)",
 * "Failing row contains (…)", whatever a trigger's RAISE says): they are
 * logged only for the SQLSTATE classes whose texts name objects and
 * conditions, never values; otherwise only their length.
 */
/** At most this many characters of a message or a detail that may be logged. */
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
 * Classes whose messages name objects and conditions, never values: 08 connection, 23 integrity (the constraint;
 * the values are in the detail), 25 transaction state, 40 rollback, 42 syntax or access, 53 resources, 54 limits,
 * 55 object state (a lock), 57 operator intervention, 58 system. Not 22 (data exceptions quote the value), P0
 * (a RAISE says anything), XX.
 */
const MESSAGE_CLASSES = new Set(['08', '23', '25', '40', '42', '53', '54', '55', '57', '58']);
/** Classes whose details say what happened to the server, not to a row (an integrity detail is the row or the key). */
const DETAIL_CLASSES = new Set(['08', '53', '55', '57', '58']);

const withheld = (text: string): string => `(not logged: it may quote the webhook; ${text.length} characters)`;

/** A DatabaseError's message or detail as it may be logged. */
function databaseText(err: DatabaseErrorLike, field: 'message' | 'detail', text: string): string {
  const allowed = (field === 'message' ? MESSAGE_CLASSES : DETAIL_CLASSES).has(err.code.slice(0, 2));
  return allowed ? cut(text) : withheld(text);
}

/**
 * What to log for an error's cause: a DatabaseError as a small plain object
 * (its severity, SQLSTATE, the schema/table/column/constraint when the server
 * named them, its message and detail when they cannot quote data); any other
 * error as it is (a bug's stack is worth its lines).
 */
export function compactCause(err: unknown): unknown {
  if (!isDatabaseError(err)) return err;
  const out: Record<string, string> = { type: 'DatabaseError' };
  for (const field of DB_FIELDS) {
    const value = err[field];
    if (typeof value !== 'string' || value === '') continue;
    out[field] = field === 'message' || field === 'detail' ? databaseText(err, field, value) : value;
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
  if (isDatabaseError(err)) message = databaseText(err, 'message', message);
  const code = causeCode(err);
  const text = code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
  return cut(text || 'unknown error');
}
