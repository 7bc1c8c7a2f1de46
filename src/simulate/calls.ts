/**
 * A stream of EmberQA webhooks that tell coherent stories about calls, the way
 * EmberQA sends them: a call (or document) is scored once; about a third of
 * them raise an alert first (a red flag, or a low score when the total is under
 * the threshold), then the completion repeats the same `content_id`, agent,
 * file name and `score_details`; a few are re-scored later (a second
 * completion, new scores, later vendor time). Workflow completions come in
 * between, some about a call's `content_id`.
 *
 * Deterministic: the same count and options (seed, idPrefix, now, days,
 * metrics, threshold) give the same webhooks byte for byte. Streaming: memory
 * stays bounded by the calls in flight, whatever the count.
 */
import type { CompletionWebhook, EmberQAWebhook, LowScoreWebhook, RedFlagWebhook, ScoreDetails, WorkflowCompletionWebhook } from '../model/payload-types.js';
import { CALL_REASONS, JUSTIFICATIONS, METRICS, REASONS, rng, type SimulatedKind } from './generate.js';

export interface CallHistoryOptions {
  /** PRNG seed (default 1). */
  seed?: number;
  /** Prefix of every webhook_id, so that several runs do not collide (default none). */
  idPrefix?: string;
  /** The end of the history: vendor times fall in the `days` before it (default: the time the stream is created). */
  now?: Date | number;
  /** How many days of history the vendor times spread over (default 7). */
  days?: number;
  /** Metrics scored on every call (default the six of generateWebhook). */
  metrics?: readonly string[];
  /** `total_score_threshold` of low-score alerts, 0–100 (default 70). */
  threshold?: number;
}

export type CallStep = 'alert' | 'completion' | 'rescore' | 'workflow';
export type AlertType = 'red_flag' | 'low_score';

/** What a simulated call is, before EmberQA's spelling of it (agent names are canonical here). */
export interface SimulatedCall {
  /** Position of the call in the stream (0, 1, 2…). */
  index: number;
  content_id: string;
  agent_name: string;
  content_type: 'Call' | 'Document';
  file_name: string;
  /** When the call took place, ms since the epoch (its alerts and completion follow within minutes). */
  at: number;
  /** The scores its alerts and first completion carry. */
  score_details: ScoreDetails;
  total_score: number;
  alerts: readonly AlertType[];
  rescored: boolean;
}

/** One webhook of the stream, with what it is about. */
export interface SimulatedWebhook {
  webhook: EmberQAWebhook;
  kind: SimulatedKind;
  step: CallStep;
  /** The call it belongs to; a workflow completion has none (its content_id may still be a call's). */
  call: SimulatedCall | undefined;
}

/** Agents, each with the UTC offset (minutes) of the site it works from. */
const AGENT_SITES: ReadonlyArray<readonly [name: string, offsetMinutes: number]> = [
  ['John Doe', -300],
  ['Jane Smith', -300],
  ['Amara Okafor', 60],
  ['Lukas Müller', 60],
  ['Sofía Hernández', -360],
  ['Wei Zhang', 480],
  ['Priya Patel', 330],
  ['Tom O’Brien', 0],
];
const CALL_FILES = ['support_call', 'sales_call', 'billing_call', 'retention_call'];
const DOCUMENT_FILES = ['policy', 'claim_form', 'contract'];
const SUMMARIES = ['Customer billing inquiry', 'Caller asked to cancel; no retention offer made', 'Password reset after a long hold', 'Complaint about a late delivery, "escalate" requested'];
const CUSTOMERS = ['John Smith', 'Maria Garcia', 'Chen Wei', 'Fatima Al-Sayed'];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Share of calls that are documents. */
const DOCUMENT_SHARE = 0.15;
/** Share of new items that are workflow completions. */
const WORKFLOW_SHARE = 0.12;
/** Red-flag probability for a call under / over the threshold. */
const RED_FLAG_LOW = 0.25;
const RED_FLAG_HIGH = 0.1;
const RESCORE_SHARE = 0.05;
/** Share of webhooks whose agent name is spelled differently (case, stray spaces). */
const MISSPELLED_AGENT = 0.08;
/** Calls in flight at once: their webhooks interleave. */
const OPEN_CALLS = 6;
/** A re-score comes this many webhooks (of the stream) after the first completion, at least / at most. */
const RESCORE_GAP_MIN = 20;
const RESCORE_GAP_SPAN = 400;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** 8 hex digits of a 32-bit number (a table: Number#toString(16) is the slow part of a million ids). */
function hex8(x: number): string {
  const n = x >>> 0;
  return HEX[n >>> 24]! + HEX[(n >>> 16) & 255]! + HEX[(n >>> 8) & 255]! + HEX[n & 255]!;
}
const pick = <T>(r: () => number, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;

const offsetTexts = new Map<number, string>();
function offsetText(minutes: number): string {
  let text = offsetTexts.get(minutes);
  if (text === undefined) offsetTexts.set(minutes, (text = formatOffset(minutes)));
  return text;
}
function formatOffset(minutes: number): string {
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** An ISO 8601 time as vendors write it: UTC with `Z`, or the site's wall clock with its offset, with or without milliseconds. */
function vendorTime(ms: number, offsetMinutes: number, r: () => number): string {
  const x = r();
  if (x < 0.4) return new Date(ms).toISOString();
  const wall = new Date(ms + offsetMinutes * MINUTE).toISOString();
  return `${wall.slice(0, x < 0.85 ? 23 : 19)}${offsetText(offsetMinutes)}`;
}

/** The agent's name as a webhook spells it: usually as is, sometimes in another case or with stray spaces. */
function spell(name: string, r: () => number): string {
  const x = r();
  if (x >= MISSPELLED_AGENT) return name;
  switch (Math.floor((x / MISSPELLED_AGENT) * 4)) {
    case 0:
      return `  ${name.toLowerCase()} `;
    case 1:
      return name.toUpperCase();
    case 2:
      return `${name} `;
    default:
      return ` ${name}`;
  }
}

interface Pending {
  step: 'alert' | 'completion';
  alert?: AlertType;
  at: number;
}

interface OpenCall {
  call: SimulatedCall;
  offset: number;
  steps: Pending[];
  next: number;
  completedAt: number;
}

interface Rescore {
  due: number;
  open: OpenCall;
}

/** The engine behind generateCallWebhooks: one PRNG stream, calls in flight, re-scores waiting their turn. */
class CallHistory {
  private readonly r: () => number;
  private readonly prefix: string;
  private readonly end: number;
  private readonly span: number;
  private readonly metrics: readonly string[];
  private readonly scoreKeys: readonly string[];
  private readonly justificationKeys: readonly string[];
  private readonly threshold: number;
  private emitted = 0;
  /** Webhooks promised by started calls and not yet emitted (their alerts, completions and re-scores). */
  private pending = 0;
  private calls = 0;
  private completions = 0;
  private readonly open: OpenCall[] = [];
  private readonly rescores: Rescore[] = [];
  /** content_ids of recent calls, for workflows about them. */
  private readonly recent: string[] = [];

  constructor(
    private readonly count: number,
    o: CallHistoryOptions,
  ) {
    // Spread the seed so that nearby seeds start far apart on mulberry32's cycle.
    this.r = rng(Math.imul((o.seed ?? 1) ^ 0x5bd1e995, 0x9e3779b1) ^ 0x2545f491);
    this.prefix = o.idPrefix ?? '';
    const now = o.now === undefined ? Date.now() : typeof o.now === 'number' ? o.now : o.now.getTime();
    this.end = now - HOUR;
    this.span = Math.max(0, (o.days ?? 7) * DAY - HOUR);
    this.metrics = o.metrics ?? METRICS;
    this.scoreKeys = this.metrics.map((m) => `${m}_score`);
    this.justificationKeys = this.metrics.map((m) => `${m}_justification`);
    this.threshold = o.threshold ?? 70;
  }

  private uuid(): string {
    const r = this.r;
    const a = hex8(r() * 4294967296);
    const b = hex8(r() * 4294967296);
    const c = hex8(r() * 4294967296);
    const d = hex8(r() * 4294967296);
    return `${a}-${b.slice(0, 4)}-4${b.slice(5)}-${'89ab'[Math.floor(r() * 4)]}${c.slice(1, 4)}-${c.slice(4)}${d}`;
  }

  /** UUID-shaped, random in front and the stream position at the end: unique in a run by construction. */
  private webhookId(): string {
    const a = hex8(this.r() * 4294967296);
    const b = hex8(this.r() * 4294967296);
    const seq = this.emitted.toString(16).padStart(15, '0');
    return `${this.prefix}${a}-${b.slice(0, 4)}-4${b.slice(5)}-${'89ab'[b.charCodeAt(4) & 3]}${seq.slice(-15, -12)}-${seq.slice(-12)}`;
  }

  private scores(): { details: ScoreDetails; total: number } {
    const r = this.r;
    // Call quality: a quarter of calls land under 7/10, i.e. under a 70 threshold.
    const base = 4 + 6 * Math.sqrt(r());
    const details: ScoreDetails = {};
    let sum = 0;
    for (let k = 0; k < this.scoreKeys.length; k++) {
      let s = Math.min(10, Math.max(0, base + (r() - 0.5) * 3));
      s = r() < 0.2 ? Math.round(s * 2) / 2 : Math.round(s);
      sum += s;
      details[this.scoreKeys[k]!] = s;
      details[this.justificationKeys[k]!] = pick(r, JUSTIFICATIONS);
    }
    const total = this.metrics.length > 0 ? Math.round((sum / this.metrics.length) * 10) : Math.round(base * 10);
    return { details, total };
  }

  /** Plans a new call of at most `room` webhooks (at least its completion). */
  private startCall(room: number): OpenCall {
    const r = this.r;
    const index = this.calls++;
    const [agent, offset] = pick(r, AGENT_SITES);
    const isDocument = r() < DOCUMENT_SHARE;
    const serial = String(index).padStart(6, '0');
    const file_name = isDocument ? `${pick(r, DOCUMENT_FILES)}_${serial}.pdf` : `${pick(r, CALL_FILES)}_${serial}.${r() < 0.8 ? 'wav' : 'mp3'}`;
    // Calls follow the stream through the history, give or take half an hour.
    const position = this.count > 0 ? this.emitted / this.count : 0;
    const at = Math.round(Math.min(this.end, Math.max(this.end - this.span, this.end - this.span + position * this.span + (r() - 0.5) * HOUR)));
    const { details, total } = this.scores();
    const alerts: AlertType[] = [];
    if (r() < (total < this.threshold ? RED_FLAG_LOW : RED_FLAG_HIGH)) alerts.push('red_flag');
    if (total < this.threshold) alerts.push('low_score');
    let rescored = r() < RESCORE_SHARE;
    // The end of the stream: what does not fit is left out (re-score first, then alerts).
    if (rescored && alerts.length + 2 > room) rescored = false;
    while (alerts.length + 1 > room) alerts.shift();
    const content_id = this.uuid();
    const call: SimulatedCall = { index, content_id, agent_name: agent, content_type: isDocument ? 'Document' : 'Call', file_name, at, score_details: details, total_score: total, alerts, rescored };
    const steps: Pending[] = [];
    let t = at + MINUTE + Math.floor(r() * 9 * MINUTE);
    for (const alert of alerts) {
      steps.push({ step: 'alert', alert, at: t });
      t += 1000 + Math.floor(r() * 60_000);
    }
    steps.push({ step: 'completion', at: t + Math.floor(r() * 4 * MINUTE) });
    this.pending += steps.length + (rescored ? 1 : 0);
    return { call, offset, steps, next: 0, completedAt: 0 };
  }

  private alert(o: OpenCall, p: Pending): RedFlagWebhook | LowScoreWebhook {
    const r = this.r;
    const c = o.call;
    const webhook_id = this.webhookId();
    const timestamp = vendorTime(p.at, o.offset, r);
    const agent_name = spell(c.agent_name, r);
    if (p.alert === 'red_flag') {
      return {
        webhook_id,
        content_id: c.content_id,
        alert_type: 'red_flag',
        content_type: c.content_type,
        file_name: c.file_name,
        agent_name,
        red_flag_reason: pick(r, REASONS),
        total_score: c.total_score,
        score_details: { ...c.score_details },
        timestamp,
      };
    }
    return {
      webhook_id,
      content_id: c.content_id,
      alert_type: 'low_score',
      content_type: c.content_type,
      total_score: c.total_score,
      total_score_threshold: this.threshold,
      file_name: c.file_name,
      agent_name,
      summary: r() < 0.1 ? null : pick(r, SUMMARIES),
      score_details: { ...c.score_details },
      timestamp,
    };
  }

  private completion(o: OpenCall, at: number, details: ScoreDetails): CompletionWebhook {
    const r = this.r;
    const c = o.call;
    const webhook_id = this.webhookId();
    const data: CompletionWebhook['data'] = {
      score_details: details,
      original_filename: c.file_name,
      score_uuid: this.uuid(),
      created_time: vendorTime(at, o.offset, r),
      agent_name: spell(c.agent_name, r),
    };
    if (c.content_type === 'Call') data.reason_for_call = pick(r, CALL_REASONS);
    return { webhook_id, trigger_reason: 'completed_action', content_id: c.content_id, data };
  }

  /** New scores for a re-score: one to three metrics move by 1–3 points. */
  private rescoredDetails(c: SimulatedCall): ScoreDetails {
    const r = this.r;
    const details = { ...c.score_details };
    const n = Math.min(this.metrics.length, 1 + Math.floor(r() * 3));
    const first = Math.floor(r() * this.metrics.length);
    for (let k = 0; k < n; k++) {
      // Distinct metrics, so that no change undoes another.
      const m = (first + k) % this.metrics.length;
      const old = details[this.scoreKeys[m]!] as number;
      const delta = (1 + Math.floor(r() * 3)) * (r() < 0.5 ? -1 : 1);
      details[this.scoreKeys[m]!] = old + delta >= 0 && old + delta <= 10 ? old + delta : old - delta;
      details[this.justificationKeys[m]!] = `Re-scored after review: ${pick(r, JUSTIFICATIONS).toLowerCase()}`;
    }
    return details;
  }

  private workflow(): WorkflowCompletionWebhook {
    const r = this.r;
    const webhook_id = this.webhookId();
    const known = this.recent.length > 0 && r() < 0.5;
    const content_id = known ? pick(r, this.recent) : this.uuid();
    const missingDate = r() < 0.2;
    return {
      webhook_id,
      trigger_reason: 'completed_action',
      content_id,
      data: {
        output_schema: {
          customer_name: { value: pick(r, CUSTOMERS), reasoning: 'Found in header section' },
          policy_number: { value: `POL-2025-${String(this.emitted).padStart(6, '0')}`, reasoning: 'Extracted from policy ID field' },
          renewal_date: { value: missingDate ? null : '2026-03-01', reasoning: missingDate ? null : 'Stated on page 2' },
        },
        status: 'complete',
        cost: Math.round(r() * 100) / 100,
      },
    };
  }

  private emitRescore(at: number): SimulatedWebhook {
    const [due] = this.rescores.splice(at, 1);
    const o = due!.open;
    const room = this.end + HOUR - MINUTE - o.completedAt;
    const when = o.completedAt + 10 * MINUTE + Math.floor(this.r() * Math.max(0, Math.min(2 * DAY, room - 10 * MINUTE)));
    const webhook = this.completion(o, when, this.rescoredDetails(o.call));
    return this.done({ webhook, kind: 'completion', step: 'rescore', call: o.call });
  }

  private done(w: SimulatedWebhook): SimulatedWebhook {
    this.emitted++;
    if (w.step !== 'workflow') this.pending--;
    return w;
  }

  next(): SimulatedWebhook {
    const r = this.r;
    for (let i = 0; i < this.rescores.length; i++) if (this.rescores[i]!.due <= this.emitted) return this.emitRescore(i);
    const room = this.count - this.emitted - this.pending;
    if (room > 0 && this.open.length < OPEN_CALLS) {
      if (r() < WORKFLOW_SHARE) return this.done({ webhook: this.workflow(), kind: 'workflow', step: 'workflow', call: undefined });
      this.open.push(this.startCall(room));
    }
    if (this.open.length === 0) {
      // Only re-scores are left and the stream ends: the earliest goes now.
      let first = 0;
      for (let i = 1; i < this.rescores.length; i++) if (this.rescores[i]!.due < this.rescores[first]!.due) first = i;
      return this.emitRescore(first);
    }
    const slot = Math.floor(r() * this.open.length);
    const o = this.open[slot]!;
    const p = o.steps[o.next++]!;
    if (o.next === o.steps.length) {
      this.open[slot] = this.open[this.open.length - 1]!;
      this.open.pop();
    }
    if (p.step === 'alert') {
      const webhook = this.alert(o, p);
      return this.done({ webhook, kind: p.alert!, step: 'alert', call: o.call });
    }
    o.completedAt = p.at;
    this.recent[this.completions++ % 32] = o.call.content_id;
    const webhook = this.completion(o, p.at, { ...o.call.score_details });
    if (o.call.rescored) this.rescores.push({ due: this.emitted + RESCORE_GAP_MIN + Math.floor(r() * RESCORE_GAP_SPAN), open: o });
    return this.done({ webhook, kind: 'completion', step: 'completion', call: o.call });
  }
}

/**
 * Exactly `count` webhooks of coherent calls, in the order EmberQA would send
 * them (a call's alerts before its completion, its re-score after; calls
 * interleave), each with what it is about.
 */
export function generateCallWebhooks(count: number, options: CallHistoryOptions = {}): Generator<SimulatedWebhook, void, undefined> {
  // Checked here, at the call, not at the first next().
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`count must be a whole number ≥ 0 (got ${count})`);
  if (options.days !== undefined && !(options.days >= 0 && options.days <= 36_500)) throw new RangeError(`days must be 0–36500 (got ${options.days})`);
  const now = options.now === undefined ? undefined : Number(options.now instanceof Date ? options.now.getTime() : options.now);
  if (now !== undefined && !(Math.abs(now) <= 8.64e15 - 100 * 365 * 86_400_000)) throw new RangeError('now must be a valid time');
  const history = new CallHistory(count, options);
  return (function* () {
    for (let i = 0; i < count; i++) yield history.next();
  })();
}

/** The payloads of generateCallWebhooks alone: `for (const w of generateWebhooks(1_000_000, { seed: 7 })) …`. */
export function* generateWebhooks(count: number, options: CallHistoryOptions = {}): Generator<EmberQAWebhook, void, undefined> {
  for (const w of generateCallWebhooks(count, options)) yield w.webhook;
}
