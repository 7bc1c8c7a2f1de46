import { statfsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fail, oneLine, pass, type CheckResult } from './check.js';

/** Below this, a CSV sync (which writes each file to a temp copy first) or a burst of webhooks can fill the disk. */
export const MIN_FREE_BYTES = 1024 ** 3;
/** About what one webhook costs in the database (raw body and rows). */
const BYTES_PER_WEBHOOK = 2500;

export interface DiskSpace {
  /** Bytes this user can still write. */
  free: number;
  total: number;
}

const gb = (n: number): string => `${(n / 1024 ** 3).toFixed(1)} GB`;

/** The verdict for one file system, from its numbers. */
export function assessDisk(label: string, path: string, space: DiskSpace): CheckResult {
  const detail = `${gb(space.free)} free of ${gb(space.total)} at ${path}`;
  if (space.free < MIN_FREE_BYTES) {
    return fail(`free disk (${label})`, `only ${detail}; a full disk refuses webhooks (EmberQA gets 503s) and stops syncs`, `free space or grow the disk to keep at least ${gb(MIN_FREE_BYTES)} free`);
  }
  return pass(`free disk (${label})`, `${detail} (room for about ${Math.floor(space.free / BYTES_PER_WEBHOOK).toLocaleString('en-US')} more webhooks)`);
}

/** The nearest folder of `path` that exists (CSV_DIR may not be created yet). */
function existing(path: string): string {
  let p = resolve(path);
  for (;;) {
    try {
      statSync(p);
      return p;
    } catch {
      const up = dirname(p);
      if (up === p) return p;
      p = up;
    }
  }
}

/** Free space where each folder lives, once per file system. */
export function checkDisk(places: ReadonlyArray<{ label: string; path: string }>): CheckResult[] {
  const seen = new Map<number, string>();
  const out: CheckResult[] = [];
  for (const { label, path } of places) {
    const at = existing(path);
    try {
      const dev = statSync(at).dev;
      const same = seen.get(dev);
      if (same !== undefined) continue;
      seen.set(dev, label);
      const s = statfsSync(at);
      out.push(assessDisk(label, at, { free: s.bavail * s.bsize, total: s.blocks * s.bsize }));
    } catch (err) {
      out.push(fail(`free disk (${label})`, `cannot measure ${at}: ${oneLine(err)}`, `check that ${at} exists and is readable`));
    }
  }
  return out;
}
