import type { Cell } from '../model/cells.js';
import { parseIsoInstant, toUtcIso } from '../model/time.js';
import type { TypedPayload } from '../model/webhooks.js';
import { cell, metrics as metricsOf, wellFormed, type FlatEvent } from './flatten-payload.js';

/**
 * The current truth about one call or document (`content_id`), merged from
 * every webhook about it in log order: for each field the latest webhook that
 * carries it (a value that is not null) wins. Pure.
 */
export interface ContentState {
  content_id: string;
  content_type: Cell;
  file_name: Cell;
  agent_name: string | null;
  scored_at: string;
  first_received_at: string;
  last_received_at: string;
  webhooks: number;
  completed: boolean;
  red_flag: boolean;
  low_score: boolean;
  total_score: Cell;
  total_score_threshold: Cell;
  red_flag_reason: Cell;
  summary: Cell;
  /** scored_at came from a vendor time (once one did, a webhook without one no longer moves it). */
  vendor_time: boolean;
}

/** The latest score and justification of one metric of one content. */
export interface MetricState {
  metric: string;
  score: Cell;
  justification: Cell;
  /** received_at of the latest webhook that carried the metric. */
  updated_at: string;
}

/** What one call/document webhook says about its content; undefined for a workflow completion (not a call or document). */
export interface ContentFacts {
  contentId: string;
  kind: 'red_flag' | 'low_score' | 'completion';
  contentType: Cell;
  fileName: Cell;
  agentName: string | null;
  /** The vendor's time, UTC ISO, when the webhook has one that is a real date-time. */
  vendorTime: string | undefined;
  totalScore: Cell;
  totalScoreThreshold: Cell;
  redFlagReason: Cell;
  summary: Cell;
  metrics: ReadonlyArray<{ metric: string; score: Cell; justification: Cell }>;
}

/** `"  john   doe "` → `john doe`; empty after that is no name at all. Case is kept: it is the vendor's spelling. */
export function normalizeAgent(name: Cell): string | null {
  if (typeof name !== 'string') return null;
  const n = name.trim().replace(/\s+/g, ' ');
  return n === '' ? null : n;
}

const asTime = (c: Cell): string | undefined => (typeof c === 'string' && parseIsoInstant(c) !== undefined ? c : undefined);
/**
 * `asTime(vendorTime(v))` with one parse where vendorTime gives a UTC time:
 * toUtcIso's answers (toISOString, years 0000–9999) are always ISO instants.
 */
function vendorInstant(v: unknown): string | undefined {
  const c = cell(v);
  if (typeof c !== 'string') return undefined;
  return toUtcIso(c) ?? asTime(c);
}

export function contentFacts(flat: FlatEvent): ContentFacts | undefined {
  const metrics = flat.scores.map((s) => ({ metric: s.metric as string, score: s.score, justification: s.justification }));
  const agentName = normalizeAgent(flat.agentName);
  switch (flat.view) {
    case 'red_flags': {
      const r = flat.row;
      return { contentId: flat.contentId, kind: 'red_flag', contentType: r.content_type, fileName: r.file_name, agentName, vendorTime: asTime(r.timestamp), totalScore: r.total_score, totalScoreThreshold: null, redFlagReason: r.red_flag_reason, summary: null, metrics };
    }
    case 'low_scores': {
      const r = flat.row;
      return { contentId: flat.contentId, kind: 'low_score', contentType: r.content_type, fileName: r.file_name, agentName, vendorTime: asTime(r.timestamp), totalScore: r.total_score, totalScoreThreshold: r.total_score_threshold, redFlagReason: null, summary: r.summary, metrics };
    }
    case 'completions': {
      const r = flat.row;
      return { contentId: flat.contentId, kind: 'completion', contentType: null, fileName: r.original_filename, agentName, vendorTime: asTime(r.created_time), totalScore: null, totalScoreThreshold: null, redFlagReason: null, summary: null, metrics };
    }
    case 'workflows':
      return undefined;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `contentFacts(flattenPayload(input))` without the rest of the flat event
 * (the append-only views' rows and dynamic cells): what a derivation of the
 * keyed views alone needs (a rebuild of them, a new REPORT_TIMEZONE). The same
 * helpers on the same fields, so the same facts.
 */
export function payloadFacts(input: TypedPayload): ContentFacts | undefined {
  switch (input.type) {
    case 'red_flag': {
      const p = input.payload;
      return {
        contentId: wellFormed(String(p.content_id)),
        kind: 'red_flag',
        contentType: cell(p.content_type),
        fileName: cell(p.file_name),
        agentName: normalizeAgent(cell(p.agent_name)),
        vendorTime: vendorInstant(p.timestamp),
        totalScore: cell(p.total_score),
        totalScoreThreshold: null,
        redFlagReason: cell(p.red_flag_reason),
        summary: null,
        metrics: metricsOf(p.score_details),
      };
    }
    case 'low_score': {
      const p = input.payload;
      return {
        contentId: wellFormed(String(p.content_id)),
        kind: 'low_score',
        contentType: cell(p.content_type),
        fileName: cell(p.file_name),
        agentName: normalizeAgent(cell(p.agent_name)),
        vendorTime: vendorInstant(p.timestamp),
        totalScore: cell(p.total_score),
        totalScoreThreshold: cell(p.total_score_threshold),
        redFlagReason: null,
        summary: cell(p.summary),
        metrics: metricsOf(p.score_details),
      };
    }
    case 'completion': {
      const p = input.payload;
      const d: Partial<typeof p.data> = isRecord(p.data) ? p.data : {};
      return {
        contentId: wellFormed(String(p.content_id)),
        kind: 'completion',
        contentType: null,
        fileName: cell(d.original_filename),
        agentName: normalizeAgent(cell(d.agent_name)),
        vendorTime: vendorInstant(d.created_time),
        totalScore: null,
        totalScoreThreshold: null,
        redFlagReason: null,
        summary: null,
        metrics: metricsOf(d.score_details),
      };
    }
    case 'workflow':
      return undefined;
  }
}

const latest = <T>(next: T | null | undefined, prev: T): T => (next === null || next === undefined ? prev : next);
const earlier = (a: string, b: string) => (a <= b ? a : b);
const later = (a: string, b: string) => (a >= b ? a : b);

/** The content after one more webhook (received at `receivedAt`, an ISO UTC time with milliseconds). */
export function mergeContent(prev: ContentState | undefined, f: ContentFacts, receivedAt: string): ContentState {
  const base: ContentState = prev ?? {
    content_id: f.contentId,
    content_type: null,
    file_name: null,
    agent_name: null,
    scored_at: receivedAt,
    first_received_at: receivedAt,
    last_received_at: receivedAt,
    webhooks: 0,
    completed: false,
    red_flag: false,
    low_score: false,
    total_score: null,
    total_score_threshold: null,
    red_flag_reason: null,
    summary: null,
    vendor_time: false,
  };
  // scored_at: the vendor time of the latest webhook that has one; until one has, the latest received_at.
  const scoredAt = f.vendorTime ?? (base.vendor_time ? base.scored_at : receivedAt);
  return {
    content_id: base.content_id,
    content_type: latest(f.contentType, base.content_type),
    file_name: latest(f.fileName, base.file_name),
    agent_name: latest(f.agentName, base.agent_name),
    scored_at: scoredAt,
    first_received_at: prev ? earlier(base.first_received_at, receivedAt) : receivedAt,
    last_received_at: prev ? later(base.last_received_at, receivedAt) : receivedAt,
    webhooks: base.webhooks + 1,
    completed: base.completed || f.kind === 'completion',
    red_flag: base.red_flag || f.kind === 'red_flag',
    low_score: base.low_score || f.kind === 'low_score',
    total_score: latest(f.totalScore, base.total_score),
    total_score_threshold: latest(f.totalScoreThreshold, base.total_score_threshold),
    red_flag_reason: latest(f.redFlagReason, base.red_flag_reason),
    summary: latest(f.summary, base.summary),
    vendor_time: base.vendor_time || f.vendorTime !== undefined,
  };
}

/**
 * `mergeMetric` on the state itself (the projection merges millions of them):
 * false, and nothing changes, when the webhook carries neither half.
 */
export function mergeMetricInto(state: MetricState, m: { metric: string; score: Cell; justification: Cell }, receivedAt: string): boolean {
  if (m.score === null && m.justification === null) return false;
  state.score = latest(m.score, state.score);
  state.justification = latest(m.justification, state.justification);
  state.updated_at = receivedAt;
  return true;
}

/** A metric after one more webhook that carries it; undefined when the webhook carries neither half (nothing changes). */
export function mergeMetric(prev: MetricState | undefined, m: { metric: string; score: Cell; justification: Cell }, receivedAt: string): MetricState | undefined {
  if (m.score === null && m.justification === null) return undefined;
  return {
    metric: m.metric,
    score: latest(m.score, prev?.score ?? null),
    justification: latest(m.justification, prev?.justification ?? null),
    updated_at: receivedAt,
  };
}
