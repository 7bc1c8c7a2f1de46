import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, toClientConfig } from 'pg-connection-string';
import { pinSslMode } from '../../src/lib/pg-sslmode.js';
import { tempDir } from '../helpers/temp-dir.js';

const BASE = 'postgres://ember:pw@db.internal:5432/ember_sync';

/** The process warnings emitted while `fn` runs (emitWarning delivers them on the next tick). */
async function warningsDuring(fn: () => void): Promise<string[]> {
  const seen: string[] = [];
  const listener = (w: Error) => seen.push(w.message);
  process.on('warning', listener);
  try {
    fn();
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

// First in this file: pg-connection-string warns once per process.
test('a pinned sslmode=require URL parses without the SECURITY WARNING; the URL as given would print it', async () => {
  const pinned = await warningsDuring(() => {
    for (const mode of ['prefer', 'require', 'verify-ca']) parse(pinSslMode(`${BASE}?sslmode=${mode}`));
  });
  assert.deepEqual(pinned, []);
  // The control: the listener hears the library's warning when the URL is not pinned.
  const raw = await warningsDuring(() => parse(`${BASE}?sslmode=require`));
  assert.equal(raw.length, 1);
  assert.match(raw[0]!, /^SECURITY WARNING: The SSL modes 'prefer', 'require', and 'verify-ca' are treated as aliases for 'verify-full'/);
});

test('prefer, require and verify-ca are written as verify-full; everything else is left as given', () => {
  assert.equal(pinSslMode(`${BASE}?sslmode=require`), `${BASE}?sslmode=verify-full`);
  assert.equal(pinSslMode(`${BASE}?application_name=x&sslmode=prefer&connect_timeout=5`), `${BASE}?application_name=x&sslmode=verify-full&connect_timeout=5`);
  assert.equal(pinSslMode('postgres://u@/db?host=/run/postgresql&sslmode=verify-ca'), 'postgres://u@/db?host=/run/postgresql&sslmode=verify-full');
  // Percent-encoded as URLSearchParams decodes it (as pg-connection-string reads it).
  assert.equal(pinSslMode(`${BASE}?sslmode=requir%65`), `${BASE}?sslmode=verify-full`);
  for (const url of [BASE, `${BASE}?sslmode=disable`, `${BASE}?sslmode=verify-full`, `${BASE}?sslmode=no-verify`, `${BASE}?uselibpqcompat=true&sslmode=require`, `${BASE}?sslmode=prefer&uselibpqcompat=true`]) {
    assert.equal(pinSslMode(url), url);
  }
});

test('the TLS options node-postgres gets are the ones pg 8 gives the URL as written (verify-full), CA file included', (t) => {
  const ca = join(tempDir(t), 'ca.pem');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  for (const query of ['sslmode=prefer', 'sslmode=require', 'sslmode=verify-ca', `sslmode=require&sslrootcert=${ca}`, `sslmode=verify-ca&sslrootcert=${ca}`]) {
    const url = `${BASE}?${query}`;
    const asPinned = toClientConfig(parse(pinSslMode(url)));
    const asWritten = toClientConfig(parse(url));
    assert.deepEqual({ ...asPinned, sslmode: undefined }, { ...asWritten, sslmode: undefined }, query);
    // TLS on, certificate and host name checked (Node's defaults: nothing turns them off).
    assert.equal(typeof asPinned.ssl, 'object', query);
    assert.equal((asPinned.ssl as { rejectUnauthorized?: boolean }).rejectUnauthorized, undefined, query);
    assert.equal((asPinned.ssl as { checkServerIdentity?: unknown }).checkServerIdentity, undefined, query);
  }
  // uselibpqcompat=true: libpq's meaning, as the library defines it (require: encrypted, not verified).
  const libpq = toClientConfig(parse(pinSslMode(`${BASE}?uselibpqcompat=true&sslmode=require`)));
  assert.equal((libpq.ssl as { rejectUnauthorized?: boolean }).rejectUnauthorized, false);
});
