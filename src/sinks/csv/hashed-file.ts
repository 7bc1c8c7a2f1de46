import { createHash, type Hash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { copyFile, open, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** sha256 runs at ~1.5 GB/s with the CPU's SHA extensions: the cheapest strong hash Node offers. */
const ALGORITHM = 'sha256';
const READ_CHUNK = 8 << 20;

/** A file written sequentially, with the running hash and size of every byte in it. */
export interface HashedFile {
  /** The hash of the bytes so far; writing may go on after it. */
  digest(): string;
  /** Bytes in the file so far. */
  readonly bytes: number;
  /** A stream appending to the file (strings as UTF-8), hashed on the way. The file stays open when it ends. */
  writable(): Writable;
  /** Appends bytes (hashed), resolving once they are written: the caller may reuse its buffer then. Not mixed with a writable still writing. */
  append(data: Uint8Array): Promise<void>;
  /**
   * Closes the handle for now (no fsync): the next append opens the file again. A rewrite of a view with
   * hundreds of months keeps a file per month being written; they cannot all hold a descriptor (EMFILE).
   */
  park(): Promise<void>;
  /** fsync then close: the content is durable. */
  commit(): Promise<void>;
  /** Close without syncing (after a failure); harmless after commit. */
  close(): Promise<void>;
}

async function writeAll(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < buf.length; ) done += (await fh.write(buf, done, buf.length - done, position + done)).bytesWritten;
}

function hashedFile(first: FileHandle, hash: Hash, start: number, path: string): HashedFile {
  let fh: FileHandle | undefined = first;
  let reopening: Promise<FileHandle> | undefined;
  let bytes = start;
  let closed = false;
  /** The open handle, the file opened again (writes go at explicit offsets) when it was parked. */
  const handle = async (): Promise<FileHandle> => {
    if (closed) throw new Error(`${path} is closed`);
    if (fh) return fh;
    reopening ??= open(path, 'r+').then((h) => {
      fh = h;
      reopening = undefined;
      return h;
    });
    return reopening;
  };
  const closeOnce = async () => {
    if (closed) return;
    closed = true;
    const h = fh ?? (await reopening?.catch(() => undefined));
    fh = undefined;
    await h?.close();
  };
  return {
    digest: () => hash.copy().digest('hex'),
    get bytes() {
      return bytes;
    },
    writable: () =>
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          const at = bytes;
          bytes += chunk.length;
          handle()
            .then((h) => writeAll(h, chunk, at))
            .then(() => callback(), callback);
        },
      }),
    async append(data: Uint8Array) {
      hash.update(data);
      const at = bytes;
      bytes += data.length;
      await writeAll(await handle(), data, at);
    },
    async park() {
      if (closed || !fh) return;
      const h = fh;
      fh = undefined;
      await h.close();
    },
    async commit() {
      await (await handle()).sync();
      await closeOnce();
    },
    close: closeOnce,
  };
}

/** Creates `path` (it must not exist) for writing, hashing every byte written. */
export async function createHashedFile(path: string): Promise<HashedFile> {
  return hashedFile(await open(path, 'wx'), createHash(ALGORITHM), 0, path);
}

/** The hash of the first `length` bytes of `path`; undefined when it is missing or shorter. */
async function hashPrefix(path: string, length: number, signal?: AbortSignal): Promise<Hash | undefined> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    const hash = createHash(ALGORITHM);
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(length, 1)));
    for (let pos = 0; pos < length; ) {
      signal?.throwIfAborted();
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - pos), pos);
      if (bytesRead === 0) return undefined;
      hash.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    return hash;
  } finally {
    await fh.close();
  }
}

/**
 * Copies `source` to `path` (which must not exist) and opens the copy for
 * appending after its first `length` bytes, with the hash of those bytes.
 * The copy is the kernel's (a reflink where the filesystem has them) while
 * the source is hashed at the same time: about the time of the slower of the
 * two instead of their sum. Undefined when the source is missing or shorter
 * than `length`, or (with `expected`) its first `length` bytes do not hash to it.
 */
async function copyAndHash(source: string, path: string, length: number, expected: string | undefined, signal?: AbortSignal): Promise<HashedFile | undefined> {
  const [copied, hash] = await Promise.all([
    copyFile(source, path, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE).then(
      () => true,
      () => false,
    ),
    hashPrefix(source, length, signal),
  ]);
  if (!copied || !hash || (expected !== undefined && hash.copy().digest('hex') !== expected)) return undefined;
  const fh = await open(path, 'r+');
  try {
    // Rows a crashed sync wrote after the confirmed part are cut: they are written again, once.
    await fh.truncate(length);
    const st = await fh.stat();
    if (st.size !== length) throw new Error(`${path}: the copy holds ${st.size} bytes, expected ${length}`);
  } catch (err) {
    await fh.close();
    throw err;
  }
  return hashedFile(fh, hash, length, path);
}

/** copyAndHash that must match the hash recorded for the confirmed part (an append-only file). */
export function copyHashed(source: string, path: string, length: number, expected: string, signal?: AbortSignal): Promise<HashedFile | undefined> {
  return copyAndHash(source, path, length, expected, signal);
}

/** The first `length` bytes of `source` (trusted as they are) as a new file open for appending, hashed. */
export async function copyPrefix(source: string, path: string, length: number, signal?: AbortSignal): Promise<HashedFile> {
  const out = await copyAndHash(source, path, length, undefined, signal);
  if (!out) throw new Error(`${source} could not be copied (gone, or shorter than ${length} bytes)`);
  return out;
}
