import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseJsonObject } from '../../src/lib/json-object.js';
import { EmberError, EmptyBodyError, MalformedJsonError, NotAnObjectError } from '../../src/errors.js';
import { VENDOR_EXAMPLES, vendorBytes, vendorJson } from '../helpers/fixtures.js';

const bytes = (s: string) => Buffer.from(s, 'utf8');

function assertThrowsCode(input: Uint8Array, cls: new (...args: never[]) => EmberError, code: string, status: number) {
  assert.throws(
    () => parseJsonObject(input),
    (err: unknown) => {
      assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
      assert.equal(err.code, code);
      assert.equal(err.status, status);
      assert.ok(err.message.length > 0);
      return true;
    },
    Buffer.from(input).toString('utf8').slice(0, 40),
  );
}

test('every vendor example parses to the same object as JSON.parse', () => {
  for (const name of VENDOR_EXAMPLES) assert.deepEqual(parseJsonObject(vendorBytes(name)), vendorJson(name), name);
});

test('a plain Uint8Array works as well as a Buffer, and multi-byte UTF-8 survives', () => {
  const text = '{"agent_name":"Lukas Müller","note":"Tom O’Brien 😀"}';
  const u8 = new Uint8Array(Buffer.from(text, 'utf8'));
  assert.deepEqual(parseJsonObject(u8), { agent_name: 'Lukas Müller', note: 'Tom O’Brien 😀' });
});

test('a UTF-8 byte order mark before the object is ignored', () => {
  const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), vendorBytes('red-flag')]);
  assert.deepEqual(parseJsonObject(withBom), vendorJson('red-flag'));
});

test('empty and whitespace-only bodies are empty_body (400)', () => {
  for (const s of ['', ' ', '\n', ' \r\n\t ']) assertThrowsCode(bytes(s), EmptyBodyError, 'empty_body', 400);
  assertThrowsCode(Buffer.from([0xef, 0xbb, 0xbf]), EmptyBodyError, 'empty_body', 400);
  assertThrowsCode(new Uint8Array(0), EmptyBodyError, 'empty_body', 400);
});

test('malformed JSON is malformed_json (400)', () => {
  for (const s of ['{"webhook_id": ', '{"a":1}{"b":2}', '{a:1}', "{'a':1}", '{"a":1,}', 'not json', '{"a":1} x', '\u0000']) {
    assertThrowsCode(bytes(s), MalformedJsonError, 'malformed_json', 400);
  }
});

test('bytes that are not valid UTF-8 are malformed_json (400), not silently replaced', () => {
  assertThrowsCode(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), MalformedJsonError, 'malformed_json', 400);
  // A lone continuation byte inside a string value.
  assertThrowsCode(Buffer.concat([bytes('{"a":"'), Buffer.from([0x80]), bytes('"}')]), MalformedJsonError, 'malformed_json', 400);
  // UTF-16LE (what some Windows tools send).
  assertThrowsCode(Buffer.from('{"a":1}', 'utf16le'), MalformedJsonError, 'malformed_json', 400);
});

test('valid JSON that is not an object is not_an_object (400), naming what it is', () => {
  const cases: Array<[string, RegExp]> = [
    ['[1,2,3]', /array/],
    ['[]', /array/],
    ['"a string"', /string/],
    ['42', /number/],
    ['true', /boolean/],
    ['null', /null/],
  ];
  for (const [s, what] of cases) {
    assertThrowsCode(bytes(s), NotAnObjectError, 'not_an_object', 400);
    assert.throws(() => parseJsonObject(bytes(s)), what);
  }
  // Deep nesting is parsed, then refused for not being an object (no stack overflow).
  assertThrowsCode(bytes('['.repeat(10_000) + ']'.repeat(10_000)), NotAnObjectError, 'not_an_object', 400);
});

test('__proto__ keys are dropped, at any depth, and nothing is polluted', () => {
  const parsed = parseJsonObject(bytes('{"__proto__":{"polluted":true},"a":1,"nested":{"__proto__":{"polluted":true},"b":2}}'));
  assert.equal(parsed['a'], 1);
  assert.equal(Object.hasOwn(parsed, '__proto__'), false);
  assert.equal(Object.getPrototypeOf(parsed), Object.prototype);
  assert.equal((parsed as { polluted?: unknown }).polluted, undefined);
  const nested = parsed['nested'] as Record<string, unknown>;
  assert.equal(nested['b'], 2);
  assert.equal(Object.hasOwn(nested, '__proto__'), false);
  assert.equal((nested as { polluted?: unknown }).polluted, undefined);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

test('constructor.prototype shapes are dropped; an ordinary "constructor" string is kept', () => {
  const parsed = parseJsonObject(bytes('{"constructor":{"prototype":{"x":1}},"a":1}'));
  assert.equal(parsed['a'], 1);
  assert.equal(Object.hasOwn(parsed, 'constructor'), false);
  assert.equal(({} as Record<string, unknown>)['x'], undefined);
  assert.deepEqual(parseJsonObject(bytes('{"constructor":"Jane","a":1}')), { constructor: 'Jane', a: 1 });
});

test('duplicate keys: the last one wins (as JSON.parse does)', () => {
  assert.deepEqual(parseJsonObject(bytes('{"a":1,"a":2}')), { a: 2 });
});
