import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { formatCheck } from '../../doctor/check.js';
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
      const { databaseUrl } = settings;
      // No SQLite file where the settings point: exit 2 saying where it looked (nothing is created).
      if (databaseUrl === undefined && !existsSync(settings.dbPath)) openStoreOrExplain(settings.dbPath);
      const { runDoctor } = await import('../../doctor/run-doctor.js');
      // Read-only: doctor reports on the database as it is (no migration, no WAL switch, no meta written).
      // A database that cannot be opened is a failed check, not a usage error.
      const location = databaseUrl === undefined ? settings.dbPath : (await import('../../store/pg/create-pg-store.js')).redactedUrl(databaseUrl);
      const openDb = async () =>
        databaseUrl === undefined ? (await import('../../doctor/database.js')).sqliteDoctorDb(settings.dbPath) : (await import('../../doctor/pg-database.js')).pgDoctorDb(databaseUrl, location);
      const results = await runDoctor({
        settings,
        env: process.env,
        openDb,
        location,
        onResult: (r) => process.stdout.write(`${formatCheck(r)}\n`),
      });
      const failed = results.filter((r) => !r.ok).length;
      const warned = results.filter((r) => r.ok && r.warning).length;
      const warnings = warned ? ` (${warned} with a warning)` : '';
      process.stdout.write(failed ? `${failed} of ${results.length} checks failed${warnings}\n` : `all ${results.length} checks passed${warnings}\n`);
      if (failed) process.exitCode = EXIT.failed;
    });
}
