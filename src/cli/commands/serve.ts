import type { Command } from 'commander';
import { SettingError } from '../../errors.js';
import { UnusableDirError } from '../../lib/ensure-dir.js';
import { join } from 'node:path';
import { createCliContext } from '../context.js';

/**
 * What `serve` prints first. The webhook URL holds the secret token: it is
 * printed whole only to a terminal. Under systemd, Docker or a log shipper
 * stdout is the log stream, so it says where the token is instead.
 */
export function startBanner(o: { listenUrl: string; webhookUrl: string; terminal: boolean; tokenFrom: string }): string {
  const lines = [`ember-sync is listening on ${o.listenUrl}`];
  if (o.terminal) {
    lines.push('Paste this URL into EmberQA (Settings → Alerts → Create New Alert → Webhook):', `  ${o.webhookUrl}`);
  } else {
    const base = o.webhookUrl.slice(0, o.webhookUrl.lastIndexOf('/') + 1);
    lines.push(
      `The webhook URL for EmberQA is ${base}<token>; it holds a secret, so it is not written to this log.`,
      `See it with \`npx ember-sync status\` (the token ${o.tokenFrom === 'WEBHOOK_TOKEN' ? 'comes from WEBHOOK_TOKEN' : `is kept in ${o.tokenFrom}`}).`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the webhook receiver and the sync scheduler (what `npm start` runs)')
    .action(async () => {
      const ctx = createCliContext({ server: true });
      // Loaded here, not at the top: other commands never pay for Koa, ajv and prom-client.
      const { startService } = await import('../../service.js');
      const logger = ctx.logger;
      const { settings } = ctx;
      let service;
      try {
        service = await startService({ settings, secrets: ctx.secrets(), logger });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'EADDRINUSE') throw new SettingError('PORT', `${settings.host}:${settings.port} is already in use`);
        if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') throw new SettingError('HOST', `cannot listen on ${settings.host}: ${e.message}`);
        if (e.code === 'EACCES') throw new SettingError('PORT', `not allowed to listen on port ${settings.port}`);
        // The SQLite file's problems name DB_PATH; with DATABASE_URL the database is PostgreSQL's (its errors say what is wrong).
        const sqlite = settings.databaseUrl === undefined;
        if (sqlite && err instanceof UnusableDirError) throw new SettingError('DB_PATH', `cannot use the folder of ${settings.dbPath}: ${err.message}`);
        if (sqlite && err instanceof Error && /SQLITE|database|unable to open/i.test(`${e.code ?? ''} ${err.message}`)) {
          throw new SettingError('DB_PATH', `cannot open the database ${settings.dbPath}: ${err.message}`);
        }
        throw err;
      }
      process.stdout.write(startBanner({ listenUrl: service.listenUrl, webhookUrl: service.webhookUrl, terminal: process.stdout.isTTY === true, tokenFrom: settings.webhookToken !== undefined ? 'WEBHOOK_TOKEN' : join(settings.dataDir, 'webhook-token') }));
      logger.info({ listen: service.listenUrl, db: service.store.location, targets: settings.syncTargets, schedule: settings.syncSchedule }, 'ember-sync started');

      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) {
          logger.warn({ signal }, 'second signal: exiting now');
          process.exit(1);
        }
        stopping = true;
        logger.info({ signal }, 'shutting down: finishing in-flight webhooks');
        service.close().then(
          () => {
            logger.info('stopped cleanly');
            process.exit(0);
          },
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      await new Promise<never>(() => {});
    });
}
