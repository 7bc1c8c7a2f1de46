import sjson from 'secure-json-parse';
import { EmptyBodyError, MalformedJsonError, NotAnObjectError } from '../errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The exact bytes in, a plain JSON object out. `__proto__` keys and
 * `constructor.prototype` shapes are dropped (the raw body keeps them verbatim).
 */
export function parseJsonObject(bytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new MalformedJsonError('the bytes are not valid UTF-8');
  }
  if (text.trim() === '' || text === '\uFEFF') throw new EmptyBodyError();
  let value: unknown;
  try {
    value = sjson.parse(text, null, { protoAction: 'remove', constructorAction: 'remove' });
  } catch (err) {
    throw new MalformedJsonError((err as Error).message);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new NotAnObjectError(value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`);
  }
  return value as Record<string, unknown>;
}

/**
 * parseJsonObject, with a shortcut for the text secure-json-parse would hand
 * back as JSON.parse gives it: no BOM, no `__proto__` or `constructor` key and
 * no `\u` escape that could spell one (its two checks match neither). Anything
 * else, errors included, goes through parseJsonObject itself. The projections
 * parse every logged body (a rebuild, millions): the checks cost less than
 * secure-json-parse's regular expressions.
 */
export function parseLoggedObject(body: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return parseJsonObject(body);
  }
  if (text.charCodeAt(0) !== 0xfeff && !text.includes('\\u') && !text.includes('__proto__') && !text.includes('constructor')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return parseJsonObject(body);
    }
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  }
  return parseJsonObject(body);
}
