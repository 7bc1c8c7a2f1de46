import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { runCli } from '../helpers/cli.js';
import { ROOT_DIR, vendorBytes, vendorJson } from '../helpers/fixtures.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { tempDir } from '../helpers/temp-dir.js';
import { createValidator } from '../../src/ingest/validate.js';
import { replayQuarantine } from '../../src/jobs/replay.js';
import type { QuarantinedRow } from '../../src/store/store.js';

/**
 * `ember-sync replay`: quarantined payloads are re-checked against the current
 * schemas; those that now pass become normal events with their original
 * received_at and bytes.
 */

type Json = Record<string, unknown>;
type QuarantineRow = QuarantinedRow & { released_seq: number | null; resolved_at: string | null };
interface EventRow {
  seq: number;
  webhook_id: string;
  type: string;
  received_at: string;
  outcome: string;
  body: Buffer;
}

/** A copy of schemas/ that a test may change. */
function copySchemas(t: TestContext): string {
  const dir = join(tempDir(t, 'ember-sync-schemas-'), 'schemas');
  cpSync(join(ROOT_DIR, 'schemas'), dir, { recursive: true });
  return dir;
}

/** The schema change of the story: a `*_score` may be null (a metric that was not scored). */
function allowNullScores(schemasDir: string): void {
  const file = join(schemasDir, 'definitions.json');
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { definitions: { scoreDetails: { patternProperties: Record<string, { type: unknown }> } } };
  const score = doc.definitions.scoreDetails.patternProperties['_score$'];
  assert.ok(score, 'definitions.json has the _score$ pattern');
  score.type = ['number', 'null'];
  writeFileSync(file, JSON.stringify(doc, null, 2));
}

/** A red flag (vendor example) whose score_details carry `empathy_score`; pretty-printed so "verbatim" is visible. */
function redFlagWith(webhookId: string, empathyScore: unknown): Buffer {
  const base = vendorJson('red-flag');
  const payload = {
    ...base,
    webhook_id: webhookId,
    score_details: { ...(base['score_details'] as Json), empathy_score: empathyScore, empathy_justification: 'Not assessed on this call' },
  };
  return Buffer.from(JSON.stringify(payload, null, 2) + '\n');
}

async function postExpect(s: TestService, body: Buffer, status: number): Promise<Json> {
  const res = await s.post(body);
  const json = (await res.json()) as Json;
  assert.equal(res.status, status, JSON.stringify(json));
  return json;
}

const quarantineOf = (s: TestService, webhookId: string) => s.store.db.prepare('SELECT * FROM quarantine WHERE webhook_id = ? ORDER BY id').all(webhookId) as QuarantineRow[];
const eventOf = (s: TestService, webhookId: string) => s.store.db.prepare('SELECT * FROM events WHERE webhook_id = ?').get(webhookId) as EventRow | undefined;
const eventCount = (s: TestService) => s.store.db.prepare('SELECT count(*) FROM events').pluck().get() as number;

test('a payload quarantined for a null score is released by replay after the schema allows null', async (t) => {
  const schemasDir = copySchemas(t);
  const s = await startTestService(t, {}, { schemasDir });
  const bytes = redFlagWith('replay-null-1', null);

  const rejected = (await postExpect(s, bytes, 422)) as { error: { code: string; details: Array<{ path: string }> } };
  assert.equal(rejected.error.code, 'schema_validation_failed');
  assert.deepEqual(rejected.error.details.map((d) => d.path), ['/score_details/empathy_score']);
  const [held] = quarantineOf(s, 'replay-null-1');
  assert.ok(held, 'quarantined');
  assert.equal(held.status, 'held');
  assert.equal(eventOf(s, 'replay-null-1'), undefined);

  allowNullScores(schemasDir);
  const result = await replayQuarantine({ store: s.store, validator: createValidator({ schemasDir }) });
  assert.equal(result.checked, 1);
  assert.equal(result.released, 1);
  assert.equal(result.duplicates, 0);
  assert.equal(result.stillHeld, 0);
  assert.equal(result.items[0]?.result, 'released');

  const event = eventOf(s, 'replay-null-1');
  assert.ok(event, 'now a normal event');
  assert.equal(event.outcome, 'replayed');
  assert.equal(event.type, 'red_flag');
  assert.equal(event.received_at, held.received_at, 'keeps the time it was first received');
  assert.ok(Buffer.compare(event.body, bytes) === 0, 'the exact original bytes');
  assert.equal(result.items[0]?.seq, event.seq);

  const [released] = quarantineOf(s, 'replay-null-1');
  assert.equal(released?.status, 'released');
  assert.equal(released?.released_seq, event.seq);
  assert.ok(released?.resolved_at, 'resolved_at is set');

  // Projected like any event: its wide row and one score row per metric (the null one included).
  const db = s.store.db;
  assert.deepEqual(db.prepare('SELECT webhook_id, received_at, red_flag_reason FROM red_flags WHERE webhook_id = ?').get('replay-null-1'), {
    webhook_id: 'replay-null-1',
    received_at: held.received_at,
    red_flag_reason: 'Inappropriate language detected',
  });
  assert.deepEqual(db.prepare('SELECT metric, score, justification FROM scores WHERE webhook_id = ? ORDER BY metric').all('replay-null-1'), [
    { metric: 'empathy', score: null, justification: 'Not assessed on this call' },
    { metric: 'professionalism', score: 2, justification: 'Agent used inappropriate language' },
  ]);

  // Nothing left to do the second time.
  const again = await replayQuarantine({ store: s.store, validator: createValidator({ schemasDir }) });
  assert.deepEqual({ checked: again.checked, released: again.released, duplicates: again.duplicates, stillHeld: again.stillHeld }, { checked: 0, released: 0, duplicates: 0, stillHeld: 0 });
  assert.equal(eventCount(s), 1);
  assert.equal(db.prepare('SELECT count(*) FROM red_flag_rows').pluck().get(), 1, 'projected once');
});

test('a quarantined payload whose webhook_id is already in the log becomes "duplicate"; the logged copy stays', async (t) => {
  const schemasDir = copySchemas(t);
  const s = await startTestService(t, {}, { schemasDir });
  const good = Buffer.from(JSON.stringify({ ...vendorJson('red-flag'), webhook_id: 'replay-dup-1' }));
  await postExpect(s, good, 200);
  await postExpect(s, redFlagWith('replay-dup-1', null), 422);
  const before = eventOf(s, 'replay-dup-1')!;

  allowNullScores(schemasDir);
  const result = await replayQuarantine({ store: s.store, validator: createValidator({ schemasDir }) });
  assert.equal(result.checked, 1);
  assert.equal(result.duplicates, 1);
  assert.equal(result.released, 0);
  assert.equal(result.items[0]?.result, 'duplicate');

  const [row] = quarantineOf(s, 'replay-dup-1');
  assert.equal(row?.status, 'duplicate');
  assert.ok(row?.resolved_at);
  assert.equal(eventCount(s), 1, 'no second copy');
  const after = eventOf(s, 'replay-dup-1')!;
  assert.deepEqual(after, before, 'the logged event is untouched');
  assert.equal(after.outcome, 'accepted');
  // Resolved: not checked again.
  assert.equal((await replayQuarantine({ store: s.store, validator: createValidator({ schemasDir }) })).checked, 0);
});

test('replay with a webhook id settles only that payload', async (t) => {
  const schemasDir = copySchemas(t);
  const s = await startTestService(t, {}, { schemasDir });
  await postExpect(s, redFlagWith('replay-a', null), 422);
  await postExpect(s, redFlagWith('replay-b', null), 422);
  allowNullScores(schemasDir);
  const validator = createValidator({ schemasDir });

  const onlyB = await replayQuarantine({ store: s.store, validator, webhookId: 'replay-b' });
  assert.equal(onlyB.checked, 1);
  assert.equal(onlyB.released, 1);
  assert.equal(onlyB.items[0]?.webhookId, 'replay-b');
  assert.ok(eventOf(s, 'replay-b'));
  assert.equal(eventOf(s, 'replay-a'), undefined, 'the other payload was not touched');
  assert.equal(quarantineOf(s, 'replay-a')[0]?.status, 'held');

  assert.equal((await replayQuarantine({ store: s.store, validator, webhookId: 'nope' })).checked, 0, 'an unknown id checks nothing');
  assert.equal((await replayQuarantine({ store: s.store, validator, webhookId: 'replay-b' })).checked, 0, 'a resolved id is not held any more');

  const rest = await replayQuarantine({ store: s.store, validator });
  assert.equal(rest.checked, 1);
  assert.equal(rest.released, 1);
  assert.equal(rest.items[0]?.webhookId, 'replay-a');
  assert.equal(eventCount(s), 2);
});

test('a payload that still fails stays held, with the errors of the current schemas', async (t) => {
  const schemasDir = copySchemas(t);
  const s = await startTestService(t, {}, { schemasDir });
  const bytes = redFlagWith('replay-still-1', 'high');
  const rejected = (await postExpect(s, bytes, 422)) as { error: { details: unknown } };
  const [held] = quarantineOf(s, 'replay-still-1');
  assert.deepEqual(JSON.parse(held!.errors), rejected.error.details, 'the quarantine keeps the errors of its 422');

  allowNullScores(schemasDir);
  const validator = createValidator({ schemasDir });
  const result = await replayQuarantine({ store: s.store, validator });
  assert.equal(result.checked, 1);
  assert.equal(result.stillHeld, 1);
  assert.equal(result.released, 0);
  assert.equal(result.items[0]?.result, 'held');

  const now = validator.validate(JSON.parse(bytes.toString('utf8')) as Json);
  assert.equal(now.ok, false);
  const currentDetails = now.ok ? [] : now.error.details;
  const [after] = quarantineOf(s, 'replay-still-1');
  assert.equal(after?.status, 'held');
  assert.equal(after?.released_seq, null);
  assert.equal(after?.reason, 'schema_validation_failed');
  assert.deepEqual(JSON.parse(after!.errors), currentDetails, 'errors updated to what the current schemas say');
  assert.notDeepEqual(JSON.parse(after!.errors), rejected.error.details, 'the message changed with the schema (number -> number or null)');
  assert.deepEqual(result.items[0]?.errors, currentDetails);
  assert.ok(Buffer.compare(after!.body, bytes) === 0, 'the bytes are kept');
  assert.equal(eventOf(s, 'replay-still-1'), undefined);
});

test('`ember-sync replay`: exit 0 and "still held" for a payload that still fails; `--id nope` exits 1 with a clear message', async (t) => {
  const dataDir = tempDir(t);
  const s = await startTestService(t, { DATA_DIR: dataDir });
  await postExpect(s, redFlagWith('cli-still-1', null), 422);
  await s.close();

  const r = await runCli(['replay'], { DATA_DIR: dataDir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /cli-still-1: still fails its schema/);
  assert.match(r.stdout, /checked 1: 0 released, 0 duplicate, 1 still held/);

  const nope = await runCli(['replay', '--id', 'nope'], { DATA_DIR: dataDir });
  assert.equal(nope.code, 1, nope.stdout + nope.stderr);
  const lines = nope.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `one line on stderr:\n${nope.stderr}`);
  assert.match(lines[0]!, /no held quarantined payload has webhook_id "nope"/);
  assert.doesNotMatch(nope.stderr, /^\s+at /m, 'no stack trace');

  const db = new Database(join(dataDir, 'ember-sync.db'), { readonly: true });
  t.after(() => db.close());
  assert.equal(db.prepare("SELECT status FROM quarantine WHERE webhook_id = 'cli-still-1'").pluck().get(), 'held');
  assert.equal(db.prepare('SELECT count(*) FROM events').pluck().get(), 0);
});

test('`ember-sync replay` releases what passes the current schemas (quarantined under stricter ones)', async (t) => {
  // The server ran with a stricter red-flag schema (agent_name required as a number); the shipped schemas accept the payload.
  const strict = copySchemas(t);
  const file = join(strict, 'red-flag.json');
  const schema = JSON.parse(readFileSync(file, 'utf8')) as { properties: Record<string, unknown> };
  schema.properties['agent_name'] = { type: 'number' };
  writeFileSync(file, JSON.stringify(schema));
  const dataDir = tempDir(t);
  const s = await startTestService(t, { DATA_DIR: dataDir }, { schemasDir: strict });
  const bytes = vendorBytes('red-flag');
  await postExpect(s, bytes, 422);
  const heldAt = quarantineOf(s, 'f47ac10b-58cc-4372-a567-0e02b2c3d479')[0]!.received_at;
  await s.close();

  const r = await runCli(['replay', '--id', 'f47ac10b-58cc-4372-a567-0e02b2c3d479'], { DATA_DIR: dataDir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /f47ac10b-58cc-4372-a567-0e02b2c3d479: released as event \d+/);
  assert.match(r.stdout, /checked 1: 1 released, 0 duplicate, 0 still held/);

  const db = new Database(join(dataDir, 'ember-sync.db'), { readonly: true });
  t.after(() => db.close());
  const event = db.prepare('SELECT * FROM events').get() as EventRow;
  assert.equal(event.outcome, 'replayed');
  assert.equal(event.received_at, heldAt);
  assert.ok(Buffer.compare(event.body, bytes) === 0);
  assert.equal(db.prepare('SELECT count(*) FROM red_flags').pluck().get(), 1, 'projected by the CLI');
  assert.equal(db.prepare('SELECT status FROM quarantine').pluck().get(), 'released');
});
