import { createWriteStream, renameSync, rmSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { ExportOptionError, parseExportRequest } from '../../views/export-options.js';
import { VIEW_NAMES } from '../../model/views.js';
import { createCliContext } from '../context.js';

interface ExportFlags {
  since?: string;
  until?: string;
  out?: string;
  delimiter?: string;
  bom?: boolean;
  raw?: boolean;
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description(`write one view as CSV to a file or stdout (views: ${VIEW_NAMES.join(', ')})`)
    .argument('<view>', 'the view to export')
    .option('--since <time>', 'only rows received at or after this time (YYYY-MM-DD or ISO 8601; UTC unless a zone is given)')
    .option('--until <time>', 'only rows received before this time')
    .option('--out <file>', 'write to this file (replaced atomically) instead of stdout')
    .option('--delimiter <d>', 'field delimiter: , ; | or tab (default: CSV_DELIMITER)')
    .option('--bom', 'start with a UTF-8 byte order mark (default: CSV_BOM)')
    .option('--raw', 'leave formula-looking cells (=, +, -, @ …) as they came, for machine consumers')
    .action(async (view: string, flags: ExportFlags) => {
      const ctx = createCliContext();
      let req;
      try {
        req = parseExportRequest({ view, since: flags.since, until: flags.until, delimiter: flags.delimiter, bom: flags.bom, raw: flags.raw }, { delimiter: ctx.settings.csvDelimiter, bom: ctx.settings.csvBom });
      } catch (err) {
        if (err instanceof ExportOptionError) throw new UsageError(err.message);
        throw err;
      }
      const [{ exportView }, { createProgress }] = await Promise.all([import('../../jobs/export-view.js'), import('../progress.js')]);
      const store = ctx.openStore();
      // A bar only when writing a file from a terminal: stdout carries the CSV itself.
      const showBar = flags.out !== undefined && process.stderr.isTTY === true;
      const progress = createProgress(`export ${req.view}`, showBar);
      try {
        if (!flags.out) {
          await exportView(store, req, process.stdout);
          return;
        }
        const target = resolve(flags.out);
        const temp = `${target}.tmp-${process.pid}`;
        try {
          const rows = await exportView(store, req, createWriteStream(temp), showBar ? (done, total) => progress.update(done, total) : undefined);
          const fd = openSync(temp, 'r');
          fsyncSync(fd);
          closeSync(fd);
          renameSync(temp, target);
          progress.stop();
          process.stderr.write(`wrote ${rows} rows of ${req.view} to ${target}\n`);
        } catch (err) {
          rmSync(temp, { force: true });
          throw err;
        }
      } finally {
        progress.stop();
        store.close();
      }
    });
}
