import type { Context } from 'koa';
import { is as typeIs } from 'type-is';
import { BadRequestError, UnsupportedMediaTypeError } from '../../errors.js';
import { readBody } from '../read-body.js';

/** The console's forms are a token, a CSRF token and a few ids: far below this. */
const MAX_FORM_BYTES = 8192;

/**
 * A posted HTML form (application/x-www-form-urlencoded), strictly: a field
 * given twice is a 400 (two CSRF tokens must not let one of them win).
 */
export async function readForm(ctx: Context): Promise<Map<string, string>> {
  const type = ctx.get('content-type');
  if (!type || typeIs(type, ['application/x-www-form-urlencoded']) === false) {
    throw new UnsupportedMediaTypeError('the console takes HTML forms (application/x-www-form-urlencoded)');
  }
  const body = await readBody(ctx.req, MAX_FORM_BYTES);
  const fields = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(body.toString('utf8'))) {
    if (fields.has(name)) throw new BadRequestError(`form field ${JSON.stringify(name.slice(0, 40))} is given more than once`);
    fields.set(name, value);
  }
  return fields;
}
