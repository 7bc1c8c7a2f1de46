import { PassThrough } from 'node:stream';
import type { Router } from '@koa/router';
import type { Logger } from 'pino';
import { BadRequestError, NotFoundError } from '../../errors.js';
import { exportView } from '../../jobs/export-view.js';
import type { Store } from '../../store/create-store.js';
import { ExportOptionError, parseExportRequest } from '../../views/export-options.js';
import { requireAdmin } from './api.js';

export interface ExportRouteDeps {
  store: Store;
  logger: Logger;
  adminTokenMatches: (presented: string | undefined) => boolean;
  defaults: { delimiter: string; bom: boolean };
}

/** GET /api/export/<view>.csv?since=&until=&delimiter=&bom=&raw= — streamed, constant memory. */
export function registerExportRoutes(router: Router, deps: ExportRouteDeps): void {
  router.get('/api/export/:file', requireAdmin(deps.adminTokenMatches), async (ctx) => {
    const file = ctx.params['file'] ?? '';
    const m = /^([a-z_]+)\.csv$/.exec(file);
    if (!m) throw new NotFoundError(`no export ${JSON.stringify(file)}: ask for /api/export/<view>.csv`);
    const q = (name: string) => (typeof ctx.query[name] === 'string' ? (ctx.query[name] as string) : undefined);
    let req;
    try {
      req = parseExportRequest({ view: m[1]!, since: q('since'), until: q('until'), delimiter: q('delimiter'), bom: q('bom'), raw: q('raw') }, deps.defaults);
    } catch (err) {
      if (err instanceof ExportOptionError) throw err.field === 'view' ? new NotFoundError(err.message) : new BadRequestError(err.message);
      throw err;
    }
    const body = new PassThrough();
    ctx.status = 200;
    ctx.type = 'text/csv; charset=utf-8';
    ctx.set('Content-Disposition', `attachment; filename="${req.view}.csv"`);
    ctx.body = body;
    exportView(deps.store, req, body).catch((err: unknown) => {
      deps.logger.error({ err, view: req.view }, 'export failed mid-stream');
      body.destroy(err as Error);
    });
  });
}
