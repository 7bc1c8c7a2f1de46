import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { formatCheck } from '../../doctor/check.js';
import { openDb } from '../../store/open-db.js';
import { createCliContext, openStoreOrExplain } from '../context.js';
import { EXIT } from '../exit.js';


export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check settings, database, disk, secrets, schedule, public URL and each target; one line per check, exit 1 if one fails')
    .action(async () => {
      // A bad setting is exit 2, as for every command.
      const ctx = createCliContext();
      const { settings } = ctx;
      // No database where the settings point: exit 2 saying where it looked (nothing is created).
      if (!existsSync(settings.dbPath)) openStoreOrExplain(settings.dbPath);
      const { runDoctor } = await import('../../doctor/run-doctor.js');
      const results = await runDoctor({
        settings,
        env: process.env,
        // Read-only: doctor reports on the file as it is (no migration, no WAL switch, no meta written).
        // A database that exists but cannot be opened is a failed check, not a usage error.
        openDb: () => openDb(settings.dbPath, { readonly: true }),
        onResult: (r) => process.stdout.write(`${formatCheck(r)}\n`),
      });
      const failed = results.filter((r) => !r.ok).length;
      process.stdout.write(failed ? `${failed} of ${results.length} checks failed\n` : `all ${results.length} checks passed\n`);
      if (failed) process.exitCode = EXIT.failed;
    });
}
