import type { Command } from 'commander';
import { SYNC_TARGET_NAMES, type SyncTargetName } from '../../model/sync.js';
import { UsageError } from '../../errors.js';
import { createCliContext, warnOtherZone } from '../context.js';
import { CommandFailed } from '../exit.js';

export function registerSync(program: Command): void {
  program
    .command('sync')
    .description('run one sync now and print what it delivered (waits for a sync already running)')
    .option('--target <name>', `only this target (${SYNC_TARGET_NAMES.join('|')})`)
    .option('--wait <seconds>', 'how long to wait for a sync already running on the same target', '300')
    .action(async (flags: { target?: string; wait: string }) => {
      const ctx = createCliContext();
      const { settings } = ctx;
      if (flags.target !== undefined && !(SYNC_TARGET_NAMES as readonly string[]).includes(flags.target)) {
        throw new UsageError(`--target must be one of ${SYNC_TARGET_NAMES.join(', ')} (got ${JSON.stringify(flags.target)})`);
      }
      const only = flags.target as SyncTargetName | undefined;
      if (only && !settings.syncTargets.includes(only)) {
        throw new UsageError(`the ${only} target is not configured (SYNC_TARGETS=${settings.syncTargets.join(',')}${only === 'sheets' ? '; set SHEETS_SPREADSHEET_ID' : ''})`);
      }
      const wait = Number(flags.wait);
      if (!Number.isFinite(wait) || wait < 0) throw new UsageError('--wait must be a number of seconds');
      const [{ runSync }, { createTargets }] = await Promise.all([import('../../jobs/sync.js'), import('../../sinks/create-targets.js')]);
      // The database first: a command run in the wrong place creates nothing (not even CSV_DIR).
      const store = await ctx.openStore();
      const failures: string[] = [];
      try {
        // The zone the server derived the rows in (it owns REPORT_TIMEZONE): a shell without the server's
        // environment must not rewrite every local time and Sheets date in another zone.
        const zone = await store.reportTimezone();
        warnOtherZone(settings.reportTimezone, zone);
        const targets = await createTargets({ ...settings, reportTimezone: zone }, only, ctx.logger);
        if (targets.length === 0) process.stderr.write('no sync target is on: SYNC_TARGETS names none (with DATABASE_URL the CSV target is on only when SYNC_TARGETS names it)\n');
        for (const target of targets) {
          const result = await runSync({
            store,
            target,
            logger: ctx.logger,
            waitForLockMs: wait * 1000,
            // Waiting is said, not silent: a scheduled sync may take a while.
            onWait: (holder) => process.stderr.write(`${target.name}: waiting for the sync already running (${holder}), up to ${wait} s\n`),
          });
          if (result.status === 'locked') {
            failures.push(`${target.name}: another sync is still running (${result.holder})`);
            continue;
          }
          for (const v of result.views) {
            process.stdout.write(`${target.name}\t${v.view}\t${v.error ? `FAILED: ${v.error}` : `${v.rows} rows written`}\n`);
          }
          for (const n of result.notices ?? []) process.stdout.write(`${target.name}\tnote\t${n}\n`);
          process.stdout.write(`${target.name}\t${result.status === 'ok' ? 'ok' : 'failed'}\t${result.rows} rows delivered\n`);
          if (result.status === 'failed') failures.push(`${target.name}: ${result.error}`);
        }
      } finally {
        await store.close();
      }
      if (failures.length) throw new CommandFailed(`sync did not deliver everything: ${failures.join('; ')}`);
    });
}
