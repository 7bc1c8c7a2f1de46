import { mergeContent, mergeMetricInto, type ContentFacts, type ContentState } from '../flatten/merge-content.js';
import type { Cell } from '../model/cells.js';
import { planNewColumns, type ColumnPlan, type DynamicColumn, type DynamicKey } from '../model/columns.js';
import { monthOfDay } from '../model/partition.js';
import { AgentGroup, LoadedContent, LoadedMetric, MetricGroup, micro, numeric, setCell } from './keyed-batch.js';

/*
 * The merge of one keyed batch, the same algorithm for both backends
 * (keyed-projection.ts on SQLite, pg/pg-keyed-projection.ts): each event
 * merged into the batch's in-memory state (keyed-batch.ts) in seq order, then
 * the net change of every daily group and the places in the months worked
 * out from that state. It never touches storage: what the two backends do
 * differently (SQLite reads a content the moment it is named and creates a
 * daily row the moment it is entered; PostgreSQL reads every content up
 * front and creates the rows at the end of the batch) comes in as hooks,
 * all synchronous, so SQLite's projector stays synchronous.
 */

/** The keyed views split by month. */
export const MONTH_VIEWS = ['contents', 'content_scores'] as const;
export type MonthView = (typeof MONTH_VIEWS)[number];

/** What a backend does where the merge needs storage. Called synchronously, in event order. */
export interface KeyedMergeHooks {
  /** The content as stored, the first time the batch names it (undefined: not stored). The merge keeps it for the batch. */
  load(contentId: string): LoadedContent | undefined;
  /** A daily group first entered in this batch at event `seq`: its row exists from that event on (SQLite creates it now when not stored; PostgreSQL lists it). */
  agentsEntered(g: AgentGroup, seq: number): void;
  /** As agentsEntered, for a (day, agent, metric) group. */
  metricEntered(mg: MetricGroup, seq: number): void;
  /** Event `seq` gave contents these metric columns (plan.added) or found no room for them (plan.overflow, MAX_DYNAMIC_COLUMNS). */
  columnsPlanned(plan: ColumnPlan, seq: number): void;
}

export interface KeyedMergeOptions {
  /** The day (in REPORT_TIMEZONE) of an instant as stored. */
  dayOf: (iso: string) => string;
  /** The first day RETENTION_DAYS keeps (undefined: none closed). */
  closedBefore: string | undefined;
  /** Contents' dynamic columns when the batch starts. */
  columns: readonly DynamicColumn[];
  /** MAX_DYNAMIC_COLUMNS. */
  maxColumns: number;
  /** The rids the batch's first new content and first new metric get (the tables' max + 1). */
  nextContentRid: number;
  nextMetricRid: number;
}

/** Where a metric's two columns of contents are (undefined: it has none, MAX_DYNAMIC_COLUMNS). */
export interface MetricColumns {
  score: number | undefined;
  justification: number | undefined;
}

/** The places a batch gives its new rows in their months (monthPlaces). */
export interface MonthPlaces {
  /** Each month's total after the new rows, by view (months in `resets` excluded: they are counted again). */
  totals: Record<MonthView, Map<string, number>>;
  /** Months a content left or joined, to number again by rid (both views), with the latest event that moved one. */
  resets: Map<string, number>;
}

const ascending = (rows: ReadonlyArray<{ rid: number }>): boolean => {
  for (let i = 1; i < rows.length; i++) if (rows[i]!.rid < rows[i - 1]!.rid) return false;
  return true;
};
const byRid = (a: { rid: number }, b: { rid: number }) => a.rid - b.rid;

/**
 * One batch's merge. Days are calendar days of `dayOf`; a day before
 * `closedBefore` is closed: RETENTION_DAYS deleted the calls and webhooks its
 * daily rows were summed from, so a change can no longer be applied to them
 * as a delta (nor their min/max read again), and a late webhook for a deleted
 * call would count it a second time.
 */
export class KeyedMerge {
  /** The contents the batch named, by content_id (a backend that reads them up front sets them here before merging). */
  readonly contents = new Map<string, LoadedContent>();
  /** Daily groups the batch touched, by day and agent (metrics inside). */
  private readonly groups = new Map<string, Map<string, AgentGroup>>();
  /** Contents' dynamic columns, with those this batch added. */
  columns: readonly DynamicColumn[];
  nextContentRid: number;
  nextMetricRid: number;
  readonly dayOf: (iso: string) => string;
  private readonly closedBefore: string | undefined;
  private readonly keptMonth: string | undefined;
  private readonly maxColumns: number;
  private readonly knownMetricColumns: Set<string>;
  private readonly overflowed = new Set<string>();

  constructor(
    private readonly hooks: KeyedMergeHooks,
    options: KeyedMergeOptions,
  ) {
    this.dayOf = options.dayOf;
    this.closedBefore = options.closedBefore;
    this.keptMonth = options.closedBefore === undefined ? undefined : monthOfDay(options.closedBefore);
    this.columns = options.columns;
    this.maxColumns = options.maxColumns;
    this.nextContentRid = options.nextContentRid;
    this.nextMetricRid = options.nextMetricRid;
    this.knownMetricColumns = new Set(options.columns.filter((c) => c.kind === 'metric_score').map((c) => c.key));
  }

  /** The day's daily rows can still change (not closed by RETENTION_DAYS). */
  open(day: string): boolean {
    return this.closedBefore === undefined || day >= this.closedBefore;
  }

  /**
   * A call's month: its first_received_at's, or the first kept month when
   * RETENTION_DAYS deleted that one (a call of a deleted month still active
   * was moved there: store/retention.ts, pg/pg-retention.ts); never a deleted month.
   */
  monthOf(iso: string): string {
    const month = monthOfDay(this.dayOf(iso));
    return this.keptMonth !== undefined && month < this.keptMonth ? this.keptMonth : month;
  }

  groupOf(day: string, agent: string): AgentGroup {
    let byAgent = this.groups.get(day);
    if (byAgent === undefined) this.groups.set(day, (byAgent = new Map()));
    let g = byAgent.get(agent);
    if (g === undefined) byAgent.set(agent, (g = new AgentGroup(day, agent)));
    return g;
  }

  metricGroupOf(g: AgentGroup, metric: string): MetricGroup {
    let mg = g.metrics.get(metric);
    if (mg === undefined) g.metrics.set(metric, (mg = new MetricGroup(g, metric)));
    return mg;
  }

  /** The metric's group within its content's group g: the one it last entered when that is g's (a move enters every metric anew). */
  private groupOfMetric(g: AgentGroup, m: LoadedMetric): MetricGroup {
    const mg = m.group;
    if (mg !== undefined && mg.parent === g) return mg;
    return (m.group = this.metricGroupOf(g, m.metric));
  }

  /** The content is in group (day, agent) after this event: the group's row exists from this event on (its position follows event order). */
  private enterAgents(day: string, agent: string, seq: number): AgentGroup | undefined {
    if (!this.open(day)) return undefined;
    const g = this.groupOf(day, agent);
    if (!g.known) {
      this.hooks.agentsEntered(g, seq);
      g.known = true;
    }
    g.seq = seq;
    return g;
  }

  private enterMetric(g: AgentGroup, m: LoadedMetric, seq: number): void {
    const mg = this.groupOfMetric(g, m);
    if (!mg.known) {
      this.hooks.metricEntered(mg, seq);
      mg.known = true;
    }
    mg.seq = seq;
  }

  /** New metrics get their pair of columns in contents, in the order they first appear (MAX_DYNAMIC_COLUMNS applies). */
  private planMetricColumns(facts: ContentFacts, seq: number): void {
    let unknown = false;
    for (const m of facts.metrics) {
      if ((m.score !== null || m.justification !== null) && !this.knownMetricColumns.has(m.metric) && !this.overflowed.has(m.metric)) {
        unknown = true;
        break;
      }
    }
    if (!unknown) return;
    const wanted: DynamicKey[] = [];
    for (const m of facts.metrics) {
      if (m.score === null && m.justification === null) continue;
      if (this.knownMetricColumns.has(m.metric) || this.overflowed.has(m.metric)) continue;
      wanted.push({ kind: 'metric_score', key: m.metric }, { kind: 'metric_justification', key: m.metric });
    }
    const plan = planNewColumns('contents', this.columns, wanted, this.maxColumns);
    for (const c of plan.added) if (c.kind === 'metric_score') this.knownMetricColumns.add(c.key);
    for (const k of plan.overflow) this.overflowed.add(k.key);
    this.columns = [...this.columns, ...plan.added];
    this.hooks.columnsPlanned(plan, seq);
  }

  /** Merges one call's or document's facts (in seq order). */
  apply(facts: ContentFacts, seq: number, receivedAt: string): void {
    this.planMetricColumns(facts, seq);
    let c = this.contents.get(facts.contentId);
    if (c === undefined) {
      c = this.hooks.load(facts.contentId) ?? new LoadedContent(this.nextContentRid++, undefined, 0, undefined, undefined, new Map(), seq, true);
      this.contents.set(facts.contentId, c);
    }
    const before = c.state;
    const after = mergeContent(before, facts, receivedAt);
    const day = this.dayOf(after.scored_at);
    const agent = after.agent_name ?? '';
    // agent or scored_at changed: every metric row carries them.
    const moved = before !== undefined && (before.agent_name !== after.agent_name || before.scored_at !== after.scored_at);
    if (before) {
      const oldDay = this.dayOf(before.scored_at);
      const oldAgent = before.agent_name ?? '';
      if ((oldDay !== day || oldAgent !== agent) && this.open(oldDay)) {
        // A group the content left in this event: its row changes (its seq is this event's; it exists: the content was in it).
        const left = this.groupOf(oldDay, oldAgent);
        left.known = true;
        left.seq = seq;
        for (const m of c.metrics.values()) {
          const mg = this.groupOfMetric(left, m);
          mg.known = true;
          mg.seq = seq;
        }
      }
    }
    c.state = after;
    c.dirty = true;
    c.changedSeq = seq;
    if (moved) {
      for (const m of c.metrics.values()) {
        m.dirty = true;
        m.changedSeq = seq;
      }
    }
    const g = this.enterAgents(day, agent, seq);
    c.day = day;
    c.group = g;
    for (const m of facts.metrics) {
      const prev = c.metrics.get(m.metric);
      if (prev) {
        if (!mergeMetricInto(prev, m, receivedAt)) continue;
        prev.dirty = true;
        prev.changedSeq = seq;
      } else if (m.score !== null || m.justification !== null) {
        // As mergeMetric gives it for a first value.
        c.metrics.set(m.metric, new LoadedMetric(m.metric, m.score, m.justification, receivedAt, this.nextMetricRid++, 0, seq, true, undefined, false));
      }
    }
    if (g === undefined) return;
    // A move takes every metric of the content to its new group; otherwise the metrics this webhook carried.
    if (moved || before === undefined) {
      for (const m of c.metrics.values()) this.enterMetric(g, m, seq);
    } else {
      for (const f of facts.metrics) {
        const m = c.metrics.get(f.metric);
        if (m !== undefined) this.enterMetric(g, m, seq);
      }
    }
  }

  /**
   * Net changes of the daily rows: what the rows held at load leaves, what
   * the batch ends with joins (in each group's counters, `inDelta` set).
   * Groups listed in the order the contents first reach them (their scores
   * too: see metricChanged).
   */
  deltas(): { agents: AgentGroup[]; metrics: MetricGroup[] } {
    const agents: AgentGroup[] = [];
    const metrics: MetricGroup[] = [];
    /** `group`: the state's group when known (a content's current one, see apply). */
    const addContent = (s: ContentState, sign: 1 | -1, group?: AgentGroup): AgentGroup | undefined => {
      let d = group;
      if (d === undefined) {
        const day = this.dayOf(s.scored_at);
        if (!this.open(day)) return undefined;
        d = this.groupOf(day, s.agent_name ?? '');
      }
      if (!d.inDelta) {
        d.inDelta = true;
        agents.push(d);
      }
      d.contents += sign;
      d.completed += s.completed ? sign : 0;
      d.red_flags += s.red_flag ? sign : 0;
      d.low_scores += s.low_score ? sign : 0;
      const t = numeric(s.total_score);
      if (t !== undefined) {
        d.sum += sign * micro(t);
        d.n += sign;
      }
      return d;
    };
    const addMetric = (d: MetricGroup, score: Cell, sign: 1 | -1) => {
      if (!d.inDelta) {
        d.inDelta = true;
        metrics.push(d);
      }
      d.contents += sign;
      const v = numeric(score);
      if (v === undefined) return;
      d.sum += sign * micro(v);
      d.n += sign;
      (sign > 0 ? d.added : d.removed).push(v);
    };
    for (const c of this.contents.values()) {
      if (!c.dirty) continue;
      const was = c.atLoad ? addContent(c.atLoad, -1) : undefined;
      const is = addContent(c.state!, 1, c.group);
      for (const m of c.metrics.values()) {
        if (was !== undefined && m.existedAtLoad) addMetric(this.metricGroupOf(was, m.metric), m.scoreAtLoad ?? null, -1);
        if (is !== undefined) addMetric(this.groupOfMetric(is, m), m.score, 1);
      }
    }
    return { agents, metrics };
  }

  /**
   * Places in the months (see migration 5): sets each changed content's
   * month (`part`, its new metrics' too); a new row comes at the end of its
   * month (new rows have the highest rids, so that is its rank); a content
   * whose month changed renumbers both months of both views (after the rows
   * are written, by the backend). `storedTotal`: a month's total as stored.
   * Runs before the rows are written, so each row is written once with its place.
   */
  monthPlaces(storedTotal: (view: MonthView, part: string) => number | undefined): MonthPlaces {
    const totals: Record<MonthView, Map<string, number>> = { contents: new Map(), content_scores: new Map() };
    const resets = new Map<string, number>();
    /** Rows new in the batch, in rid order, get the next places of their months. */
    const number = (view: MonthView, rows: ReadonlyArray<{ part: string; partPos: number }>) => {
      let part: string | undefined;
      let n = 0;
      for (const r of rows) {
        if (r.part !== part) {
          if (part !== undefined) totals[view].set(part, n);
          part = r.part;
          n = totals[view].get(part) ?? storedTotal(view, part) ?? 0;
        }
        r.partPos = ++n;
      }
      if (part !== undefined) totals[view].set(part, n);
    };
    const reset = (part: string, seq: number) => resets.set(part, Math.max(resets.get(part) ?? 0, seq));
    const fresh: LoadedContent[] = [];
    const freshMetrics: LoadedMetric[] = [];
    for (const c of this.contents.values()) {
      if (!c.dirty) continue;
      const part = this.monthOf(c.state!.first_received_at);
      c.part = part;
      if (c.partAtLoad === undefined) fresh.push(c);
      else if (c.partAtLoad !== part) {
        reset(c.partAtLoad, c.changedSeq);
        reset(part, c.changedSeq);
      }
      for (const m of c.metrics.values()) {
        if (m.existedAtLoad) continue;
        m.part = part;
        freshMetrics.push(m);
      }
    }
    // In rid order: the order a replay in other batch sizes gives them too.
    if (!ascending(fresh)) fresh.sort(byRid);
    number('contents', fresh);
    if (!ascending(freshMetrics)) freshMetrics.sort(byRid);
    number('content_scores', freshMetrics);
    for (const part of resets.keys()) for (const view of MONTH_VIEWS) totals[view].delete(part);
    return { totals, resets };
  }
}

/** The position of each metric's two columns in contents' dyn, from the registry as it is at flush. */
export function metricColumns(registry: readonly DynamicColumn[]): Map<string, MetricColumns> {
  const cols = new Map<string, MetricColumns>();
  for (const col of registry) {
    if (col.kind !== 'metric_score' && col.kind !== 'metric_justification') continue;
    let mc = cols.get(col.key);
    if (mc === undefined) cols.set(col.key, (mc = { score: undefined, justification: undefined }));
    if (col.kind === 'metric_score') mc.score = col.position;
    else mc.justification = col.position;
  }
  return cols;
}

/** A content's dyn into `dyn` (emptied first): its metrics' cells in their columns, null in the columns of metrics it has not. */
export function fillDyn(dyn: Cell[], c: LoadedContent, columns: ReadonlyMap<string, MetricColumns>): Cell[] {
  dyn.length = 0;
  for (const m of c.metrics.values()) {
    const mc = columns.get(m.metric);
    if (mc === undefined) continue;
    if (mc.score !== undefined) setCell(dyn, mc.score, m.score);
    if (mc.justification !== undefined) setCell(dyn, mc.justification, m.justification);
  }
  return dyn;
}

/** The group's net change (deltas) moves its row. */
export const agentsChanged = (d: AgentGroup): boolean => d.contents !== 0 || d.completed !== 0 || d.red_flags !== 0 || d.low_scores !== 0 || d.sum !== 0 || d.n !== 0;

/** The group's net change moves its row: not when the same scores left and joined in the same order (a content that changed nothing here). */
export const metricChanged = (d: MetricGroup): boolean =>
  !(d.contents === 0 && d.n === 0 && d.sum === 0 && d.added.length === d.removed.length && d.added.every((v, i) => v === d.removed[i]));

/**
 * A changed metric group's min/max from its row's (`lo`, `hi`, over `nWas`
 * scores) and the batch's net change: moved towards the scores that joined,
 * or undefined when they must be read again from the rows (a score that left
 * may have been an extreme; or none is left).
 */
export function movedExtremes(d: MetricGroup, lo: number | null, hi: number | null, nWas: number): { lo: number | null; hi: number | null } | undefined {
  if (d.removed.some((v) => v === lo || v === hi) || nWas + d.n === 0) return undefined;
  for (const v of d.added) {
    lo = lo === null || v < lo ? v : lo;
    hi = hi === null || v > hi ? v : hi;
  }
  return { lo, hi };
}
