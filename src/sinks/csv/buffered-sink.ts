import type { HashedFile } from './hashed-file.js';

/**
 * Appends to a hashed file: rendered text is gathered into writes of about
 * `chunk` characters (one write per row would cost a syscall each), a copied
 * span of an old file is written as it is (after what was gathered).
 */
export function bufferedSink(out: HashedFile, chunk = 1 << 20) {
  let pending = '';
  let bytes = out.bytes;
  const flush = async () => {
    if (pending === '') return;
    const data = Buffer.from(pending, 'utf8');
    pending = '';
    await out.append(data);
  };
  return {
    /** Bytes in the file once everything handed over is written. */
    get bytes() {
      return bytes;
    },
    async write(data: string | Buffer): Promise<void> {
      if (typeof data === 'string') {
        pending += data;
        bytes += Buffer.byteLength(data);
        if (pending.length >= chunk) await flush();
        return;
      }
      await flush();
      bytes += data.length;
      await out.append(data);
    },
    /** Writes what is gathered (the file stays open). */
    end: flush,
  };
}
export type BufferedSink = ReturnType<typeof bufferedSink>;
