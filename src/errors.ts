/**
 * One error model for the whole service. Every failure a client or an operator
 * can cause is a named subclass with a stable `code`; the Koa error middleware
 * turns any EmberError into `{"error":{"code","message","details"}}` with its
 * `status`. `expose` says whether the message may be shown to the client.
 */
import type { ErrorDetail, WebhookType } from './model/webhooks.js';
export type { ErrorDetail };

export class EmberError extends Error {
  readonly code: string;
  readonly status: number;
  readonly expose: boolean;
  readonly details: ErrorDetail[] | undefined;

  constructor(code: string, status: number, message: string, options: { expose?: boolean; details?: ErrorDetail[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.expose = options.expose ?? status < 500;
    this.details = options.details;
  }
}

/** The table of codes a client can see (README lists it too). */
export const ERROR_CODES = {
  unauthorized: 401,
  invalid_signature: 401,
  unsupported_media_type: 415,
  empty_body: 400,
  malformed_json: 400,
  not_an_object: 400,
  payload_too_large: 413,
  schema_validation_failed: 422,
  unknown_webhook_type: 422,
  store_unavailable: 503,
  /** The database refused this one webhook's data (a constraint, a limit): retrying the same bytes cannot succeed. */
  store_rejected: 500,
  not_found: 404,
  method_not_allowed: 405,
  bad_request: 400,
  /** The console: a cross-site form, a missing or wrong CSRF token. */
  forbidden: 403,
  /** The console's sign-in, answered at a steady pace: more than a few waiting. */
  too_many_requests: 429,
  /** Answered by Node's HTTP parser handler (http/client-error.ts), before routing. */
  headers_too_large: 431,
  request_timeout: 408,
  internal_error: 500,
} as const satisfies Record<string, number>;
export type ErrorCode = keyof typeof ERROR_CODES;

function make(code: ErrorCode, message: string, options?: { details?: ErrorDetail[]; cause?: unknown; expose?: boolean }) {
  return [code, ERROR_CODES[code], message, options] as const;
}

export class UnauthorizedError extends EmberError {
  constructor(message = 'missing or wrong webhook token') {
    super(...make('unauthorized', message));
  }
}
export class InvalidSignatureError extends EmberError {
  constructor(message: string) {
    super(...make('invalid_signature', message));
  }
}
export class UnsupportedMediaTypeError extends EmberError {
  constructor(message: string) {
    super(...make('unsupported_media_type', message));
  }
}
export class EmptyBodyError extends EmberError {
  constructor() {
    super(...make('empty_body', 'the request body is empty; a JSON object is expected'));
  }
}
export class MalformedJsonError extends EmberError {
  constructor(message: string) {
    super(...make('malformed_json', `the body is not valid JSON: ${message}`));
  }
}
export class NotAnObjectError extends EmberError {
  constructor(kind: string) {
    super(...make('not_an_object', `the body is JSON ${kind}; a JSON object is expected`));
  }
}
export class PayloadTooLargeError extends EmberError {
  constructor(limit: number) {
    super(...make('payload_too_large', `the body is larger than MAX_BODY_BYTES (${limit} bytes)`));
  }
}
export class RequestTimeoutError extends EmberError {
  constructor(ms: number) {
    super(...make('request_timeout', `the body did not arrive within ${Math.round(ms / 1000)} s`));
  }
}
export class SchemaValidationError extends EmberError {
  constructor(
    message: string,
    details: ErrorDetail[],
    /** The type whose schema it failed (metrics label quarantined webhooks by it). */
    readonly webhookType?: WebhookType,
  ) {
    super(...make('schema_validation_failed', message, { details }));
  }
}
export class UnknownWebhookTypeError extends EmberError {
  constructor(details: ErrorDetail[]) {
    super(...make('unknown_webhook_type', 'unknown webhook type: expected alert_type "red_flag" or "low_score", or trigger_reason "completed_action"', { details }));
  }
}
export class StoreUnavailableError extends EmberError {
  /** The commit was sent but never confirmed (the connection broke meanwhile): it may have been stored. */
  readonly outcomeUnknown: boolean;
  /** The type of the webhook whose commit failed, when the receiver had classified it (metrics label by it). */
  readonly webhookType: WebhookType | undefined;
  constructor(cause: unknown, options: { outcomeUnknown?: boolean; webhookType?: WebhookType | undefined } = {}) {
    // A 503 is the server's fault but its message is safe and tells the sender to retry.
    const message = options.outcomeUnknown
      ? 'the database did not confirm the commit; it may or may not have been stored, please retry (a stored webhook then answers duplicate)'
      : 'the database could not commit; nothing was stored, please retry';
    super(...make('store_unavailable', message, { cause, expose: true }));
    this.outcomeUnknown = options.outcomeUnknown ?? false;
    this.webhookType = options.webhookType;
  }
}
/**
 * The database refused to store this one webhook for what it holds (PostgreSQL
 * SQLSTATE classes 22, 23, 54: a value, a constraint, a size limit), while the
 * other webhooks of its batch were stored. Not a 503: the same bytes again
 * would fail the same way, a "please retry" would be a lie.
 */
export class StoreRejectedError extends EmberError {
  constructor(
    cause: unknown,
    /** The type of the refused webhook, when the receiver had classified it (metrics label by it). */
    readonly webhookType?: WebhookType,
  ) {
    super(...make('store_rejected', 'the database refused to store this webhook; it was not stored and retrying it will not help (the operator log has the reason)', { cause, expose: true }));
  }
}

/**
 * A commit failure of one webhook, labelled with its type. A copy, not the
 * error itself: a writer rejects every webhook of a failed batch with one
 * shared error, and the webhooks of a batch have different types.
 */
export function withWebhookType(err: unknown, type: WebhookType | undefined): unknown {
  if (type === undefined) return err;
  if (err instanceof StoreUnavailableError) return new StoreUnavailableError(err.cause, { outcomeUnknown: err.outcomeUnknown, webhookType: type });
  if (err instanceof StoreRejectedError) return new StoreRejectedError(err.cause, type);
  return err;
}

/** The webhook type an error was classified under before it failed (schema failure, failed commit), if any. */
export function webhookTypeOf(err: unknown): WebhookType | undefined {
  if (err instanceof SchemaValidationError || err instanceof StoreUnavailableError || err instanceof StoreRejectedError) return err.webhookType;
  return undefined;
}
export class NotFoundError extends EmberError {
  constructor(message = 'not found') {
    super(...make('not_found', message));
  }
}
export class MethodNotAllowedError extends EmberError {
  constructor(message = 'method not allowed on this path (see the Allow header)') {
    super(...make('method_not_allowed', message));
  }
}
export class BadRequestError extends EmberError {
  constructor(message: string) {
    super(...make('bad_request', message));
  }
}
export class ForbiddenError extends EmberError {
  constructor(message: string) {
    super(...make('forbidden', message));
  }
}
export class TooManyRequestsError extends EmberError {
  constructor(
    message: string,
    /** Seconds, for the Retry-After header. */
    readonly retryAfter: number,
  ) {
    super(...make('too_many_requests', message));
  }
}

/** A setting that stops the start (exit code 2). */
export class SettingError extends Error {
  constructor(
    readonly setting: string,
    readonly problem: string,
  ) {
    super(`${setting}: ${problem}`);
    this.name = 'SettingError';
  }
}

/** Wrong command-line usage (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}
