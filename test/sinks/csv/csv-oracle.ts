/**
 * Shared by the CSV property tests (renderCsv, the CSV target, the CLI and API
 * exports): generators of hostile text and payloads, and an independent oracle
 * — csv-parse reading the bytes back, compared cell for cell with what the
 * database holds after the formula guard, the decimal rule and the time
 * format (local times computed by the Temporal polyfill, not by model/time.ts).
 */
import assert from 'node:assert/strict';
import { Temporal } from '@js-temporal/polyfill';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import type { Cell } from '../../../src/model/cells.js';
import type { CsvDialect } from '../../../src/model/csv.js';
import { FIXED_COLUMNS, TIME_COLUMNS, type ViewName } from '../../../src/model/views.js';
import { generateWebhook, type SimulatedKind } from '../../../src/simulate/generate.js';
import type { Store } from '../../../src/store/store.js';

/** Pieces that break naive CSV writers and readers, mixed with ordinary text. */
const PIECES = ['\r', '\n', '\r\n', '"', '""', ',', ';', '\t', '|', '\uFEFF', '\u0000', '\uD800', '\uDFFF', '\uD83D', '=', '+', '-', '@', "'", ' ', '🔥', 'é', '中', 'a', 'Z', '0', '.', 'x y'];
const unit = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...PIECES) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) });
/** Starts that matter on their own: the formula guard, a BOM, a quote, a line break. */
const START = fc.constantFrom('', '', '', '=', '+', '-', '@', '\t', '\r', '\n', '\r\n', '\uFEFF', '"', "'");

const digits = fc.string({ unit: fc.constantFrom('0', '1', '5', '9'), minLength: 1, maxLength: 6 });
/**
 * Text that is, or nearly is, a plain decimal number (`-1250.50`, `+3`): the
 * guard's exception, and its near misses (`-1e5`, `-1+1`, `- 5`, `-.5`, `-5.`).
 */
export const numericText = fc
  .tuple(fc.constantFrom('', '-', '+', '=', '@', '- ', '--'), digits, fc.option(digits), fc.constantFrom('', '', '', 'e5', 'E+3', '+1', '-3', ' (555)', '.', '%', ',5', '\n'))
  .map(([sign, int, frac, tail]) => `${sign}${int}${frac === null ? '' : `.${frac}`}${tail}`);

export const shortText = fc.oneof({ weight: 5, arbitrary: fc.tuple(START, fc.string({ unit, maxLength: 12 })).map(([start, rest]) => start + rest) }, { weight: 1, arbitrary: numericText });
/** Tens of KB, cut anywhere (a surrogate pair may be split: that is a lone surrogate too). */
export const longText = fc
  .tuple(START, fc.string({ unit, minLength: 1, maxLength: 16 }), fc.integer({ min: 10_000, max: 60_000 }))
  .map(([start, s, n]) => start + s.repeat(Math.ceil(n / s.length)).slice(0, n));
export const text = fc.oneof({ weight: 15, arbitrary: shortText }, { weight: 1, arbitrary: longText });
export const number = fc.oneof(fc.integer({ min: -1_000_000, max: 1_000_000 }), fc.double({ noNaN: true, noDefaultInfinity: true }));
export const cell: fc.Arbitrary<Cell> = fc.oneof({ weight: 6, arbitrary: text }, { weight: 2, arbitrary: number }, { weight: 1, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constant(null) });

/** Zones with DST both ways, half-hour and quarter-hour offsets, the date line. */
export const ZONES = ['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Kathmandu', 'Pacific/Marquesas', 'Australia/Lord_Howe', 'Pacific/Kiritimati', 'America/St_Johns', 'Asia/Kolkata', 'Pacific/Apia'] as const;

/** Any dialect the settings and flags allow (a decimal comma never with `,` as delimiter). */
export const dialect: fc.Arbitrary<CsvDialect> = fc
  .record({
    delimiter: fc.constantFrom(',', ';', '\t', '|'),
    bom: fc.boolean(),
    guard: fc.boolean(),
    decimal: fc.constantFrom<CsvDialect['decimal']>('.', ','),
    timeFormat: fc.constantFrom<CsvDialect['timeFormat']>('iso', 'local'),
    timeZone: fc.constantFrom(...ZONES),
  })
  .map((d) => (d.decimal === ',' && d.delimiter === ',' ? { ...d, decimal: '.' as const } : d));

/** An instant as received_at holds it (UTC, milliseconds), any year 0000–9999. */
export const isoInstant = fc.date({ min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }).map((d) => d.toISOString());
/** Mostly near now (where DST rules are), sometimes any year. */
export const timeCell: fc.Arbitrary<Cell> = fc.oneof(
  { weight: 6, arbitrary: fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()) },
  { weight: 1, arbitrary: isoInstant },
  { weight: 1, arbitrary: fc.constantFrom('2026-02-30T10:00:00.000Z', '2026-12-31T23:59:60.000Z', '2026-11-30T09:24:41', 'Call 12', '=NOW()', '-1', '') },
  { weight: 1, arbitrary: fc.constant(null) },
);

/** What UTF-8 keeps of a JS string: lone surrogates become U+FFFD. */
export const wellFormed = (s: string): string => (s as unknown as { toWellFormed(): string }).toWellFormed();

/** The guard rule of the README: a formula character first, unless the text is a plain decimal (sign, digits, `.` digits). */
const guarded = (c: string) => /^[=+\-@\t\r]/.test(c) && !/^[+-]?[0-9]+(\.[0-9]+)?$/.test(c);

/** RFC 3339 with seconds and a zone, and a day the calendar has (Temporal alone would turn second 60 into 59). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** `yyyy-mm-dd HH:MM:SS.mmm` of an ISO time in `zone`, by Temporal; undefined when it is not one or its year leaves 0000–9999. */
export function temporalLocal(iso: string, zone: string): string | undefined {
  const m = RFC3339.exec(iso);
  if (!m || Number(m[1]) > 60) return undefined;
  // README: a leap second is the last millisecond of its minute (Temporal would make it :59.000).
  const instant = Number(m[1]) === 60 ? iso.replace(/:60(\.\d+)?/, ':59.999') : iso;
  let z: Temporal.ZonedDateTime;
  try {
    z = Temporal.Instant.from(instant).toZonedDateTimeISO(zone);
  } catch {
    return undefined;
  }
  if (z.year < 0 || z.year > 9999) return undefined;
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(z.year, 4)}-${p(z.month)}-${p(z.day)} ${p(z.hour)}:${p(z.minute)}:${p(z.second)}.${p(z.millisecond, 3)}`;
}

/**
 * What a reader must get back for a cell: null as null; booleans as
 * true/false; text with one `'` when guarded and otherwise as it was; a time
 * column in `local` on Temporal's wall clock (a comma before the milliseconds
 * with a decimal comma). Numbers with `.` as JavaScript prints them; with `,`
 * a function: the field must be plain digits with a decimal comma that read
 * back as the same number.
 */
export function expectedCell(c: Cell, d: Pick<CsvDialect, 'guard' | 'decimal' | 'timeFormat' | 'timeZone'>, isTime = false): string | null | ((got: string | null) => boolean) {
  if (c === null) return null;
  if (typeof c === 'boolean') return String(c);
  if (typeof c === 'number') {
    if (d.decimal === '.') return String(c);
    return (got) => got !== null && /^-?[0-9]+(,[0-9]+)?$/.test(got) && Number(got.replace(',', '.')) === c;
  }
  if (isTime && d.timeFormat === 'local') {
    const local = temporalLocal(c, d.timeZone);
    if (local !== undefined) return d.decimal === ',' ? local.replace('.', ',') : local;
  }
  return wellFormed(d.guard && guarded(c) ? `'${c}` : c);
}

/** One record against its cells. */
export function assertRecord(got: ReadonlyArray<string | null> | undefined, cells: readonly Cell[], d: CsvDialect, isTime: readonly boolean[], label: string): void {
  assert.ok(got, `${label}: missing`);
  assert.equal(got.length, cells.length, `${label}: width`);
  for (const [i, c] of cells.entries()) {
    const want = expectedCell(c, d, isTime[i] === true);
    if (typeof want === 'function') assert.ok(want(got[i] ?? null), `${label}, column ${i}: ${JSON.stringify(got[i])} is not ${String(c)} with a decimal comma`);
    else assert.equal(got[i], want, `${label}, column ${i}: ${JSON.stringify(c)}`);
  }
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

/** The bytes hold exactly `header` then `rows` in `dialect` (`isTime`: the time columns of the rows), as csv-parse reads them. */
export function assertCsv(bytes: Buffer, d: CsvDialect, header: readonly Cell[], rows: readonly (readonly Cell[])[], label = '', isTime: readonly boolean[] = []): void {
  const hasBom = bytes.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]));
  assert.equal(hasBom, d.bom, `${label}: a BOM at the start iff the dialect asks for one`);
  assert.ok(bytes.subarray(-2).equals(Buffer.from('\r\n')), `${label}: the last record ends with CRLF`);
  const got = readCsv(bytes, d.delimiter);
  assert.equal(got.length, rows.length + 1, `${label}: one record per row plus the header`);
  for (const [i, r] of got.entries()) assert.equal(r.length, header.length, `${label}: record ${i} is as wide as the header`);
  assertRecord(got[0], header, d, [], `${label}: header`);
  for (const [i, row] of rows.entries()) assertRecord(got[i + 1], row, d, isTime, `${label}: row ${i}`);
}

/** The time columns of a view's header as the README defines them: its fixed columns named in TIME_COLUMNS, at their place. */
export function viewTimeColumns(view: ViewName, header: readonly string[]): boolean[] {
  return header.map((h, i) => FIXED_COLUMNS[view][i] === h && TIME_COLUMNS.has(h));
}

/** The view as the database holds it now: header and every row (the oracle's side). */
export async function viewInDb(store: Store, view: ViewName): Promise<{ header: string[]; rows: Cell[][] }> {
  const { header, rows } = await store.views.snapshot(view);
  const all: Cell[][] = [];
  for await (const page of rows.pages({ toSeq: await store.projection.cursor() })) all.push(...page);
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
