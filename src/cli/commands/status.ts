import { viewsSyncedTo } from '../../config/settings.js';
import type { Command } from 'commander';
import { peekWebhookToken, tokenFingerprint, webhookUrlFor } from '../../config/secrets.js';
import { scheduleStatus } from '../../doctor/next-sync.js';
import { collectStatus, recentTargets, webhookUrlWarning, type Status } from '../../store/status.js';
import { createCliContext } from '../context.js';

type TargetStatus = Status['targets'][string];
type StatusOutput = Status & { webhook_url: string | null; webhook_url_note?: string; webhook_url_warning?: string; targets_not_set_here?: string[] };

/** "in 40 s", "3 min ago": how far a time is from now, roughly; a time known to be `past` (a heartbeat a hair ahead of this clock) is never "in". */
function relative(iso: string, now: number, past = false): string {
  const raw = Math.round((Date.parse(iso) - now) / 1000);
  const s = past ? Math.min(raw, 0) : raw;
  const a = Math.abs(s);
  const span = a < 90 ? `${a} s` : a < 5400 ? `${Math.round(a / 60)} min` : a < 172_800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86_400)} days`;
  return s > 0 || (s === 0 && !past) ? `in ${span}` : `${span} ago`;
}

/** When the pending rows go out, in words that do not read like a failure. */
function whenDelivered(s: StatusOutput, now: number, verb = 'delivers them'): string {
  const next = s.schedule?.next_run_at;
  return next ? `the next scheduled sync ${verb} at ${next} (${relative(next, now)}, while ember-sync serve runs), or run \`ember-sync sync\` now` : 'run `ember-sync sync` to deliver them (SYNC_SCHEDULE never fires again)';
}

function targetLines(name: string, t: TargetStatus, s: StatusOutput, now: number): string[] {
  const lines: string[] = [];
  const last = t.last_run;
  const lastLine = last ? `last finished run ${last.finished_at}: ${last.ok ? `ok, ${last.rows} rows written${last.rows === 0 ? ' (nothing was new then)' : ''}` : `FAILED${last.error ? `: ${last.error}` : ''}`}` : 'no finished run yet';
  const totals = `last success ${t.last_success_at ?? 'never'}; ${t.rows_delivered} rows delivered in all`;
  switch (t.state) {
    case 'never':
      lines.push(`target ${name}: never synced yet`);
      break;
    case 'running':
      lines.push(`target ${name}: syncing now (started ${t.state_since}, pid ${t.lock?.pid} on ${t.lock?.host}, heartbeat ${t.lock ? relative(t.lock.heartbeat_at, now, true) : '?'}); ${lastLine}; ${totals}`);
      break;
    case 'crashed':
      lines.push(`target ${name}: CRASHED: the run started at ${t.state_since} never finished and no process holds its lock (the process died or was killed); what it had not confirmed stays pending and goes out with the next sync. Before it: ${lastLine}; ${totals}`);
      break;
    case 'locked':
      lines.push(`target ${name}: busy: pid ${t.lock?.pid} on ${t.lock?.host} holds the sync lock (ember-sync rebuild, the daily RETENTION_DAYS run, or a sync about to start); ${lastLine}; ${totals}`);
      break;
    default:
      lines.push(`target ${name}: ${lastLine}; ${totals}`);
  }
  if (t.rows_pending > 0) {
    const stopped = Object.keys(t.view_errors).length > 0 ? '; views with an error below keep theirs until it is fixed' : '';
    if (t.state === 'running') lines.push(`  ${t.rows_pending} rows pending: the sync running now is delivering them${stopped}`);
    else if (t.state === 'crashed') lines.push(`  ${t.rows_pending} rows pending: the last run did not finish its work; ${whenDelivered(s, now)}${stopped}`);
    else if (t.state === 'failed') lines.push(`  ${t.rows_pending} rows pending: the last run failed (above); ${whenDelivered(s, now, 'tries again')}${stopped}`);
    else if (t.state === 'never') lines.push(`  ${t.rows_pending} rows pending: ${whenDelivered(s, now)}${stopped}`);
    else lines.push(`  ${t.rows_pending} rows pending (new or changed since the last run): ${whenDelivered(s, now)}${stopped}`);
  } else if (s.projector.lag > 0) {
    // Events not yet turned into rows are not counted as rows: say so rather than "nothing pending".
    lines.push(`  no rows pending yet; ${s.projector.lag} new events are still being turned into rows, then ${whenDelivered(s, now)}`);
  } else {
    lines.push('  nothing pending: every row is delivered');
  }
  for (const [view, e] of Object.entries(t.view_errors)) lines.push(`  ${view}: ${e.error} (${e.at})`);
  for (const n of last?.notices ?? []) lines.push(`  note: ${n}`);
  return lines;
}

/** RETENTION_DAYS in one line: what is kept, from which day, and what the last run did. */
function retentionLine(s: StatusOutput): string {
  const r = s.retention;
  const oldest = r.oldest_kept_day ? `oldest kept day ${r.oldest_kept_day}` : 'nothing stored yet';
  const last = r.last_result ? `; last run ${r.last_run_at ?? '(none completed)'}: ${r.last_result}` : '';
  if (r.days === null) return `retention: keeps everything (RETENTION_DAYS unset); ${oldest}${last}`;
  return `retention: RETENTION_DAYS=${r.days} (webhooks, quarantined payloads and calls older than that are deleted daily; daily summaries stay); ${oldest}${last}`;
}

function human(s: StatusOutput, now: number): string {
  // The URL as `serve` prints it at start on a terminal: the part the operator pastes.
  const url = s.webhook_url
    ? ['Paste this URL into EmberQA (Settings → Alerts → Create New Alert → Webhook):', `  ${s.webhook_url}`, ...(s.webhook_url_warning ? [`  WARNING: ${s.webhook_url_warning}`] : [])]
    : [`webhook URL for EmberQA: ${s.webhook_url_note ?? '(no token yet: start ember-sync serve once)'}`];
  const lines = [
    ...url,
    `events: ${s.events.total} (${Object.entries(s.events.by_type).map(([t, n]) => `${t} ${n}`).join(', ') || 'none yet'})`,
    `quarantine: ${s.quarantine.held} held${s.quarantine.held ? ' (ember-sync replay re-checks them)' : ''}`,
    `report time zone: ${s.report_timezone} (days of the daily views; local CSV times and Sheets date cells)`,
    `projector: ${s.projector.lag === 0 ? 'up to date' : `${s.projector.lag} events not projected yet`}${s.projector.parked ? `; ${s.projector.parked} events parked (they could not be turned into rows; ember-sync replay retries them)` : ''}`,
  ];
  for (const p of s.projector.parked_events) lines.push(`  parked event ${p.seq} (${p.webhook_id}): ${p.error}`);
  for (const [view, n] of Object.entries(s.columns_over_cap)) lines.push(`columns: ${n} keys of ${view} got no column (MAX_DYNAMIC_COLUMNS); their values are in the scores / workflow_fields / content_scores views`);
  lines.push(retentionLine(s));
  if (s.schedule) {
    lines.push(`schedule: SYNC_SCHEDULE "${s.schedule.expression}" in ${s.schedule.timezone}; ${s.schedule.next_run_at ? `next sync at ${s.schedule.next_run_at} (${relative(s.schedule.next_run_at, now)}) while ember-sync serve runs` : 'it never fires again'}`);
  }
  for (const [name, t] of Object.entries(s.targets)) {
    const lines2 = targetLines(name, t, s, now);
    if (s.targets_not_set_here?.includes(name)) {
      lines2.splice(1, 0, `  (${name} is not a target in this shell's settings, but the server synced it in the last 7 days: these numbers are from the database; run status with the server's environment for its settings)`);
    }
    lines.push(...lines2);
  }
  return lines.join('\n') + '\n';
}


/** RETENTION_DAYS as the server recorded it at start ('unset': it keeps everything), else this shell's. */
function serverRetention(recorded: string | undefined, here: number | undefined): number | null {
  if (recorded === undefined) return here ?? null;
  return recorded === 'unset' ? null : Number(recorded);
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('the webhook URL, counts, quarantine, and per target: running, crashed or last run, pending rows and when they go out')
    .option('--json', 'print JSON (the same as GET /api/status)')
    .action(async (flags: { json?: boolean }) => {
      const ctx = createCliContext();
      const store = await ctx.openStore();
      try {
        const token = peekWebhookToken(ctx.settings);
        // The base the running server announced (its PORT and PUBLIC_URL may not be in this shell's environment).
        const base = (await store.meta.get('public_url')) ?? ctx.settings.publicUrl;
        // A token this shell sees that is not the server's (set by WEBHOOK_TOKEN in its unit file) would give a URL that gets 401s.
        const serverToken = await store.meta.get('webhook_token_sha256');
        const known = token !== undefined && (serverToken === undefined || serverToken === tokenFingerprint(token));
        const now = new Date();
        // A target the server syncs but this shell's environment does not set (SHEETS_SPREADSHEET_ID in a unit file) is still shown.
        const notSetHere = (await recentTargets(store, now)).filter((t) => !ctx.settings.syncTargets.includes(t));
        const targets = [...ctx.settings.syncTargets, ...notSetHere];
        const warning = webhookUrlWarning(base);
        // The schedule the server runs on, as it recorded it at start (this shell's may differ or be unset).
        const schedule = scheduleStatus((await store.meta.get('sync_schedule')) ?? ctx.settings.syncSchedule, (await store.meta.get('sync_timezone')) ?? ctx.settings.syncTimezone);
        const retentionDays = serverRetention(await store.meta.get('retention_days'), ctx.settings.retentionDays);
        const collected = await collectStatus(store, targets, { now, schedule, viewsOf: (t) => viewsSyncedTo(ctx.settings, t), retentionDays });
        const status: StatusOutput = {
          webhook_url: known ? webhookUrlFor(base, token) : null,
          ...(known && warning ? { webhook_url_warning: warning } : {}),
          ...(token !== undefined && !known ? { webhook_url_note: 'the running server uses another webhook token (WEBHOOK_TOKEN in its environment): run status with the same environment to see its URL' } : {}),
          // No token file, but the server recorded one: it comes from the server's environment, not "no token yet".
          ...(token === undefined && serverToken !== undefined ? { webhook_url_note: "the server's webhook token comes from its environment (WEBHOOK_TOKEN), which this shell does not have: run status with the same environment to see its URL" } : {}),
          ...(notSetHere.length ? { targets_not_set_here: notSetHere } : {}),
          ...collected,
        };
        process.stdout.write(flags.json ? `${JSON.stringify(status, null, 2)}\n` : human(status, now.getTime()));
      } finally {
        await store.close();
      }
    });
}
