import type { ErrorDetail } from '../../model/webhooks.js';
import type { HeldPayload } from '../../store/store.js';
import { HOUR_OUTCOMES, HOUR_TYPES } from '../../store/webhook-hours.js';
import type { Hourly } from './hourly.js';
import { html, jsonBlock, type Html, type HtmlPart } from './html.js';
import type { SyncActivity } from './sync-now.js';

/**
 * The console's pages, server-rendered. Every link and form action is
 * relative to the page at `/`, so the console also works behind a proxy
 * that serves it under a path prefix. No inline script or style: the
 * Content-Security-Policy allows only the console's own files.
 */

export interface TargetView {
  name: string;
  /** Start of the latest run when it never finished and no process holds the lock (it died). */
  crashedSince?: string | undefined;
  activity: SyncActivity;
  /** Why the last click started nothing, if it did not. */
  note: string | undefined;
  lastRun: { startedAt: string; finishedAt: string | null; ok: boolean; rows: number; error: string | null; notices: string[] } | undefined;
  lastSuccessAt: string | null;
  /** undefined when the database could not count them now, or when the target is too far `behind` to count on a page load. */
  pending: number | undefined;
  /** Webhooks (events) the target is behind, when too many to count its pending rows one by one. */
  behind?: number | undefined;
  viewErrors: Array<{ view: string; error: string; at: string }>;
}

export interface ConsoleView {
  /** See page(): the way back to `/` from the path answered. */
  home: string;
  csrf: string;
  flash: string | undefined;
  webhookUrl: string;
  /** Why EmberQA cannot reach webhookUrl (a loopback, unspecified or private host), if it cannot. */
  webhookUrlWarning?: string | undefined;
  hourly: Hourly;
  quarantine: { held: number; items: HeldPayload[]; paged: boolean; olderThan: number | undefined };
  projector: { lag: number; parked: number };
  targets: TargetView[];
  views: readonly string[];
  /** yyyy-mm-dd (UTC): the download form's default range ends here. */
  today: string;
  weekAgo: string;
  /** RETENTION_DAYS as the server runs it (null: keeps everything) and the oldest day kept (null: nothing deleted yet). */
  retention: { days: number | null; keptFromDay: string | null };
}

/**
 * Links are relative to the console at `/` (so a proxy's path prefix stays); `home` leads there
 * from the path of the page being answered (`./` at `/`, `../` at `/console/sign-in`).
 */
function page(home: string, title: string, main: Html, options: { scripts?: boolean; header?: Html } = {}): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="${home}console/assets/console.css">
${options.scripts ? html`<link rel="stylesheet" href="${home}console/assets/uplot.min.css">
<script src="${home}console/assets/uplot.iife.min.js" defer></script>
<script src="${home}console/assets/console.js" defer></script>` : ''}
</head>
<body data-home="${home}">
<a class="skip" href="#main">Skip to content</a>
<header class="top"><p class="brand">ember-sync</p>${options.header ?? ''}</header>
<main id="main" tabindex="-1">
${main}
</main>
</body>
</html>
`.text;
}

/** The sign-in page; `problem` says why the last attempt or action was refused (never which part of a token was wrong). */
export function signInPage(home: string, problem?: string): string {
  return page(
    home,
    'Sign in · ember-sync',
    html`<h1>Sign in to the console</h1>
${problem ? html`<p class="notice error" role="alert">${problem}</p>` : ''}
<form class="card signin" method="post" action="${home}console/sign-in">
  <label for="token">Admin token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required spellcheck="false" autocapitalize="off" aria-describedby="token-hint">
  <p class="hint" id="token-hint">The <code>ADMIN_TOKEN</code> setting, or the file <code>admin-token</code> in <code>DATA_DIR</code>.</p>
  <button type="submit">Sign in</button>
</form>`,
  );
}

/** A refusal or a bad request on a console page, as a page (the same code, status and message as the JSON API would give). */
export function errorPage(home: string, status: number, code: string, message: string): string {
  return page(
    home,
    `${status} · ember-sync`,
    html`<h1>${status === 403 ? 'Refused' : 'That did not work'}</h1>
<p class="notice error" role="alert"><strong>${code}</strong>: ${message}</p>
<p><a href="${home}">Back to the console</a> (reload it if it was open in another tab).</p>`,
  );
}

const when = (iso: string | null | undefined): HtmlPart => (iso ? html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')} UTC</time>` : '—');
const count = (n: number) => n.toLocaleString('en-US');
const csrfField = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}">`;

function webhookSection(v: ConsoleView): Html {
  return html`<section id="webhook" aria-labelledby="webhook-h">
<h2 id="webhook-h">Webhook URL</h2>
<p>Paste it into EmberQA: <em>Settings → Alerts → Create New Alert → Webhook</em>. It holds the secret webhook token: share it with no one else.</p>
<div class="copy-row">
  <label class="visually-hidden" for="webhook-url">Webhook URL</label>
  <input id="webhook-url" type="text" readonly value="${v.webhookUrl}" spellcheck="false">
  <button type="button" id="copy-url" hidden>Copy</button>
</div>
<p id="copy-status" class="hint" role="status" aria-live="polite"></p>
${v.webhookUrlWarning ? html`<p class="notice error" id="webhook-url-warning"><strong>EmberQA cannot use this URL yet.</strong> ${v.webhookUrlWarning}</p>` : ''}
</section>`;
}

function trafficSection(v: ConsoleView): Html {
  const h = v.hourly;
  const types = HOUR_TYPES.filter((t) => h.series.some((s) => s.type === t));
  const cell = (type: string, outcome: string) => h.series.find((s) => s.type === type && s.outcome === outcome)?.total ?? 0;
  const total = HOUR_OUTCOMES.reduce((n, o) => n + h.totals[o], 0);
  const first = h.hours[0] ?? '';
  const last = h.hours.at(-1) ?? '';
  return html`<section id="traffic" aria-labelledby="traffic-h">
<h2 id="traffic-h">Webhooks per hour, last 48 hours</h2>
<p class="hint">Hours in UTC, from ${first.replace('T', ' ')}:00 to now. Counted as they are committed: <strong>accepted</strong> (stored), <strong>duplicate</strong> (a <code>webhook_id</code> already stored), <strong>quarantined</strong> (failed its schema). Refused requests (wrong token, not JSON, too large, database unavailable) are counted in <code>/metrics</code>.</p>
<div class="scroll"><table id="traffic-totals">
<caption>Totals by type and outcome, ${first.replace('T', ' ')}:00 – ${last.replace('T', ' ')}:59 UTC</caption>
<thead><tr><th scope="col">type</th>${HOUR_OUTCOMES.map((o) => html`<th scope="col" class="num">${o}</th>`)}</tr></thead>
<tbody>
${types.length === 0 ? html`<tr><td colspan="${HOUR_OUTCOMES.length + 1}">No webhooks in the last 48 hours.</td></tr>` : ''}
${types.map((t) => html`<tr data-type="${t}"><th scope="row">${t}</th>${HOUR_OUTCOMES.map((o) => html`<td class="num" data-outcome="${o}">${count(cell(t, o))}</td>`)}</tr>`)}
</tbody>
<tfoot><tr><th scope="row">all (${count(total)})</th>${HOUR_OUTCOMES.map((o) => html`<td class="num" data-outcome="${o}">${count(h.totals[o])}</td>`)}</tr></tfoot>
</table></div>
<figure class="chart-box">
  <div id="chart" role="img" aria-label="Line chart of webhooks per hour over the last 48 hours, one line per type and outcome; the tables on this page hold the same numbers."></div>
  <figcaption class="hint">One line per type (colour) and outcome (solid: accepted, dashed: duplicate, dotted: quarantined). Point at an hour to read its counts.</figcaption>
</figure>
<script type="application/json" id="hourly-data">${jsonBlock({ hours: h.hours, series: h.series.map((s) => ({ type: s.type, outcome: s.outcome, counts: s.counts })) })}</script>
<details><summary>Counts per hour (table)</summary>
<div class="scroll"><table id="traffic-hours">
<thead><tr><th scope="col">hour (UTC)</th><th scope="col">type</th><th scope="col">outcome</th><th scope="col" class="num">webhooks</th></tr></thead>
<tbody>
${h.hours
  .map((hour, i) => ({ hour, i }))
  .reverse()
  .flatMap(({ hour, i }) => h.series.filter((s) => (s.counts[i] ?? 0) > 0).map((s) => html`<tr><td>${hour.replace('T', ' ')}:00</td><td>${s.type}</td><td>${s.outcome}</td><td class="num">${count(s.counts[i] ?? 0)}</td></tr>`))}
</tbody>
</table></div>
</details>
</section>`;
}

function errorsList(json: string): Html {
  let details: ErrorDetail[] = [];
  try {
    const parsed = JSON.parse(json) as unknown;
    if (Array.isArray(parsed)) details = parsed.filter((d): d is ErrorDetail => typeof d === 'object' && d !== null && typeof (d as ErrorDetail).path === 'string');
  } catch {
    // Stored by ember-sync itself; a broken list shows as none rather than breaking the page.
  }
  if (details.length === 0) return html`<p class="hint">No error details were kept.</p>`;
  return html`<ul class="errors">${details.map((d) => html`<li><code>${d.path}</code> ${d.message}</li>`)}</ul>`;
}

function quarantineSection(v: ConsoleView): Html {
  const q = v.quarantine;
  return html`<section id="quarantine" aria-labelledby="quarantine-h">
<h2 id="quarantine-h">Quarantine</h2>
<p><strong id="quarantine-held">${count(q.held)}</strong> ${q.held === 1 ? 'payload is' : 'payloads are'} held: valid JSON that failed its schema, kept byte for byte. After a schema change (an upgrade of ember-sync, then a restart), replay them: those that pass become normal events with their original <code>received_at</code>.</p>
${q.held > 0
  ? html`<form method="post" action="${v.home}console/quarantine/replay" class="inline">${csrfField(v.csrf)}<button type="submit">Replay all held payloads</button></form>`
  : ''}
${q.paged ? html`<p class="hint">Older payloads than these: <a href="${v.home}#quarantine">back to the newest</a>.</p>` : ''}
<ol class="held">
${q.items.map(
  (item) => html`<li class="card" data-quarantine-id="${item.id}">
  <h3>${item.webhook_id === null ? html`<span class="muted">no webhook_id</span>` : html`<code>${item.webhook_id}</code>`}</h3>
  <dl class="facts">
    <div><dt>first received</dt><dd>${when(item.received_at)}</dd></div>
    <div><dt>attempts</dt><dd>${count(item.attempts)}${item.attempts > 1 ? html` (last ${when(item.last_received_at)})` : ''}</dd></div>
    <div><dt>reason</dt><dd><code>${item.reason}</code></dd></div>
    <div><dt>size</dt><dd>${count(item.bytes)} bytes</dd></div>
  </dl>
  ${errorsList(item.errors)}
  <div class="actions">
    <a class="button secondary" href="${v.home}console/quarantine/${item.id}/payload" download>Download payload<span class="visually-hidden"> ${item.id}</span></a>
    ${item.webhook_id === null
      ? html`<span class="hint">No <code>webhook_id</code>: it cannot pass any schema, so it is never replayed.</span>`
      : html`<form method="post" action="${v.home}console/quarantine/${item.id}/replay" class="inline">${csrfField(v.csrf)}<button type="submit">Replay<span class="visually-hidden"> ${item.webhook_id}</span></button></form>`}
  </div>
</li>`,
)}
</ol>
${q.olderThan !== undefined ? html`<p><a href="${v.home}?quarantine_before=${q.olderThan}#quarantine">Older payloads</a></p>` : ''}
${v.projector.parked > 0 ? html`<p class="notice error">${count(v.projector.parked)} stored events could not be turned into rows (parked); “Replay all” retries them too.</p>` : ''}
</section>`;
}

function targetCard(t: TargetView, csrf: string, home: string): Html {
  const run = t.lastRun;
  const errors = [...(run && !run.ok && run.error ? [run.error] : []), ...t.viewErrors.filter((e) => !run?.error?.includes(e.error)).map((e) => `${e.view}: ${e.error} (${e.at})`)];
  return html`<li class="card target" data-target="${t.name}" data-running="${t.activity.running ? 'true' : 'false'}">
  <h3>${t.name}</h3>
  <p class="state" data-state>${t.activity.running
    ? html`<span class="badge running">Syncing now</span> (${t.activity.holder}${t.activity.since ? html`, since ${when(t.activity.since)}` : ''})`
    : html`<span class="badge idle">Idle</span>`}</p>
  ${t.note ? html`<p class="notice error">${t.note}</p>` : ''}
  ${t.crashedSince && !t.activity.running ? html`<p class="notice error" data-crashed>The run started at ${when(t.crashedSince)} never finished, and no process holds its lock: it crashed (the process died or was killed). What it had not confirmed is still pending and goes out with the next sync.</p>` : ''}
  <dl class="facts">
    <div><dt>last run</dt><dd data-last-run="${run ? (run.ok ? 'ok' : 'failed') : 'none'}">${run
      ? html`${when(run.finishedAt ?? run.startedAt)}: <strong>${run.ok ? 'ok' : 'failed'}</strong>, ${count(run.rows)} rows delivered`
      : 'never'}</dd></div>
    <div><dt>last success</dt><dd data-last-success>${when(t.lastSuccessAt)}</dd></div>
    <div><dt>pending rows</dt><dd data-pending>${t.pending !== undefined ? count(t.pending) : t.behind !== undefined ? html`rows of more than ${count(t.behind)} webhooks (not counted here: <code>ember-sync status</code> counts them)` : 'unknown (the database is busy; reload)'}</dd></div>
    <div><dt>last error</dt><dd data-last-error>${errors.length ? html`<ul class="errors">${errors.map((e) => html`<li>${e}</li>`)}</ul>` : 'none'}</dd></div>
  </dl>
  ${run && run.notices.length ? html`<ul class="notices">${run.notices.map((n) => html`<li>${n}</li>`)}</ul>` : ''}
  <form method="post" action="${home}console/sync/${t.name}" class="inline">${csrfField(csrf)}<button type="submit">Sync ${t.name} now</button></form>
</li>`;
}

function targetsSection(v: ConsoleView): Html {
  return html`<section id="targets" aria-labelledby="targets-h">
<h2 id="targets-h">Sync targets</h2>
<p class="hint">The server syncs on its schedule (<code>SYNC_SCHEDULE</code>); “Sync now” runs the same sync at once. One sync per target runs at a time.${v.projector.lag > 0 ? ` ${count(v.projector.lag)} stored events are not yet turned into rows.` : ''}</p>
<p id="targets-status" class="hint" role="status" aria-live="polite"></p>
<ul class="targets">
${v.targets.map((t) => targetCard(t, v.csrf, v.home))}
</ul>
</section>`;
}

/** What RETENTION_DAYS left: a download of older days has no rows but the daily views'. */
function retentionNote(r: ConsoleView['retention']): Html | string {
  if (r.days === null && r.keptFromDay === null) return '';
  const setting = r.days === null ? 'RETENTION_DAYS is unset now' : html`<code>RETENTION_DAYS=${String(r.days)}</code>`;
  return r.keptFromDay
    ? html`<p class="hint" id="retention">Retention (${setting}): webhooks and calls before <strong>${r.keptFromDay}</strong> are deleted (their month files and tabs too); <code>daily_agents</code> and <code>daily_metrics</code> keep every day.</p>`
    : html`<p class="hint" id="retention">Retention (${setting}): nothing deleted yet; the server runs it a minute after it starts, then daily.</p>`;
}

function downloadsSection(v: ConsoleView): Html {
  return html`<section id="downloads" aria-labelledby="downloads-h">
<h2 id="downloads-h">CSV downloads</h2>
<form method="get" action="${v.home}console/download" class="card download">
  <div class="field"><label for="dl-view">View</label>
  <select id="dl-view" name="view">${v.views.map((name) => html`<option value="${name}">${name}</option>`)}</select></div>
  <div class="field"><label for="dl-from">First day (UTC)</label>
  <input id="dl-from" name="from" type="date" value="${v.weekAgo}" aria-describedby="dl-hint"></div>
  <div class="field"><label for="dl-to">Last day (UTC)</label>
  <input id="dl-to" name="to" type="date" value="${v.today}" aria-describedby="dl-hint"></div>
  <button type="submit">Download CSV</button>
  <p class="hint" id="dl-hint">Both days included; leave a day empty for no bound. Rows are selected by <code>received_at</code> (keyed views: <code>first_received_at</code>; daily views: by <code>day</code>), in the CSV settings of the server.</p>
</form>
<p>Whole views: ${v.views.map((name, i) => html`${i ? ', ' : ''}<a href="${v.home}console/download?view=${name}" download>${name}</a>`)}.</p>
${retentionNote(v.retention)}
</section>`;
}

export function consolePage(v: ConsoleView): string {
  const header = html`<form method="post" action="${v.home}console/sign-out" class="inline signout">${csrfField(v.csrf)}<button type="submit" class="secondary">Sign out</button></form>`;
  return page(
    v.home,
    'Console · ember-sync',
    html`<h1>Console</h1>
${v.flash ? html`<p class="notice" role="status" id="flash">${v.flash}</p>` : ''}
${webhookSection(v)}
${trafficSection(v)}
${targetsSection(v)}
${quarantineSection(v)}
${downloadsSection(v)}`,
    { scripts: true, header },
  );
}
