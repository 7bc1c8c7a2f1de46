import { Option, type Command } from 'commander';
import { UsageError } from '../../errors.js';
import { createCliContext } from '../context.js';
import { CommandFailed } from '../exit.js';

function positive(name: string, raw: string, allowZero: boolean, whole = false): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0) || (whole && !Number.isSafeInteger(n))) {
    throw new UsageError(`${name} must be a ${whole ? 'whole ' : ''}number${allowZero ? ' (0: no limit)' : ' above 0'} (got ${JSON.stringify(raw)})`);
  }
  return n;
}

function delays(raw: string): number[] {
  const list = raw.split(',').map((s) => Number(s.trim()));
  if (raw.trim() === '' || list.some((n) => !Number.isFinite(n) || n < 0 || n > 600_000)) {
    throw new UsageError(`--retry-delays must be milliseconds separated by commas, e.g. 2000,10000 (got ${JSON.stringify(raw)})`);
  }
  return list;
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('send realistic EmberQA webhooks the way EmberQA does: coherent calls (alerts, then their completion; some re-scored), POST JSON, 30 s timeout, 2 retries')
    .requiredOption('--url <url>', 'the webhook URL (as printed by ember-sync serve)')
    .option('--count <n>', 'how many webhooks', '10')
    .option('--rate <r>', 'webhooks per second (0: as fast as possible)', '5')
    .option('--days <d>', 'days of history the vendor times spread over', '7')
    .option('--seed <n>', 'the same seed sends the same calls again (new webhook ids); default: a new one, printed')
    .addOption(new Option('--retry-delays <ms,ms>', 'waits before the retries, in ms').hideHelp())
    .action(async (flags: { url: string; count: string; rate: string; days: string; seed?: string; retryDelays?: string }) => {
      let url: URL;
      try {
        url = new URL(flags.url);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
      } catch {
        // The rejected text may well hold the token: it is not repeated.
        throw new UsageError(`--url must be an http(s) URL such as the one ember-sync serve prints (http://HOST:PORT/webhooks/emberqa/TOKEN)`);
      }
      const count = positive('--count', flags.count, false, true);
      const rate = positive('--rate', flags.rate, true);
      const days = positive('--days', flags.days, false);
      if (days > 36_500) throw new UsageError(`--days must be a number above 0 and at most 36500 (got ${JSON.stringify(flags.days)})`);
      const seed = flags.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : positive('--seed', flags.seed, true, true);
      const retryDelaysMs = flags.retryDelays === undefined ? undefined : delays(flags.retryDelays);
      const ctx = createCliContext();
      const { runSimulation } = await import('../../simulate/run.js');
      const result = await runSimulation({
        url: url.href,
        count,
        rate,
        days,
        seed,
        signingSecret: ctx.settings.signingSecrets[0],
        ...(retryDelaysMs && { retryDelaysMs }),
        stdout: process.stdout,
        stderr: process.stderr,
      });
      if (result.stopped !== undefined) throw new CommandFailed(result.stopped);
      if (result.failed > 0) throw new CommandFailed(`${result.failed} of ${result.sent} webhooks were not accepted (listed above)`);
    });
}
