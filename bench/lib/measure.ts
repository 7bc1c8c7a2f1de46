import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Measured {
  seconds: number;
  peakRssMb: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion and reports wall time and peak RSS. Peak RSS is
 * the kernel's own high-water mark (VmHWM), read until the process exits.
 */
export function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, stdoutFile?: number): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ['ignore', stdoutFile ?? 'pipe', 'pipe'] });
    let peak = 0;
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      } catch {
        /* exited */
      }
    }, 20);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      resolve({ seconds: Number(process.hrtime.bigint() - start) / 1e9, peakRssMb: peak, code, stdout, stderr });
    });
  });
}
