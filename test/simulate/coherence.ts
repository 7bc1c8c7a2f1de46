/**
 * What a stream of EmberQA webhooks must look like when it tells coherent
 * stories about calls, checked from the payloads alone (no generator
 * internals): the alerts of a call and its first completion share
 * content_id, agent (after trimming and case), file name, content type and
 * scores; alerts come before the completion; a re-score is a later completion
 * of the same call with other scores and a later vendor time.
 */
import { isDeepStrictEqual } from 'node:util';

type Json = Record<string, unknown>;

export interface CoherenceReport {
  webhooks: number;
  /** content_ids with a completion (calls and documents). */
  calls: number;
  callsWithAlerts: number;
  documents: number;
  rescored: number;
  workflows: number;
  /** Workflow completions whose content_id is one of the calls'. */
  workflowsOnCalls: number;
  /** Time zone designators seen in vendor times (`Z`, `-05:00`…). */
  offsets: Set<string>;
  /** UTC days of the vendor times. */
  utcDays: Set<string>;
  /** Agent names that differ from their call's usual spelling (case, stray spaces). */
  oddSpellings: number;
  /** Earliest and latest vendor time (ms). */
  first: number;
  last: number;
  problems: string[];
}

const norm = (s: unknown) => (typeof s === 'string' ? s.trim().toLowerCase() : s);
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Seen {
  alerts: Json[];
  completions: Json[];
  /** Index in the stream of the first completion. */
  firstCompletionAt: number;
  lastAlertAt: number;
}

export function checkCoherence(payloads: readonly Json[]): CoherenceReport {
  const problems: string[] = [];
  const byContent = new Map<string, Seen>();
  const workflowContent: string[] = [];
  const offsets = new Set<string>();
  const utcDays = new Set<string>();
  let first = Infinity;
  let last = -Infinity;
  const time = (text: unknown, where: string): number => {
    const ms = typeof text === 'string' ? Date.parse(text) : NaN;
    if (!Number.isFinite(ms)) {
      problems.push(`${where}: vendor time ${JSON.stringify(text)} does not parse`);
      return NaN;
    }
    const zone = /(Z|[+-]\d\d:\d\d)$/.exec(text as string);
    if (!zone) problems.push(`${where}: vendor time ${JSON.stringify(text)} has no zone`);
    else offsets.add(zone[1]!);
    utcDays.add(new Date(ms).toISOString().slice(0, 10));
    first = Math.min(first, ms);
    last = Math.max(last, ms);
    return ms;
  };

  payloads.forEach((p, i) => {
    const id = String(p['webhook_id']);
    const content = String(p['content_id']);
    const data = p['data'];
    if (p['trigger_reason'] === 'completed_action' && isObject(data) && data['output_schema'] !== undefined) {
      workflowContent.push(content);
      return;
    }
    const seen = byContent.get(content) ?? { alerts: [], completions: [], firstCompletionAt: -1, lastAlertAt: -1 };
    byContent.set(content, seen);
    if (p['alert_type'] === 'red_flag' || p['alert_type'] === 'low_score') {
      if (seen.completions.length > 0) problems.push(`${id}: an alert of ${content} after its completion`);
      if (p['alert_type'] === 'low_score' && !((p['total_score'] as number) < (p['total_score_threshold'] as number))) {
        problems.push(`${id}: a low-score alert with total ${p['total_score']} not under its threshold ${p['total_score_threshold']}`);
      }
      time(p['timestamp'], id);
      seen.alerts.push(p);
      seen.lastAlertAt = i;
    } else if (p['trigger_reason'] === 'completed_action' && isObject(data)) {
      time(data['created_time'], id);
      if (seen.completions.length === 0) seen.firstCompletionAt = i;
      seen.completions.push(p);
    } else {
      problems.push(`${id}: neither an alert nor a completion`);
    }
  });

  let callsWithAlerts = 0;
  let documents = 0;
  let rescored = 0;
  let oddSpellings = 0;
  for (const [content, seen] of byContent) {
    const [completion, ...later] = seen.completions;
    if (!completion) {
      problems.push(`${content}: alerts without a completion`);
      continue;
    }
    const data = completion['data'] as Json;
    const agent = norm(data['agent_name']);
    if (seen.alerts.length > 0) callsWithAlerts++;
    if (seen.alerts.some((a) => a['content_type'] === 'Document')) documents++;
    else if (seen.alerts.length === 0 && typeof data['reason_for_call'] !== 'string') documents++;
    const completedAt = Date.parse(String(data['created_time']));
    for (const a of seen.alerts) {
      const id = String(a['webhook_id']);
      if (norm(a['agent_name']) !== agent) problems.push(`${id}: agent ${JSON.stringify(a['agent_name'])} ≠ completion's ${JSON.stringify(data['agent_name'])}`);
      if (a['file_name'] !== data['original_filename']) problems.push(`${id}: file ${JSON.stringify(a['file_name'])} ≠ completion's ${JSON.stringify(data['original_filename'])}`);
      if (!isDeepStrictEqual(a['score_details'], data['score_details'])) problems.push(`${id}: score_details differ from the completion's`);
      if (a['total_score'] !== seen.alerts[0]!['total_score']) problems.push(`${id}: total_score differs between the alerts of ${content}`);
      if (a['content_type'] !== seen.alerts[0]!['content_type']) problems.push(`${id}: content_type differs between the alerts of ${content}`);
      if (!(Date.parse(String(a['timestamp'])) < completedAt)) problems.push(`${id}: alert time ${a['timestamp']} not before the completion's ${data['created_time']}`);
    }
    if (seen.alerts.length > 0 && seen.lastAlertAt > seen.firstCompletionAt) problems.push(`${content}: an alert comes after the completion in the stream`);
    if (later.length > 0) rescored++;
    let previous = completedAt;
    for (const r of later) {
      const rd = r['data'] as Json;
      const id = String(r['webhook_id']);
      if (norm(rd['agent_name']) !== agent) problems.push(`${id}: a re-score by another agent`);
      if (rd['original_filename'] !== data['original_filename']) problems.push(`${id}: a re-score of another file`);
      if (isDeepStrictEqual(rd['score_details'], data['score_details'])) problems.push(`${id}: a re-score with unchanged scores`);
      const at = Date.parse(String(rd['created_time']));
      if (!(at > previous)) problems.push(`${id}: a re-score at ${rd['created_time']} not after the completion before it`);
      previous = at;
    }
  }
  // Spellings of one agent (equal once trimmed and case-folded): all but the usual one are odd.
  const spellings = new Map<unknown, Map<unknown, number>>();
  for (const p of payloads) {
    const name = isObject(p['data']) && p['alert_type'] === undefined ? p['data']['agent_name'] : p['agent_name'];
    if (typeof name !== 'string') continue;
    const forms = spellings.get(norm(name)) ?? new Map<unknown, number>();
    spellings.set(norm(name), forms.set(name, (forms.get(name) ?? 0) + 1));
  }
  for (const forms of spellings.values()) {
    const counts = [...forms.values()];
    oddSpellings += counts.reduce((a, b) => a + b, 0) - Math.max(...counts);
  }
  const callIds = new Set([...byContent.keys()]);
  return {
    webhooks: payloads.length,
    calls: byContent.size,
    callsWithAlerts,
    documents,
    rescored,
    workflows: workflowContent.length,
    workflowsOnCalls: workflowContent.filter((c) => callIds.has(c)).length,
    offsets,
    utcDays,
    oddSpellings,
    first,
    last,
    problems,
  };
}
