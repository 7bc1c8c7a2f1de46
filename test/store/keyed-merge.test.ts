import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContentFacts, ContentState } from '../../src/flatten/merge-content.js';
import type { ColumnPlan } from '../../src/model/columns.js';
import { LoadedContent, LoadedMetric, MetricGroup, type AgentGroup } from '../../src/store/keyed-batch.js';
import { agentsChanged, fillDyn, KeyedMerge, metricChanged, metricColumns, movedExtremes, type KeyedMergeHooks } from '../../src/store/keyed-merge.js';

/*
 * The keyed merge both backends share (store/keyed-merge.ts), on its own:
 * what it asks of the storage hooks and the batch state it leaves. The rows
 * it leads to are checked end to end by keyed-views/keyed-oracle-self
 * (SQLite) and pg/pg-keyed (PostgreSQL against SQLite).
 */

const facts = (contentId: string, over: Partial<ContentFacts> = {}): ContentFacts => ({
  contentId,
  kind: 'low_score',
  contentType: 'call',
  fileName: null,
  agentName: 'ann',
  vendorTime: undefined,
  totalScore: null,
  totalScoreThreshold: null,
  redFlagReason: null,
  summary: null,
  metrics: [],
  ...over,
});

/** Hooks that record what the merge asked, with `stored` as the contents already in storage. */
function recording(stored: Map<string, () => LoadedContent> = new Map()) {
  const calls: string[] = [];
  const hooks: KeyedMergeHooks = {
    load(id) {
      calls.push(`load ${id}`);
      return stored.get(id)?.();
    },
    agentsEntered(g: AgentGroup, seq) {
      calls.push(`agents ${g.day} ${g.agent} @${seq}`);
    },
    metricEntered(mg: MetricGroup, seq) {
      calls.push(`metric ${mg.parent.day} ${mg.parent.agent} ${mg.metric} @${seq}`);
    },
    columnsPlanned(plan: ColumnPlan, seq) {
      calls.push(`columns +${plan.added.map((c) => c.key).join(',')} overflow ${plan.overflow.map((k) => k.key).join(',')} @${seq}`);
    },
  };
  return { calls, hooks };
}

const mergeOf = (hooks: KeyedMergeHooks, closedBefore?: string, maxColumns = 500) =>
  new KeyedMerge(hooks, { dayOf: (iso) => iso.slice(0, 10), closedBefore, columns: [], maxColumns, nextContentRid: 10, nextMetricRid: 100 });

test('a new content gets the next rids; its groups and metric columns are asked for once, in event order', () => {
  const { calls, hooks } = recording();
  const merge = mergeOf(hooks);
  merge.apply(facts('c1', { metrics: [{ metric: 'tone', score: 4, justification: 'ok' }] }), 1, '2026-03-01T10:00:00.000Z');
  merge.apply(facts('c1', { kind: 'completion', metrics: [{ metric: 'tone', score: 5, justification: null }] }), 2, '2026-03-01T11:00:00.000Z');
  merge.apply(facts('c2'), 3, '2026-03-01T12:00:00.000Z');
  assert.deepEqual(calls, [
    'columns +tone,tone overflow  @1',
    'load c1',
    'agents 2026-03-01 ann @1',
    'metric 2026-03-01 ann tone @1',
    'load c2',
  ]);
  const c1 = merge.contents.get('c1')!;
  assert.equal(c1.rid, 10);
  assert.equal(merge.contents.get('c2')!.rid, 11);
  assert.equal(c1.metrics.get('tone')!.rid, 100);
  assert.equal(c1.metrics.get('tone')!.score, 5);
  assert.equal(c1.state!.completed, true);
  assert.equal(c1.changedSeq, 2);
  assert.equal(c1.group!.seq, 3, 'the group moves with the latest event that entered it');
  assert.deepEqual(merge.columns.map((c) => c.kind), ['metric_score', 'metric_justification']);
});

test('a stored content that moves day leaves its old group (seq of the move) and enters the new one with every metric', () => {
  const state: ContentState = {
    content_id: 'c1', content_type: 'call', file_name: null, agent_name: 'ann', scored_at: '2026-03-01T10:00:00.000Z',
    first_received_at: '2026-03-01T10:00:00.000Z', last_received_at: '2026-03-01T10:00:00.000Z', webhooks: 1, completed: false,
    red_flag: false, low_score: true, total_score: 70, total_score_threshold: null, red_flag_reason: null, summary: null, vendor_time: true,
  };
  const stored = new Map([['c1', () => new LoadedContent(3, '2026-03', 1, state, state, new Map([['tone', new LoadedMetric('tone', 4, null, state.scored_at, 7, 1, 1, false, 4, true)]]), 1, false)]]);
  const { calls, hooks } = recording(stored);
  const merge = mergeOf(hooks);
  merge.apply(facts('c1', { vendorTime: '2026-03-02T09:00:00.000Z', totalScore: 80 }), 5, '2026-03-02T09:00:01.000Z');
  assert.deepEqual(calls, ['load c1', 'agents 2026-03-02 ann @5', 'metric 2026-03-02 ann tone @5']);
  const left = merge.groupOf('2026-03-01', 'ann');
  assert.equal(left.known, true);
  assert.equal(left.seq, 5);
  assert.equal(merge.metricGroupOf(left, 'tone').seq, 5);
  const m = merge.contents.get('c1')!.metrics.get('tone')!;
  assert.equal(m.dirty, true, 'its metric rows carry the new scored_at');
  assert.equal(m.changedSeq, 5);

  const { agents, metrics } = merge.deltas();
  assert.deepEqual(agents.map((d) => [d.day, d.contents, d.low_scores, d.sum, d.n]), [
    ['2026-03-01', -1, -1, -70_000_000, -1],
    ['2026-03-02', 1, 1, 80_000_000, 1],
  ]);
  assert.ok(agents.every(agentsChanged));
  assert.deepEqual(metrics.map((d) => [d.parent.day, d.contents, d.removed, d.added]), [
    ['2026-03-01', -1, [4], []],
    ['2026-03-02', 1, [], [4]],
  ]);
  // The old group lost its only score: its extremes are read again.
  assert.equal(movedExtremes(metrics[0]!, 4, 4, 1), undefined);
  assert.deepEqual(movedExtremes(metrics[1]!, 2, 3, 2), { lo: 2, hi: 4 });
});

test('a closed day is neither entered nor left, nor counted; the month is never a deleted one', () => {
  const { calls, hooks } = recording();
  const merge = mergeOf(hooks, '2026-03-10');
  merge.apply(facts('old', { vendorTime: '2026-02-20T10:00:00.000Z' }), 1, '2026-02-20T10:00:00.000Z');
  merge.apply(facts('new', { vendorTime: '2026-03-12T10:00:00.000Z' }), 2, '2026-03-12T10:00:00.000Z');
  assert.deepEqual(calls, ['load old', 'load new', 'agents 2026-03-12 ann @2']);
  assert.equal(merge.contents.get('old')!.group, undefined);
  assert.deepEqual(merge.deltas().agents.map((d) => d.day), ['2026-03-12']);
  assert.equal(merge.monthOf('2026-02-20T10:00:00.000Z'), '2026-03');
  assert.equal(merge.open('2026-03-09'), false);
  assert.equal(merge.open('2026-03-10'), true);
});

test('month places: new rows numbered after the stored total in rid order; a content that changed month resets both', () => {
  const state: ContentState = {
    content_id: 'm', content_type: null, file_name: null, agent_name: null, scored_at: '2026-04-01T00:00:00.000Z',
    first_received_at: '2026-04-01T00:00:00.000Z', last_received_at: '2026-04-01T00:00:00.000Z', webhooks: 1, completed: false,
    red_flag: false, low_score: true, total_score: null, total_score_threshold: null, red_flag_reason: null, summary: null, vendor_time: false,
  };
  const { hooks } = recording(new Map([['m', () => new LoadedContent(1, '2026-04', 1, state, state, new Map(), 1, false)]]));
  const merge = mergeOf(hooks);
  merge.apply(facts('a'), 4, '2026-05-02T00:00:00.000Z');
  merge.apply(facts('b', { metrics: [{ metric: 'tone', score: 1, justification: null }] }), 5, '2026-05-03T00:00:00.000Z');
  // An earlier webhook for m: its first_received_at moves it to March.
  merge.apply(facts('m'), 6, '2026-03-31T00:00:00.000Z');
  // New in a month that is numbered again anyway: its total is counted after the writes, not kept.
  merge.apply(facts('n'), 7, '2026-03-15T00:00:00.000Z');
  const places = merge.monthPlaces((view, part) => (view === 'contents' && part === '2026-05' ? 7 : undefined));
  assert.deepEqual([merge.contents.get('a')!.partPos, merge.contents.get('b')!.partPos], [8, 9]);
  assert.equal(merge.contents.get('b')!.metrics.get('tone')!.partPos, 1);
  assert.deepEqual([...places.totals.contents], [['2026-05', 9]]);
  assert.deepEqual([...places.totals.content_scores], [['2026-05', 1]]);
  assert.deepEqual([...places.resets], [['2026-04', 6], ['2026-03', 6]]);
  assert.equal(merge.contents.get('n')!.part, '2026-03');
});

test('MAX_DYNAMIC_COLUMNS: a metric without room overflows once; dyn holds the cells of the metrics with columns', () => {
  const { calls, hooks } = recording();
  const merge = mergeOf(hooks, undefined, 2);
  merge.apply(facts('c', { metrics: [{ metric: 'a', score: 1, justification: 'x' }, { metric: 'b', score: 2, justification: null }] }), 1, '2026-03-01T00:00:00.000Z');
  merge.apply(facts('c', { metrics: [{ metric: 'b', score: 3, justification: null }] }), 2, '2026-03-01T00:00:01.000Z');
  assert.deepEqual(calls.filter((c) => c.startsWith('columns')), ['columns +a,a overflow b,b @1']);
  const dyn = fillDyn([9, 9, 9], merge.contents.get('c')!, metricColumns(merge.columns));
  assert.deepEqual(dyn, [1, 'x']);
});

test('a metric group whose same scores left and joined did not change', () => {
  const g = mergeOf(recording().hooks).groupOf('2026-03-01', 'ann');
  const d = new MetricGroup(g, 'tone');
  d.added.push(3);
  d.removed.push(3);
  assert.equal(metricChanged(d), false);
  d.removed[0] = 2;
  assert.equal(metricChanged(d), true);
});
