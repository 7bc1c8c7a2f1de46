import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerBackup } from './commands/backup.js';
import { registerDoctor } from './commands/doctor.js';
import { registerExport } from './commands/export.js';
import { registerRebuild } from './commands/rebuild.js';
import { registerReplay } from './commands/replay.js';
import { registerServe } from './commands/serve.js';
import { registerSimulate } from './commands/simulate.js';
import { registerStatus } from './commands/status.js';
import { registerSync } from './commands/sync.js';
import { exitCodeFor } from './exit.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command()
    .name('ember-sync')
    .description('Receives EmberQA webhooks durably and syncs analyst-ready rows to CSV files and Google Sheets.')
    .version(pkg.version)
    .exitOverride()
    .showHelpAfterError('(run ember-sync --help for usage)');
  registerServe(program);
  registerReplay(program);
  registerExport(program);
  registerSync(program);
  registerStatus(program);
  registerSimulate(program);
  registerRebuild(program);
  registerBackup(program);
  registerDoctor(program);
  return program;
}

// `ember-sync status | head`: the reader went away and got what it wanted: end quietly, not with an EPIPE stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

try {
  const program = buildProgram();
  if (process.argv.length <= 2) {
    // No command is a usage error (exit 2), with the list of commands.
    program.outputHelp({ error: true });
    process.exitCode = 2;
  } else {
    await program.parseAsync(process.argv);
  }
} catch (err) {
  process.exitCode = exitCodeFor(err, (line) => process.stderr.write(`${line}\n`));
}
