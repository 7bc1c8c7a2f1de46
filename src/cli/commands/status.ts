import type { Command } from 'commander';
import { peekWebhookToken, tokenFingerprint, webhookUrlFor } from '../../config/secrets.js';
import { collectStatus, type Status } from '../../store/status.js';
import { createCliContext } from '../context.js';

function human(s: Status & { webhook_url: string | null; webhook_url_note?: string }): string {
  const lines = [
    `webhook URL for EmberQA: ${s.webhook_url ?? s.webhook_url_note ?? '(no token yet: start ember-sync serve once)'}`,
    `events: ${s.events.total} (${Object.entries(s.events.by_type).map(([t, n]) => `${t} ${n}`).join(', ') || 'none yet'})`,
    `quarantine: ${s.quarantine.held} held${s.quarantine.held ? ' (ember-sync replay re-checks them)' : ''}`,
    `report time zone: ${s.report_timezone} (days of the daily views; local CSV times and Sheets date cells)`,
    `projector: ${s.projector.lag === 0 ? 'up to date' : `${s.projector.lag} events not projected yet`}${s.projector.parked ? `; ${s.projector.parked} events parked (they could not be turned into rows; ember-sync replay retries them)` : ''}`,
  ];
  for (const p of s.projector.parked_events) lines.push(`  parked event ${p.seq} (${p.webhook_id}): ${p.error}`);
  for (const [view, n] of Object.entries(s.columns_over_cap)) lines.push(`columns: ${n} keys of ${view} got no column (MAX_DYNAMIC_COLUMNS); their values are in the scores / workflow_fields / content_scores views`);
  for (const [name, t] of Object.entries(s.targets)) {
    const last = t.last_run ? `${t.last_run.finished_at} ${t.last_run.ok ? 'ok' : 'FAILED'} (${t.last_run.rows} rows)${t.last_run.error ? `: ${t.last_run.error}` : ''}` : 'never';
    lines.push(`target ${name}: last run ${last}; last success ${t.last_success_at ?? 'never'}; ${t.rows_delivered} rows delivered; ${t.rows_pending} pending`);
    for (const [view, e] of Object.entries(t.view_errors)) lines.push(`  ${view}: ${e.error} (${e.at})`);
    for (const n of t.last_run?.notices ?? []) lines.push(`  note: ${n}`);
  }
  return lines.join('\n') + '\n';
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('counts, quarantine, pending rows and the last sync (with its error) per target')
    .option('--json', 'print JSON (the same as GET /api/status)')
    .action((flags: { json?: boolean }) => {
      const ctx = createCliContext();
      const store = ctx.openStore();
      try {
        const token = peekWebhookToken(ctx.settings);
        // The base the running server announced (its PORT and PUBLIC_URL may not be in this shell's environment).
        const base = store.meta.get('public_url') ?? ctx.settings.publicUrl;
        // A token this shell sees that is not the server's (set by WEBHOOK_TOKEN in its unit file) would give a URL that gets 401s.
        const serverToken = store.meta.get('webhook_token_sha256');
        const known = token !== undefined && (serverToken === undefined || serverToken === tokenFingerprint(token));
        const status = {
          webhook_url: known ? webhookUrlFor(base, token) : null,
          ...(token !== undefined && !known ? { webhook_url_note: 'the running server uses another webhook token (WEBHOOK_TOKEN in its environment): run status with the same environment to see its URL' } : {}),
          ...collectStatus(store, ctx.settings.syncTargets),
        };
        process.stdout.write(flags.json ? `${JSON.stringify(status, null, 2)}\n` : human(status));
      } finally {
        store.close();
      }
    });
}
