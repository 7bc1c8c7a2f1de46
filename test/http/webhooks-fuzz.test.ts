/**
 * A bounded fuzz run of the real webhook endpoint: the real service on
 * loopback with a real SQLite file, a few thousand bodies mixing generated
 * valid and invalid payloads, random and broken bytes, deep nesting, huge
 * keys, 10,000 keys, odd Unicode and odd headers. Whatever comes in:
 * - the answer is 2xx or 4xx, never 5xx, never a dropped connection;
 * - a 200 is {received, duplicate, webhook_id} and the event is in `events`
 *   byte for byte (once per webhook_id); a 4xx is {error:{code,message,details?}},
 *   at most 50 details, a small answer;
 * - a 422 is in quarantine byte for byte (the same bytes again: another attempt);
 * - nothing else is stored;
 * - every accepted event projects: catchUp() parks none.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { test } from 'node:test';
import fc from 'fast-check';
import { startTestService, type TestService } from '../helpers/service.js';
import { completion, invalidPayload, lowScore, objectOf, redFlag, validPayload, withWebhookId, workflow, type InvalidCase, type ValidCase } from '../helpers/arbitraries.js';

/** README "The webhook endpoint": every code a client can see, with its status. */
const CODES: Record<string, number> = {
  unauthorized: 401,
  invalid_signature: 401,
  unsupported_media_type: 415,
  empty_body: 400,
  malformed_json: 400,
  not_an_object: 400,
  payload_too_large: 413,
  schema_validation_failed: 422,
  unknown_webhook_type: 422,
  not_found: 404,
  method_not_allowed: 405,
  bad_request: 400,
};
/**
 * An answer stays small whatever came in: 422 details are at most 50 with
 * paths and messages cut, header values echoed in a 415 are cut. (The
 * largest legitimate one is a few KB: a 300-character path of control
 * characters is six times that once escaped; the fuzz run's largest is
 * about 2 KB.)
 */
const MAX_ANSWER_BYTES = 8 * 1024;

interface Answer {
  status: number;
  contentType: string | undefined;
  body: Buffer;
}

/** One POST with node:http (any header, chunked or not); a dropped connection rejects. */
function post(s: TestService, agent: Agent, body: Buffer, headers: Record<string, string | string[]>, chunked: boolean): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(s.webhookUrl, { method: 'POST', agent, headers: chunked ? headers : { ...headers, 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', (err) => reject(new Error(`dropped connection: ${err.message}`)));
    if (chunked) {
      // Transfer-Encoding: chunked, in uneven pieces.
      for (let i = 0; i < body.length; i += 7_919) req.write(body.subarray(i, i + 7_919));
      req.end();
    } else req.end(body);
  });
}

// ---------------------------------------------------------------- what is sent

/** Content types: true = JSON (go on), false = 415. */
const CONTENT_TYPES: Array<[string, boolean]> = [
  ['application/json', true],
  ['application/json; charset=utf-8', true],
  ['application/json;charset=UTF-8', true],
  ['APPLICATION/JSON', true],
  ['Application/Json; Charset="utf-8"', true],
  ['application/json; charset=latin1', true],
  ['application/json; charset=utf-16', true],
  ['application/json ; foo=bar', true],
  // Not a token nor a quoted string: a malformed Content-Type is not application/json.
  ['application/json; charset=\u00fc', false],
  ['application/json; charset', false],
  // A long header is echoed in the 415 message: the answer must stay small anyway.
  // (All headers together stay under Node's 16 KB limit: past it Node answers 431 itself, see the todo test.)
  [`application/${'x'.repeat(5_000)}`, false],
  [`text/plain; q="${'\\'.repeat(2_500)}"`, false],
  ['application/json; charset="\u00fc"', true],
  ['text/plain', false],
  ['text/json', false],
  ['application/x-www-form-urlencoded', false],
  ['multipart/form-data; boundary=x', false],
  ['application/jsonx', false],
  ['application/json-patch+json', false],
  ['json', false],
  ['', false],
];
const ENCODINGS: Array<[string | undefined, boolean]> = [
  [undefined, true],
  ['identity', true],
  ['IDENTITY', true],
  ['', true],
  ['gzip', false],
  ['br', false],
  ['deflate', false],
  ['identity, gzip', false],
  ['x-unknown', false],
  ['gzip,' + 'br'.repeat(2_500), false],
];

/** How to send an otherwise ordinary body. */
interface Envelope {
  contentType: number;
  encoding: number;
  chunked: boolean;
  bom: boolean;
  noise: Array<[string, string]>;
}
const plainEnvelope: Envelope = { contentType: 0, encoding: 0, chunked: false, bom: false, noise: [] };
const envelope: fc.Arbitrary<Envelope> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(plainEnvelope) },
  {
    weight: 1,
    arbitrary: fc.record({
      contentType: fc.nat({ max: CONTENT_TYPES.length - 1 }),
      encoding: fc.nat({ max: ENCODINGS.length - 1 }),
      chunked: fc.boolean(),
      bom: fc.boolean(),
      noise: fc.array(
        fc.tuple(
          fc.constantFrom('x-fuzz', 'accept', 'accept-charset', 'webhook-id', 'webhook-timestamp', 'webhook-signature', 'authorization', 'x-forwarded-for', 'content-language', 'content-type'),
          fc.constantFrom('', ' ', '*/*', 'Bearer x', 'utf-16', 'application/json', '\u00ff\u00fe', 'a'.repeat(2_000), 'v1,abc', '1700000000'),
        ),
        { maxLength: 3 },
      ),
    }),
  },
);

/** Where a deep nesting, a huge key or 10,000 keys go. */
const DEEP_AT = ['body', 'extra', 'data-extra', 'output-extra', 'score-value', 'alert_type', 'webhook_id'] as const;
const HUGE_AT = ['score_details', 'top', 'output_schema', 'data'] as const;
const MANY_AT = ['score_details', 'top', 'output_schema'] as const;
const BAD_UTF8 = [[0xed, 0xa0, 0x80], [0xc0, 0x80], [0xff], [0xf5, 0x80, 0x80, 0x80], [0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x94]] as const;

type Spec =
  | { kind: 'valid'; c: ValidCase; env: Envelope }
  | { kind: 'invalid'; c: InvalidCase; env: Envelope }
  | { kind: 'dup'; pick: number; change: boolean }
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'truncated'; c: ValidCase; cut: number }
  | { kind: 'nonobject'; json: string }
  | { kind: 'deep'; at: (typeof DEEP_AT)[number]; depth: number; open: '[' | '{'; c: ValidCase }
  | { kind: 'hugeKey'; at: (typeof HUGE_AT)[number]; length: number; c: ValidCase }
  | { kind: 'manyKeys'; at: (typeof MANY_AT)[number]; n: number; c: ValidCase }
  | { kind: 'badUtf8'; c: ValidCase; seq: number; where: number }
  | { kind: 'tooLarge'; chunked: boolean };

const specArb: fc.Arbitrary<Spec> = fc.oneof(
  { weight: 30, arbitrary: fc.record({ kind: fc.constant('valid' as const), c: validPayload, env: envelope }) },
  { weight: 14, arbitrary: fc.record({ kind: fc.constant('invalid' as const), c: invalidPayload, env: envelope }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('dup' as const), pick: fc.nat(), change: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ maxLength: 300 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncated' as const), c: validPayload, cut: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('nonobject' as const), json: fc.oneof(fc.constantFrom('[]', '[{}]', '"x"', '1', '-0', 'null', 'true', ' \r\n\t[1] ', '"\\ud800"'), fc.json({ maxDepth: 2 }).filter((j) => !j.trimStart().startsWith('{'))) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deep' as const), at: fc.constantFrom(...DEEP_AT), depth: fc.integer({ min: 10_000, max: 60_000 }), open: fc.constantFrom('[' as const, '{' as const), c: validPayload }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hugeKey' as const), at: fc.constantFrom(...HUGE_AT), length: fc.integer({ min: 100_000, max: 120_000 }), c: validPayload }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('badUtf8' as const), c: validPayload, seq: fc.nat({ max: BAD_UTF8.length - 1 }), where: fc.nat() }) },
);

/** What the test knows about one body it sends. */
interface Sent {
  label: string;
  body: Buffer;
  headers: Record<string, string | string[]>;
  chunked: boolean;
  /** The answer it must get, when the test can tell. */
  expect?: { status: number; code?: string; webhookId?: string; duplicate?: boolean };
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A webhook_id no other body of this run has (the generated one, cut, behind a counter). */
const uniqueId = (n: number, c: ValidCase) => `fz${n}:${String(c.payload['webhook_id']).slice(0, 900)}`;

function holderOfDetails(c: ValidCase, p: Record<string, unknown>): Record<string, unknown> {
  return c.type === 'red_flag' || c.type === 'low_score' ? p : (p['data'] as Record<string, unknown>);
}

/** Puts raw JSON text where a marker string value is. */
function splice(payload: Record<string, unknown>, marker: string, raw: string): Buffer {
  const text = JSON.stringify(payload);
  const at = text.indexOf(JSON.stringify(marker));
  assert.ok(at >= 0);
  return Buffer.from(text.slice(0, at) + raw + text.slice(at + JSON.stringify(marker).length), 'utf8');
}
const nest = (open: '[' | '{', depth: number, inner = '1') => (open === '[' ? '['.repeat(depth) + inner + ']'.repeat(depth) : '{"a":'.repeat(depth) + inner + '}'.repeat(depth));

function materialize(spec: Spec, n: number, accepted: ReadonlyArray<{ id: string; body: Buffer }>): Sent | undefined {
  const std = { 'content-type': 'application/json' };
  switch (spec.kind) {
    case 'valid':
    case 'invalid': {
      const payload = spec.kind === 'valid' ? withWebhookId(spec.c.payload, uniqueId(n, spec.c)) : spec.c.payload;
      const [ct, ctOk] = CONTENT_TYPES[spec.env.contentType]!;
      const [ce, ceOk] = ENCODINGS[spec.env.encoding]!;
      const headers: Record<string, string | string[]> = { 'content-type': ct };
      if (ce !== undefined) headers['content-encoding'] = ce;
      for (const [k, v] of spec.env.noise) {
        // A second Content-Type header: Node keeps the first.
        if (k === 'content-type') headers[k] = [ct, v];
        else headers[k] = v;
      }
      const body = Buffer.concat([spec.env.bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), json(payload)]);
      const expect =
        !ctOk || !ceOk
          ? { status: 415, code: 'unsupported_media_type' }
          : spec.kind === 'valid'
            ? { status: 200, webhookId: payload['webhook_id'] as string, duplicate: false }
            : { status: 422, code: spec.c.code };
      return { label: `${spec.kind} ${spec.kind === 'invalid' ? spec.c.why : spec.c.type}`, body, headers, chunked: spec.env.chunked, expect };
    }
    case 'dup': {
      if (accepted.length === 0) return undefined;
      const first = accepted[spec.pick % accepted.length]!;
      // The same bytes again, or a changed body with the same webhook_id (a retry that changed): the first copy stays.
      const body = spec.change ? Buffer.concat([first.body.subarray(0, first.body.lastIndexOf('}')), Buffer.from(`,"fuzz_changed":${n}}`)]) : first.body;
      return { label: 'duplicate', body, headers: std, chunked: false, expect: { status: 200, webhookId: first.id, duplicate: true } };
    }
    case 'bytes':
      return { label: 'random bytes', body: Buffer.from(spec.bytes), headers: std, chunked: false };
    case 'truncated': {
      const whole = json(withWebhookId(spec.c.payload, uniqueId(n, spec.c)));
      const cut = spec.cut % whole.length;
      // Any strict prefix of a JSON object is not JSON (or is empty): 400, nothing stored.
      return { label: `truncated at ${cut}`, body: whole.subarray(0, cut), headers: std, chunked: false, expect: { status: 400 } };
    }
    case 'nonobject':
      return { label: `non-object ${spec.json.slice(0, 40)}`, body: Buffer.from(spec.json), headers: std, chunked: false, expect: { status: 400, code: 'not_an_object' } };
    case 'deep': {
      const marker = `@@deep${n}@@`;
      const deep = nest(spec.open, spec.depth);
      const label = `deep ${spec.open} x${spec.depth} at ${spec.at} of a ${spec.c.type}`;
      if (spec.at === 'body') {
        return spec.open === '['
          ? { label, body: Buffer.from(deep), headers: std, chunked: false, expect: { status: 400, code: 'not_an_object' } }
          : { label, body: Buffer.from(deep), headers: std, chunked: false, expect: { status: 422, code: 'unknown_webhook_type' } };
      }
      const p = structuredClone(withWebhookId(spec.c.payload, uniqueId(n, spec.c)));
      const id = p['webhook_id'] as string;
      const data = isObj(p['data']) ? p['data'] : undefined;
      switch (spec.at) {
        case 'extra':
          p['fuzz_deep'] = marker;
          return { label, body: splice(p, marker, deep), headers: std, chunked: false, expect: { status: 200, webhookId: id, duplicate: false } };
        case 'data-extra': {
          const target = data ?? p;
          target['fuzz_deep'] = marker;
          return { label, body: splice(p, marker, deep), headers: std, chunked: false, expect: { status: 200, webhookId: id, duplicate: false } };
        }
        case 'output-extra': {
          const os = data && isObj(data['output_schema']) ? data['output_schema'] : undefined;
          if (os) os['deep_field'] = { value: 'v', reasoning: null, fuzz_deep: marker };
          else p['fuzz_deep'] = marker;
          return { label, body: splice(p, marker, deep), headers: std, chunked: false, expect: { status: 200, webhookId: id, duplicate: false } };
        }
        case 'score-value': {
          const h = holderOfDetails(spec.c, p);
          h['score_details'] = objectOf([...Object.entries(isObj(h['score_details']) ? h['score_details'] : {}), ['deep_score', marker]]);
          return { label, body: splice(p, marker, deep), headers: std, chunked: false, expect: { status: 422, code: 'schema_validation_failed' } };
        }
        case 'alert_type':
          delete p['trigger_reason'];
          p['alert_type'] = marker;
          return { label, body: splice(p, marker, deep), headers: std, chunked: false, expect: { status: 422, code: 'unknown_webhook_type' } };
        case 'webhook_id':
          p['webhook_id'] = marker;
          return { label, body: splice(p, marker, deep), headers: std, chunked: false, expect: { status: 422, code: 'schema_validation_failed' } };
      }
      break;
    }
    case 'hugeKey': {
      const p = structuredClone(withWebhookId(spec.c.payload, uniqueId(n, spec.c)));
      const id = p['webhook_id'] as string;
      // Hostile at both ends, ASCII in between (three copies of it must fit in MAX_BODY_BYTES).
      const key = `${n}\u202E=\uD800"\r\n`.padEnd(spec.length - 8, 'k') + '\u0000é\uFFFF🔥\uDBFF';
      const label = `key of ${spec.length} characters at ${spec.at} of a ${spec.c.type}`;
      const expect = { status: 200, webhookId: id, duplicate: false };
      switch (spec.at) {
        case 'score_details': {
          const h = holderOfDetails(spec.c, p);
          h['score_details'] = objectOf([...Object.entries(isObj(h['score_details']) ? h['score_details'] : {}), [`${key}_score`, 10], [`${key}_justification`, key], [key, key]]);
          return { label, body: json(p), headers: std, chunked: false, expect };
        }
        case 'top':
          p[key] = key;
          return { label, body: json(p), headers: std, chunked: false, expect };
        case 'output_schema':
        case 'data': {
          const data = isObj(p['data']) ? p['data'] : undefined;
          if (spec.at === 'output_schema' && data && isObj(data['output_schema'])) data['output_schema'][key] = { value: key, reasoning: key, [key]: key };
          else (data ?? p)[key] = { [key]: key };
          return { label, body: json(p), headers: std, chunked: false, expect };
        }
      }
      break;
    }
    case 'manyKeys': {
      const p = structuredClone(withWebhookId(spec.c.payload, uniqueId(n, spec.c)));
      const id = p['webhook_id'] as string;
      const label = `${spec.n} keys at ${spec.at} of a ${spec.c.type}`;
      const keys = Array.from({ length: spec.n }, (_, i) => `m${n}_${i}`);
      switch (spec.at) {
        case 'score_details': {
          const h = holderOfDetails(spec.c, p);
          h['score_details'] = objectOf(keys.map((k, i) => [i % 3 === 0 ? `${k}_score` : i % 3 === 1 ? `${k}_justification` : k, i % 3 === 0 ? (i % 11) * 0.9 : `j${i}`]));
          break;
        }
        case 'top':
          for (const k of keys) p[k] = k;
          break;
        case 'output_schema': {
          const data = isObj(p['data']) ? p['data'] : undefined;
          if (data && isObj(data['output_schema'])) data['output_schema'] = objectOf(keys.map((k, i) => [k, { value: i % 5 ? k : null, reasoning: null }]));
          else for (const k of keys) p[k] = k;
          break;
        }
      }
      return { label, body: json(p), headers: std, chunked: false, expect: { status: 200, webhookId: id, duplicate: false } };
    }
    case 'badUtf8': {
      // Invalid UTF-8 inside a string value of an otherwise valid body.
      const p = withWebhookId(spec.c.payload, uniqueId(n, spec.c));
      const text = JSON.stringify({ ...p, fuzz_bytes: 'ab' });
      const at = text.lastIndexOf('"ab"') + 2;
      const head = Buffer.from(text.slice(0, at), 'utf8');
      const body = Buffer.concat([head, Buffer.from(BAD_UTF8[spec.seq]!), Buffer.from(text.slice(at), 'utf8')]);
      return { label: `bad UTF-8 ${Buffer.from(BAD_UTF8[spec.seq]!).toString('hex')}`, body, headers: std, chunked: false, expect: { status: 400, code: 'malformed_json' } };
    }
    case 'tooLarge': {
      const big = Buffer.from(JSON.stringify({ webhook_id: `big${n}`, filler: 'x'.repeat(1_100_000) }));
      return { label: `larger than MAX_BODY_BYTES${spec.chunked ? ', chunked' : ''}`, body: big, headers: std, chunked: spec.chunked, expect: { status: 413, code: 'payload_too_large' } };
    }
  }
  return undefined;
}

/** A short, readable form of a spec (generated payloads can be 100s of KB). */
function describeSpec(spec: Spec): string {
  const cut = (v: unknown, n = 400) => {
    const t = JSON.stringify(v) ?? String(v);
    return t.length > n ? `${t.slice(0, n)}… (${t.length} chars)` : t;
  };
  switch (spec.kind) {
    case 'valid':
      return `valid ${spec.c.type} ${cut(spec.c.payload)} env ${cut(spec.env)}`;
    case 'invalid':
      return `invalid (${spec.c.why}) ${cut(spec.c.payload)} env ${cut(spec.env)}`;
    case 'bytes':
      return `bytes ${Buffer.from(spec.bytes).toString('hex').slice(0, 200)}`;
    case 'deep':
    case 'hugeKey':
    case 'manyKeys':
    case 'truncated':
    case 'badUtf8':
      return `${spec.kind} ${cut({ ...spec, c: undefined })} of ${spec.c.type} ${cut(spec.c.payload, 200)}`;
    default:
      return cut(spec);
  }
}

// ---------------------------------------------------------------- what must hold

/** What the service must hold after the answers so far. */
class Model {
  /** webhook_id → the bytes of the one body that was not a duplicate. */
  readonly events = new Map<string, Buffer>();
  readonly acceptedList: Array<{ id: string; body: Buffer }> = [];
  /** sha256 of a 422 body → its bytes and how many 422s it got. */
  readonly quarantine = new Map<string, { body: Buffer; attempts: number }>();
  /** How many answers of each status and code (the run must reach them all). */
  readonly statuses = new Map<string, number>();
  /** The largest error answer seen, in bytes. */
  largestError = 0;
}

function errorCode(a: Answer): string | undefined {
  try {
    return (JSON.parse(a.body.toString('utf8')) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/**
 * What an answer says was stored, recorded for every answer before any check
 * can fail (a failed run must not leave the model behind the database, or
 * every shrinking attempt after it would fail for that reason alone).
 */
function record(sent: Sent, a: Answer, model: Model, label: string): string | undefined {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (a.status === 200 && typeof body['webhook_id'] === 'string') {
    const id = body['webhook_id'];
    if (body['duplicate'] === false) {
      const again = model.events.has(id);
      model.events.set(id, sent.body);
      model.acceptedList.push({ id, body: sent.body });
      if (again) return `${label}: ${JSON.stringify(id).slice(0, 80)} accepted twice as new`;
    } else if (!model.events.has(id)) return `${label}: a duplicate of an id never accepted`;
  }
  if (a.status === 422) {
    const sha = createHash('sha256').update(sent.body).digest('hex');
    const q = model.quarantine.get(sha);
    model.quarantine.set(sha, { body: sent.body, attempts: (q?.attempts ?? 0) + 1 });
  }
  return undefined;
}

function checkAnswer(sent: Sent, a: Answer, label: string): void {
  assert.ok((a.status >= 200 && a.status < 300) || (a.status >= 400 && a.status < 500), `${label}: status ${a.status} ${a.body.toString('utf8').slice(0, 300)}`);
  assert.ok(a.body.length < MAX_ANSWER_BYTES, `${label}: an answer of ${a.body.length} bytes`);
  assert.match(a.contentType ?? '', /^application\/json/, `${label}: content-type ${a.contentType}`);
  const body = JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;
  if (a.status === 200) {
    assert.deepEqual(Object.keys(body).sort(), ['duplicate', 'received', 'webhook_id'], label);
    assert.equal(body['received'], true, label);
    assert.equal(typeof body['duplicate'], 'boolean', label);
    assert.equal(typeof body['webhook_id'], 'string', label);
  } else {
    assert.notEqual(a.status, 200);
    assert.ok(a.status >= 400, `${label}: ${a.status}`);
    assert.deepEqual(Object.keys(body), ['error'], label);
    const e = body['error'] as Record<string, unknown>;
    assert.ok(Object.keys(e).every((k) => ['code', 'message', 'details'].includes(k)), `${label}: error keys ${Object.keys(e)}`);
    assert.equal(typeof e['code'], 'string', label);
    assert.equal(CODES[e['code'] as string], a.status, `${label}: code ${String(e['code'])} with status ${a.status}`);
    assert.ok(typeof e['message'] === 'string' && e['message'].length > 0, label);
    if (e['details'] !== undefined) {
      const d = e['details'] as unknown[];
      assert.ok(Array.isArray(d) && d.length <= 50, `${label}: ${Array.isArray(d) ? d.length : typeof d} details`);
      for (const x of d) {
        assert.ok(isObj(x) && typeof x['path'] === 'string' && typeof x['message'] === 'string', `${label}: detail ${JSON.stringify(x)}`);
        assert.ok(Object.keys(x).every((k) => ['path', 'message', 'keyword'].includes(k)), label);
      }
    }
  }
  if (sent.expect) {
    const got = `${a.status} ${a.body.toString('utf8').slice(0, 400)}`;
    assert.equal(a.status, sent.expect.status, `${label}: expected ${sent.expect.status}, got ${got}`);
    if (sent.expect.code) assert.equal((body['error'] as Record<string, unknown>)['code'], sent.expect.code, `${label}: ${got}`);
    if (sent.expect.webhookId !== undefined) assert.equal(body['webhook_id'], sent.expect.webhookId, label);
    if (sent.expect.duplicate !== undefined) assert.equal(body['duplicate'], sent.expect.duplicate, label);
  }
}

/** The database holds exactly what the model says: events and quarantine, byte for byte, nothing else. */
function checkStore(s: TestService, model: Model): void {
  const db = s.store.db;
  assert.equal(db.prepare('SELECT count(*) FROM events').pluck().get(), model.events.size, 'events: one per accepted webhook_id, nothing else');
  assert.equal(db.prepare('SELECT count(*) FROM quarantine').pluck().get(), model.quarantine.size, 'quarantine: one per distinct 422 body, nothing else');
  const eventBody = db.prepare<[string], Buffer>('SELECT body FROM events WHERE webhook_id = ?').pluck();
  for (const [id, body] of model.events) {
    const got = eventBody.get(id);
    assert.ok(got && Buffer.compare(got, body) === 0, `event ${JSON.stringify(id).slice(0, 80)} is stored verbatim`);
  }
  const held = db.prepare<[string], { body: Buffer; attempts: number }>('SELECT body, attempts FROM quarantine WHERE body_sha256 = ?');
  for (const [sha, q] of model.quarantine) {
    const row = held.get(sha);
    assert.ok(row && Buffer.compare(row.body, q.body) === 0, `quarantined body ${sha} is stored verbatim`);
    assert.equal(row.attempts, q.attempts, `quarantined body ${sha}: one attempt per 422`);
  }
}

/**
 * Projects what is pending; nothing (new) may be parked. Within the property
 * only new parked events count, so that shrinking looks for the smallest batch
 * that parks one, given what earlier batches left behind.
 */
async function checkProjection(s: TestService, label: string, parkedBefore = 0): Promise<void> {
  await s.store.projection.catchUp();
  const parked = (await s.store.projection.parked(-1)).slice(parkedBefore, parkedBefore + 5);
  assert.equal(await s.store.projection.parkedCount(), parkedBefore, `${label}: accepted events were parked: ${JSON.stringify(parked.map((p) => ({ webhook_id: p.webhook_id.slice(0, 60), type: p.type, error: p.error.slice(0, 300) })))}`);
  assert.equal(await s.store.projection.lag(), 0, label);
}

async function sendAll(s: TestService, agent: Agent, model: Model, specs: readonly Spec[], counter: { n: number }, label: string): Promise<void> {
  // Materialized against what was accepted before this batch: a duplicate is of an earlier answer.
  const sent = specs.map((spec) => materialize(spec, counter.n++, model.acceptedList)).filter((x): x is Sent => x !== undefined);
  const answers = await Promise.all(sent.map((x) => post(s, agent, x.body, x.headers, x.chunked).then((a) => ({ ok: true as const, a }), (err: Error) => ({ ok: false as const, err }))));
  const problems: string[] = [];
  for (const [i, r] of answers.entries()) {
    if (r.ok) {
      const p = record(sent[i]!, r.a, model, `${label} #${i} (${sent[i]!.label})`);
      if (p) problems.push(p);
    }
  }
  for (const [i, r] of answers.entries()) {
    const l = `${label} #${i} (${sent[i]!.label})`;
    if (!r.ok) assert.fail(`${l}: ${r.err.message}`);
    checkAnswer(sent[i]!, r.a, l);
    if (r.a.status >= 400) model.largestError = Math.max(model.largestError, r.a.body.length);
    const kind = `${r.a.status} ${errorCode(r.a) ?? ''}`.trim();
    model.statuses.set(kind, (model.statuses.get(kind) ?? 0) + 1);
  }
  assert.deepEqual(problems, []);
  checkStore(s, model);
}

test('fuzz: the webhook endpoint answers 2xx/4xx, stores exactly what it accepted or quarantined, and every accepted event projects', { timeout: 180_000 }, async (t) => {
  const s = await startTestService(t, { LOG_LEVEL: 'silent' });
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  t.after(() => agent.destroy());
  const model = new Model();
  const counter = { n: 0 };
  const one = (arb: fc.Arbitrary<ValidCase>, seed: number) => fc.sample(arb, { numRuns: 1, seed })[0]!;

  // The big ones, each at least once (sent after the generated mix): deep nesting everywhere, 100 KB keys, 10,000 keys, bodies past the limit.
  const special: Spec[] = [
    ...DEEP_AT.flatMap((at, i) => (['[', '{'] as const).map((open, j) => ({ kind: 'deep' as const, at, depth: 10_000 + 7_000 * i + j, open, c: one(validPayload, i * 2 + j) }))),
    ...HUGE_AT.flatMap((at, i) => [redFlag, workflow].map((arb, j) => ({ kind: 'hugeKey' as const, at, length: 100_000, c: one(arb, 20 + i * 2 + j) }))),
    ...[redFlag, lowScore, completion, workflow].map((arb, i) => ({ kind: 'manyKeys' as const, at: 'score_details' as const, n: 10_000, c: one(arb, 30 + i) })),
    { kind: 'manyKeys', at: 'top', n: 10_000, c: one(lowScore, 40) },
    { kind: 'manyKeys', at: 'output_schema', n: 10_000, c: one(workflow, 41) },
    { kind: 'tooLarge', chunked: false },
    { kind: 'tooLarge', chunked: true },
  ];

  // The generated mix, in concurrent batches; the projector runs in between, as in production.
  const run = await fc.check(
    fc.asyncProperty(fc.array(specArb, { minLength: 1, maxLength: 50, size: 'max' }), async (specs) => {
      const parkedBefore = await s.store.projection.parkedCount();
      await sendAll(s, agent, model, specs, counter, 'batch');
      await checkProjection(s, 'batch', parkedBefore);
    }),
    // Shrinking replays batches against the live service: bounded, so a failure is reported rather than hunted for minutes.
    { numRuns: Number(process.env['FUZZ_RUNS'] ?? 130), seed: Number(process.env['FUZZ_SEED'] ?? 20_251_126), interruptAfterTimeLimit: 60_000 },
  );
  if (run.failed) {
    const example = (run.counterexample?.[0] ?? []).map(describeSpec).join('\n  ');
    assert.fail(`seed ${run.seed}, path ${run.counterexamplePath}, shrunk ${run.numShrinks} times:\n  ${example}\n${(run.errorInstance as Error | undefined)?.message ?? ''}`);
  }
  // Last, as they fill every wide view to its column cap (10,000 keys): after them no key gets a column.
  await sendAll(s, agent, model, special, counter, 'special');
  await checkProjection(s, 'special');
  assert.ok(counter.n >= 1_500, `only ${counter.n} bodies sent`);

  // The run reached every kind of answer.
  for (const want of ['200', '400 malformed_json', '400 not_an_object', '400 empty_body', '413 payload_too_large', '415 unsupported_media_type', '422 schema_validation_failed', '422 unknown_webhook_type']) {
    assert.ok((model.statuses.get(want) ?? 0) > 0, `no answer ${want}: ${JSON.stringify([...model.statuses])}`);
  }
  // Afterwards every accepted event has its row in its view.
  await checkProjection(s, 'end');
  const db = s.store.db;
  const byType = Object.fromEntries((db.prepare('SELECT type, count(*) AS n FROM events GROUP BY type').all() as Array<{ type: string; n: number }>).map((r) => [r.type, r.n]));
  for (const [type, view] of [['red_flag', 'red_flags'], ['low_score', 'low_scores'], ['completion', 'completions'], ['workflow', 'workflows']] as const) {
    assert.equal(db.prepare(`SELECT count(*) FROM ${view}`).pluck().get(), byType[type] ?? 0, `${view}: one row per accepted ${type}`);
  }
  t.diagnostic(`${counter.n} bodies; ${model.events.size} events, ${model.quarantine.size} quarantined; answers ${JSON.stringify(Object.fromEntries(model.statuses))}; largest error answer ${model.largestError} bytes`);
});

// Found by the fuzz run above: a 415 echoed the whole Content-Type (or Content-Encoding) header, so a
// `text/plain; q="\\\\…"` of 2,500 backslashes came back as a 10 KB answer (each one escaped twice).
test('regression: a 415 echoes a long Content-Type or Content-Encoding cut short', async (t) => {
  const s = await startTestService(t, { LOG_LEVEL: 'silent' });
  const agent = new Agent({ keepAlive: false });
  t.after(() => agent.destroy());
  const body = Buffer.from('{}');
  const cases: Array<Record<string, string>> = [
    { 'content-type': `text/plain; q="${'\\'.repeat(2_500)}"` },
    { 'content-type': `application/${'x'.repeat(12_000)}` },
    { 'content-type': 'application/json', 'content-encoding': `gzip,${'\u00ff'.repeat(6_000)}` },
  ];
  for (const headers of cases) {
    const a = await post(s, agent, body, headers, false);
    assert.equal(a.status, 415);
    assert.ok(a.body.length < 600, `${a.body.length} bytes: ${a.body.toString('utf8').slice(0, 200)}`);
    const e = (JSON.parse(a.body.toString('utf8')) as { error: { code: string; message: string } }).error;
    assert.equal(e.code, 'unsupported_media_type');
    assert.match(e.message, /^Content-(Type must be application\/json \(got "(text\/plain; q=\\"\\\\|application\/x)|Encoding "gzip,)/);
    assert.match(e.message, /…/);
  }
  // Short values are echoed whole, as before.
  const a = await post(s, agent, body, { 'content-type': 'text/csv' }, false);
  assert.equal((JSON.parse(a.body.toString('utf8')) as { error: { message: string } }).error.message, 'Content-Type must be application/json (got "text/csv")');
});

// Found by the fuzz run (headers past Node's 16 KB limit): Node's HTTP parser answers 431 itself, with
// `Connection: close` and an empty body, before Koa and the error middleware see the request. Fixed with a
// clientError handler (src/http/client-error.ts) that writes the JSON error shape.
test('regression: headers past the 16 KB limit get a JSON error answer too', async (t) => {
  const s = await startTestService(t, { LOG_LEVEL: 'silent' });
  const agent = new Agent({ keepAlive: false });
  t.after(() => agent.destroy());
  const a = await post(s, agent, Buffer.from('{}'), { 'content-type': 'application/json', 'x-fuzz': 'a'.repeat(20_000) }, false);
  assert.ok(a.status >= 400 && a.status < 500, String(a.status));
  assert.match(a.contentType ?? '', /^application\/json/, `content-type ${a.contentType}, body ${JSON.stringify(a.body.toString('utf8'))}`);
  const e = (JSON.parse(a.body.toString('utf8')) as { error: { code: string; message: string } }).error;
  assert.equal(e.code, 'headers_too_large');
  assert.equal(a.status, 431);
});

// Found by the fuzz run above (seed 20251126, shrunk to one call completion whose data.score_details is
// {"\ud800\r": 0}, after an earlier batch had the same key): SQLite stores a lone surrogate as invalid
// UTF-8 and reads it back as U+FFFD x3, so the next projection batch no longer knew the key, planned its
// column again and was refused ("SQLITE_CONSTRAINT_UNIQUE: view_columns.view, view_columns.kind,
// view_columns.key"): every later event with that key was parked. Fixed in src/flatten (well-formed keys and text).
test('regression: keys with lone surrogates project in every batch; nothing is parked', async (t) => {
  const s = await startTestService(t, { LOG_LEVEL: 'silent' });
  const base = (id: string, details: Record<string, unknown>, outputs: Record<string, unknown>) => [
    { webhook_id: `${id}-r`, content_id: 'c', alert_type: 'red_flag', content_type: 'Call', file_name: 'f', red_flag_reason: 'r', timestamp: '2025-01-16T15:30:45.123Z', score_details: details },
    { webhook_id: `${id}-w`, trigger_reason: 'completed_action', content_id: 'c', data: { output_schema: outputs } },
  ];
  const rounds: Array<[Record<string, unknown>, Record<string, unknown>]> = [
    [{ '\uD800_score': 1, 'a\uDC00': 'x' }, { '\uD83D': { value: 'v', reasoning: null } }],
    // The same keys again, in a later projection batch.
    [{ '\uD800_score': 2, 'a\uDC00': 'y' }, { '\uD83D': { value: 'w', reasoning: 'r' } }],
    // Other lone surrogates that UTF-8 turns into the same U+FFFD.
    [{ '\uDBFF_score': 3, '\uFFFD_score': 4, 'a\uD800': 5 }, { '\uDE00': { value: null, reasoning: null } }],
  ];
  for (const [i, [details, outputs]] of rounds.entries()) {
    for (const p of base(`ls${i}`, details, outputs)) {
      const res = await s.post(JSON.stringify(p));
      assert.equal(res.status, 200, await res.text());
    }
    await s.store.projection.catchUp();
    assert.equal(await s.store.projection.parkedCount(), 0, JSON.stringify(await s.store.projection.parked()));
  }
  const names = await s.store.projection.columns();
  assert.deepEqual(names.red_flags.map((c) => c.name), ['\uFFFD_score', 'a\uFFFD']);
  assert.deepEqual(names.workflows.map((c) => c.name), ['\uFFFD', '\uFFFD_reasoning']);
  const db = s.store.db;
  assert.deepEqual(db.prepare('SELECT metric, score, justification FROM scores ORDER BY webhook_id, metric').all(), [
    { metric: 'a\uFFFD', score: null, justification: 'x' },
    { metric: '\uFFFD', score: 1, justification: null },
    { metric: 'a\uFFFD', score: null, justification: 'y' },
    { metric: '\uFFFD', score: 2, justification: null },
    // '\uDBFF_score' and '\uFFFD_score' are one key once well-formed: the last value wins, as for duplicate JSON keys.
    { metric: 'a\uFFFD', score: 5, justification: null },
    { metric: '\uFFFD', score: 4, justification: null },
  ]);
});

// Edge bodies the generated mix reaches only by chance, each on its own: deeper nesting, a BOM before the JSON,
// a BOM alone, two BOMs, a JSON string of a lone surrogate.
test('edge bodies, one by one: same properties', async (t) => {
  const s = await startTestService(t, { LOG_LEVEL: 'silent' });
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  t.after(() => agent.destroy());
  const model = new Model();
  const v = fc.sample(validPayload, { numRuns: 1, seed: 7 })[0]!;
  const cases: Spec[] = [
    { kind: 'deep', at: 'alert_type', depth: 100_000, open: '[', c: v },
    { kind: 'deep', at: 'body', depth: 150_000, open: '{', c: v },
    { kind: 'valid', c: v, env: { contentType: 0, encoding: 0, chunked: false, bom: true, noise: [] } },
    { kind: 'nonobject', json: '"\\ud800"' },
    { kind: 'bytes', bytes: new Uint8Array([0xef, 0xbb, 0xbf]) },
    { kind: 'bytes', bytes: new Uint8Array([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]) },
  ];
  await sendAll(s, agent, model, cases, { n: 0 }, 'edge');
  await checkProjection(s, 'edge');
  assert.equal(model.events.size, 1, 'the BOM-prefixed valid body is accepted');
});
