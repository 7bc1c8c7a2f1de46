import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT_DIR } from '../helpers/fixtures.js';

type Manifest = { name?: string; version?: string; engines?: unknown; dependencies?: Record<string, string>; devDependencies?: Record<string, string> };

test('regression: package-lock.json agrees with package.json, so `npm install` on a fresh clone leaves it unchanged', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT_DIR, 'package.json'), 'utf8')) as Manifest;
  const lock = JSON.parse(readFileSync(join(ROOT_DIR, 'package-lock.json'), 'utf8')) as { name: string; version: string; packages: Record<string, Manifest> };
  const root = lock.packages[''];
  assert.ok(root, 'the lockfile has a root package entry');
  assert.equal(lock.name, pkg.name);
  assert.equal(lock.version, pkg.version);
  assert.deepEqual(root.engines, pkg.engines, 'engines');
  assert.deepEqual(root.dependencies, pkg.dependencies, 'dependencies');
  assert.deepEqual(root.devDependencies, pkg.devDependencies, 'devDependencies');
  // Exact pins: every locked version is the one package.json names.
  for (const [name, version] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
    assert.equal(lock.packages[`node_modules/${name}`]?.version, version, name);
  }
});
