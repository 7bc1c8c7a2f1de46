import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureWritableDir, UnusableDirError } from '../../src/lib/ensure-dir.js';
import { tempDir } from '../helpers/temp-dir.js';

test('creates missing parents one level at a time and proves the folder writable', (t) => {
  const base = tempDir(t);
  const deep = join(base, 'a', 'b', 'c');
  ensureWritableDir(deep);
  assert.ok(statSync(deep).isDirectory());
  ensureWritableDir(deep); // idempotent
});

test('regression: a folder under /proc fails at once instead of looping (Node recursive mkdir spins there)', () => {
  const started = process.hrtime.bigint();
  assert.throws(() => ensureWritableDir('/proc/ember-sync-x/y'), UnusableDirError);
  assert.throws(() => ensureWritableDir('/proc/ember-sync-x'), /cannot create \/proc\/ember-sync-x/);
  // Not a timing assertion on speed: only that it returned at all (the old code never did).
  assert.ok(process.hrtime.bigint() > started);
});

test('a file where a folder should be is refused with its name', (t) => {
  const base = tempDir(t);
  const file = join(base, 'file');
  writeFileSync(file, 'x');
  assert.throws(() => ensureWritableDir(join(file, 'sub')), new RegExp(`${file} is not a folder`));
  assert.throws(() => ensureWritableDir('/dev/null/x'), /not a folder/);
});
