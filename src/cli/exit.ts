import { CommanderError } from 'commander';
import { SettingError, UsageError } from '../errors.js';

/** A command that ran but could not do everything it was asked (exit 1). */
export class CommandFailed extends Error {
  override name = 'CommandFailed';
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Maps any error to its exit code and one clear line on stderr (never a stack trace for a known problem). */
export function exitCodeFor(err: unknown, write: (line: string) => void): number {
  if (err instanceof SettingError) {
    write(`ember-sync: invalid setting ${err.setting}: ${err.problem}`);
    return EXIT.usage;
  }
  if (err instanceof UsageError) {
    write(`ember-sync: ${err.message}`);
    return EXIT.usage;
  }
  if (err instanceof CommanderError) {
    // commander already printed its message; help and version are not failures.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
    return EXIT.usage;
  }
  if (err instanceof CommandFailed) {
    write(`ember-sync: ${err.message}`);
    return EXIT.failed;
  }
  write(`ember-sync: ${(err as Error)?.message ?? String(err)}`);
  if (process.env['LOG_LEVEL'] === 'debug' || process.env['LOG_LEVEL'] === 'trace') write(String((err as Error)?.stack));
  return EXIT.failed;
}
