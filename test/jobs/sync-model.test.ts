/**
 * Model-based test of the sync engine (fast-check commands): random
 * interleavings of
 * - ingesting webhooks (some with new score_details keys or workflow output
 *   fields, so views gain columns mid-history; awkward text; a duplicate resent;
 *   projected at once as the server does, or left to the next sync),
 * - in-process syncs of the csv and the sheets target (fake Sheets API on loopback),
 * - `ember-sync sync` children killed with SIGKILL at a random moment (a delay
 *   after the spawn or after they took the lock, or the after-deliver fault
 *   point), while webhooks keep arriving,
 * - lock takeovers: an in-process sync A held mid-delivery (before or after its
 *   delivery, between two csv views, or before one of its Sheets requests goes
 *   out) while its lock goes stale; sync B (in-process or a child) takes the
 *   lock over and completes; A resumes and must commit nothing, and what it
 *   still does must not damage what B delivered.
 *
 * Each run picks CSV_PARTITION (month or none) for the in-process targets and
 * the children alike, and some webhooks are received in past months, so month
 * files fill up out of order.
 *
 * The model is the database itself. After every command: cursors never go back
 * and count the view's rows up to their seq; every file and tab is an earlier
 * export of its view (header a prefix of today's, then exactly the view's first
 * rows: no duplicate, no gap, no ragged row) and still holds every row its
 * cursor confirmed. After a sync that completed, and after a final clean sync
 * of each target: every target equals the export of the database (CSV byte for
 * byte, Sheets cell for cell), and an idle sync after it changes nothing.
 *
 * Reproduce a failure with what fast-check prints (seed, path, and the
 * replayPath shown in the counterexample):
 *   SYNC_MODEL_SEED=<seed> SYNC_MODEL_PATH=<path> SYNC_MODEL_REPLAY=<replayPath> \
 *     node --import tsx --test test/jobs/sync-model.test.ts
 * SYNC_MODEL_RUNS=<n> for more runs, SYNC_MODEL_DEBUG=1 to print each step as it
 * happens, SYNC_MODEL_TAKEOVER=csv|sheets|none for takeovers of one target
 * only or none (to look past a failure found with the other). The
 * moment a child is killed is a delay, not a place in the code, so a replay of a
 * kill may land elsewhere on another machine.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { runSync, type SyncResult } from '../../src/jobs/sync.js';
import type { Partition } from '../../src/model/partition.js';
import type { SyncTarget, SyncTargetName } from '../../src/model/sync.js';
import { VIEW_NAMES } from '../../src/model/views.js';
import { startFakeSheets } from '../fakes/fake-sheets.js';
import {
  checkAlways,
  checkExact,
  childSync,
  closeWorld,
  csvFiles,
  describeKill,
  describeSpec,
  ingestSpecs,
  makeTarget,
  openWorld,
  startGateProxy,
  SHEETS_TOKEN,
  silent,
  TARGETS,
  type Kill,
  type SheetsRequestKind,
  type WebhookSpec,
  type World,
} from '../helpers/sync-model.js';

const RUNS = Number(process.env['SYNC_MODEL_RUNS'] ?? 12);
const SEED = process.env['SYNC_MODEL_SEED'] === undefined ? undefined : Number(process.env['SYNC_MODEL_SEED']);
const PATH = process.env['SYNC_MODEL_PATH'];
/** Child processes cost ~0.3-1 s to start (and a sheets one ~1 s per request, the real limiter): a few per run. */
const MAX_CHILDREN = 3;
const MAX_SHEETS_CHILDREN = 1;

/** What the runs exercised, printed at the end (a diagnostic of the test). */
const stats = new Map<string, number>();
const bump = (key: string) => stats.set(key, (stats.get(key) ?? 0) + 1);

interface Model {
  children: number;
  sheetsChildren: number;
}

const describeResult = (r: SyncResult) => (r.status === 'locked' ? `locked by ${r.holder}` : `${r.status} ${r.rows} rows${r.status === 'failed' ? `: ${r.error}` : ''}`);

function assertOk(r: SyncResult, what: string): void {
  assert.equal(r.status, 'ok', `${what} must succeed, got ${JSON.stringify(r)}`);
}

// ------------------------------------------------------------------ commands

class Ingest implements fc.AsyncCommand<Model, World> {
  constructor(
    readonly specs: WebhookSpec[],
    readonly resend: boolean,
    readonly project: boolean,
  ) {}
  check = () => true;
  async run(_m: Model, w: World): Promise<void> {
    w.trace.push(`> ${this}`);
    const columns = async () => Object.values(await w.store.projection.columns()).reduce((n, c) => n + c.length, 0);
    const before = await columns();
    await ingestSpecs(w, this.specs, this.resend);
    // As the server does right after its commits; else the next sync projects.
    if (this.project) {
      await w.store.projection.catchUp();
      if ((await columns()) > before) bump('ingest that added columns (projected at once)');
    }
    w.trace.push(`${this} done`);
    await checkAlways(w);
  }
  toString = () => `ingest[${this.specs.map(describeSpec).join('; ')}]${this.resend ? '+resend' : ''}${this.project ? '+project' : ''}`;
}

class Sync implements fc.AsyncCommand<Model, World> {
  constructor(readonly target: SyncTargetName) {}
  check = () => true;
  async run(_m: Model, w: World): Promise<void> {
    w.trace.push(`> ${this}`);
    const r = await runSync({ store: w.store, target: makeTarget(w, this.target), logger: silent });
    w.trace.push(`${this}: ${describeResult(r)}`);
    bump(`in-process sync ${this.target}${r.status === 'ok' && r.rows > 0 ? ' with rows' : ''}`);
    assertOk(r, `an in-process ${this.target} sync`);
    await checkExact(w, this.target);
    await checkAlways(w);
  }
  toString = () => `sync(${this.target})`;
}

class ChildSync implements fc.AsyncCommand<Model, World> {
  constructor(
    readonly target: SyncTargetName,
    readonly kill: Kill,
    /** Webhooks ingested while the child runs (and projected by this process, racing the child's projection, when `project`). */
    readonly during: { specs: WebhookSpec[]; project: boolean } | null,
  ) {}
  check = (m: Readonly<Model>) => m.children < MAX_CHILDREN && (this.target === 'csv' || m.sheetsChildren < MAX_SHEETS_CHILDREN);
  async run(m: Model, w: World): Promise<void> {
    w.trace.push(`> ${this}`);
    m.children++;
    if (this.target === 'sheets') m.sheetsChildren++;
    const during = this.during;
    const ingestMeanwhile = async () => {
      await ingestSpecs(w, during!.specs, false);
      if (during!.project) await w.store.projection.catchUp();
    };
    const out = await childSync(w, this.target, this.kill, during ? ingestMeanwhile : undefined);
    w.trace.push(`${this}: exit ${out.code ?? out.signal}${out.killedHoldingLock ? ' (killed holding the lock)' : out.sawLock ? ' (held the lock)' : ''}`);
    bump(
      `child ${this.target}: ${
        this.kill.at === 'fault'
          ? 'killed itself at after-deliver'
          : out.signal !== 'SIGKILL'
            ? 'finished before the kill'
            : out.killedHoldingLock
              ? 'killed holding the lock'
              : out.sawLock
                ? 'killed after releasing the lock'
                : 'killed before taking the lock'
      }`,
    );
    if (this.kill.at === 'fault') assert.equal(out.signal, 'SIGKILL', `the child died at the fault point\n${out.stdout}\n${out.stderr}`);
    else if (this.kill.at === 'never') assert.equal(out.code, 0, `the child sync succeeded\n${out.stdout}\n${out.stderr}`);
    else assert.ok(out.signal === 'SIGKILL' || out.code === 0, `the child was killed or succeeded (exit ${out.code})\n${out.stdout}\n${out.stderr}`);
    await checkAlways(w);
  }
  toString = () =>
    `child-sync(${this.target}, ${describeKill(this.kill, this.target)}${this.during ? `, ingest meanwhile[${this.during.specs.map(describeSpec).join('; ')}]${this.during.project ? '+project' : ''}` : ''})`;
}

/** Where sync A is held: before or after its whole delivery, or inside it (csv: before its k-th view; sheets: before its first request of a kind). */
type Hold = { at: 'before-deliver' } | { at: 'after-deliver' } | { at: 'view'; k: number } | { at: 'request'; kind: SheetsRequestKind };

function describeHold(h: Hold): string {
  if (h.at === 'view') return `before view ${VIEW_NAMES[h.k]} (after ${h.k} views written)`;
  if (h.at === 'request') return `before its ${h.kind} request`;
  return h.at;
}

/**
 * Sync A holds mid-delivery (before or after the real target wrote, or between
 * two of its steps); its lock goes stale (heartbeat long ago); sync B takes it
 * over and completes; A resumes and must commit nothing, and whatever it still
 * sends must not damage what B delivered.
 */
class Takeover implements fc.AsyncCommand<Model, World> {
  constructor(
    readonly target: SyncTargetName,
    readonly hold: Hold,
    /** A's heartbeat: fast (it notices the takeover and stops) or slow (it only learns at its commit). */
    readonly heartbeat: 'fast' | 'slow',
    readonly between: WebhookSpec[] | null,
    readonly taker: 'in-process' | 'child',
  ) {}
  check = (m: Readonly<Model>) => this.taker === 'in-process' || (m.children < MAX_CHILDREN && (this.target === 'csv' || m.sheetsChildren < MAX_SHEETS_CHILDREN));

  /** Sync A's target: the real one, held where `hold` says. */
  private async heldTarget(w: World): Promise<{ target: SyncTarget; inside: Promise<void>; release: () => void; close: () => Promise<void> }> {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const hold = this.hold;
    if (hold.at === 'request') {
      const proxy = await startGateProxy(w.fake.url, hold.kind);
      return { target: makeTarget(w, 'sheets', { rootUrl: proxy.url }), inside: proxy.inside, release: proxy.release, close: proxy.close };
    }
    const inner = makeTarget(w, this.target);
    const target: SyncTarget = {
      name: inner.name,
      deliver: async (views, control) => {
        // csv: views are delivered one by one, so a delivery cut in two is the same as one held between two views.
        const k = hold.at === 'view' ? hold.k : hold.at === 'after-deliver' ? views.length : 0;
        const first = k > 0 ? await inner.deliver(views.slice(0, k), control) : [];
        entered();
        await gate;
        const rest = k < views.length ? await inner.deliver(views.slice(k), control) : [];
        return [...first, ...rest];
      },
    };
    return { target, inside, release, close: async () => release() };
  }

  async run(m: Model, w: World): Promise<void> {
    w.trace.push(`> ${this}`);
    const held = await this.heldTarget(w);
    const heartbeatMs = this.heartbeat === 'fast' ? 5 : 600_000;
    const a = runSync({ store: w.store, target: held.target, logger: silent, heartbeatMs });
    try {
      const first = await Promise.race([held.inside.then(() => 'held' as const), a.then(() => 'ended' as const)]);
      if (first === 'ended') {
        // Fewer requests than the hold point: A ran to its end, a plain sync.
        const ra = await a;
        w.trace.push(`${this}: A was never held: ${describeResult(ra)}`);
        bump(`takeover ${this.target}: A finished before its hold point`);
        assertOk(ra, 'sync A');
        await checkExact(w, this.target);
        await checkAlways(w);
        return;
      }
      w.trace.push('  A is held');
      const between = this.between;
      if (between) await ingestSpecs(w, between, false);
      // A silent holder: its heartbeat older than the stale limit.
      w.store.db.prepare("UPDATE sync_locks SET heartbeat_at = '2000-01-01T00:00:00.000Z' WHERE target = ?").run(this.target);
      w.trace.push('  lock made stale');
      if (this.taker === 'in-process') {
        const b = await runSync({ store: w.store, target: makeTarget(w, this.target), logger: silent });
        w.trace.push(`${this}: B ${describeResult(b)}`);
        assertOk(b, 'the sync that took the lock over');
      } else {
        m.children++;
        if (this.target === 'sheets') m.sheetsChildren++;
        const b = await childSync(w, this.target, { at: 'never' });
        w.trace.push(`${this}: B exit ${b.code ?? b.signal}`);
        assert.equal(b.code, 0, `the child that took the lock over succeeded\n${b.stdout}\n${b.stderr}`);
      }
      await checkExact(w, this.target);
      await checkAlways(w);
      const afterB = await Promise.all(VIEW_NAMES.map(async (v) => await w.store.sync.cursor(this.target, v)));
      const runsAfterB = w.store.db.prepare<[string], number>('SELECT count(*) FROM sync_runs WHERE target = ? AND ok = 1').pluck().get(this.target);
      held.release();
      const ra = await a;
      w.trace.push(`${this}: A ${describeResult(ra)}`);
      bump(`takeover ${this.target}, A held ${describeHold(this.hold).replace(/ \(.*\)/, '')}, ${this.heartbeat} heartbeat, B ${this.taker}`);
      assert.equal(ra.status, 'failed', `the run that lost its lock fails: ${JSON.stringify(ra)}`);
      assert.match(ra.status === 'failed' ? (ra.error ?? '') : '', /taken over/, 'and says why');
      assert.deepEqual(
        await Promise.all(VIEW_NAMES.map(async (v) => await w.store.sync.cursor(this.target, v))),
        afterB,
        'the run that lost its lock committed nothing (cursors, states, errors)',
      );
      assert.equal(w.store.db.prepare<[string], number>('SELECT count(*) FROM sync_runs WHERE target = ? AND ok = 1').pluck().get(this.target), runsAfterB);
      assert.equal(await w.store.sync.lockHolder(this.target), undefined, 'no lock left behind');
      await checkAlways(w);
    } finally {
      held.release();
      await a.catch(() => undefined);
      await held.close();
    }
  }
  toString = () =>
    `takeover(${this.target}, A held ${describeHold(this.hold)}, ${this.heartbeat} heartbeat, B ${this.taker}${this.between ? `, ingest between[${this.between.map(describeSpec).join('; ')}]` : ''})`;
}

// ------------------------------------------------------------------ arbitraries

const KINDS = ['red_flag', 'low_score', 'completion', 'workflow'] as const;
/** New metrics, some colliding with fixed columns (`agent_name`, `total_score`, `score`) or another key's column. */
const METRICS = ['upsell', 'hold_time', 'agent_name', 'total_score', 'score', 'x y', 'Empathy', 'greeting_quality'];
/** New workflow fields, some colliding with fixed columns (`status`, `cost`) or existing fields. */
const FIELDS = ['claim_id', 'status', 'cost', 'notes', 'customer_name'];
/** received_at of the past: the last and first millisecond of months (REPORT_TIMEZONE is UTC here) and mid-month. */
const PAST = ['2026-01-31T23:59:59.999Z', '2026-02-01T00:00:00.000Z', '2026-02-14T12:00:00.000Z', '2026-03-01T00:00:00.000Z'];
const TEXTS = ['=1+1', 'a,b', 'line\r\nbreak', 'lone\nlf', '"quoted"', '\uFEFFbom', '-5', '@x', 'tab\there', '', 'é中🔥'];

/** `arb` `yes` times in `yes + no`, else undefined (shrinks towards undefined). */
const sometimes = <T>(arb: fc.Arbitrary<T>, yes: number, no: number): fc.Arbitrary<T | undefined> => fc.oneof({ weight: no, arbitrary: fc.constant(undefined) }, { weight: yes, arbitrary: arb });
const webhookSpec: fc.Arbitrary<WebhookSpec> = fc
  .record({
    kind: fc.constantFrom(...KINDS),
    metric: sometimes(fc.record({ name: fc.constantFrom(...METRICS), shape: fc.constantFrom<'pair' | 'bare'>('pair', 'bare') }), 1, 3),
    field: sometimes(fc.constantFrom(...FIELDS), 1, 1),
    text: sometimes(fc.constantFrom(...TEXTS), 1, 2),
    at: sometimes(fc.constantFrom(...PAST), 1, 1),
  })
  // Output fields are for workflows only.
  .map((s) => (s.kind === 'workflow' ? s : { ...s, field: undefined }));
const batch = fc.array(webhookSpec, { minLength: 1, maxLength: 6 });
const target = fc.constantFrom<SyncTargetName>(...TARGETS);
const kill: fc.Arbitrary<Kill> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 1000 }).map((permille): Kill => ({ at: 'spawn', permille })) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 1000 }).map((permille): Kill => ({ at: 'locked', permille })) },
  { weight: 3, arbitrary: fc.constant<Kill>({ at: 'fault' }) },
);

const ingestCmd = fc.tuple(batch, fc.boolean(), fc.boolean()).map(([b, resend, project]) => new Ingest(b, resend, project));
const syncCmd = target.map((t) => new Sync(t));
const childCmd = fc.tuple(target, kill, fc.option(fc.tuple(batch, fc.boolean()), { nil: null })).map(([t, k, d]) => new ChildSync(t, k, d && { specs: d[0], project: d[1] }));
/** SYNC_MODEL_TAKEOVER=csv|sheets|none: takeovers of one target only, or none (to look past a failure of the other). */
const TAKEOVER = process.env['SYNC_MODEL_TAKEOVER'];
const takeoverTarget = TAKEOVER === 'csv' || TAKEOVER === 'sheets' ? fc.constant<SyncTargetName>(TAKEOVER) : target;
const takeoverCmd = fc
  .tuple(
    takeoverTarget,
    fc.oneof(fc.constant<Hold>({ at: 'before-deliver' }), fc.constant<Hold>({ at: 'after-deliver' }), {
      weight: 2,
      arbitrary: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.constantFrom<SheetsRequestKind>('metadata', 'read-back', 'structure', 'values')).map(([k, kind]) => ({ k, kind })),
    }),
    fc.constantFrom<'fast' | 'slow'>('fast', 'slow'),
    fc.option(batch, { nil: null }),
    fc.oneof({ weight: 3, arbitrary: fc.constant<'in-process'>('in-process') }, { weight: 1, arbitrary: fc.constant<'child'>('child') }),
  )
  // A child taker needs the lock to stay stale until it has started: A must not beat meanwhile.
  .map(([t, h, beat, b, taker]) => {
    // Inside the delivery: csv before one of its views, sheets before one of its requests.
    const hold: Hold = 'at' in h ? h : t === 'csv' ? { at: 'view', k: h.k } : { at: 'request', kind: h.kind };
    return new Takeover(t, hold, taker === 'child' ? 'slow' : beat, b, taker);
  });
const commandArbs: Array<fc.Arbitrary<fc.AsyncCommand<Model, World>>> = [ingestCmd, ingestCmd, syncCmd, syncCmd, childCmd, ...(TAKEOVER === 'none' ? [] : [takeoverCmd])];
const commands = fc.commands(commandArbs, { maxCommands: 10, ...(process.env['SYNC_MODEL_REPLAY'] ? { replayPath: process.env['SYNC_MODEL_REPLAY'] } : {}) });

// ------------------------------------------------------------------ the property

/** A final clean sync of each target: both equal the export; a second sync delivers nothing, rewrites no file and sends no write. */
async function finalCheck(w: World): Promise<void> {
  for (const t of TARGETS) {
    const r = await runSync({ store: w.store, target: makeTarget(w, t), logger: silent });
    w.trace.push(`final sync(${t}): ${describeResult(r)}`);
    assertOk(r, `the final ${t} sync`);
    await checkExact(w, t);
    assert.equal(await w.store.sync.lockHolder(t), undefined, `${t}: no lock left behind`);
  }
  await checkAlways(w);
  const stampsNow = () =>
    csvFiles(w).map((f) => {
      const st = statSync(join(w.csvDir, f), { bigint: true });
      return `${f} ${st.ino}:${st.ctimeNs}:${st.size}`;
    });
  const stamps = stampsNow();
  const writesBefore = w.fake.requests.filter((q) => q.spreadsheetId === w.sheetId && q.kind !== 'get' && q.kind !== 'values.batchGet').length;
  for (const t of TARGETS) {
    const r = await runSync({ store: w.store, target: makeTarget(w, t), logger: silent });
    assertOk(r, `an idle ${t} sync`);
    assert.equal(r.status === 'ok' && r.rows, 0, `an idle ${t} sync delivers nothing`);
    await checkExact(w, t);
  }
  assert.deepEqual(stampsNow(), stamps, 'an idle csv sync leaves the files alone');
  // The `ember-sync` status tab says when the last sync ran: an idle sync rewrites it (one request) and nothing else.
  const idleWrites = w.fake.requests.filter((q) => q.spreadsheetId === w.sheetId && q.kind !== 'get' && q.kind !== 'values.batchGet').slice(writesBefore);
  assert.ok(idleWrites.length <= 1 && idleWrites.every((q) => q.kind === 'values.batchUpdate'), `an idle sheets sync sends at most the status tab's write (got ${idleWrites.map((q) => q.kind).join(', ')})`);
}

test(
  'model: ingest, in-process syncs, killed sync processes and lock takeovers keep every target equal to the database',
  { timeout: Number(process.env['SYNC_MODEL_TIMEOUT_MS'] ?? 240_000) },
  async (t) => {
    const fake = await startFakeSheets({ keepBodies: false });
    t.after(() => fake.close());
    fake.allowToken(SHEETS_TOKEN);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.constantFrom(500, 0, 3), fc.constantFrom<Partition>('month', 'none'), commands, async (seed, slack, partition, cmds) => {
        const w = openWorld(fake, seed, slack, partition);
        run++;
        w.trace.push(`run ${run}: webhook seed ${seed}, sheets growSlackRows ${slack}, CSV_PARTITION ${partition}`);
        bump(`run with CSV_PARTITION=${partition}`);
        try {
          await fc.asyncModelRun(() => ({ model: { children: 0, sheetsChildren: 0 }, real: w }), cmds);
          await finalCheck(w);
        } catch (err) {
          const e = err instanceof Error ? err : new Error(String(err));
          const told = `${e.message}\n--- what happened (run ${run}):\n${w.trace.join('\n')}`;
          if (e.stack) e.stack = e.stack.replace(e.message, told);
          e.message = told;
          throw e;
        } finally {
          closeWorld(w);
          fake.resetRequests();
        }
      }),
      {
        numRuns: RUNS,
        ...(SEED === undefined ? {} : { seed: SEED }),
        ...(PATH ? { path: PATH } : {}),
        endOnFailure: process.env['SYNC_MODEL_NO_SHRINK'] === '1',
        includeErrorInReport: true,
        interruptAfterTimeLimit: 150_000,
      },
    );
    for (const [k, n] of [...stats].sort()) t.diagnostic(`${k}: ${n}`);
  },
);
