import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
export const ROOT_DIR = join(FIXTURES_DIR, '..', '..');

/** The vendor's own examples from the webhook document, byte for byte as files. */
export const VENDOR_EXAMPLES = ['red-flag', 'low-score', 'completion-workflow', 'completion-call'] as const;
export type VendorExample = (typeof VENDOR_EXAMPLES)[number];

export function vendorBytes(name: VendorExample): Buffer {
  return readFileSync(join(FIXTURES_DIR, 'vendor', `${name}.json`));
}
export function vendorJson(name: VendorExample): Record<string, unknown> {
  return JSON.parse(vendorBytes(name).toString('utf8')) as Record<string, unknown>;
}
