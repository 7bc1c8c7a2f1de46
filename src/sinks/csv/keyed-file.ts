import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import type { Cell } from '../../model/cells.js';
import type { PositionedRow } from '../../model/sync.js';
import { BOM, renderCsv, type CsvDialect } from './csv-format.js';
import { copyPrefix, createHashedFile, type HashedFile } from './hashed-file.js';
import { bufferedSink, type BufferedSink } from './buffered-sink.js';

/**
 * A keyed view's CSV file changes in place: its rows keep their positions and
 * a sync rewrites the rows whose key changed. Rewriting the whole file would
 * cost as much as the view (millions of metric rows) every minute, so the
 * file is spliced instead: the old file is read once, in order (and hashed:
 * an edit anywhere is seen), its unchanged bytes copied as they are and the
 * changed rows rendered in their place. To find a row without parsing the
 * whole file, the state keeps a checkpoint every ROWS_PER_CHECKPOINT rows (the
 * byte offset where that row starts); from a checkpoint at most that many
 * records are scanned, quote-aware, with native indexOf.
 */
export const ROWS_PER_CHECKPOINT = 512;

const QUOTE = 0x22;
const CRLF = Buffer.from('\r\n');
const READ_CHUNK = 1 << 20;
const WRITE_CHUNK = 1 << 20;

const sink = (out: HashedFile) => bufferedSink(out, WRITE_CHUNK);
type Sink = BufferedSink;

/** Reads a file front to back exactly once, hashing every byte it hands on or skips. */
class SequentialReader {
  private buf: Buffer;
  /** Hashes what is consumed when the caller must check the old file (it was touched since it was written). */
  readonly hash: Hash | undefined;
  /** File offset of buf[0]. */
  private start = 0;
  private len = 0;
  /** File offset of the next byte not consumed. */
  pos = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    verify: boolean,
    /** Where to start reading (a checkpoint), 0 to read the whole file. */
    from: number,
    readChunk = READ_CHUNK,
  ) {
    this.buf = Buffer.allocUnsafe(readChunk);
    this.hash = verify ? createHash('sha256') : undefined;
    this.pos = from;
    this.start = from;
  }

  /** Reads more, keeping the unconsumed bytes; false at the end of the file. */
  private async more(): Promise<boolean> {
    const keep = this.len - (this.pos - this.start);
    if (keep > 0 && this.pos > this.start) this.buf.copy(this.buf, 0, this.pos - this.start, this.len);
    this.start = this.pos;
    this.len = keep;
    if (this.len === this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    const want = Math.min(this.buf.length - this.len, this.size - (this.start + this.len));
    if (want <= 0) return false;
    const { bytesRead } = await this.fh.read(this.buf, this.len, want, this.start + this.len);
    this.len += bytesRead;
    return bytesRead > 0;
  }

  /** Consumes bytes up to file offset `to`, handing them to `out` (or dropping them). */
  async take(to: number, out: Sink | undefined): Promise<void> {
    while (this.pos < to) {
      if (this.pos >= this.start + this.len && !(await this.more())) throw new SpliceMismatch(`the file ends at ${this.pos}, before ${to}`);
      const from = this.pos - this.start;
      const n = Math.min(this.len - from, to - this.pos);
      const chunk = this.buf.subarray(from, from + n);
      this.hash?.update(chunk);
      this.pos += n;
      if (out) await out.write(chunk);
    }
  }

  /** The file offset just past the record starting at `pos` (its CRLF outside quotes). */
  async recordEnd(): Promise<number> {
    let i = this.pos - this.start;
    let inQuotes = false;
    for (;;) {
      if (i < this.len) {
        if (inQuotes) {
          const q = this.buf.indexOf(QUOTE, i);
          if (q !== -1 && q < this.len) {
            inQuotes = false;
            i = q + 1;
            continue;
          }
        } else {
          const e = this.buf.indexOf(CRLF, i);
          const q = this.buf.indexOf(QUOTE, i);
          const end = e !== -1 && e + 1 < this.len ? e : -1;
          const quote = q !== -1 && q < this.len ? q : -1;
          if (end !== -1 && (quote === -1 || end < quote)) return this.start + end + 2;
          if (quote !== -1) {
            inQuotes = true;
            i = quote + 1;
            continue;
          }
        }
      }
      // The record goes on past what is read: read more and go on from where this scan round began (nothing
      // from there on was taken into account yet: a CR at the very end is looked at again with its LF).
      const scanned = i - (this.pos - this.start);
      if (!(await this.more())) throw new SpliceMismatch(`no record end after offset ${this.pos}`);
      i = this.pos - this.start + scanned;
    }
  }
}

/** The old file is not what the state describes (edited, cut, or another layout): write the view whole instead. */
export class SpliceMismatch extends Error {
  override name = 'SpliceMismatch';
}

export interface KeyedFileResult {
  /** Data rows in the new file. */
  rows: number;
  /** Byte offset of rows 1, 1 + ROWS_PER_CHECKPOINT, 1 + 2 × ROWS_PER_CHECKPOINT… */
  checkpoints: number[];
}

/** Pages of rows as a store reads them (one page at a time), or as a caller has them at hand. */
export type Pages<T> = AsyncIterable<T[]> | Iterable<T[]>;

/** Renders rows one by one into page-sized strings, noting where each checkpoint row starts. */
async function writeRows(out: Sink, rows: Pages<Cell[]>, firstRow: number, checkpoints: number[], render: (rows: Cell[][]) => string, signal?: AbortSignal): Promise<number> {
  let row = firstRow;
  for await (const page of rows) {
    signal?.throwIfAborted();
    let text = '';
    for (const cells of page) {
      if ((row - 1) % ROWS_PER_CHECKPOINT === 0) checkpoints.push(out.bytes + Buffer.byteLength(text));
      text += render([cells]);
      row++;
    }
    await out.write(text);
  }
  return row - firstRow;
}

/** The whole view into a new file: BOM, header, every row; with its checkpoints. */
export async function writeKeyedFile(o: { out: HashedFile; header: readonly string[]; pages: Pages<Cell[]>; dialect: CsvDialect; render: (rows: Cell[][]) => string; signal?: AbortSignal }): Promise<KeyedFileResult> {
  const out = sink(o.out);
  await out.write((o.dialect.bom ? BOM : '') + renderCsv([o.header as string[]], o.dialect));
  const checkpoints: number[] = [];
  const rows = await writeRows(out, o.pages, 1, checkpoints, o.render, o.signal);
  await out.end();
  return { rows, checkpoints };
}

export interface SpliceInput {
  /** The file as the last confirmed sync left it. */
  path: string;
  bytes: number;
  sha256: string;
  checkpoints: readonly number[];
  /** Data rows in it. */
  known: number;
  /** Changed rows (positions <= known) then new ones (known + 1, known + 2…), in position order. */
  changes: Pages<PositionedRow>;
  /** The new file to create (it must not exist). */
  temp: string;
  render: (rows: Cell[][]) => string;
  /**
   * Hash the old file and compare with `sha256`. Off only when the file's
   * inode, change time and size are as the last sync left them (nothing
   * wrote to it since: a write sets the change time, which no user can set back).
   */
  verify: boolean;
  signal?: AbortSignal;
  /** Bytes read at a time (tests make it tiny, so that records and quotes straddle reads). */
  readChunk?: number;
}

/** The first item of some pages, and all their pages again (read once); `close` ends the read early. */
async function peek<T>(pages: Pages<T>): Promise<{ first: T | undefined; all: AsyncIterable<T[]>; close: () => Promise<void> }> {
  const it = (async function* () {
    yield* pages;
  })();
  let head = await it.next();
  while (!head.done && head.value.length === 0) head = await it.next();
  const firstPage = head.done ? [] : head.value;
  return {
    first: firstPage[0],
    all: {
      async *[Symbol.asyncIterator]() {
        if (firstPage.length) yield firstPage;
        for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
      },
    },
    // A splice that stops half-way (a mismatch, an abort) lets the store end its read.
    close: async () => void (await it.return(undefined)),
  };
}

/**
 * The old file with the changed rows replaced and the new ones appended, in
 * `temp`. Throws SpliceMismatch when the old file does not hash to what the
 * state recorded, or its records are not where the checkpoints say.
 *
 * When the old file is trusted as is (`verify` off), everything before the
 * first changed row — most of the file: changes are mostly recent calls — is
 * copied by the kernel while it is hashed for the new file's state, as the
 * append-only files are; the rest goes through the splice.
 */
export async function spliceKeyedFile(o: SpliceInput): Promise<KeyedFileResult & { out: HashedFile }> {
  const fh = await open(o.path, 'r');
  let out: HashedFile | undefined;
  let closeChanges: (() => Promise<void>) | undefined;
  try {
    const st = await fh.stat();
    if (st.size !== o.bytes) throw new SpliceMismatch(`${o.path} holds ${st.size} bytes, the last sync left ${o.bytes}`);
    if (o.known > 0 && o.checkpoints.length !== Math.ceil(o.known / ROWS_PER_CHECKPOINT)) throw new SpliceMismatch('checkpoints do not match the row count');
    const oldStart = (r: number) => o.checkpoints[(r - 1) / ROWS_PER_CHECKPOINT]!;
    const isCheckpoint = (r: number) => (r - 1) % ROWS_PER_CHECKPOINT === 0;
    const { first, all: changes, close } = await peek(o.changes);
    closeChanges = close;
    const checkpoints: number[] = [];
    /** The next old row to consume. */
    let row = 1;
    let reader: SequentialReader;

    const firstRow = first ? Math.min(first.position, o.known + 1) : o.known + 1;
    if (!o.verify && firstRow > 1 && o.known > 0) {
      // Find where the first changed row starts: from its checkpoint, record by record.
      const from = Math.floor((firstRow - 2) / ROWS_PER_CHECKPOINT) * ROWS_PER_CHECKPOINT + 1;
      reader = new SequentialReader(fh, st.size, false, oldStart(from), o.readChunk);
      for (let r = from; r < firstRow; r++) await reader.take(await reader.recordEnd(), undefined);
      for (let r = 1; r < firstRow; r++) if (isCheckpoint(r)) checkpoints.push(oldStart(r));
      row = firstRow;
      out = await copyPrefix(o.path, o.temp, reader.pos, o.signal);
    } else {
      reader = new SequentialReader(fh, st.size, o.verify, 0, o.readChunk);
      out = await createHashedFile(o.temp);
    }
    const w = sink(out);
    // The header (and BOM) as it is, unless the prefix holds it already.
    if (row === 1) await reader.take(o.known > 0 ? o.checkpoints[0]! : o.bytes, w);

    /** Copies old rows row..upTo-1 as they are. */
    const copyUntil = async (upTo: number) => {
      // Whole checkpoint spans in one copy: their new offsets shift by what the output gained so far.
      const lastCheckpointRow = Math.floor((upTo - 1 - 1) / ROWS_PER_CHECKPOINT) * ROWS_PER_CHECKPOINT + 1;
      if (lastCheckpointRow > row) {
        const shift = w.bytes - reader.pos;
        for (let r = row; r < lastCheckpointRow; r++) if (isCheckpoint(r)) checkpoints.push(oldStart(r) + shift);
        await reader.take(oldStart(lastCheckpointRow), w);
        row = lastCheckpointRow;
      }
      for (; row < upTo; row++) {
        if (isCheckpoint(row)) {
          if (reader.pos !== oldStart(row)) throw new SpliceMismatch(`row ${row} is not where its checkpoint says`);
          checkpoints.push(w.bytes);
        }
        await reader.take(await reader.recordEnd(), w);
      }
    };
    /** The old file is done (every row copied or replaced): check it, then new rows may follow. */
    let oldDone = false;
    const finishOld = async () => {
      if (oldDone) return;
      oldDone = true;
      await copyUntil(o.known + 1);
      if (reader.pos !== o.bytes) throw new SpliceMismatch(`the rows end at ${reader.pos}, the file at ${o.bytes}`);
      if (reader.hash && reader.hash.digest('hex') !== o.sha256) throw new SpliceMismatch(`${o.path} changed since the last sync (its content does not hash to what was written)`);
    };

    let next = o.known + 1;
    for await (const page of changes) {
      o.signal?.throwIfAborted();
      const added: Cell[][] = [];
      for (const { position, cells } of page) {
        if (position <= o.known) {
          if (position < row || oldDone) throw new SpliceMismatch(`changed rows out of order at ${position}`);
          await copyUntil(position);
          if (isCheckpoint(row)) {
            if (reader.pos !== oldStart(row)) throw new SpliceMismatch(`row ${row} is not where its checkpoint says`);
            checkpoints.push(w.bytes);
          }
          await reader.take(await reader.recordEnd(), undefined);
          await w.write(o.render([cells]));
          row++;
          continue;
        }
        if (position !== next) throw new SpliceMismatch(`new row ${position} does not follow row ${next - 1}`);
        added.push(cells);
        next++;
      }
      if (added.length > 0) {
        // New keys come after every change: the rest of the old file goes first, then they are written as they come.
        await finishOld();
        await writeRows(w, [added], next - added.length, checkpoints, o.render, o.signal);
      }
    }
    await finishOld();
    await w.end();
    return { out, rows: next - 1, checkpoints };
  } catch (err) {
    await out?.close();
    throw err;
  } finally {
    await closeChanges?.();
    await fh.close();
  }
}
