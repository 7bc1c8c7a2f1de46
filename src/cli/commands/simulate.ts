import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { createCliContext } from '../context.js';
import { CommandFailed } from '../exit.js';

function positive(name: string, raw: string, allowZero: boolean): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0) || (name === '--count' && !Number.isInteger(n))) {
    throw new UsageError(`${name} must be a ${name === '--count' ? 'whole ' : ''}number${allowZero ? ' (0: no limit)' : ' above 0'} (got ${JSON.stringify(raw)})`);
  }
  return n;
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('send realistic EmberQA webhooks the way EmberQA does (POST JSON, 30 s timeout, 2 retries)')
    .requiredOption('--url <url>', 'the webhook URL (as printed by ember-sync serve)')
    .option('--count <n>', 'how many webhooks', '10')
    .option('--rate <r>', 'webhooks per second (0: as fast as possible)', '5')
    .action(async (flags: { url: string; count: string; rate: string }) => {
      let url: URL;
      try {
        url = new URL(flags.url);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
      } catch {
        throw new UsageError(`--url must be an http(s) URL (got ${JSON.stringify(flags.url)})`);
      }
      const count = positive('--count', flags.count, false);
      const rate = positive('--rate', flags.rate, true);
      const ctx = createCliContext();
      const [{ simulate }, { createProgress }] = await Promise.all([import('../../simulate/send.js'), import('../progress.js')]);
      const progress = createProgress('simulate');
      const result = await simulate({ url: url.href, count, rate, signingSecret: ctx.settings.signingSecrets[0], onProgress: (done) => progress.update(done, count) });
      progress.stop();
      process.stdout.write(`sent ${result.sent}: ${result.accepted} accepted (${result.duplicates} duplicates), ${result.failed} failed, ${result.retries} retries\n`);
      for (const f of result.failures) process.stdout.write(`  ${f}\n`);
      if (result.failed > 0) throw new CommandFailed(`${result.failed} webhooks were not accepted after ${2} retries`);
    });
}
