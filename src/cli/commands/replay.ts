import type { Command } from 'commander';
import { createCliContext } from '../context.js';
import { CommandFailed } from '../exit.js';

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('re-validate quarantined payloads with the current schemas; those that now pass become normal events')
    .option('--id <webhook_id>', 'only the payload(s) with this webhook_id')
    .action(async (opts: { id?: string }) => {
      const ctx = createCliContext();
      const [{ createValidator }, { replayQuarantine }] = await Promise.all([import('../../ingest/validate.js'), import('../../jobs/replay.js')]);
      const store = await ctx.openStore();
      try {
        const result = await replayQuarantine({ store, validator: createValidator(), webhookId: opts.id });
        for (const item of result.items) {
          const what = item.result === 'released' ? `released as event ${item.seq}` : item.result === 'duplicate' ? 'already in the log (duplicate)' : 'still fails its schema';
          process.stdout.write(`${item.webhookId ?? `(quarantine #${item.id}, no webhook_id)`}: ${what}\n`);
        }
        process.stdout.write(`checked ${result.checked}: ${result.released} released, ${result.duplicates} duplicate, ${result.stillHeld} still held\n`);
        if (result.parked.moved + result.parked.still > 0) {
          process.stdout.write(`parked events retried: ${result.parked.moved} now in the views, ${result.parked.still} still parked (see ember-sync status)\n`);
        }
        if (opts.id !== undefined && result.checked === 0) throw new CommandFailed(`no held quarantined payload has webhook_id ${JSON.stringify(opts.id)}`);
      } finally {
        await store.close();
      }
    });
}
