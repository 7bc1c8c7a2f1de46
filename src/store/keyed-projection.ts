import type { Statement } from 'better-sqlite3';
import { contentFacts, mergeContent, mergeMetric, type ContentState, type MetricState } from '../flatten/merge-content.js';
import type { FlatEvent } from '../flatten/flatten-payload.js';
import type { Cell } from '../model/cells.js';
import { dynamicKey, planNewColumns, type ColumnRegistry, type DynamicColumn, type DynamicKey } from '../model/columns.js';
import { monthOfDay } from '../model/partition.js';
import { dayFormatter } from '../model/time.js';
import type { Db } from './open-db.js';

/** A content as loaded for one batch: its state, its metrics, and what the batch changed. */
interface LoadedContent {
  rid: number;
  /** Its month and place there as stored (undefined: new in this batch). */
  partAtLoad: string | undefined;
  partPos: number;
  state: ContentState;
  /** Its state when the batch loaded it (undefined: new in this batch): the daily rows hold that contribution. */
  atLoad: ContentState | undefined;
  metrics: Map<string, LoadedMetric>;
  changedSeq: number;
  dirty: boolean;
}

interface LoadedMetric extends MetricState {
  rid: number;
  /** Its place in its content's month as stored (0: new in this batch). */
  partPos: number;
  changedSeq: number;
  dirty: boolean;
  /** The score the daily rows hold for it (undefined: the metric is new in this batch). */
  scoreAtLoad: Cell | undefined;
  existedAtLoad: boolean;
}

/** A content_rows row as SQLite gives it: the state with its booleans as 0/1. */
type ContentRow = Omit<ContentState, 'completed' | 'red_flag' | 'low_score' | 'vendor_time'> & {
  rid: number;
  completed: number;
  red_flag: number;
  low_score: number;
  vendor_time: number;
  changed_seq: number;
  part: string;
  part_pos: number;
};

const SEP = '\u0000';
const KEYED_TABLES = ['content_rows', 'content_score_rows', 'daily_agent_rows', 'daily_metric_rows', 'keyed_parts'] as const;
/** The keyed views split by month, and their tables. */
const MONTH_TABLES = { contents: 'content_rows', content_scores: 'content_score_rows' } as const;
type MonthView = keyof typeof MONTH_TABLES;
const groupKey = (...parts: string[]) => parts.join(SEP);
const agentKey = (name: string | null) => name ?? '';

/**
 * A number as exact millionths, so that sums kept by adding and subtracting
 * never drift and a rebuild in other batch sizes gives the same averages.
 * Scores have a few decimals at most; finer digits are rounded.
 */
const micro = (v: number) => Math.round(v * 1_000_000);
/** Past this, millionths are no longer exact integers (2^53): such a number is no score and is not averaged. */
const MAX_AVERAGED = 1e9;
const numeric = (c: Cell): number | undefined => (typeof c === 'number' && Math.abs(c) <= MAX_AVERAGED ? c : undefined);

interface AgentDelta {
  day: string;
  agent: string;
  seq: number;
  contents: number;
  completed: number;
  red_flags: number;
  low_scores: number;
  sum: number;
  n: number;
}
interface MetricDelta {
  day: string;
  agent: string;
  metric: string;
  seq: number;
  contents: number;
  sum: number;
  n: number;
  /** Scores that joined the group (min/max move towards them). */
  added: number[];
  /** A score left the group: its min/max are read again from the rows. */
  removed: number[];
}

/**
 * The keyed views (contents, content_scores, daily_agents, daily_metrics),
 * maintained incrementally as the projector goes through the log in seq order:
 * a batch loads the contents its events touch, merges each event in memory
 * (flatten/merge-content.ts, pure), writes each touched content and metric
 * once, then recomputes each daily group it touched from the rows (exact
 * aggregates, no running sums to drift). Every row keeps its position (rid)
 * for life, given when its key first appears, and the seq of the last event
 * that changed it (changed_seq): delivery by key reads the rows changed since
 * a target's cursor. Replaying the log gives the same rows and positions
 * whatever the batch sizes. A daily group that a content leaves keeps its row
 * (with 0 contents): rows never disappear, so positions never shift.
 *
 * Days are calendar days in `zone` (REPORT_TIMEZONE).
 */
export function createKeyedProjection(db: Db, zone: () => string) {
  const contentById = db.prepare<[string], ContentRow>(
    `SELECT rid, content_id, content_type, file_name, agent_name, scored_at, first_received_at, last_received_at, webhooks, completed, red_flag, low_score,
            total_score, total_score_threshold, red_flag_reason, summary, vendor_time, changed_seq, part, part_pos FROM content_rows WHERE content_id = ?`,
  );
  const metricsOf = db.prepare<[number], MetricState & { rid: number; changed_seq: number; part_pos: number }>(
    'SELECT rid, metric, score, justification, updated_at, changed_seq, part_pos FROM content_score_rows WHERE content_rid = ? ORDER BY rid',
  );
  const maxRid = (table: string) => db.prepare<[], number>(`SELECT coalesce(max(rid), 0) FROM ${table}`).pluck();
  const maxContentRid = maxRid('content_rows');
  const maxMetricRid = maxRid('content_score_rows');
  const maxDailyAgentRid = maxRid('daily_agent_rows');
  const maxDailyMetricRid = maxRid('daily_metric_rows');
  const upsertContent = db.prepare<unknown[]>(
    `INSERT INTO content_rows (rid, content_id, content_type, file_name, agent_name, scored_at, first_received_at, last_received_at, webhooks, completed, red_flag, low_score,
       total_score, total_score_threshold, red_flag_reason, summary, dyn, vendor_time, agent_key, day, changed_seq, part, part_pos)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (rid) DO UPDATE SET content_type = excluded.content_type, file_name = excluded.file_name, agent_name = excluded.agent_name, scored_at = excluded.scored_at,
       first_received_at = excluded.first_received_at, last_received_at = excluded.last_received_at, webhooks = excluded.webhooks, completed = excluded.completed,
       red_flag = excluded.red_flag, low_score = excluded.low_score, total_score = excluded.total_score, total_score_threshold = excluded.total_score_threshold,
       red_flag_reason = excluded.red_flag_reason, summary = excluded.summary, dyn = excluded.dyn, vendor_time = excluded.vendor_time, agent_key = excluded.agent_key,
       day = excluded.day, changed_seq = excluded.changed_seq, part = excluded.part, part_pos = excluded.part_pos`,
  );
  const upsertMetric = db.prepare<unknown[]>(
    `INSERT INTO content_score_rows (rid, content_rid, content_id, metric, agent_name, scored_at, score, justification, updated_at, changed_seq, part, part_pos)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (rid) DO UPDATE SET agent_name = excluded.agent_name, scored_at = excluded.scored_at, score = excluded.score, justification = excluded.justification,
       updated_at = excluded.updated_at, changed_seq = excluded.changed_seq, part = excluded.part, part_pos = excluded.part_pos`,
  );
  const movePartOfMetrics = db.prepare<[string, number]>('UPDATE content_score_rows SET part = ?, part_pos = 0 WHERE content_rid = ?');
  const partTotal = db.prepare<[string, string], number>('SELECT total FROM keyed_parts WHERE view = ? AND part = ?').pluck();
  const setPart = db.prepare<[string, string, number, number]>(
    'INSERT INTO keyed_parts (view, part, total, reset_seq) VALUES (?, ?, ?, ?) ON CONFLICT (view, part) DO UPDATE SET total = excluded.total, reset_seq = max(reset_seq, excluded.reset_seq)',
  );
  const renumber = Object.fromEntries(
    Object.entries(MONTH_TABLES).map(([view, table]) => [
      view,
      {
        // The rows of the month in rid order get places 1..n; returns nothing, count read after.
        run: db.prepare<[string]>(`UPDATE ${table} SET part_pos = r.pos FROM (SELECT rid, row_number() OVER (ORDER BY rid) AS pos FROM ${table} WHERE part = ?) AS r WHERE ${table}.rid = r.rid`),
        count: db.prepare<[string], number>(`SELECT count(*) FROM ${table} WHERE part = ?`).pluck(),
      },
    ]),
  ) as Record<MonthView, { run: Statement<[string]>; count: Statement<[string], number> }>;
  const findDailyAgent = db.prepare<[string, string], { rid: number }>('SELECT rid FROM daily_agent_rows WHERE day = ? AND agent_key = ?');
  const insertDailyAgent = db.prepare<[number, string, string, number]>(
    'INSERT INTO daily_agent_rows (rid, day, agent_key, contents, completed, red_flags, low_scores, avg_total_score, sum_total, n_total, changed_seq) VALUES (?, ?, ?, 0, 0, 0, 0, NULL, 0, 0, ?)',
  );
  const findDailyMetric = db.prepare<[string, string, string], { rid: number }>('SELECT rid FROM daily_metric_rows WHERE day = ? AND agent_key = ? AND metric = ?');
  const insertDailyMetric = db.prepare<[number, string, string, string, number]>(
    'INSERT INTO daily_metric_rows (rid, day, agent_key, metric, contents, avg_score, min_score, max_score, sum_score, n_score, changed_seq) VALUES (?, ?, ?, ?, 0, NULL, NULL, NULL, 0, 0, ?)',
  );
  const applyAgents = db.prepare<[Omit<AgentDelta, 'agent'> & { agent_key: string }]>(
    `UPDATE daily_agent_rows SET contents = contents + @contents, completed = completed + @completed, red_flags = red_flags + @red_flags, low_scores = low_scores + @low_scores,
       sum_total = sum_total + @sum, n_total = n_total + @n,
       avg_total_score = CASE WHEN n_total + @n > 0 THEN (sum_total + @sum) / 1000000.0 / (n_total + @n) END, changed_seq = @seq
     WHERE day = @day AND agent_key = @agent_key`,
  );
  const getMetricGroup = db.prepare<[string, string, string], { min_score: number | null; max_score: number | null; n_score: number }>(
    'SELECT min_score, max_score, n_score FROM daily_metric_rows WHERE day = ? AND agent_key = ? AND metric = ?',
  );
  const extremes = db.prepare<[string, string, string], { lo: number | null; hi: number | null }>(
    `SELECT min(s.score) AS lo, max(s.score) AS hi FROM content_rows c JOIN content_score_rows s ON s.content_rid = c.rid AND s.metric = ?
     WHERE c.day = ? AND c.agent_key = ? AND typeof(s.score) IN ('integer', 'real') AND abs(s.score) <= ${MAX_AVERAGED}`,
  );
  const applyMetrics = db.prepare<[Record<string, unknown>]>(
    `UPDATE daily_metric_rows SET contents = contents + @contents, sum_score = sum_score + @sum, n_score = n_score + @n,
       avg_score = CASE WHEN n_score + @n > 0 THEN (sum_score + @sum) / 1000000.0 / (n_score + @n) END, min_score = @lo, max_score = @hi, changed_seq = @seq
     WHERE day = @day AND agent_key = @agent_key AND metric = @metric`,
  );
  const insertColumn = db.prepare<[string, number, string, string, string, number]>('INSERT INTO view_columns (view, position, name, kind, key, added_seq) VALUES (?, ?, ?, ?, ?, ?)');
  const insertOverflow = db.prepare<[string, string, string, number]>('INSERT OR IGNORE INTO column_overflow (view, kind, key, first_seq) VALUES (?, ?, ?, ?)');
  const clearOverflow = db.prepare<[string, string, string]>('DELETE FROM column_overflow WHERE view = ? AND kind = ? AND key = ?');
  // RETENTION_DAYS (migration 7): days before the oldest kept day are closed.
  const keptFromDay = db.prepare<[], string | null>('SELECT kept_from_day FROM retention_state WHERE id = 1').pluck();

  /** One batch: call `apply` per event in seq order inside the batch's transaction, then `flush` before it commits. */
  function batch(registry: ColumnRegistry, maxColumns: number) {
    const dayIn = dayFormatter(zone());
    /**
     * A closed day's daily rows stay as they are: RETENTION_DAYS deleted the
     * calls and webhooks they were summed from, so a change can no longer be
     * applied to them as a delta (nor their min/max read again), and a late
     * webhook for a deleted call would count it a second time.
     */
    const closedBefore = keptFromDay.get() ?? undefined;
    const open = (day: string): boolean => closedBefore === undefined || day >= closedBefore;
    // A call's month is its first_received_at's, or the first kept month when RETENTION_DAYS deleted that one (a call
    // of a deleted month still active was moved there: store/retention.ts); never a deleted month.
    const keptMonth = closedBefore === undefined ? undefined : monthOfDay(closedBefore);
    const monthOf = (iso: string): string => {
      const month = monthOfDay(dayOf(iso));
      return keptMonth !== undefined && month < keptMonth ? keptMonth : month;
    };
    const days = new Map<string, string>();
    const dayOf = (iso: string): string => {
      let d = days.get(iso);
      if (d === undefined) {
        d = dayIn(iso) ?? iso.slice(0, 10);
        days.set(iso, d);
      }
      return d;
    };
    const contents = new Map<string, LoadedContent>();
    let nextContentRid = maxContentRid.get()! + 1;
    let nextMetricRid = maxMetricRid.get()! + 1;
    let nextDailyAgentRid = maxDailyAgentRid.get()! + 1;
    let nextDailyMetricRid = maxDailyMetricRid.get()! + 1;
    /** Daily groups the batch put a content in, and the seq of the latest event that did: their rows exist from then on. */
    const agentGroups = new Map<string, number>();
    const metricGroups = new Map<string, number>();
    const knownMetricColumns = new Set(registry.contents.filter((c) => c.kind === 'metric_score').map((c) => c.key));
    const overflowed = new Set<string>();

    function load(contentId: string): LoadedContent | undefined {
      const cached = contents.get(contentId);
      if (cached) return cached;
      const row = contentById.get(contentId);
      if (!row) return undefined;
      const state: ContentState = {
        content_id: row.content_id,
        content_type: row.content_type,
        file_name: row.file_name,
        agent_name: row.agent_name,
        scored_at: row.scored_at,
        first_received_at: row.first_received_at,
        last_received_at: row.last_received_at,
        webhooks: row.webhooks,
        completed: row.completed === 1,
        red_flag: row.red_flag === 1,
        low_score: row.low_score === 1,
        total_score: row.total_score,
        total_score_threshold: row.total_score_threshold,
        red_flag_reason: row.red_flag_reason,
        summary: row.summary,
        vendor_time: row.vendor_time === 1,
      };
      const metrics = new Map(
        metricsOf.all(row.rid).map((m): [string, LoadedMetric] => [
          m.metric,
          { metric: m.metric, score: m.score, justification: m.justification, updated_at: m.updated_at, rid: m.rid, partPos: m.part_pos, changedSeq: m.changed_seq, dirty: false, scoreAtLoad: m.score, existedAtLoad: true },
        ]),
      );
      const loaded: LoadedContent = { rid: row.rid, partAtLoad: row.part, partPos: row.part_pos, state, atLoad: state, metrics, changedSeq: row.changed_seq, dirty: false };
      contents.set(contentId, loaded);
      return loaded;
    }

    /** The content is in group (day, agent) after this event: the group's row exists from this event on (its position follows event order). */
    function enterAgents(day: string, agent: string, seq: number): void {
      if (!open(day)) return;
      const k = groupKey(day, agent);
      if (!agentGroups.has(k) && !findDailyAgent.get(day, agent)) insertDailyAgent.run(nextDailyAgentRid++, day, agent, seq);
      agentGroups.set(k, seq);
    }
    function enterMetric(day: string, agent: string, metric: string, seq: number): void {
      if (!open(day)) return;
      const k = groupKey(day, agent, metric);
      if (!metricGroups.has(k) && !findDailyMetric.get(day, agent, metric)) insertDailyMetric.run(nextDailyMetricRid++, day, agent, metric, seq);
      metricGroups.set(k, seq);
    }
    /** A group the content left in this event: its row changes (its seq is this event's) even if no row is created. */
    const leave = (groups: Map<string, number>, k: string, seq: number) => groups.set(k, seq);

    /** New metrics get their pair of columns in contents, in the order they first appear (MAX_DYNAMIC_COLUMNS applies). */
    function planMetricColumns(metrics: readonly string[], seq: number): void {
      const wanted: DynamicKey[] = [];
      for (const m of metrics) {
        if (knownMetricColumns.has(m) || overflowed.has(m)) continue;
        wanted.push({ kind: 'metric_score', key: m }, { kind: 'metric_justification', key: m });
      }
      if (wanted.length === 0) return;
      const plan = planNewColumns('contents', registry.contents, wanted, maxColumns);
      for (const c of plan.added) {
        insertColumn.run('contents', c.position, c.name, c.kind, c.key, seq);
        clearOverflow.run('contents', c.kind, c.key);
        if (c.kind === 'metric_score') knownMetricColumns.add(c.key);
      }
      for (const k of plan.overflow) {
        insertOverflow.run('contents', k.kind, k.key, seq);
        overflowed.add(k.key);
      }
      registry.contents = [...registry.contents, ...plan.added];
    }

    /** Net changes of the daily rows: what the rows held at load leaves, what the batch ends with joins. */
    function deltas() {
      const agents = new Map<string, AgentDelta>();
      const metrics = new Map<string, MetricDelta>();
      const agentDelta = (day: string, agent: string) => {
        const k = groupKey(day, agent);
        let d = agents.get(k);
        if (!d) agents.set(k, (d = { day, agent, seq: agentGroups.get(k) ?? 0, contents: 0, completed: 0, red_flags: 0, low_scores: 0, sum: 0, n: 0 }));
        return d;
      };
      const metricDelta = (day: string, agent: string, metric: string) => {
        const k = groupKey(day, agent, metric);
        let d = metrics.get(k);
        if (!d) metrics.set(k, (d = { day, agent, metric, seq: metricGroups.get(k) ?? 0, contents: 0, sum: 0, n: 0, added: [], removed: [] }));
        return d;
      };
      const addContent = (s: ContentState, sign: 1 | -1) => {
        const day = dayOf(s.scored_at);
        if (!open(day)) return;
        const d = agentDelta(day, agentKey(s.agent_name));
        d.contents += sign;
        d.completed += s.completed ? sign : 0;
        d.red_flags += s.red_flag ? sign : 0;
        d.low_scores += s.low_score ? sign : 0;
        const t = numeric(s.total_score);
        if (t !== undefined) {
          d.sum += sign * micro(t);
          d.n += sign;
        }
      };
      const addMetric = (s: ContentState, metric: string, score: Cell, sign: 1 | -1) => {
        const day = dayOf(s.scored_at);
        if (!open(day)) return;
        const d = metricDelta(day, agentKey(s.agent_name), metric);
        d.contents += sign;
        const v = numeric(score);
        if (v === undefined) return;
        d.sum += sign * micro(v);
        d.n += sign;
        (sign > 0 ? d.added : d.removed).push(v);
      };
      for (const c of contents.values()) {
        if (!c.dirty) continue;
        if (c.atLoad) addContent(c.atLoad, -1);
        addContent(c.state, 1);
        for (const m of c.metrics.values()) {
          if (m.existedAtLoad && c.atLoad) addMetric(c.atLoad, m.metric, m.scoreAtLoad ?? null, -1);
          addMetric(c.state, m.metric, m.score, 1);
        }
      }
      return { agents, metrics };
    }

    /**
     * Places in the months (see migration 5): a new row comes at the end of its
     * month (new rows have the highest rids, so that is its rank); a content
     * whose month changed renumbers both months of both views. Runs before the
     * rows are written, so each row is written once with its place.
     */
    function monthPlaces() {
      const totals = new Map<string, number>();
      const resets = new Map<string, number>();
      const k = (view: MonthView, part: string) => groupKey(view, part);
      const next = (view: MonthView, part: string): number => {
        const key = k(view, part);
        const n = (totals.get(key) ?? partTotal.get(view, part) ?? 0) + 1;
        totals.set(key, n);
        return n;
      };
      const reset = (part: string, seq: number) => {
        for (const view of Object.keys(MONTH_TABLES) as MonthView[]) resets.set(k(view, part), Math.max(resets.get(k(view, part)) ?? 0, seq));
      };
      const fresh: LoadedContent[] = [];
      const freshMetrics: { m: LoadedMetric; part: string }[] = [];
      for (const c of contents.values()) {
        if (!c.dirty) continue;
        const part = monthOf(c.state.first_received_at);
        if (c.partAtLoad === undefined) fresh.push(c);
        else if (c.partAtLoad !== part) {
          reset(c.partAtLoad, c.changedSeq);
          reset(part, c.changedSeq);
        }
        for (const m of c.metrics.values()) if (!m.existedAtLoad) freshMetrics.push({ m, part });
      }
      // In rid order: the order a replay in other batch sizes gives them too.
      fresh.sort((a, b) => a.rid - b.rid);
      for (const c of fresh) c.partPos = next('contents', monthOf(c.state.first_received_at));
      freshMetrics.sort((a, b) => a.m.rid - b.m.rid);
      for (const { m, part } of freshMetrics) m.partPos = next('content_scores', part);
      return {
        /** After the rows are written: months that a row left or joined are numbered again by rid; totals kept. */
        renumber(): void {
          for (const [key, seq] of resets) {
            const [view, part] = key.split(SEP) as [MonthView, string];
            renumber[view].run.run(part);
            setPart.run(view, part, renumber[view].count.get(part)!, seq);
            totals.delete(key);
          }
          for (const [key, total] of totals) {
            const [view, part] = key.split(SEP) as [MonthView, string];
            setPart.run(view, part, total, 0);
          }
        },
      };
    }

    return {
      /** Merges one event (already written to the append-only views); a no-op for workflows. */
      apply(flat: FlatEvent, seq: number, receivedAt: string): void {
        const facts = contentFacts(flat);
        if (!facts) return;
        planMetricColumns(
          facts.metrics.filter((m) => m.score !== null || m.justification !== null).map((m) => m.metric),
          seq,
        );
        let c = load(facts.contentId);
        if (!c) {
          c = { rid: nextContentRid++, partAtLoad: undefined, partPos: 0, state: undefined as unknown as ContentState, atLoad: undefined, metrics: new Map(), changedSeq: seq, dirty: true };
          contents.set(facts.contentId, c);
        }
        const before = c.state as ContentState | undefined;
        const after = mergeContent(before, facts, receivedAt);
        const day = dayOf(after.scored_at);
        const agent = agentKey(after.agent_name);
        // agent or scored_at changed: every metric row carries them.
        const moved = before !== undefined && (before.agent_name !== after.agent_name || before.scored_at !== after.scored_at);
        if (before) {
          const oldDay = dayOf(before.scored_at);
          const oldAgent = agentKey(before.agent_name);
          if ((oldDay !== day || oldAgent !== agent) && open(oldDay)) {
            leave(agentGroups, groupKey(oldDay, oldAgent), seq);
            for (const m of c.metrics.keys()) leave(metricGroups, groupKey(oldDay, oldAgent, m), seq);
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
        enterAgents(day, agent, seq);
        for (const m of facts.metrics) {
          const prev = c.metrics.get(m.metric);
          const merged = mergeMetric(prev, m, receivedAt);
          if (!merged) continue;
          if (prev) Object.assign(prev, merged, { dirty: true, changedSeq: seq });
          else c.metrics.set(m.metric, { ...merged, rid: nextMetricRid++, partPos: 0, changedSeq: seq, dirty: true, scoreAtLoad: undefined, existedAtLoad: false });
        }
        // A move takes every metric of the content to its new group; otherwise the metrics this webhook carried.
        const entered = moved || before === undefined ? [...c.metrics.keys()] : facts.metrics.map((m) => m.metric).filter((m) => c.metrics.has(m));
        for (const m of entered) enterMetric(day, agent, m, seq);
      },

      /** Writes what the batch changed, then moves the daily rows by the net change (exact sums; min/max read again only when an extreme left). */
      flush(): void {
        const places = monthPlaces();
        const positions = new Map(registry.contents.map((col: DynamicColumn) => [dynamicKey(col.kind, col.key), col.position]));
        const width = registry.contents.reduce((max, col) => Math.max(max, col.position + 1), 0);
        for (const c of contents.values()) {
          if (!c.dirty) continue;
          const s = c.state;
          const day = dayOf(s.scored_at);
          const agent = agentKey(s.agent_name);
          const dyn: Cell[] = [];
          for (const m of c.metrics.values()) {
            const ps = positions.get(dynamicKey('metric_score', m.metric));
            const pj = positions.get(dynamicKey('metric_justification', m.metric));
            if (ps !== undefined) dyn[ps] = m.score;
            if (pj !== undefined) dyn[pj] = m.justification;
          }
          for (let i = 0; i < Math.min(width, dyn.length); i++) dyn[i] ??= null;
          const part = monthOf(s.first_received_at);
          upsertContent.run(c.rid, s.content_id, s.content_type, s.file_name, s.agent_name, s.scored_at, s.first_received_at, s.last_received_at, s.webhooks, s.completed ? 1 : 0, s.red_flag ? 1 : 0, s.low_score ? 1 : 0, s.total_score, s.total_score_threshold, s.red_flag_reason, s.summary, JSON.stringify(dyn), s.vendor_time ? 1 : 0, agent, day, c.changedSeq, part, c.partPos);
          // Its metric rows go with it to its new month (their places are given again below).
          if (c.partAtLoad !== undefined && c.partAtLoad !== part) movePartOfMetrics.run(part, c.rid);
          for (const m of c.metrics.values()) {
            if (!m.dirty) continue;
            upsertMetric.run(m.rid, c.rid, s.content_id, m.metric, s.agent_name, s.scored_at, m.score, m.justification, m.updated_at, m.changedSeq, part, m.partPos);
          }
        }
        places.renumber();
        const { agents, metrics } = deltas();
        for (const d of agents.values()) {
          const changed = d.contents !== 0 || d.completed !== 0 || d.red_flags !== 0 || d.low_scores !== 0 || d.sum !== 0 || d.n !== 0;
          if (changed) applyAgents.run({ day: d.day, agent_key: d.agent, seq: d.seq, contents: d.contents, completed: d.completed, red_flags: d.red_flags, low_scores: d.low_scores, sum: d.sum, n: d.n });
        }
        for (const d of metrics.values()) {
          if (d.contents === 0 && d.n === 0 && d.sum === 0 && d.added.length === d.removed.length && d.added.every((v, i) => v === d.removed[i])) continue;
          const was = getMetricGroup.get(d.day, d.agent, d.metric)!;
          let lo = was.min_score;
          let hi = was.max_score;
          // A score that left may have been the extreme: read the extremes again from the rows (already written above).
          const extremeLeft = d.removed.some((v) => v === lo || v === hi);
          if (extremeLeft || was.n_score + d.n === 0) {
            const e = extremes.get(d.metric, d.day, d.agent)!;
            lo = e.lo;
            hi = e.hi;
          } else {
            for (const v of d.added) {
              lo = lo === null || v < lo ? v : lo;
              hi = hi === null || v > hi ? v : hi;
            }
          }
          applyMetrics.run({ day: d.day, agent_key: d.agent, metric: d.metric, seq: d.seq, contents: d.contents, sum: d.sum, n: d.n, lo, hi });
        }
      },
    };
  }

  return {
    batch,
    /**
     * Drops the keyed rows to derive them again (rebuild, a new zone);
     * positions start again from 1. The daily rows of closed days
     * (RETENTION_DAYS) are kept, renumbered 1..n in their order, and the new
     * derivation's rows come after them: the raw log no longer holds what
     * they were summed from. Returns true once retention has run: the rows
     * then differ from the last derivation's (closed rows first, webhooks of
     * open days deleted, calls moved), so the targets write them whole (a new
     * keyed generation, see create-store); false when they come out the same.
     */
    wipe(): boolean {
      const closed = keptFromDay.get();
      if (closed === null || closed === undefined) {
        for (const t of KEYED_TABLES) db.prepare(`DELETE FROM ${t}`).run();
        return false;
      }
      for (const t of ['content_rows', 'content_score_rows', 'keyed_parts']) db.prepare(`DELETE FROM ${t}`).run();
      for (const t of ['daily_agent_rows', 'daily_metric_rows']) {
        db.prepare(`DELETE FROM ${t} WHERE day >= ?`).run(closed);
        // Dense again, in two steps (a rid taken by a row not yet moved would clash).
        db.prepare(`UPDATE ${t} SET rid = -r.pos FROM (SELECT rid, row_number() OVER (ORDER BY rid) AS pos FROM ${t}) AS r WHERE ${t}.rid = r.rid`).run();
        db.prepare(`UPDATE ${t} SET rid = -rid`).run();
      }
      return true;
    },
  };
}
export type KeyedProjection = ReturnType<typeof createKeyedProjection>;
