import { createHmac } from 'node:crypto';
import { Router, type RouterContext } from '@koa/router';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { BadRequestError, EmberError, NotFoundError, UnauthorizedError } from '../../errors.js';
import type { Validator } from '../../ingest/validate.js';
import { replayQuarantine, type ReplayResult } from '../../jobs/replay.js';
import { createBurstLog } from '../../lib/burst-log.js';
import { errorMessage } from '../../lib/text.js';
import type { Metrics } from '../../metrics/create-metrics.js';
import type { SyncTarget } from '../../model/sync.js';
import { VIEW_NAMES } from '../../model/views.js';
import { pendingRowsBounded, targetRunState, webhookUrlWarning } from '../../store/status.js';
import type { Store } from '../../store/store.js';
import type { ExportDefaults } from '../../views/export-options.js';
import { loadConsoleAssets } from '../console/assets.js';
import { ForbiddenError, TooManyRequestsError } from '../../errors.js';
import { readForm } from '../console/form.js';
import { hourlyWindow, windowStart } from '../console/hourly.js';
import { clientOf, createPace, type PaceOptions } from '../console/pace.js';
import { consolePage, errorPage, signInPage, type ConsoleView, type TargetView } from '../console/pages.js';
import { createConsoleAuth, type ConsoleSession } from '../console/session.js';
import { createSyncNow, type SyncActivity } from '../console/sync-now.js';
import { registerExportRoutes } from './export.js';

export interface ConsoleDeps {
  store: Store;
  logger: Logger;
  metrics?: Metrics | undefined;
  adminTokenMatches: (presented: string | undefined) => boolean;
  /** The admin token itself only keys the session HMACs (see consoleSessionKey). */
  sessionKey: Buffer;
  /** PUBLIC_URL: the console's origin, and https makes its cookie Secure. */
  publicUrl: string;
  /** What to paste into EmberQA (known once the server listens). */
  webhookUrl: () => string;
  targets: readonly SyncTarget[];
  /** The server's validator: a replay checks payloads with the schemas webhooks are checked with. */
  validator: Validator;
  exportDefaults: ExportDefaults;
  /** Server shutdown: stops a sync started here. */
  signal: AbortSignal;
  pace?: Partial<PaceOptions>;
  now?: () => Date;
}

/** The session key for `adminToken`: a new ADMIN_TOKEN ends every console session. */
export function consoleSessionKey(adminToken: string): Buffer {
  return createHmac('sha256', adminToken).update('ember-sync console session v1').digest();
}

const QUARANTINE_PAGE = 25;

/** Console pages may not be framed, cached, or load anything but the console's own files. */
function securityHeaders(ctx: Context): void {
  ctx.set('Content-Security-Policy', "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('X-Content-Type-Options', 'nosniff');
  // Not no-referrer: Chromium then sends `Origin: null` on the console's own form posts.
  ctx.set('Referrer-Policy', 'same-origin');
  ctx.set('Cache-Control', 'no-store');
}

/** `../` as often as needed to get from the request's path back to the console at `/` (relative: a proxy's path prefix stays). */
function homeFrom(path: string): string {
  return '../'.repeat(Math.max(path.split('/').length - 2, 0)) || './';
}

/** A positive integer id from a path or query; anything else is a 404 (path) or 400 (query). */
function parseId(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^[1-9][0-9]{0,15}$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** yyyy-mm-dd of a real calendar day, or undefined. */
function parseDay(raw: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(raw)) return undefined;
  const d = new Date(`${raw}T00:00:00.000Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === raw ? raw : undefined;
}

const nextDay = (day: string) => new Date(Date.parse(`${day}T00:00:00.000Z`) + 86_400_000).toISOString().slice(0, 10);

function strictQuery(querystring: string, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(querystring)) {
    if (!allowed.includes(name)) throw new BadRequestError(`unknown query parameter ${JSON.stringify(name.slice(0, 40))} (allowed: ${allowed.join(', ')})`);
    if (out.has(name)) throw new BadRequestError(`query parameter ${JSON.stringify(name)} is given more than once`);
    out.set(name, value);
  }
  return out;
}

function describeReplay(r: ReplayResult, one: string | undefined): string {
  if (r.checked === 0 && r.parked.moved + r.parked.still === 0) return one ? `Nothing to replay: no payload with webhook_id ${one} is held any more.` : 'Nothing to replay: the quarantine is empty.';
  const parts = [`${r.released} released`, `${r.duplicates} already stored (duplicates)`, `${r.stillHeld} still failing their schema`];
  const parked = r.parked.moved + r.parked.still > 0 ? ` Parked events retried: ${r.parked.moved} now in the views, ${r.parked.still} still parked.` : '';
  return `Replayed ${r.checked} payload${r.checked === 1 ? '' : 's'}: ${parts.join(', ')}.${parked}`;
}

/**
 * The operator console at `/` (PRODUCT: Other endpoints): sign-in with the
 * admin token, the webhook URL, webhooks per hour, the quarantine, the sync
 * targets and CSV downloads. Server-rendered; POSTs are HTML forms that
 * redirect back (303) with a one-time message kept in the session.
 */
export function createConsole(deps: ConsoleDeps) {
  const now = deps.now ?? (() => new Date());
  const { sessions, quarantine } = deps.store.console;
  const auth = createConsoleAuth({ sessions, sessionKey: deps.sessionKey, publicUrl: deps.publicUrl, now });
  const syncNow = createSyncNow({ store: deps.store, targets: deps.targets, logger: deps.logger, metrics: deps.metrics, signal: deps.signal, now });
  const pace = createPace({ intervalMs: 250, maxWaiting: 8, ...deps.pace });
  const assets = loadConsoleAssets();
  // Someone guessing tokens makes one line per burst, not one per guess.
  const refusals = createBurstLog((fields, message) => deps.logger.warn(fields, message));

  /** Security headers on every answer, and refusals as pages (same status, code and message as the JSON error model). */
  const page = (handler: (ctx: RouterContext) => Promise<void> | void, options: { json?: boolean } = {}) => async (ctx: RouterContext, _next: Next) => {
    securityHeaders(ctx);
    try {
      await handler(ctx);
    } catch (err) {
      if (err instanceof TooManyRequestsError) ctx.set('Retry-After', String(err.retryAfter));
      if (!(err instanceof EmberError) || err.status >= 500 || options.json || !ctx.accepts('html')) throw err;
      ctx.status = err.status;
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = errorPage(homeFrom(ctx.path), err.status, err.code, err.message);
    }
  };

  const answerSignIn = (ctx: Context, status: number, problem?: string) => {
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = signInPage(homeFrom(ctx.path), problem);
  };

  /**
   * A form POST of a signed-in operator: same origin, a live session and its
   * CSRF token, in that order. The handler's message is shown once on the
   * page the browser is sent back to.
   */
  const action = (handler: (ctx: RouterContext, session: ConsoleSession) => Promise<string> | string) =>
    page(async (ctx) => {
      if (!auth.sameOrigin(ctx)) throw new ForbiddenError('cross-site request refused: console forms are accepted from the console page only');
      const form = await readForm(ctx);
      const session = await auth.current(ctx);
      if (!session) return answerSignIn(ctx, 401, 'Your session has ended (or you were not signed in): sign in again, then repeat what you did.');
      if (!auth.csrfMatches(session, form.get('csrf'))) throw new ForbiddenError('the form is out of date or not from this console (CSRF token missing or wrong): reload the page and try again');
      const message = await handler(ctx, session);
      await sessions.setFlash(session.key, message);
      ctx.status = 303;
      ctx.set('Location', homeFrom(ctx.path));
    });

  /** A GET that needs a signed-in operator. */
  const signedIn = (handler: (ctx: RouterContext, session: ConsoleSession) => Promise<void> | void, options: { json?: boolean } = {}) =>
    page(async (ctx) => {
      const session = await auth.current(ctx);
      if (!session) {
        if (!options.json && ctx.accepts('html')) return answerSignIn(ctx, 401, 'Sign in first.');
        throw new UnauthorizedError('not signed in to the console: sign in at /');
      }
      await handler(ctx, session);
    }, options);

  async function targetView(target: SyncTarget): Promise<TargetView> {
    const name = target.name;
    const last = await deps.store.sync.lastRun(name);
    let notices: string[] = [];
    try {
      const d = JSON.parse(last?.details ?? 'null') as { notices?: unknown } | null;
      if (Array.isArray(d?.notices)) notices = d.notices.filter((n): n is string => typeof n === 'string');
    } catch {
      // Runs from before notices were kept have none.
    }
    let pending: number | undefined;
    let behind: number | undefined;
    try {
      // Bounded: a target far behind is not counted row by row on every page load (status counts exactly).
      const p = await pendingRowsBounded(deps.store, name, target.views);
      if ('rows' in p) pending = p.rows;
      else behind = p.behind;
    } catch (err) {
      deps.logger.warn({ target: name, error: errorMessage(err) }, 'console: could not count pending rows');
    }
    // A run that started and never finished, with no live lock holder: the process died (status says CRASHED too).
    const state = await targetRunState(deps.store, name, now());
    return {
      name,
      crashedSince: state.state === 'crashed' ? (state.since ?? undefined) : undefined,
      activity: await syncNow.activity(name),
      note: syncNow.note(name),
      lastRun: last ? { startedAt: last.started_at, finishedAt: last.finished_at, ok: last.ok === 1, rows: last.rows, error: last.error, notices } : undefined,
      lastSuccessAt: (await deps.store.sync.lastSuccess(name))?.finished_at ?? null,
      pending,
      behind,
      viewErrors: (await deps.store.sync.viewErrors(name)).map((e) => ({ view: e.view, error: e.last_error, at: e.last_error_at })),
    };
  }

  /** RETENTION_DAYS as the server recorded it at start, and where the last run left the boundary. */
  async function retentionView(): Promise<ConsoleView['retention']> {
    const recorded = await deps.store.meta.get('retention_days');
    const days = recorded === undefined || recorded === 'unset' ? null : Number(recorded);
    return { days, keptFromDay: (await deps.store.retention.state()).keptFromDay };
  }

  async function consoleView(ctx: Context, session: ConsoleSession): Promise<ConsoleView> {
    const q = strictQuery(ctx.querystring, ['quarantine_before']);
    const beforeRaw = q.get('quarantine_before');
    const before = beforeRaw === undefined ? undefined : parseId(beforeRaw);
    if (beforeRaw !== undefined && before === undefined) throw new BadRequestError('quarantine_before must be a quarantine id (a positive integer)');
    const at = now();
    // One more than a page says whether there are older ones, without counting them.
    const items = await quarantine.page(before ?? Number.MAX_SAFE_INTEGER, QUARANTINE_PAGE + 1);
    const more = items.length > QUARANTINE_PAGE;
    if (more) items.pop();
    const today = at.toISOString().slice(0, 10);
    const targets: TargetView[] = [];
    for (const target of deps.targets) targets.push(await targetView(target));
    return {
      home: homeFrom(ctx.path),
      csrf: session.csrf,
      flash: await sessions.takeFlash(session.key),
      webhookUrl: deps.webhookUrl(),
      webhookUrlWarning: webhookUrlWarning(deps.webhookUrl()),
      hourly: hourlyWindow(await deps.store.console.hoursSince(windowStart(at)), at),
      quarantine: { held: await quarantine.held(), items, paged: before !== undefined, olderThan: more ? items.at(-1)?.id : undefined },
      projector: { lag: await deps.store.projection.lag(), parked: await deps.store.projection.parkedCount() },
      targets,
      views: VIEW_NAMES,
      today,
      weekAgo: new Date(at.getTime() - 6 * 86_400_000).toISOString().slice(0, 10),
      retention: await retentionView(),
    };
  }

  // The API's export, answered for a console session instead of a bearer token: this router is
  // reachable only through the signed-in route below, which is the authorization check here.
  const exportRouter = new Router({ prefix: '/console' });
  registerExportRoutes(exportRouter, { store: deps.store, logger: deps.logger, adminTokenMatches: () => true, defaults: deps.exportDefaults });
  const exportRoutes = exportRouter.routes();

  function register(router: Router): void {
    router.get(
      '/',
      page(async (ctx) => {
        const session = await auth.current(ctx);
        if (!session) return answerSignIn(ctx, 200);
        const view = await consoleView(ctx, session);
        ctx.type = 'text/html; charset=utf-8';
        ctx.body = consolePage(view);
      }),
    );

    router.post(
      '/console/sign-in',
      page(async (ctx) => {
        if (!auth.sameOrigin(ctx)) throw new ForbiddenError('cross-site sign-in refused');
        // Says nothing about the token (it is not read): only that this page's address cannot keep the Secure cookie.
        const useInstead = auth.insecureOrigin(ctx);
        if (useInstead) return answerSignIn(ctx, 400, `This address is plain http, and the console's session cookie is Secure (PUBLIC_URL is https): the browser would drop it and ask again. Open the console at ${useInstead} instead.`);
        // Every attempt waits for its turn before anything of it is read: the pace is the same whatever it holds.
        // Fair queues: a browser that signed in before goes first, others one client address after another.
        if (!(await pace.turn({ client: clientOf(ctx.req.socket.remoteAddress), known: auth.knownBrowser(ctx) }))) throw new TooManyRequestsError('too many sign-in attempts at once: wait a few seconds and try again', pace.retryAfterSeconds());
        const form = await readForm(ctx);
        if (!deps.adminTokenMatches(form.get('token'))) {
          refusals.report('console_sign_in_refused', { event: 'console_sign_in_refused' }, 'console: sign-in refused (wrong admin token)');
          return answerSignIn(ctx, 401, 'Sign-in refused: that is not the admin token.');
        }
        const previous = await auth.current(ctx);
        if (previous) await auth.signOut(ctx, previous);
        await auth.signIn(ctx);
        deps.logger.info({ event: 'console_sign_in' }, 'console: signed in');
        ctx.status = 303;
        ctx.set('Location', homeFrom(ctx.path));
      }),
    );

    router.post(
      '/console/sign-out',
      page(async (ctx) => {
        if (!auth.sameOrigin(ctx)) throw new ForbiddenError('cross-site sign-out refused');
        const form = await readForm(ctx);
        const session = await auth.current(ctx);
        // Without a session there is nothing to end; with one, only the console's own form may end it.
        if (session && !auth.csrfMatches(session, form.get('csrf'))) throw new ForbiddenError('the form is out of date or not from this console (CSRF token missing or wrong): reload the page and try again');
        await auth.signOut(ctx, session);
        ctx.status = 303;
        ctx.set('Location', homeFrom(ctx.path));
      }),
    );

    router.post(
      '/console/sync/:target',
      action(async (ctx) => {
        const name = ctx.params['target'] ?? '';
        const started = await syncNow.start(name);
        if (started.kind === 'unknown') throw new NotFoundError(`no sync target ${JSON.stringify(name.slice(0, 40))} (this server syncs: ${syncNow.names().join(', ')})`);
        if (started.kind === 'stopping') return `The server is shutting down: no sync of ${name} was started.`;
        if (started.kind === 'busy') return `A sync of ${name} is already running (${started.holder}): no second one was started. This page shows it until it ends.`;
        deps.logger.info({ target: name }, 'console: sync started');
        return `Sync of ${name} started.`;
      }),
    );

    router.post(
      '/console/quarantine/replay',
      action(async () => describeReplay(await replayQuarantine({ store: deps.store, validator: deps.validator, now }), undefined)),
    );

    router.post(
      '/console/quarantine/:id/replay',
      action(async (ctx) => {
        const id = parseId(ctx.params['id']);
        const row = id === undefined ? undefined : await quarantine.payload(id);
        if (!row) throw new NotFoundError('no such quarantined payload');
        if (row.webhook_id === null) throw new BadRequestError('this payload has no webhook_id: it cannot pass any schema, so it is never replayed');
        if (row.status !== 'held') return `Payload ${row.webhook_id} is not held any more (${row.status}).`;
        // By webhook_id, as `ember-sync replay --id`: every held copy of it is checked.
        return describeReplay(await replayQuarantine({ store: deps.store, validator: deps.validator, webhookId: row.webhook_id, now }), row.webhook_id);
      }),
    );

    router.get(
      '/console/quarantine/:id/payload',
      signedIn(async (ctx) => {
        const id = parseId(ctx.params['id']);
        const row = id === undefined ? undefined : await quarantine.payload(id);
        if (!row || id === undefined) throw new NotFoundError('no such quarantined payload');
        ctx.status = 200;
        // The bytes as received: JSON, but hostile until proven otherwise, so a download, never rendered.
        ctx.type = 'application/json';
        ctx.set('Content-Disposition', `attachment; filename="quarantine-${id}.json"`);
        ctx.body = row.body;
      }),
    );

    router.get(
      '/console/download',
      signedIn((ctx) => {
        const q = strictQuery(ctx.querystring, ['view', 'from', 'to']);
        const view = q.get('view') ?? '';
        if (!(VIEW_NAMES as readonly string[]).includes(view)) throw new NotFoundError(`no view ${JSON.stringify(view.slice(0, 40))}`);
        const params = new URLSearchParams();
        for (const [field, bound] of [['from', 'since'], ['to', 'until']] as const) {
          const raw = q.get(field) ?? '';
          if (raw === '') continue;
          const day = parseDay(raw);
          if (!day) throw new BadRequestError(`${field} must be a day (yyyy-mm-dd), got ${JSON.stringify(raw.slice(0, 40))}`);
          // The last day is included: the export's until is exclusive. 9999-12-31 has no next day the export reads: no bound.
          if (field === 'to' && day === '9999-12-31') continue;
          params.set(bound, field === 'to' ? nextDay(day) : day);
        }
        const from = params.get('since');
        const until = params.get('until');
        if (from && until && from >= until) throw new BadRequestError('the first day is after the last day');
        const query = params.toString();
        ctx.status = 303;
        ctx.set('Location', `api/export/${view}.csv${query ? `?${query}` : ''}`);
      }),
    );

    router.get(
      '/console/api/export/:file',
      signedIn(async (ctx) => {
        await exportRoutes(ctx, async () => undefined);
      }),
    );

    router.get(
      '/console/state',
      signedIn(async (ctx) => {
        const targets: Record<string, SyncActivity> = {};
        for (const name of syncNow.names()) targets[name] = await syncNow.activity(name);
        ctx.body = { targets };
      }, { json: true }),
    );

    // The address bar shows an action's path after its answer (a refused sign-in, a 403 page): going there
    // again (Enter in the address bar, a bookmark) leads back to the console instead of a bare JSON 405.
    for (const path of ['/console/sign-in', '/console/sign-out', '/console/sync/:target', '/console/quarantine/replay', '/console/quarantine/:id/replay']) {
      router.get(
        path,
        page((ctx) => {
          ctx.status = 303;
          ctx.set('Location', homeFrom(ctx.path));
        }),
      );
    }

    router.get('/console/assets/:file', (ctx) => {
      const a = assets.get(ctx.params['file'] ?? '');
      if (!a) throw new NotFoundError('no such console file');
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.set('Cache-Control', 'no-cache');
      ctx.set('ETag', a.etag);
      ctx.type = a.type;
      ctx.status = 200;
      if (ctx.fresh) {
        ctx.status = 304;
        return;
      }
      ctx.body = a.body;
    });
  }

  return {
    register,
    /** Shutdown: resolves when the syncs started from the console have ended (the shutdown signal stops them). */
    async idle(): Promise<void> {
      await syncNow.idle();
      refusals.flush();
    },
  };
}
export type Console = ReturnType<typeof createConsole>;
