import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A fresh directory removed when the test ends. */
export function tempDir(t: TestContext, prefix = 'ember-sync-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // Retries: a server or sync the test started may still be writing a file there as the test ends (ENOTEMPTY).
  t.after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  return dir;
}
