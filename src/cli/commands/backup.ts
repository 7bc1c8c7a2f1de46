import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { isSqliteStore } from '../../store/create-store.js';
import { createCliContext } from '../context.js';

export function registerBackup(program: Command): void {
  program
    .command('backup')
    .description('a consistent copy of the database while the server runs (restore: stop the server, put the copy at DB_PATH)')
    .requiredOption('--out <file>', 'where the copy goes (replaced atomically when it exists)')
    .option('--compact', 'also vacuum the copy and make it give freed space back to the disk (RETENTION_DAYS); restore it once to convert an older database')
    .action(async (flags: { out: string; compact?: boolean }) => {
      const ctx = createCliContext();
      // The online backup copies the SQLite file; PostgreSQL has its own tools, which know its replicas and WAL.
      if (ctx.settings.databaseUrl !== undefined) throw new UsageError('backup copies the SQLite database (DB_PATH); with DATABASE_URL the data is in PostgreSQL: back it up with pg_dump or your provider\'s snapshots');
      const out = resolve(flags.out);
      const [{ backupDatabase, backupTargetProblem }, { createProgress }] = await Promise.all([import('../../jobs/backup.js'), import('../progress.js')]);
      // Before any work: a folder, or the database or one of its -wal/-shm/-journal files under any spelling.
      const problem = await backupTargetProblem(ctx.settings.dbPath, out);
      if (problem) throw new UsageError(problem);
      const store = await ctx.openStore();
      if (!isSqliteStore(store)) {
        await store.close();
        throw new UsageError(`backup copies a SQLite database; ${store.location} is not one`);
      }
      const progress = createProgress('backup', process.stderr.isTTY === true, 'pages');
      try {
        const { events, bytes } = await backupDatabase(store, out, (done, total) => progress.update(done, total), { compact: flags.compact === true });
        progress.stop();
        process.stdout.write(`backed up ${events} events (${(bytes / 1024 / 1024).toFixed(1)} MB) to ${out}\n`);
      } finally {
        progress.stop();
        await store.close();
      }
    });
}
