import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from './fixtures.js';

export const CLI_ENTRY = join(ROOT_DIR, 'src', 'cli', 'main.ts');

/** Runs the CLI as a real child process (TypeScript through tsx). */
export function spawnCli(args: string[], env: Record<string, string | undefined>, options: { stdin?: 'pipe' | 'ignore' } = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], {
    cwd: ROOT_DIR,
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string | undefined>, timeoutMs = 60_000): Promise<CliResult> {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => (stdout += d));
  child.stderr!.on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ember-sync ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Waits until the child printed a line matching `re` on stdout; returns the match. */
export function waitForOutput(child: ChildProcess, re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no output matching ${re} within ${timeoutMs} ms; got:\n${seen}`)), timeoutMs);
    const onData = (d: Buffer) => {
      seen += d.toString();
      const m = re.exec(seen);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m);
      }
    };
    child.stdout!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before printing ${re}; got:\n${seen}`));
    });
  });
}

export interface ServeChild {
  child: ChildProcess;
  listenUrl: string;
  webhookUrl: string;
  token: string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  output: () => string;
}

/**
 * `ember-sync serve` as a child on a free port; resolves once it printed its
 * URLs. Both pipes stay drained for the child's whole life (it logs
 * synchronously); the child is killed when the test ends.
 */
export async function startServeChild(t: TestContext, env: Record<string, string>): Promise<ServeChild> {
  const child = spawnCli(['serve'], { PORT: '0', HOST: '127.0.0.1', ...env });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const deadline = Date.now() + 30_000;
  let listen: RegExpExecArray | null = null;
  while (!(listen = /^ember-sync is listening on (http:\/\/127\.0\.0\.1:(\d+))$/m.exec(out))) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`serve exited (${child.exitCode}) before printing where it listens:\n${out}`);
    if (Date.now() > deadline) throw new Error(`serve printed no listen line within 30 s:\n${out}`);
    await sleep(20);
  }
  if (listen[2] === '0') throw new Error(`the printed URL does not carry the real port:\n${out}`);
  // Not a terminal: serve does not print the token; it is where the banner says.
  const token = env['WEBHOOK_TOKEN'] ?? readFileSync(join(env['DATA_DIR'] ?? join(ROOT_DIR, 'data'), 'webhook-token'), 'utf8').trim();
  return { child, listenUrl: listen[1]!, webhookUrl: `${listen[1]}/webhooks/emberqa/${token}`, token, exited, output: () => out };
}
