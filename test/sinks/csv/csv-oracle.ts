/**
 * Shared by the CSV property tests (renderCsv, the CSV target, the CLI and API
 * exports): generators of hostile text and payloads, and an independent oracle
 * — csv-parse reading the bytes back, compared cell for cell with what the
 * database holds after the formula guard.
 */
import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import type { Cell } from '../../../src/model/cells.js';
import type { CsvDialect } from '../../../src/model/csv.js';
import type { ViewName } from '../../../src/model/views.js';
import { generateWebhook, type SimulatedKind } from '../../../src/simulate/generate.js';
import type { Store } from '../../../src/store/create-store.js';

/** Pieces that break naive CSV writers and readers, mixed with ordinary text. */
const PIECES = ['\r', '\n', '\r\n', '"', '""', ',', ';', '\t', '|', '\uFEFF', '\u0000', '\uD800', '\uDFFF', '\uD83D', '=', '+', '-', '@', "'", ' ', '🔥', 'é', '中', 'a', 'Z', '0', '.', 'x y'];
const unit = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...PIECES) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) });
/** Starts that matter on their own: the formula guard, a BOM, a quote, a line break. */
const START = fc.constantFrom('', '', '', '=', '+', '-', '@', '\t', '\r', '\n', '\r\n', '\uFEFF', '"', "'");

export const shortText = fc.tuple(START, fc.string({ unit, maxLength: 12 })).map(([start, rest]) => start + rest);
/** Tens of KB, cut anywhere (a surrogate pair may be split: that is a lone surrogate too). */
export const longText = fc
  .tuple(START, fc.string({ unit, minLength: 1, maxLength: 16 }), fc.integer({ min: 10_000, max: 60_000 }))
  .map(([start, s, n]) => start + s.repeat(Math.ceil(n / s.length)).slice(0, n));
export const text = fc.oneof({ weight: 15, arbitrary: shortText }, { weight: 1, arbitrary: longText });
export const number = fc.oneof(fc.integer({ min: -1_000_000, max: 1_000_000 }), fc.double({ noNaN: true, noDefaultInfinity: true }));
export const cell: fc.Arbitrary<Cell> = fc.oneof({ weight: 6, arbitrary: text }, { weight: 2, arbitrary: number }, { weight: 1, arbitrary: fc.constant(null) });
export const dialect: fc.Arbitrary<CsvDialect> = fc.record({ delimiter: fc.constantFrom(',', ';', '\t', '|'), bom: fc.boolean(), neutralize: fc.boolean() });

/** What UTF-8 keeps of a JS string: lone surrogates become U+FFFD. */
export const wellFormed = (s: string): string => (s as unknown as { toWellFormed(): string }).toWellFormed();

/** The cell a reader must get back: the guard rule of the README, null as null, numbers as JS prints them. */
export function expectedCell(c: Cell, neutralize: boolean): string | null {
  if (c === null) return null;
  if (typeof c === 'number') return String(c);
  return wellFormed(neutralize && /^[=+\-@\t\r]/.test(c) ? `'${c}` : c);
}

/**
 * csv-parse, strict (nothing relaxed), telling an empty quoted field ("") from
 * an empty unquoted one (null). A leading BOM is stripped whether the dialect
 * asked for one or not, as Excel and pandas do. Records end at CRLF, LF or CR
 * outside quotes, as in every spreadsheet: csv-parse's default detects the
 * first line break it sees and would then read a later unquoted lone LF as
 * field content, hiding exactly the bug this oracle is for.
 */
export function readCsv(bytes: Buffer, delimiter: string): Array<Array<string | null>> {
  return parse(bytes, {
    delimiter,
    bom: true,
    record_delimiter: ['\r\n', '\n', '\r'],
    relax_column_count: false,
    relax_quotes: false,
    cast: (value, ctx) => (value === '' && !ctx.quoting ? null : value),
  }) as Array<Array<string | null>>;
}

/** The bytes hold exactly `header` then `rows` in `dialect`, as csv-parse reads them. */
export function assertCsv(bytes: Buffer, d: CsvDialect, header: readonly Cell[], rows: readonly (readonly Cell[])[], label = ''): void {
  const hasBom = bytes.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]));
  assert.equal(hasBom, d.bom, `${label}: a BOM at the start iff the dialect asks for one`);
  assert.ok(bytes.subarray(-2).equals(Buffer.from('\r\n')), `${label}: the last record ends with CRLF`);
  const got = readCsv(bytes, d.delimiter);
  assert.equal(got.length, rows.length + 1, `${label}: one record per row plus the header`);
  for (const [i, r] of got.entries()) assert.equal(r.length, header.length, `${label}: record ${i} is as wide as the header`);
  assert.deepEqual(got[0], header.map((h) => expectedCell(h, d.neutralize)), `${label}: header`);
  for (const [i, row] of rows.entries()) {
    assert.deepEqual(got[i + 1], row.map((c) => expectedCell(c, d.neutralize)), `${label}: row ${i}`);
  }
}

/** The view as the database holds it now: header and every row (the oracle's side). */
export function viewInDb(store: Store, view: ViewName): { header: string[]; rows: Cell[][] } {
  const { header, rows } = store.views.snapshot(view);
  const all: Cell[][] = [];
  for (const page of rows.pages({ toSeq: store.projection.cursor() })) all.push(...page);
  return { header, rows: all };
}

/** A score_details key: hostile text, often with a metric suffix so that both long and wide views get it. */
const detailKey = fc.tuple(fc.string({ unit, minLength: 1, maxLength: 8 }), fc.constantFrom('', '_score', '_justification')).map(([k, suffix]) => k + suffix);

/** score_details as the schema allows them (`*_score` a number 0-10, `*_justification` text, anything else either). */
export const scoreDetails = fc
  .array(fc.tuple(detailKey, text, fc.double({ min: 0, max: 10, noNaN: true }), fc.oneof(text, number)), { maxLength: 4 })
  .map((entries) => Object.fromEntries(entries.map(([k, t, score, other]) => [k, k.endsWith('_score') ? score : k.endsWith('_justification') ? t : other])));

const outputSchema = fc
  .array(fc.tuple(fc.string({ unit, minLength: 1, maxLength: 8 }), fc.option(text, { nil: null }), fc.option(text, { nil: null })), { maxLength: 3 })
  .map((entries) => Object.fromEntries(entries.map(([k, value, reasoning]) => [k, { value, reasoning }])));

/** What a generated webhook gets overridden with: hostile text in fixed columns, keys and values. */
export interface PayloadParts {
  kind: SimulatedKind;
  agent: string;
  reason: string;
  details: Record<string, unknown>;
  outputs: Record<string, unknown>;
}
export const payloadParts: fc.Arbitrary<PayloadParts> = fc.record({
  kind: fc.constantFrom<SimulatedKind>('red_flag', 'low_score', 'completion', 'workflow'),
  agent: text,
  reason: text,
  details: scoreDetails,
  outputs: outputSchema,
});

/** A schema-valid EmberQA webhook (unique by `n`) carrying the generated parts. */
export function hostilePayload(n: number, p: PayloadParts, idPrefix = 'prop-'): Record<string, unknown> {
  const base = generateWebhook(n, { kind: p.kind, idPrefix }) as unknown as Record<string, unknown>;
  const webhook_id = `${idPrefix}${n}`;
  const data = (base['data'] ?? {}) as Record<string, unknown>;
  switch (p.kind) {
    case 'red_flag':
      return { ...base, webhook_id, agent_name: p.agent, red_flag_reason: p.reason, score_details: p.details };
    case 'low_score':
      return { ...base, webhook_id, agent_name: p.agent, summary: p.reason, score_details: p.details };
    case 'completion':
      return { ...base, webhook_id, data: { ...data, agent_name: p.agent, reason_for_call: p.reason, score_details: p.details } };
    case 'workflow':
      return { ...base, webhook_id, data: { ...data, status: p.reason, agent_name: p.agent, output_schema: p.outputs, score_details: p.details } };
  }
}
