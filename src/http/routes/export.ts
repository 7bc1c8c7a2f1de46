import { PassThrough } from 'node:stream';
import type { Router } from '@koa/router';
import type { Logger } from 'pino';
import { BadRequestError, NotFoundError, StoreUnavailableError } from '../../errors.js';
import { prepareExport, writeExport } from '../../jobs/export-view.js';
import type { Store } from '../../store/store.js';
import { ExportOptionError, parseExportRequest, type ExportDefaults, type ExportRequest } from '../../views/export-options.js';
import { requireAdmin } from './api.js';

export interface ExportRouteDeps {
  store: Store;
  logger: Logger;
  adminTokenMatches: (presented: string | undefined) => boolean;
  /** `exportDefaults(settings)`: CSV_DELIMITER, CSV_BOM, CSV_DECIMAL, CSV_TIME_FORMAT, REPORT_TIMEZONE. */
  defaults: ExportDefaults;
}

const QUERY_NAMES = ['since', 'until', 'delimiter', 'bom', 'raw', 'time_format', 'timezone', 'decimal'] as const;
type QueryName = (typeof QUERY_NAMES)[number];
const isQueryName = (name: string): name is QueryName => (QUERY_NAMES as readonly string[]).includes(name);

/**
 * The query string, strictly: an unknown or malformed name (`since[x]`) or a
 * name given twice is a 400. Ignoring it would answer a different export than
 * the one asked for (a typo in `unitl` silently exporting everything).
 */
function exportQuery(querystring: string): Partial<Record<QueryName, string>> {
  const out: Partial<Record<QueryName, string>> = {};
  for (const [name, value] of new URLSearchParams(querystring)) {
    if (!isQueryName(name)) throw new BadRequestError(`unknown query parameter ${JSON.stringify(name)} (allowed: ${QUERY_NAMES.join(', ')})`);
    if (out[name] !== undefined) throw new BadRequestError(`query parameter ${JSON.stringify(name)} is given more than once`);
    out[name] = value;
  }
  return out;
}

function exportRequest(view: string, querystring: string, defaults: ExportRouteDeps['defaults']): ExportRequest {
  const q = exportQuery(querystring);
  try {
    return parseExportRequest({ view, since: q.since, until: q.until, delimiter: q.delimiter, bom: q.bom, raw: q.raw, timeFormat: q.time_format, timezone: q.timezone, decimal: q.decimal }, defaults);
  } catch (err) {
    if (err instanceof ExportOptionError) throw err.field === 'view' ? new NotFoundError(err.message) : new BadRequestError(err.message);
    throw err;
  }
}

function answerCsv(ctx: { status: number; type: string; set(name: string, value: string): void }, view: string): void {
  ctx.status = 200;
  ctx.type = 'text/csv; charset=utf-8';
  ctx.set('Content-Disposition', `attachment; filename="${view}.csv"`);
}

/**
 * GET /api/export/<view>.csv?since=&until=&delimiter=&bom=&raw=&time_format=&timezone=&decimal= — streamed,
 * constant memory. HEAD (which the router adds for every GET) answers the same
 * status and headers without starting an export.
 */
export function registerExportRoutes(router: Router, deps: ExportRouteDeps): void {
  router.get('/api/export/:file', requireAdmin(deps.adminTokenMatches), async (ctx) => {
    const file = ctx.params['file'] ?? '';
    const m = /^([a-z_]+)\.csv$/.exec(file);
    if (!m) throw new NotFoundError(`no export ${JSON.stringify(file)}: ask for /api/export/<view>.csv`);
    const req = exportRequest(m[1]!, ctx.querystring, deps.defaults);
    if (ctx.method === 'HEAD') {
      answerCsv(ctx, req.view);
      return;
    }
    // Before the 200: a database that cannot answer now is a 503 the client can retry, not a cut download.
    let prepared;
    try {
      prepared = await prepareExport(deps.store, req);
    } catch (err) {
      throw new StoreUnavailableError(err);
    }
    answerCsv(ctx, req.view);
    const body = new PassThrough();
    ctx.body = body;
    writeExport(prepared, req, body).catch((err: unknown) => {
      // A client that hangs up mid-download is not a server fault; anything else is.
      if (body.destroyed) deps.logger.info({ view: req.view, reason: (err as Error).message }, 'export stopped: the client went away');
      else deps.logger.error({ err, view: req.view }, 'export failed mid-stream');
      body.destroy(err as Error);
    });
  });
}
