import type { Statement } from 'better-sqlite3';
import { contentFacts, type ContentFacts, type ContentState, type MetricState } from '../flatten/merge-content.js';
import type { FlatEvent } from '../flatten/flatten-payload.js';
import type { Cell } from '../model/cells.js';
import type { ColumnPlan, ColumnRegistry } from '../model/columns.js';
import { dayFormatter, hourlyOffsets, parseIsoInstant, perZone } from '../model/time.js';
import { LoadedContent, LoadedMetric, MAX_AVERAGED, type AgentGroup, type MetricGroup } from './keyed-batch.js';
import { agentsChanged, fillDyn, KeyedMerge, metricChanged, metricColumns, movedExtremes, MONTH_VIEWS, type MonthPlaces, type MonthView } from './keyed-merge.js';
import type { Db } from './open-db.js';

/*
 * A batch keeps its contents, metrics and daily groups in the fixed-shape
 * classes of keyed-batch.ts: objects of changing shapes, spread copies and
 * joined keys once cost more than the SQLite writes (bench/keyed.ts, README
 * "Benchmarks"). The merge of each event into them is keyed-merge.ts, shared
 * with PostgreSQL; what is SQLite's here is reading, creating and writing rows.
 */

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

const KEYED_TABLES = ['content_rows', 'content_score_rows', 'daily_agent_rows', 'daily_metric_rows', 'keyed_parts'] as const;
/** The keyed views split by month, and their tables. */
const MONTH_TABLES = { contents: 'content_rows', content_scores: 'content_score_rows' } as const;

/** The digit at iso[i]: a character that is no digit gives a number out of 0–9. */
const digitAt = (iso: string, i: number): number => iso.charCodeAt(i) - 48;
const isDigit = (d: number): boolean => d >= 0 && d <= 9;
/** Where the digits of yyyy, mm, dd and HH are. */
const HOUR_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12] as const;

/**
 * For `yyyy-mm-ddTHH:MM:SS.mmmZ` (what received_at and vendor times become)
 * with minutes and seconds in range, a number naming its UTC hour (the digits
 * of its first 13 characters); -1 for any other text. Such a text is an
 * instant of that hour when the hour's text is a valid one.
 */
function utcHourKey(iso: string): number {
  if (iso.length !== 24 || iso.charCodeAt(4) !== 45 || iso.charCodeAt(7) !== 45 || iso.charCodeAt(10) !== 84 || iso.charCodeAt(13) !== 58 || iso.charCodeAt(16) !== 58 || iso.charCodeAt(19) !== 46 || iso.charCodeAt(23) !== 90) return -1;
  // Minutes 00–59; seconds 00–60 (a leap second is the last instant of its minute: still this hour).
  const m1 = digitAt(iso, 14);
  const s1 = digitAt(iso, 17);
  const s2 = digitAt(iso, 18);
  if (m1 < 0 || m1 > 5 || !isDigit(digitAt(iso, 15)) || !((s1 >= 0 && s1 <= 5 && isDigit(s2)) || (s1 === 6 && s2 === 0))) return -1;
  if (!isDigit(digitAt(iso, 20)) || !isDigit(digitAt(iso, 21)) || !isDigit(digitAt(iso, 22))) return -1;
  let key = 0;
  for (const i of HOUR_DIGITS) {
    const d = digitAt(iso, i);
    if (!isDigit(d)) return -1;
    key = key * 10 + d;
  }
  return key;
}

/**
 * The day in `zone` of instants (ISO text), as dayFormatter gives it, fast:
 * a UTC hour whose offset does not change within it (hourlyOffsets' test)
 * and whose first and last millisecond fall on the same day has that day for
 * every instant in it (the wall clock moves with the instant), so its day is
 * kept by hour. Any other text or hour goes through the formatter. Kept per
 * zone from batch to batch (a rebuild meets the same hours batch after batch).
 */
function dayFinder(zone: string): (iso: string) => string | undefined {
  const format = dayFormatter(zone);
  const offsetOf = hourlyOffsets(zone);
  /** UTC hour (utcHourKey) → its day, null when not the same all hour. Bounded: a cache, not a record. */
  const hours = new Map<number, string | null>();
  return (iso) => {
    const key = utcHourKey(iso);
    if (key < 0) return format(iso);
    let day = hours.get(key);
    if (day === undefined) {
      if (hours.size >= 100_000) hours.clear();
      const hour = iso.slice(0, 13);
      const first = `${hour}:00:00.000Z`;
      const start = parseIsoInstant(first);
      const firstDay = start === undefined || offsetOf(start) === undefined ? undefined : format(first);
      day = firstDay !== undefined && firstDay === format(`${hour}:59:59.999Z`) ? firstDay : null;
      hours.set(key, day);
    }
    return day ?? format(iso);
  };
}
const dayFinderOf = perZone(dayFinder);

/** Rows per multi-row INSERT of new keyed rows. */
const ROWS_PER_INSERT = 8;
/**
 * New rows of one table, given value by value (`values.push(...)`, then
 * `rowAdded()`): inserted ROWS_PER_INSERT at a time, the rest by `end()`.
 * OR FAIL: a refused row stops the statement without undoing the rows before
 * it, so SQLite keeps no statement journal for them (a temporary file it
 * would write for every multi-row INSERT); the error ends the whole batch,
 * whose transaction rolls back.
 */
function rowInserter(db: Db, table: string, columns: readonly string[]) {
  const row = `(${columns.map(() => '?').join(', ')})`;
  const insert = (rows: number) => db.prepare<unknown[]>(`INSERT OR FAIL INTO ${table} (${columns.join(', ')}) VALUES ${Array<string>(rows).fill(row).join(', ')}`);
  const one = insert(1);
  const many = insert(ROWS_PER_INSERT);
  const full = columns.length * ROWS_PER_INSERT;
  const values: unknown[] = [];
  return {
    values,
    rowAdded(): void {
      if (values.length < full) return;
      // As arguments: better-sqlite3 reads them faster than an array's elements.
      many.run(...values);
      values.length = 0;
    },
    end(): void {
      for (let i = 0; i < values.length; i += columns.length) one.run(...values.slice(i, i + columns.length));
      values.length = 0;
    },
    /** Drops rows a failed flush left behind (its transaction rolled back). */
    clear(): void {
      values.length = 0;
    },
  };
}

/**
 * content_ids as Bloom filters (16 bits and 4 probes each: about 1 false
 * positive in 400), a filter added as the last one fills: `has` is false only
 * for an id never added. A rebuild asks it before looking for each content in
 * the database (see `derived` in createKeyedProjection).
 */
class ContentFilter {
  private static readonly BITS = 2 ** 23;
  private static readonly CAPACITY = 2 ** 19;
  /** Past this many filters (some 8 million contents, 16 MB) the contents are looked for again. */
  static readonly MAX_FILTERS = 16;
  private readonly filters: Uint32Array[] = [];
  private inLast = ContentFilter.CAPACITY;
  private h1 = 0;
  private h2 = 0;

  get full(): boolean {
    return this.filters.length >= ContentFilter.MAX_FILTERS && this.inLast >= ContentFilter.CAPACITY;
  }

  private hash(id: string): void {
    let h1 = 0x811c9dc5;
    let h2 = 0x9747b28c;
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    this.h1 = h1 >>> 0;
    // Odd: the probes h1 + i·h2 never repeat within a filter.
    this.h2 = (h2 | 1) >>> 0;
  }

  add(id: string): void {
    if (this.inLast >= ContentFilter.CAPACITY) {
      this.filters.push(new Uint32Array(ContentFilter.BITS / 32));
      this.inLast = 0;
    }
    this.hash(id);
    const f = this.filters[this.filters.length - 1]!;
    for (let i = 0; i < 4; i++) {
      const bit = (this.h1 + i * this.h2) % ContentFilter.BITS;
      f[bit >>> 5]! |= 1 << (bit & 31);
    }
    this.inLast++;
  }

  has(id: string): boolean {
    this.hash(id);
    for (const f of this.filters) {
      let all = true;
      for (let i = 0; i < 4 && all; i++) {
        const bit = (this.h1 + i * this.h2) % ContentFilter.BITS;
        all = (f[bit >>> 5]! & (1 << (bit & 31))) !== 0;
      }
      if (all) return true;
    }
    return false;
  }
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
  // Rows new in a batch (their rids are past every stored one) are inserted, without an upsert's conflict clause,
  // several per statement: a rebuild writes millions, and each call into SQLite costs about as much as a row.
  const newContents = rowInserter(db, 'content_rows', [
    'rid', 'content_id', 'content_type', 'file_name', 'agent_name', 'scored_at', 'first_received_at', 'last_received_at', 'webhooks', 'completed', 'red_flag', 'low_score',
    'total_score', 'total_score_threshold', 'red_flag_reason', 'summary', 'dyn', 'vendor_time', 'agent_key', 'day', 'changed_seq', 'part', 'part_pos',
  ]);
  const newMetrics = rowInserter(db, 'content_score_rows', ['rid', 'content_rid', 'content_id', 'metric', 'agent_name', 'scored_at', 'score', 'justification', 'updated_at', 'changed_seq', 'part', 'part_pos']);
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
  const applyAgents = db.prepare<[{ day: string; agent_key: string; seq: number; contents: number; completed: number; red_flags: number; low_scores: number; sum: number; n: number }]>(
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
  const keyedCursor = db.prepare<[], number>('SELECT keyed_seq FROM projector_state WHERE id = 1').pluck();

  /**
   * The contents this connection derived since it wiped the keyed rows (a
   * rebuild, a new zone), while nobody else wrote any: the rows hold exactly
   * the contents in `filter` (false positives aside), up to rid `maxRid`, with
   * the keyed cursor at `cursor`. A batch that finds both where the last one
   * left them skips the lookup of every content the filter has not seen (most
   * of a rebuild's, each a search of the content_id index). Another process
   * that derived keyed rows meanwhile moved one or the other: the filter is
   * dropped, and contents are looked for as always.
   */
  let derived: { filter: ContentFilter; maxRid: number; cursor: number } | undefined;

  /** One batch: call `apply` per event in seq order inside the batch's transaction, then `flush` before it commits. */
  function batch(registry: ColumnRegistry, maxColumns: number) {
    const dayIn = dayFinderOf(zone());
    // RETENTION_DAYS (see KeyedMerge): days before the oldest kept day are closed.
    const closedBefore = keptFromDay.get() ?? undefined;
    const nextContentRid = maxContentRid.get()! + 1;
    const known = derived !== undefined && derived.maxRid === nextContentRid - 1 && derived.cursor === keyedCursor.get() ? derived.filter : undefined;
    if (known === undefined) derived = undefined;
    let nextDailyAgentRid = maxDailyAgentRid.get()! + 1;
    let nextDailyMetricRid = maxDailyMetricRid.get()! + 1;

    // SQLite reads a content the moment an event names it, and creates a daily row the moment a content enters it.
    const merge = new KeyedMerge(
      {
        load(contentId: string): LoadedContent | undefined {
          if (known !== undefined && !known.has(contentId)) return undefined;
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
          const metrics = new Map<string, LoadedMetric>();
          for (const m of metricsOf.all(row.rid)) metrics.set(m.metric, new LoadedMetric(m.metric, m.score, m.justification, m.updated_at, m.rid, m.part_pos, m.changed_seq, false, m.score, true));
          return new LoadedContent(row.rid, row.part, row.part_pos, state, state, metrics, row.changed_seq, false);
        },
        agentsEntered(g: AgentGroup, seq: number): void {
          if (!findDailyAgent.get(g.day, g.agent)) insertDailyAgent.run(nextDailyAgentRid++, g.day, g.agent, seq);
        },
        metricEntered(mg: MetricGroup, seq: number): void {
          const { day, agent } = mg.parent;
          if (!findDailyMetric.get(day, agent, mg.metric)) insertDailyMetric.run(nextDailyMetricRid++, day, agent, mg.metric, seq);
        },
        columnsPlanned(plan: ColumnPlan, seq: number): void {
          for (const c of plan.added) {
            insertColumn.run('contents', c.position, c.name, c.kind, c.key, seq);
            clearOverflow.run('contents', c.kind, c.key);
          }
          for (const k of plan.overflow) insertOverflow.run('contents', k.kind, k.key, seq);
          registry.contents = [...registry.contents, ...plan.added];
        },
      },
      { dayOf: (iso) => dayIn(iso) ?? iso.slice(0, 10), closedBefore, columns: registry.contents, maxColumns, nextContentRid, nextMetricRid: maxMetricRid.get()! + 1 },
    );

    /** After the rows are written: months that a row left or joined are numbered again by rid; totals kept. */
    function setPlaces({ totals, resets }: MonthPlaces): void {
      for (const [part, seq] of resets) {
        for (const view of MONTH_VIEWS) {
          renumber[view].run.run(part);
          setPart.run(view, part, renumber[view].count.get(part)!, seq);
        }
      }
      for (const view of MONTH_VIEWS) for (const [part, total] of totals[view]) setPart.run(view, part, total, 0);
    }

    /** Merges one call's or document's facts (in seq order). */
    const applyFacts = (facts: ContentFacts, seq: number, receivedAt: string): void => merge.apply(facts, seq, receivedAt);

    return {
      /** Merges one event (already written to the append-only views); a no-op for workflows. */
      apply(flat: FlatEvent, seq: number, receivedAt: string): void {
        const facts = contentFacts(flat);
        if (facts) merge.apply(facts, seq, receivedAt);
      },
      /** Merges the facts of one event (flatten/merge-content.ts payloadFacts: the keyed views alone are derived). */
      applyFacts,

      /**
       * Writes what the batch changed, then moves the daily rows by the net
       * change (exact sums; min/max read again only when an extreme left).
       * `cursor`: the keyed cursor once the batch commits (see `derived`; a
       * trial batch, rolled back, gives none).
       */
      flush(cursor?: number): void {
        // Until the rows are written: a flush that fails (a write refused) leaves no filter behind, and no rows queued.
        derived = undefined;
        newContents.clear();
        newMetrics.clear();
        const places = merge.monthPlaces((view, part) => partTotal.get(view, part));
        const columns = metricColumns(registry.contents);
        const dyn: Cell[] = [];
        for (const c of merge.contents.values()) {
          if (!c.dirty) continue;
          const s = c.state!;
          const day = c.day;
          const agent = s.agent_name ?? '';
          fillDyn(dyn, c, columns);
          const part = c.part;
          if (c.partAtLoad === undefined) {
            newContents.values.push(c.rid, s.content_id, s.content_type, s.file_name, s.agent_name, s.scored_at, s.first_received_at, s.last_received_at, s.webhooks, s.completed ? 1 : 0, s.red_flag ? 1 : 0, s.low_score ? 1 : 0, s.total_score, s.total_score_threshold, s.red_flag_reason, s.summary, JSON.stringify(dyn), s.vendor_time ? 1 : 0, agent, day, c.changedSeq, part, c.partPos);
            newContents.rowAdded();
          } else {
            upsertContent.run(c.rid, s.content_id, s.content_type, s.file_name, s.agent_name, s.scored_at, s.first_received_at, s.last_received_at, s.webhooks, s.completed ? 1 : 0, s.red_flag ? 1 : 0, s.low_score ? 1 : 0, s.total_score, s.total_score_threshold, s.red_flag_reason, s.summary, JSON.stringify(dyn), s.vendor_time ? 1 : 0, agent, day, c.changedSeq, part, c.partPos);
            // Its metric rows go with it to its new month (their places are given again below).
            if (c.partAtLoad !== part) movePartOfMetrics.run(part, c.rid);
          }
          for (const m of c.metrics.values()) {
            if (!m.dirty) continue;
            if (m.existedAtLoad) {
              upsertMetric.run(m.rid, c.rid, s.content_id, m.metric, s.agent_name, s.scored_at, m.score, m.justification, m.updated_at, m.changedSeq, part, m.partPos);
            } else {
              newMetrics.values.push(m.rid, c.rid, s.content_id, m.metric, s.agent_name, s.scored_at, m.score, m.justification, m.updated_at, m.changedSeq, part, m.partPos);
              newMetrics.rowAdded();
            }
          }
        }
        newContents.end();
        newMetrics.end();
        setPlaces(places);
        const { agents, metrics } = merge.deltas();
        for (const d of agents) {
          if (agentsChanged(d)) applyAgents.run({ day: d.day, agent_key: d.agent, seq: d.seq, contents: d.contents, completed: d.completed, red_flags: d.red_flags, low_scores: d.low_scores, sum: d.sum, n: d.n });
        }
        for (const d of metrics) {
          if (!metricChanged(d)) continue;
          const { day, agent } = d.parent;
          const was = getMetricGroup.get(day, agent, d.metric)!;
          // A score that left may have been the extreme: read the extremes again from the rows (already written above).
          const { lo, hi } = movedExtremes(d, was.min_score, was.max_score, was.n_score) ?? extremes.get(d.metric, day, agent)!;
          applyMetrics.run({ day, agent_key: agent, metric: d.metric, seq: d.seq, contents: d.contents, sum: d.sum, n: d.n, lo, hi });
        }
        if (known !== undefined && cursor !== undefined) {
          for (const [id, c] of merge.contents) if (c.partAtLoad === undefined) known.add(id);
          if (!known.full) derived = { filter: known, maxRid: merge.nextContentRid - 1, cursor };
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
      // No content rows from here on; the caller sets the keyed cursor to 0 in the same transaction.
      derived = { filter: new ContentFilter(), maxRid: 0, cursor: 0 };
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
