import type { Command } from 'commander';
import { SettingError } from '../../errors.js';
import { createCliContext } from '../context.js';

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
        if (err instanceof Error && /SQLITE|database|unable to open/i.test(`${e.code ?? ''} ${err.message}`)) {
          throw new SettingError('DB_PATH', `cannot open the database ${settings.dbPath}: ${err.message}`);
        }
        throw err;
      }
      process.stdout.write(
        `ember-sync is listening on ${service.listenUrl}\n` +
          `Paste this URL into EmberQA (Settings → Alerts → Create New Alert → Webhook):\n` +
          `  ${service.webhookUrl}\n`,
      );
      logger.info({ listen: service.listenUrl, db: settings.dbPath, targets: settings.syncTargets, schedule: settings.syncSchedule }, 'ember-sync started');

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
