/**
 * An oracle for the keyed views (contents, content_scores, daily_agents,
 * daily_metrics), written from the product rules alone: it imports nothing
 * from src/, reads the raw JSON payloads in log order with plain loops, and
 * keeps every step small enough to check by eye.
 *
 * Choices where the rules leave room (see also the test that compares src):
 * - "latest" always means latest in log order (the order webhooks were
 *   accepted), never the largest received_at or vendor time;
 *   first_received_at / last_received_at alone are min / max of received_at.
 * - A vendor time is `yyyy-mm-dd` + `T`/`t`/space + `hh:mm:ss` + optional
 *   fraction + a zone `Z`/`z`, `±hh:mm`, `±hhmm` or `±hh`; fields are range
 *   checked (no 2026-02-30, no leap second 23:59:60, no 24:00); a fraction
 *   beyond milliseconds is truncated. Anything else is absent.
 * - Within one webhook, a plain key `x` and a paired key `x_score` /
 *   `x_justification` are the same metric `x` (later key wins per half).
 * - A metric whose score and justification are both absent in a webhook is
 *   not carried by it (the schemas make this impossible anyway).
 */

export type OracleCell = string | number | boolean | null;
export type OracleRow = Record<string, OracleCell>;
export interface OracleView {
  /** Fixed columns, then (contents only) `<metric>_score`, `<metric>_justification` per metric without a name collision. */
  header: string[];
  rows: OracleRow[];
}
export interface LogEntry {
  received_at: string;
  payload: unknown;
}
export interface KeyedViews {
  contents: OracleView & {
    /** Metrics, in global order of first appearance, whose column names collide with a fixed column (left out of header and rows). */
    collidingMetrics: string[];
    /** Every metric in global order of first appearance (colliding ones included). */
    metrics: string[];
  };
  content_scores: OracleView;
  daily_agents: OracleView;
  daily_metrics: OracleView;
}

export const KEYED_FIXED_COLUMNS = {
  contents: [
    'content_id', 'content_type', 'file_name', 'agent_name', 'scored_at', 'first_received_at', 'last_received_at', 'webhooks',
    'completed', 'red_flag', 'low_score', 'total_score', 'total_score_threshold', 'red_flag_reason', 'summary',
  ],
  content_scores: ['content_id', 'agent_name', 'scored_at', 'metric', 'score', 'justification', 'updated_at'],
  daily_agents: ['day', 'agent_name', 'contents', 'completed', 'red_flags', 'low_scores', 'avg_total_score'],
  daily_metrics: ['day', 'agent_name', 'metric', 'contents', 'avg_score', 'min_score', 'max_score'],
} as const;
export type KeyedViewName = keyof typeof KEYED_FIXED_COLUMNS;
export const KEYED_VIEW_NAMES: readonly KeyedViewName[] = ['contents', 'content_scores', 'daily_agents', 'daily_metrics'];
/** The key columns of each keyed view. */
export const KEYED_KEYS: Record<KeyedViewName, readonly string[]> = {
  contents: ['content_id'],
  content_scores: ['content_id', 'metric'],
  daily_agents: ['day', 'agent_name'],
  daily_metrics: ['day', 'agent_name', 'metric'],
};

// ---------------------------------------------------------------- small rules

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value a webhook "carries": a string or a finite number. Anything else is absent (undefined). */
export function carried(v: unknown): string | number | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  return undefined;
}

/** Trimmed, inner whitespace runs (JS `\s`) collapsed to one space; empty afterwards is absent. */
export function normalizeAgent(v: unknown): string | number | undefined {
  const c = carried(v);
  if (typeof c !== 'string') return c;
  const s = c.replace(/\s+/g, ' ').trim();
  return s === '' ? undefined : s;
}

export type KeyedKind = 'red_flag' | 'low_score' | 'completion';

/** Which webhook this is, for the keyed views; workflow completions and unknown payloads are undefined. */
export function keyedKind(payload: unknown): KeyedKind | undefined {
  if (!isRecord(payload)) return undefined;
  if (payload['alert_type'] === 'red_flag') return 'red_flag';
  if (payload['alert_type'] === 'low_score') return 'low_score';
  if (payload['trigger_reason'] === 'completed_action') {
    const data = payload['data'];
    if (isRecord(data) && data['output_schema'] !== undefined) return undefined; // a workflow completion
    return 'completion';
  }
  return undefined;
}

// ---------------------------------------------------------------- times

const VENDOR_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)$/;

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}
function daysInMonth(y: number, m: number): number {
  return [31, isLeapYear(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!;
}
/** Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (counted, not looked up). */
function daysFromEpoch(y: number, m: number, d: number): number {
  let days = 0;
  if (y >= 1970) for (let yy = 1970; yy < y; yy++) days += isLeapYear(yy) ? 366 : 365;
  else for (let yy = y; yy < 1970; yy++) days -= isLeapYear(yy) ? 366 : 365;
  for (let mm = 1; mm < m; mm++) days += daysInMonth(y, mm);
  return days + d - 1;
}

/** A vendor time in UTC as `yyyy-mm-ddThh:mm:ss.sssZ`, or undefined when it is not a full ISO 8601 date-time with a zone. */
export function vendorTimeToUtc(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const m = VENDOR_TIME.exec(v);
  if (!m) return undefined;
  const [, ys, mos, ds, hs, mis, ss, frac, z, sign, ohs, oms] = m;
  const y = Number(ys);
  const mo = Number(mos);
  const d = Number(ds);
  const h = Number(hs);
  const mi = Number(mis);
  const s = Number(ss);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return undefined;
  let offsetMinutes = 0;
  if (z === undefined) {
    const oh = Number(ohs);
    const om = oms === undefined ? 0 : Number(oms);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (sign === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms = frac === undefined ? 0 : Number((frac + '00').slice(0, 3));
  const local = ((daysFromEpoch(y, mo, d) * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms;
  const instant = local - offsetMinutes * 60_000;
  const out = new Date(instant);
  if (Number.isNaN(out.getTime())) return undefined;
  return out.toISOString();
}

const dayFormatters = new Map<string, Intl.DateTimeFormat>();
/** The calendar day (`yyyy-mm-dd`) of an instant in an IANA zone. */
export function dayIn(isoUtc: string, zone: string): string {
  let f = dayFormatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, calendar: 'gregory', numberingSystem: 'latn', year: 'numeric', month: '2-digit', day: '2-digit' });
    dayFormatters.set(zone, f);
  }
  const t = Date.parse(isoUtc);
  if (Number.isNaN(t)) throw new Error(`not a time: ${isoUtc}`);
  const parts = f.formatToParts(new Date(t));
  const part = (type: string) => {
    const p = parts.find((x) => x.type === type);
    if (!p) throw new Error(`no ${type} in ${JSON.stringify(parts)}`);
    return p.value;
  };
  return `${part('year').padStart(4, '0')}-${part('month')}-${part('day')}`;
}

// ---------------------------------------------------------------- metrics

export interface OracleMetric {
  metric: string;
  score: string | number | undefined;
  justification: string | undefined | number;
}

const SCORE = '_score';
const JUSTIFICATION = '_justification';

/** The metrics of one score_details object, in the order each metric first appears among its keys. */
export function metricsOf(details: unknown): OracleMetric[] {
  if (!isRecord(details)) return [];
  const byName = new Map<string, OracleMetric>();
  const get = (name: string) => {
    let m = byName.get(name);
    if (!m) {
      m = { metric: name, score: undefined, justification: undefined };
      byName.set(name, m);
    }
    return m;
  };
  for (const key of Object.keys(details)) {
    const value = details[key];
    if (key.endsWith(SCORE) && key.length > SCORE.length) {
      get(key.slice(0, -SCORE.length)).score = carried(value);
    } else if (key.endsWith(JUSTIFICATION) && key.length > JUSTIFICATION.length) {
      get(key.slice(0, -JUSTIFICATION.length)).justification = carried(value);
    } else if (typeof value === 'number') {
      get(key).score = carried(value);
    } else if (typeof value === 'string') {
      get(key).justification = value;
    } else {
      get(key); // neither: nothing carried (dropped below)
    }
  }
  return [...byName.values()].filter((m) => m.score !== undefined || m.justification !== undefined);
}

// ---------------------------------------------------------------- one webhook

/** The fields of `contents` a webhook may carry (each: latest carrier wins). */
const MERGED_FIELDS = ['content_type', 'file_name', 'agent_name', 'total_score', 'total_score_threshold', 'red_flag_reason', 'summary'] as const;
type MergedField = (typeof MERGED_FIELDS)[number];

interface WebhookFacts {
  kind: KeyedKind;
  contentId: string;
  /** The vendor time in UTC, when the webhook has a valid one. */
  vendorTime: string | undefined;
  fields: Partial<Record<MergedField, string | number>>;
  metrics: OracleMetric[];
}

function set(fields: Partial<Record<MergedField, string | number>>, name: MergedField, value: string | number | undefined): void {
  if (value !== undefined) fields[name] = value;
}

export function factsOf(payload: unknown): WebhookFacts | undefined {
  const kind = keyedKind(payload);
  if (kind === undefined || !isRecord(payload)) return undefined;
  const contentId = String(payload['content_id']);
  const fields: Partial<Record<MergedField, string | number>> = {};
  if (kind === 'completion') {
    const data = isRecord(payload['data']) ? payload['data'] : {};
    set(fields, 'file_name', carried(data['original_filename']));
    set(fields, 'agent_name', normalizeAgent(data['agent_name']));
    return { kind, contentId, vendorTime: vendorTimeToUtc(data['created_time']), fields, metrics: metricsOf(data['score_details']) };
  }
  set(fields, 'content_type', carried(payload['content_type']));
  set(fields, 'file_name', carried(payload['file_name']));
  set(fields, 'agent_name', normalizeAgent(payload['agent_name']));
  set(fields, 'total_score', carried(payload['total_score']));
  if (kind === 'red_flag') set(fields, 'red_flag_reason', carried(payload['red_flag_reason']));
  if (kind === 'low_score') {
    set(fields, 'total_score_threshold', carried(payload['total_score_threshold']));
    set(fields, 'summary', carried(payload['summary']));
  }
  return { kind, contentId, vendorTime: vendorTimeToUtc(payload['timestamp']), fields, metrics: metricsOf(payload['score_details']) };
}

// ---------------------------------------------------------------- the whole log

interface MetricState {
  score: string | number | null;
  justification: string | number | null;
  updatedAt: string;
}
interface ContentState {
  contentId: string;
  fields: Partial<Record<MergedField, string | number>>;
  lastVendorTime: string | undefined;
  lastReceivedAt: string;
  firstReceivedAt: string; // min
  maxReceivedAt: string; // max
  webhooks: number;
  completed: boolean;
  redFlag: boolean;
  lowScore: boolean;
  metrics: Map<string, MetricState>;
}

const ms = (iso: string) => {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw new Error(`received_at is not a time: ${iso}`);
  return t;
};

function scoredAt(c: ContentState): string {
  return c.lastVendorTime ?? c.lastReceivedAt;
}
function agentOf(c: ContentState): string | number | null {
  return c.fields.agent_name ?? null;
}

/** Fixed column names a metric's two columns would take. */
export function metricColumns(metric: string): [string, string] {
  return [`${metric}${SCORE}`, `${metric}${JUSTIFICATION}`];
}
function collides(metric: string): boolean {
  const fixed: readonly string[] = KEYED_FIXED_COLUMNS.contents;
  return metricColumns(metric).some((c) => fixed.includes(c));
}

const groupKey = (...parts: Array<string | number | null>) => JSON.stringify(parts);

function average(xs: number[]): number | null {
  if (xs.length === 0) return null;
  let sum = 0;
  for (const x of xs) sum += x;
  return sum / xs.length;
}

/** What the four keyed views must hold after these webhooks (in log order), with days in `zone`. */
export function expectedKeyedViews(log: ReadonlyArray<LogEntry>, zone: string): KeyedViews {
  const contents = new Map<string, ContentState>(); // insertion order = order of first webhook
  const scoreOrder: Array<[string, string]> = []; // (content_id, metric) in order of first appearance
  const metricOrder: string[] = [];
  const seenMetric = new Set<string>();
  const agentGroups = new Map<string, { day: string; agent: string | number | null }>();
  const metricGroups = new Map<string, { day: string; agent: string | number | null; metric: string }>();

  for (const entry of log) {
    const facts = factsOf(entry.payload);
    if (!facts) continue;
    const at = entry.received_at;
    let c = contents.get(facts.contentId);
    if (!c) {
      c = {
        contentId: facts.contentId,
        fields: {},
        lastVendorTime: undefined,
        lastReceivedAt: at,
        firstReceivedAt: at,
        maxReceivedAt: at,
        webhooks: 0,
        completed: false,
        redFlag: false,
        lowScore: false,
        metrics: new Map(),
      };
      contents.set(facts.contentId, c);
    }
    c.webhooks += 1;
    c.lastReceivedAt = at;
    if (ms(at) < ms(c.firstReceivedAt)) c.firstReceivedAt = at;
    if (ms(at) > ms(c.maxReceivedAt)) c.maxReceivedAt = at;
    if (facts.vendorTime !== undefined) c.lastVendorTime = facts.vendorTime;
    if (facts.kind === 'completion') c.completed = true;
    if (facts.kind === 'red_flag') c.redFlag = true;
    if (facts.kind === 'low_score') c.lowScore = true;
    for (const name of MERGED_FIELDS) {
      const v = facts.fields[name];
      if (v !== undefined) c.fields[name] = v;
    }
    for (const m of facts.metrics) {
      if (!seenMetric.has(m.metric)) {
        seenMetric.add(m.metric);
        metricOrder.push(m.metric);
      }
      let state = c.metrics.get(m.metric);
      if (!state) {
        state = { score: null, justification: null, updatedAt: at };
        c.metrics.set(m.metric, state);
        scoreOrder.push([c.contentId, m.metric]);
      }
      if (m.score !== undefined) state.score = m.score;
      if (m.justification !== undefined) state.justification = m.justification;
      state.updatedAt = at;
    }
    // The content's current groups exist from now on.
    const day = dayIn(scoredAt(c), zone);
    const agent = agentOf(c);
    const ak = groupKey(day, agent);
    if (!agentGroups.has(ak)) agentGroups.set(ak, { day, agent });
    for (const metric of c.metrics.keys()) {
      const mk = groupKey(day, agent, metric);
      if (!metricGroups.has(mk)) metricGroups.set(mk, { day, agent, metric });
    }
  }

  // contents
  const dynamicMetrics = metricOrder.filter((m) => !collides(m));
  const contentsHeader: string[] = [...KEYED_FIXED_COLUMNS.contents, ...dynamicMetrics.flatMap(metricColumns)];
  const contentRows: OracleRow[] = [];
  for (const c of contents.values()) {
    const row: OracleRow = {
      content_id: c.contentId,
      content_type: c.fields.content_type ?? null,
      file_name: c.fields.file_name ?? null,
      agent_name: agentOf(c),
      scored_at: scoredAt(c),
      first_received_at: c.firstReceivedAt,
      last_received_at: c.maxReceivedAt,
      webhooks: c.webhooks,
      completed: c.completed,
      red_flag: c.redFlag,
      low_score: c.lowScore,
      total_score: c.fields.total_score ?? null,
      total_score_threshold: c.fields.total_score_threshold ?? null,
      red_flag_reason: c.fields.red_flag_reason ?? null,
      summary: c.fields.summary ?? null,
    };
    for (const metric of dynamicMetrics) {
      const [scoreCol, justCol] = metricColumns(metric);
      const state = c.metrics.get(metric);
      row[scoreCol] = state ? state.score : null;
      row[justCol] = state ? state.justification : null;
    }
    contentRows.push(row);
  }

  // content_scores
  const scoreRows: OracleRow[] = [];
  for (const [contentId, metric] of scoreOrder) {
    const c = contents.get(contentId)!;
    const state = c.metrics.get(metric)!;
    scoreRows.push({
      content_id: contentId,
      agent_name: agentOf(c),
      scored_at: scoredAt(c),
      metric,
      score: state.score,
      justification: state.justification,
      updated_at: state.updatedAt,
    });
  }

  // daily_agents: every group that ever existed, filled from the contents as they are now.
  const agentRows: OracleRow[] = [];
  for (const g of agentGroups.values()) {
    let n = 0;
    let completed = 0;
    let redFlags = 0;
    let lowScores = 0;
    const totals: number[] = [];
    for (const c of contents.values()) {
      if (dayIn(scoredAt(c), zone) !== g.day || agentOf(c) !== g.agent) continue;
      n += 1;
      if (c.completed) completed += 1;
      if (c.redFlag) redFlags += 1;
      if (c.lowScore) lowScores += 1;
      if (typeof c.fields.total_score === 'number') totals.push(c.fields.total_score);
    }
    agentRows.push({ day: g.day, agent_name: g.agent, contents: n, completed, red_flags: redFlags, low_scores: lowScores, avg_total_score: average(totals) });
  }

  // daily_metrics
  const metricRows: OracleRow[] = [];
  for (const g of metricGroups.values()) {
    let n = 0;
    const scores: number[] = [];
    for (const c of contents.values()) {
      if (dayIn(scoredAt(c), zone) !== g.day || agentOf(c) !== g.agent) continue;
      const state = c.metrics.get(g.metric);
      if (!state) continue;
      n += 1;
      if (typeof state.score === 'number') scores.push(state.score);
    }
    metricRows.push({
      day: g.day,
      agent_name: g.agent,
      metric: g.metric,
      contents: n,
      avg_score: average(scores),
      min_score: scores.length ? Math.min(...scores) : null,
      max_score: scores.length ? Math.max(...scores) : null,
    });
  }

  return {
    contents: { header: contentsHeader, rows: contentRows, collidingMetrics: metricOrder.filter(collides), metrics: [...metricOrder] },
    content_scores: { header: [...KEYED_FIXED_COLUMNS.content_scores], rows: scoreRows },
    daily_agents: { header: [...KEYED_FIXED_COLUMNS.daily_agents], rows: agentRows },
    daily_metrics: { header: [...KEYED_FIXED_COLUMNS.daily_metrics], rows: metricRows },
  };
}
