import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Measured {
  seconds: number;
  /** User + system CPU time of the command (NaN without GNU time): what it cost, whatever else the machine was doing. */
  cpuSeconds: number;
  peakRssMb: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** GNU time reports the child's own ru_maxrss when it has been waited for: exact, unlike polling. */
const GNU_TIME = '/usr/bin/time';
let seq = 0;

/**
 * Runs a command to completion and reports wall time, CPU time and peak RSS. Peak RSS is
 * the kernel's high-water mark of the process: GNU time's `%M` (read at exit,
 * so nothing is missed) when it exists, else VmHWM polled until the process exits.
 */
export function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, stdoutFile?: number): Promise<Measured> {
  const rssFile = existsSync(GNU_TIME) ? join(tmpdir(), `bench-rss-${process.pid}-${seq++}`) : undefined;
  const [c, a] = rssFile ? [GNU_TIME, ['-f', '%M %U %S', '-o', rssFile, cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(c, a, { env, stdio: ['ignore', stdoutFile ?? 'pipe', 'pipe'] });
    let peak = 0;
    let cpuSeconds = NaN;
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll = rssFile
      ? undefined
      : setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            if (m) peak = Math.max(peak, Number(m[1]) / 1024);
          } catch {
            /* exited */
          }
        }, 20);
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      clearInterval(poll);
      if (rssFile) {
        // The last line is `%M %U %S` (KiB, seconds); a line before it says so when the command was killed by a signal.
        const [kb, user, system] = (readFileSync(rssFile, 'utf8').trim().split('\n').at(-1) ?? '').split(' ').map(Number);
        peak = (kb ?? NaN) / 1024;
        cpuSeconds = (user ?? NaN) + (system ?? NaN);
        rmSync(rssFile, { force: true });
      }
      resolve({ seconds, cpuSeconds, peakRssMb: peak, code, stdout, stderr });
    });
  });
}
