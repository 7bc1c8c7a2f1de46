import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import type { Cell } from '../../../src/model/cells.js';
import type { KeyedDelivery, KeyedRowSource, PositionedRow, ViewCursor } from '../../../src/model/sync.js';
import { createCsvTarget } from '../../../src/sinks/csv/csv-target.js';
import { ROWS_PER_CHECKPOINT, spliceKeyedFile, writeKeyedFile } from '../../../src/sinks/csv/keyed-file.js';
import { createHashedFile } from '../../../src/sinks/csv/hashed-file.js';
import { renderCsv } from '../../../src/sinks/csv/csv-format.js';
import { DEFAULT_CSV_DIALECT } from '../../../src/model/csv.js';
import { tempDir } from '../../helpers/temp-dir.js';

const HEADER = ['content_id', 'agent_name', 'scored_at', 'metric', 'score', 'justification', 'updated_at'];

/** Text that stresses the record scanner: quotes, CR, LF, CRLF, commas, a formula start. */
const text = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('a "quoted" word', 'line\r\nbreak', 'lone\nlf', 'lone\rcr', '"', '""', ',', '=1+1', 'x\r\n"y"\r\n', ''),
);
const cell: fc.Arbitrary<Cell> = fc.oneof(text, fc.integer({ min: -5, max: 10 }), fc.constant(null));
const rowOf = (id: number) => fc.tuple(cell, cell, cell, cell, cell, cell).map((cells): Cell[] => [`c${id}`, ...cells]);

/** One sync: some rows change, some are added; sometimes the sync dies before its cursor commit, or the file is edited by hand. */
const step = fc.record({
  changes: fc.array(fc.tuple(fc.nat(), rowOf(0)), { maxLength: 40 }),
  added: fc.nat({ max: 700 }),
  fresh: fc.array(rowOf(0), { minLength: 1, maxLength: 1 }),
  crash: fc.boolean(),
  edit: fc.constantFrom('none', 'none', 'none', 'append', 'flip'),
});

/** The view as a plain array (the model), handed to the target as a keyed delivery. */
function source(rows: Cell[][], changedAt: number[]): KeyedRowSource {
  const total = rows.length;
  return {
    total,
    async *pages() {
      for (let i = 0; i < total; i += 100) yield rows.slice(i, i + 100);
    },
    async *changed(sinceSeq: number, known: number) {
      const out: PositionedRow[] = [];
      for (let p = 1; p <= total; p++) if (p > known || changedAt[p - 1]! > sinceSeq) out.push({ position: p, cells: rows[p - 1]! });
      for (let i = 0; i < out.length; i += 50) yield out.slice(i, i + 50);
    },
    async countChanged(sinceSeq: number, known: number) {
      let n = 0;
      for (let p = 1; p <= total; p++) if (p > known || changedAt[p - 1]! > sinceSeq) n++;
      return n;
    },
  };
}

const shown = (c: Cell) => (c === null ? '' : typeof c === 'string' && /^[=+\-@\t\r]/.test(c) && !/^[+-]?\d+(\.\d+)?$/.test(c) ? `'${c}` : String(c));

test('property: a keyed CSV file spliced sync after sync equals the view, across checkpoints, crashes and hand edits', async (t) => {
  const dir = tempDir(t);
  let run = 0;
  let spliced = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), fc.nat({ max: 1200 }), async (steps, initial) => {
      const csvDir = join(dir, `r${run++}`);
      const target = createCsvTarget({ dir: csvDir, delimiter: ',', bom: run % 2 === 0 });
      const file = join(csvDir, 'content_scores.csv');
      const rows: Cell[][] = [];
      const changedAt: number[] = [];
      let seq = 1;
      const add = (n: number, sample: Cell[]) => {
        for (let i = 0; i < n; i++) {
          rows.push([`c${rows.length + 1}`, ...sample.slice(1)]);
          changedAt.push(seq);
        }
      };
      add(initial, [null, 'Ann', '2026-11-30T00:00:00.000Z', 'm', 1, 'j', 't']);
      let clean = false;
      let cursor: ViewCursor = { deliveredSeq: 0, deliveredRows: 0, state: undefined, lastError: null, lastErrorAt: null };
      for (const s of steps) {
        seq++;
        for (const [at, r] of s.changes) {
          if (rows.length === 0) break;
          const p = at % rows.length;
          rows[p] = [`c${p + 1}`, ...r.slice(1)];
          changedAt[p] = seq;
        }
        add(s.added, s.fresh[0]!);
        const d: KeyedDelivery = { kind: 'keyed', view: 'content_scores', header: HEADER, cursor, toSeq: seq, zone: 'UTC', epoch: 'e1', pending: 0, rows: source(rows, changedAt) };
        d.pending = await d.rows.countChanged(cursor.deliveredSeq, cursor.deliveredRows);
        const [out] = await target.deliver([d]);
        assert.ok(out?.ok, JSON.stringify(out));
        // After a committed sync and no hand edit, the old file is spliced, never written whole.
        if (clean) {
          assert.equal(out.receipt.rows, d.pending, 'spliced: only the changed and new rows were written');
          spliced++;
        }
        // The file equals the model, read back by an independent parser.
        const got = parse(readFileSync(file), { bom: true, relax_quotes: false }) as string[][];
        assert.deepEqual(got[0], HEADER);
        assert.deepEqual(got.slice(1), rows.map((r) => r.map(shown)));
        clean = !s.crash && s.edit === 'none';
        if (s.crash) continue; // the cursor never moved: the next sync must repair from the old state
        cursor = { deliveredSeq: seq, deliveredRows: out.receipt.totalRows, state: out.receipt.state, lastError: null, lastErrorAt: null };
        if (s.edit === 'append') appendFileSync(file, 'x,y\r\n');
        if (s.edit === 'flip' && rows.length > 0) {
          // Same size, one byte changed (an editor keeping the size): the hash sees it.
          const b = readFileSync(file);
          const i = b.length - 3;
          b[i] = b[i] === 0x41 ? 0x42 : 0x41;
          writeFileSync(file, b);
        }
      }
    }),
    { numRuns: Number(process.env["KEYED_FILE_RUNS"] ?? 25), ...(process.env["KEYED_FILE_RUNS"] ? {} : { seed: 20261130 }) },
  );
  assert.ok(ROWS_PER_CHECKPOINT < 1200, 'the runs cross checkpoints');
  assert.ok(spliced >= 10, `syncs that splice were tried (${spliced})`);
});

test('property: a splice equals writing the view whole, byte for byte, whatever the read size (quotes, CRLF and records straddling reads)', async (t) => {
  const dir = tempDir(t);
  const dialect = { ...DEFAULT_CSV_DIALECT, bom: true };
  const render = (rows: Cell[][]) => renderCsv(rows, dialect);
  const quoteHeavy = fc.oneof(text, fc.constantFrom('"a"\r\n"b"', '""\r\n""', 'x"\r\ny', '"', '\r\n', '"\r\n"'));
  const row = (id: number) => fc.array(fc.oneof(quoteHeavy, fc.integer(), fc.constant(null)), { minLength: 3, maxLength: 3 }).map((cells): Cell[] => [`c${id}`, ...cells]);
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(row(0), { minLength: 0, maxLength: 1300 }),
      fc.array(fc.tuple(fc.nat(), row(0)), { maxLength: 30 }),
      fc.array(row(0), { maxLength: 30 }),
      fc.integer({ min: 1, max: 64 }),
      fc.boolean(),
      async (initial, changes, added, readChunk, verify) => {
        const base = join(dir, `s${n++}`);
        const header = ['content_id', 'a', 'b', 'c'];
        const rows = initial.map((r, i): Cell[] => [`c${i + 1}`, ...r.slice(1)]);
        const whole = async (path: string, all: Cell[][]) => {
          const out = await createHashedFile(path);
          const r = await writeKeyedFile({ out, header, pages: [all], dialect, render });
          await out.commit();
          return { ...r, sha256: out.digest(), bytes: out.bytes };
        };
        const old = await whole(`${base}.old`, rows);
        const changed = new Map<number, Cell[]>();
        for (const [at, r] of changes) if (rows.length) changed.set((at % rows.length) + 1, [`c${(at % rows.length) + 1}`, ...r.slice(1)]);
        const next = rows.map((r, i) => changed.get(i + 1) ?? r);
        const fresh = added.map((r, i): Cell[] => [`c${rows.length + i + 1}`, ...r.slice(1)]);
        const positioned = [...[...changed].sort((a, b) => a[0] - b[0]).map(([position, cells]) => ({ position, cells })), ...fresh.map((cells, i) => ({ position: rows.length + i + 1, cells }))];
        const spliced = await spliceKeyedFile({ path: `${base}.old`, bytes: old.bytes, sha256: old.sha256, checkpoints: old.checkpoints, known: rows.length, changes: [positioned.slice(0, 7), positioned.slice(7)], temp: `${base}.new`, render, verify, readChunk });
        await spliced.out.commit();
        const want = await whole(`${base}.want`, [...next, ...fresh]);
        assert.equal(readFileSync(`${base}.new`, 'utf8'), readFileSync(`${base}.want`, 'utf8'));
        assert.deepEqual(spliced.checkpoints, want.checkpoints);
        assert.equal(spliced.rows, next.length + fresh.length);
        assert.equal(spliced.out.digest(), want.sha256);
      },
    ),
    { numRuns: Number(process.env['KEYED_FILE_RUNS'] ?? 60) },
  );
});

test('regression: a write to a keyed file while a sync splices it is not copied into the new file: the view is written whole', async (t) => {
  const dir = tempDir(t);
  const target = createCsvTarget({ dir, delimiter: ',', bom: false });
  const file = join(dir, 'content_scores.csv');
  const rows: Cell[][] = Array.from({ length: 2000 }, (_, i) => [`c${i + 1}`, 'Ann', '2026-11-30T00:00:00.000Z', 'm', i % 10, 'j', 't']);
  const changedAt = rows.map(() => 1);
  const delivery = async (cursor: ViewCursor, seq: number, src: KeyedRowSource): Promise<KeyedDelivery> => ({ kind: 'keyed', view: 'content_scores', header: HEADER, cursor, toSeq: seq, zone: 'UTC', epoch: 'e1', pending: await src.countChanged(cursor.deliveredSeq, cursor.deliveredRows), rows: src });
  const [first] = await target.deliver([await delivery({ deliveredSeq: 0, deliveredRows: 0, state: undefined, lastError: null, lastErrorAt: null }, 1, source(rows, changedAt))]);
  assert.ok(first?.ok);
  const cursor: ViewCursor = { deliveredSeq: 1, deliveredRows: 2000, state: first.receipt.state, lastError: null, lastErrorAt: null };
  rows[1999] = ['c2000', 'Bob', '2026-11-30T00:00:00.000Z', 'm', 7, 'changed', 't'];
  changedAt[1999] = 2;
  // Someone edits an early row in place (same size) while the splice reads the file.
  const src = source(rows, changedAt);
  const racing: KeyedRowSource = {
    ...src,
    async *changed(since, known) {
      const b = readFileSync(file);
      const at = b.indexOf('c10,') + 1;
      b[at] = 0x39; // c10 → c90
      writeFileSync(file, b);
      yield* src.changed(since, known);
    },
  };
  const [second] = await target.deliver([await delivery(cursor, 2, racing)]);
  assert.ok(second?.ok);
  const got = parse(readFileSync(file)) as string[][];
  assert.deepEqual(got.slice(1), rows.map((r) => r.map(shown)), 'the file is the view, not the edit');
});
