import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { createCliContext } from '../context.js';
import { CommandFailed } from '../exit.js';

export function registerRebuild(program: Command): void {
  program
    .command('rebuild')
    .description('derive every view again from the raw log (the same rows as before); safe while the server runs')
    .option('--wait <seconds>', 'how long to wait for a sync already running', '300')
    .action(async (flags: { wait: string }) => {
      const wait = Number(flags.wait);
      if (!Number.isFinite(wait) || wait < 0) throw new UsageError('--wait must be a number of seconds');
      const ctx = createCliContext();
      const [{ rebuildViews, RebuildBusyError }, { createProgress }] = await Promise.all([import('../../jobs/rebuild.js'), import('../progress.js')]);
      const store = await ctx.openStore();
      const tty = process.stderr.isTTY === true;
      const progress = createProgress('rebuild', tty, 'events');
      // In a pipe or a log: a line at every tenth instead of a bar.
      let nextTenth = 1;
      const report = (done: number, total: number) => {
        if (tty) return progress.update(done, total);
        // One line when one or more tenths were passed, with the true share (a batch can pass several at once).
        if (total <= 0 || done < (nextTenth * total) / 10) return;
        process.stderr.write(`rebuild: ${done}/${total} events (${Math.floor((done * 100) / total)}%)\n`);
        while (done >= (nextTenth * total) / 10) nextTenth++;
      };
      const started = Date.now();
      try {
        const { events } = await rebuildViews({
          store,
          waitForLockMs: wait * 1000,
          onWait: (target, holder) => process.stderr.write(`waiting for the ${target} sync already running (${holder}), up to ${wait} s\n`),
          onProgress: report,
        });
        progress.stop();
        const parked = await store.projection.parkedCount();
        process.stdout.write(`rebuilt the views from ${events} events in ${((Date.now() - started) / 1000).toFixed(1)} s${parked ? `; ${parked} event(s) still cannot be projected (see ember-sync status)` : ''}\n`);
      } catch (err) {
        progress.stop();
        if (err instanceof RebuildBusyError) throw new CommandFailed(err.message);
        throw err;
      } finally {
        await store.close();
      }
    });
}
