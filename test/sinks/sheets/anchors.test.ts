/** Anchor bookkeeping and matching — pure, no server. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anchorRows, hashRow, keepAnchors, matchesAnchor, MAX_ANCHORS, type Anchor } from '../../../src/sinks/sheets/anchors.js';
import { sameRow } from '../../../src/sinks/sheets/cells.js';

const at = (...rows: number[]): Anchor[] => rows.map((row) => ({ row, hash: `h${row}` }));
const rowsOf = (anchors: readonly Anchor[]) => anchors.map((a) => a.row);

test('hashes compare as sameRow does: empty is null, missing or "", trailing empties do not count, numbers survive a float round trip', async () => {
  const row = ['w-1', 45673.64635559027, null, 7, '=HYPERLINK("x")'];
  const h = hashRow(row);
  assert.match(h, /^[A-Za-z0-9_-]{16}$/, 'a short hash: the state stays small');
  assert.ok(matchesAnchor(['w-1', 45673.64635559027, '', 7, '=HYPERLINK("x")'], h));
  assert.ok(matchesAnchor(['w-1', 45673.64635559027, undefined, 7, '=HYPERLINK("x")', '', null], h));
  assert.ok(matchesAnchor(['w-1', 45673.6463555903, null, 7.000000000000001, '=HYPERLINK("x")'], h), 'as printed with 15 significant digits');
  assert.ok(matchesAnchor(['w-1', 45673.64635559027, null, 7, '=HYPERLINK("x")'], hashRow([...row, null, ''])));
  assert.ok(!matchesAnchor(['w-2', 45673.64635559027, null, 7, '=HYPERLINK("x")'], h));
  assert.ok(!matchesAnchor(['w-1', 45673.64635559027, 'typed', 7, '=HYPERLINK("x")'], h));
  assert.ok(!matchesAnchor(['w-1', 45673.64635559027, null, '7', '=HYPERLINK("x")'], h), 'text is not a number');
  assert.ok(!matchesAnchor(['w-1', 45673.64636716435, null, 7, '=HYPERLINK("x")'], h), 'a time 1 s later is another row');
  assert.ok(!matchesAnchor(['w-1', 45673.64635559027, null, true, '=HYPERLINK("x")'], h));
  assert.ok(!matchesAnchor(undefined, h) && !matchesAnchor([], h));
  assert.ok(matchesAnchor([], hashRow([null, ''])));
});

test('numbers sitting on a rounding boundary still match after a round trip (both readings are tried)', async () => {
  // Numbers whose 12-significant-digit rounding differs from that of a hair below them.
  const straddling = Array.from({ length: 200 }, (_, i) => 0.1234567890125 + (i - 100) * 1e-17).filter((x) => x.toPrecision(12) !== (x * (1 - 5e-15)).toPrecision(12));
  assert.ok(straddling.length > 0);
  const w = straddling[0]!;
  const below = w * (1 - 5e-15);
  assert.ok(matchesAnchor(['a', below, 'b', below], hashRow(['a', w, 'b', w])));
  assert.ok(matchesAnchor(['a', w], hashRow(['a', below])));
  assert.ok(!matchesAnchor(['a', w * (1 + 1e-9)], hashRow(['a', w])));
  // Property: any row matches its own hash, and a round trip within sameRow's reach of a double printed with 15 digits.
  for (let i = 0; i < 2000; i++) {
    const x = (Math.random() - 0.5) * 10 ** Math.floor(Math.random() * 12);
    const printed = Number(x.toPrecision(15));
    assert.ok(sameRow([x], [printed]));
    assert.ok(matchesAnchor([printed], hashRow([x])), `${x} read back as ${printed}`);
  }
});

test('anchorRows: a first write of many rows is anchored at its first row and at points spread over it; a small sync at its last row', async () => {
  const first = anchorRows(1, 100);
  assert.equal(first[0], 1);
  assert.equal(first.at(-1), 100);
  assert.ok(first.length <= MAX_ANCHORS + 1);
  const gaps = first.slice(1).map((r, i) => r - first[i]!);
  assert.ok(Math.max(...gaps) <= Math.ceil(100 / MAX_ANCHORS), `spread: ${first.join(',')}`);
  assert.deepEqual(anchorRows(101, 103), [103], 'a small sync: its last row');
  assert.deepEqual(anchorRows(1, 1), [1]);
  assert.deepEqual(anchorRows(1, 3), [1, 2, 3]);
  assert.deepEqual(anchorRows(5, 4), [], 'nothing written');
  const backlog = anchorRows(1001, 5000);
  assert.equal(backlog.at(-1), 5000);
  assert.ok(backlog[0]! >= 1001 && backlog.length <= MAX_ANCHORS + 1);
});

test('keepAnchors: at most MAX_ANCHORS, sorted, the first and the newest kept, the rest thinned to stay spread', async () => {
  assert.deepEqual(rowsOf(keepAnchors(at(5, 1, 3))), [1, 3, 5]);
  assert.deepEqual(keepAnchors([...at(3), { row: 3, hash: 'new' }]), [{ row: 3, hash: 'new' }], 'a later anchor of a row replaces the earlier');
  // Fifty syncs of two rows each, starting from a first sync of 100 rows.
  let anchors = keepAnchors(anchorRows(1, 100).map((row) => ({ row, hash: `h${row}` })));
  let last = 100;
  for (let sync = 0; sync < 50; sync++) {
    const rows = anchorRows(last + 1, last + 2);
    last += 2;
    anchors = keepAnchors([...anchors, ...rows.map((row) => ({ row, hash: `h${row}` })), { row: last, hash: `h${last}` }]);
    assert.ok(anchors.length <= MAX_ANCHORS);
    assert.equal(anchors[0]!.row, 1, 'the first data row stays');
    assert.equal(anchors.at(-1)!.row, last, 'the last row written is an anchor');
  }
  const rows = rowsOf(anchors);
  assert.deepEqual(
    rows,
    [...rows].sort((a, b) => a - b),
  );
  // Spread: no gap much wider than an even spread would leave.
  const gaps = rows.slice(1).map((r, i) => r - rows[i]!);
  assert.ok(Math.max(...gaps) <= (2.5 * last) / MAX_ANCHORS, `spread over ${last} rows: ${rows.join(',')}`);
  // The last rows of the latest syncs are kept.
  assert.deepEqual(rows.slice(-3), [last - 4, last - 2, last]);
  assert.deepEqual(rowsOf(keepAnchors(at(1, 2, 3), 1)), [3]);
});
