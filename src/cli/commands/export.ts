import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { exportDefaults, ExportOptionError, parseExportRequest } from '../../views/export-options.js';
import { VIEW_NAMES } from '../../model/views.js';
import { createCliContext, warnOtherZone } from '../context.js';

interface ExportFlags {
  since?: string;
  until?: string;
  out?: string;
  delimiter?: string;
  bom?: boolean;
  raw?: boolean;
  timeFormat?: string;
  decimal?: string;
  timezone?: string;
}

/**
 * Where `--out` will go, checked before any work: a folder that does not exist
 * or cannot be written is bad usage (exit 2) named by the path the user gave,
 * not a failure about our temp file after the whole export ran.
 */
export function checkOutPath(given: string): string {
  const target = resolve(given);
  const dir = dirname(target);
  const bad = (why: string) => new UsageError(`--out ${JSON.stringify(given)}: ${why}`);
  let folder;
  try {
    folder = statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw bad(code === 'ENOENT' ? `the folder ${dir} does not exist` : code === 'ENOTDIR' ? `${dir} is not a folder` : `cannot reach the folder ${dir} (${code ?? (err as Error).message})`);
  }
  if (!folder.isDirectory()) throw bad(`${dir} is not a folder`);
  if (statSync(target, { throwIfNoEntry: false })?.isDirectory()) throw bad('it is a folder; give a file name');
  // The real test (access() says yes to root, and under /proc): create and remove a file there.
  const probe = join(dir, `.ember-sync-write-test-${process.pid}`);
  try {
    closeSync(openSync(probe, 'wx'));
  } catch (err) {
    throw bad(`cannot write in the folder ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  } finally {
    rmSync(probe, { force: true });
  }
  return target;
}

/** Large enough for any chunk write-view-csv hands over (32 Ki UTF-16 units are at most 96 KiB of UTF-8). */
const SCRATCH_BYTES = 256 * 1024;

/**
 * The `--out` file as a Writable that writes synchronously through one reused
 * buffer. An fs.WriteStream hands each chunk to the thread pool and the export
 * waits for 'drain' after each one anyway (its writes never overlapped the
 * reading: measured idle), at the price of a new buffer per chunk and a turn
 * of the event loop; the page cache takes a write in microseconds.
 */
function fileSink(fd: number): Writable {
  const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  const writeAll = (buf: Buffer, length: number) => {
    for (let done = 0; done < length; ) done += writeSync(fd, buf, done, length - done);
  };
  return new Writable({
    // Each write is done before write() returns: the caller never needs to wait for 'drain'.
    highWaterMark: SCRATCH_BYTES * 4,
    decodeStrings: false,
    write(chunk: string | Buffer, encoding, done) {
      try {
        if (Buffer.isBuffer(chunk)) writeAll(chunk, chunk.length);
        else if (chunk.length * 3 <= SCRATCH_BYTES) writeAll(scratch, scratch.write(chunk, 0, encoding));
        else {
          const buf = Buffer.from(chunk, encoding);
          writeAll(buf, buf.length);
        }
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}

/** Set in the export's own child process (see inBoundedHeap). */
const BOUNDED_CHILD = 'EMBER_SYNC_EXPORT_BOUNDED';

/**
 * The export runs in a child of this process started with V8 heap limits,
 * which V8 reads only at start. Without them V8 lets the young generation
 * double (to 2 × 16 MB) and the old one grow with the length of the run: an
 * export allocates a few hundred bytes per row that die at once, yet peak RSS
 * grew from 93 MB at 1M webhooks to 110 MB at 5M. With them it stays under
 * 100 MB at any size (young generation 2 × 2 MB: smaller semi-spaces cost
 * time in scavenges); the live data of an export is a page of rows. The child
 * shares stdin/stdout/stderr; its exit code (or signal) is this process's.
 */
function inBoundedHeap(): Promise<void> | undefined {
  if (process.env[BOUNDED_CHILD] === '1') return undefined;
  const args = [...process.execArgv, '--max-old-space-size=64', '--max-semi-space-size=2', process.argv[1]!, ...process.argv.slice(2)];
  const child = spawn(process.execPath, args, { stdio: 'inherit', env: { ...process.env, [BOUNDED_CHILD]: '1' } });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, forward);
      if (signal) process.kill(process.pid, signal);
      process.exitCode = code ?? 1;
      resolve();
    });
  });
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
    .option('--time-format <f>', 'time columns: iso (UTC, as received) or local (yyyy-mm-dd HH:MM:SS.mmm in --timezone) (default: CSV_TIME_FORMAT)')
    .option('--timezone <zone>', 'IANA zone of local times, e.g. America/New_York (default: REPORT_TIMEZONE)')
    .option('--decimal <d>', 'decimal separator of numbers: . or , (a comma needs --delimiter ; | or tab) (default: CSV_DECIMAL)')
    .action(async (view: string, flags: ExportFlags) => {
      const bounded = inBoundedHeap();
      if (bounded) return bounded;
      const ctx = createCliContext();
      let req: ReturnType<typeof parseExportRequest>;
      try {
        const { since, until, delimiter, bom, raw, timeFormat, decimal, timezone } = flags;
        req = parseExportRequest({ view, since, until, delimiter, bom, raw, timeFormat, decimal, timezone }, exportDefaults(ctx.settings));
      } catch (err) {
        if (err instanceof ExportOptionError) throw new UsageError(err.message);
        throw err;
      }
      const target = flags.out === undefined ? undefined : checkOutPath(flags.out);
      const [{ exportView }, { createProgress }] = await Promise.all([import('../../jobs/export-view.js'), import('../progress.js')]);
      const store = await ctx.openStore();
      // A bar only when writing a file from a terminal: stdout carries the CSV itself.
      const showBar = target !== undefined && process.stderr.isTTY === true;
      const progress = createProgress(`export ${req.view}`, showBar);
      try {
        // Local times default to the zone the server derives the views in (it owns REPORT_TIMEZONE), like the synced files.
        const zone = await store.reportTimezone();
        if (flags.timezone === undefined) req = { ...req, dialect: { ...req.dialect, timeZone: zone } };
        warnOtherZone(ctx.settings.reportTimezone, zone);
        if (target === undefined) {
          try {
            await exportView(store, req, process.stdout);
          } catch (err) {
            // The reader went away (`| head`): what it wanted, it got; nothing to report.
            if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
          }
          return;
        }
        const temp = `${target}.tmp-${process.pid}`;
        // Opened here, not lazily by the stream: a failure then can never leave a file created after its removal.
        const fd = openSync(temp, 'wx');
        const out = fileSink(fd);
        try {
          const rows = await exportView(store, req, out, showBar ? (done, total) => progress.update(done, total) : undefined);
          fsyncSync(fd);
          renameSync(temp, target);
          progress.stop();
          process.stderr.write(`wrote ${rows} rows of ${req.view} to ${target}\n`);
        } catch (err) {
          out.destroy();
          rmSync(temp, { force: true });
          throw err;
        } finally {
          closeSync(fd);
        }
      } finally {
        progress.stop();
        await store.close();
      }
    });
}
