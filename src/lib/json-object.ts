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
