/**
 * What a real spreadsheet makes of renderCsv's output: LibreOffice Calc,
 * headless, opens the CSV with an explicit language (the CSV filter's options:
 * separator, text delimiter, charset 76 = UTF-8, first line, column formats,
 * language 1033 = en-US or 1031 = de-DE) and saves it as flat ODF, whose cells
 * carry their type (date, float, boolean, string). Skipped where `soffice` is
 * not installed (Debian: libreoffice-calc; .ci/run installs it).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter as PATH_SEPARATOR, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test, type TestContext } from 'node:test';
import type { Cell } from '../../../src/model/cells.js';
import { DEFAULT_CSV_DIALECT, type CsvDialect } from '../../../src/model/csv.js';
import { renderCsv } from '../../../src/sinks/csv/csv-format.js';

function onPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(PATH_SEPARATOR)) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

const SOFFICE = onPath('soffice');
const SKIP = SOFFICE ? false : 'soffice is not on PATH (Debian: apt-get install --no-install-recommends libreoffice-calc)';
const TIMEOUT_MS = 120_000;

/** soffice in its own process group (it starts soffice.bin under oosplash), killed whole on timeout. */
function run(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(SOFFICE!, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      reject(new Error(`soffice timed out after ${TIMEOUT_MS} ms:\n${output}`));
    }, TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`soffice exited with ${code}:\n${output}`));
    });
  });
}

interface OdfCell {
  type: string;
  value: string | undefined;
  text: string;
}

const unescapeXml = (s: string) => s.replace(/&(apos|quot|lt|gt|amp);/g, (_, e: string) => ({ apos: "'", quot: '"', lt: '<', gt: '>', amp: '&' })[e]!);

/** The cells of the first sheet of a flat ODF spreadsheet, row by row: type, value attribute, shown text. */
function odfRows(fods: string): OdfCell[][] {
  const table = /<table:table [\s\S]*?<\/table:table>/.exec(fods)?.[0] ?? '';
  return [...table.matchAll(/<table:table-row[^>]*>([\s\S]*?)<\/table:table-row>/g)].map(([, row]) => {
    const cells: OdfCell[] = [];
    for (const [, attrs = '', body = ''] of row!.matchAll(/<table:table-cell\b([^>]*?)(?:\/>|>([\s\S]*?)<\/table:table-cell>)/g)) {
      const attr = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(attrs)?.[1];
      const cell = {
        type: attr('office:value-type') ?? 'empty',
        value: attr('office:date-value') ?? attr('office:boolean-value') ?? attr('office:value'),
        text: unescapeXml([...body.matchAll(/<text:p>([\s\S]*?)<\/text:p>/g)].map((m) => m[1]).join('\n')),
      };
      const repeated = Number(attr('table:number-columns-repeated') ?? 1);
      for (let i = 0; i < Math.min(repeated, 64); i++) cells.push(cell);
    }
    return cells;
  });
}

/** renderCsv's header and rows, opened by LibreOffice with the given CSV filter options; the sheet's cells back. */
async function openInCalc(t: TestContext, header: readonly string[], rows: Cell[][], dialect: CsvDialect, isTime: readonly boolean[], filter: string): Promise<Map<string, OdfCell>[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ember-sync-calc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'in.csv'), renderCsv([header], dialect) + renderCsv(rows, dialect, isTime));
  // A profile of its own: parallel runs would otherwise wait on (or break) one shared user installation.
  const profile = pathToFileURL(join(dir, 'profile')).href;
  await run([`-env:UserInstallation=${profile}`, '--headless', '--norestore', `--infilter=${filter}`, '--convert-to', 'fods', '--outdir', dir, join(dir, 'in.csv')]);
  const [head, ...body] = odfRows(readFileSync(join(dir, 'in.fods'), 'utf8'));
  assert.deepEqual(head?.map((c) => c.text), header, 'the header row, as text');
  return body.map((cells) => new Map(header.map((h, i) => [h, cells[i] ?? { type: 'empty', value: undefined, text: '' }])));
}

/** A date cell's value (`2026-11-29T23:30:00` or with a fraction) as wall-clock milliseconds. */
const wallMs = (value: string | undefined) => Date.parse(`${value}Z`);

function assertDate(cell: OdfCell | undefined, wall: string, label: string): void {
  assert.equal(cell?.type, 'date', `${label}: a date-time cell, not ${cell?.type} ${JSON.stringify(cell?.text)}`);
  // Calc keeps time as a fraction of a day: allow it a few milliseconds.
  assert.ok(Math.abs(wallMs(cell.value) - Date.parse(`${wall}Z`)) < 5, `${label}: ${cell.value} is ${wall}`);
}

function assertNumber(cell: OdfCell | undefined, n: number, label: string): void {
  assert.equal(cell?.type, 'float', `${label}: a number cell, not ${cell?.type} ${JSON.stringify(cell?.text)}`);
  assert.ok(Math.abs(Number(cell.value) - n) <= Math.abs(n) * 1e-15, `${label}: ${cell.value} is ${n}`);
}

const HEADER = ['received_at', 'timestamp', 'amount', 'tiny', 'big', 'flag', 'text', 'formula', 'signed'];
const IS_TIME = [true, true, false, false, false, false, false, false, false];
const ROWS: Cell[][] = [
  ['2026-11-30T04:30:00.000Z', '2026-03-08T07:00:00.000Z', -1250.5, 1e-7, 1e21, true, 'hello', '=1+1', '-12'],
  ['2026-11-01T06:30:00.000Z', 'Call 12', 8.6, 0.45, 42, false, 'a;b,c', '@SUM(A1)', '+3'],
  ['2026-03-29T01:00:00.923Z', '2026-10-25T01:30:00.000Z', 0, -1.5e-7, -1e21, null, '', '-1+1', '-0.5'],
];

test('LibreOffice (en-US): local times are date-time cells, numbers numbers, booleans booleans, guarded text text', { skip: SKIP, timeout: TIMEOUT_MS + 30_000 }, async (t) => {
  const dialect: CsvDialect = { ...DEFAULT_CSV_DIALECT, timeFormat: 'local', timeZone: 'America/New_York' };
  const [a, b, c] = await openInCalc(t, HEADER, ROWS, dialect, IS_TIME, 'CSV:44,34,76,1,,1033');
  assertDate(a!.get('received_at'), '2026-11-29T23:30:00.000', 'Sunday evening in New York');
  assertDate(a!.get('timestamp'), '2026-03-08T03:00:00.000', 'just after the spring-forward');
  assertDate(b!.get('received_at'), '2026-11-01T01:30:00.000', 'the repeated hour');
  assertDate(c!.get('received_at'), '2026-03-28T21:00:00.923', 'milliseconds');
  assert.deepEqual([b!.get('timestamp')?.type, b!.get('timestamp')?.text], ['string', 'Call 12'], 'not a time: text');
  assertNumber(a!.get('amount'), -1250.5, 'amount');
  assertNumber(a!.get('tiny'), 1e-7, '1e-7 as JavaScript writes it');
  assertNumber(a!.get('big'), 1e21, '1e+21 as JavaScript writes it');
  assertNumber(c!.get('tiny'), -1.5e-7, '-1.5e-7');
  assertNumber(b!.get('amount'), 8.6, '8.6');
  assert.deepEqual([a!.get('flag')?.type, a!.get('flag')?.value, b!.get('flag')?.value], ['boolean', 'true', 'false']);
  assert.deepEqual([b!.get('text')?.type, b!.get('text')?.text], ['string', 'a;b,c']);
  for (const [row, text] of [[a, "'=1+1"], [b, "'@SUM(A1)"], [c, "'-1+1"]] as const) {
    assert.deepEqual([row!.get('formula')?.type, row!.get('formula')?.text], ['string', text], `${text}: text, never run`);
  }
  // Plain signed decimals are left unguarded on purpose: a spreadsheet reads them as the numbers they are.
  assertNumber(a!.get('signed'), -12, '-12');
  assertNumber(b!.get('signed'), 3, '+3');
  assertNumber(c!.get('signed'), -0.5, '-0.5');
});

test('LibreOffice (de-DE, ;): with CSV_DECIMAL=, numbers are numbers and local times date-times; with . they would be text', { skip: SKIP, timeout: 2 * TIMEOUT_MS + 30_000 }, async (t) => {
  const german: CsvDialect = { ...DEFAULT_CSV_DIALECT, delimiter: ';', decimal: ',', timeFormat: 'local', timeZone: 'Europe/Berlin' };
  const filter = 'CSV:59,34,76,1,,1031';
  const [a, b, c] = await openInCalc(t, HEADER, ROWS, german, IS_TIME, filter);
  assertNumber(a!.get('amount'), -1250.5, '-1250,5');
  assertNumber(b!.get('amount'), 8.6, '8,6');
  assertNumber(b!.get('tiny'), 0.45, '0,45');
  assertNumber(a!.get('tiny'), 1e-7, '0,0000001');
  assertNumber(c!.get('tiny'), -1.5e-7, '-0,00000015');
  assertNumber(a!.get('big'), 1e21, '1000000000000000000000');
  assertNumber(b!.get('big'), 42, '42');
  assertDate(a!.get('received_at'), '2026-11-30T05:30:00.000', 'Berlin');
  assertDate(c!.get('received_at'), '2026-03-29T03:00:00.923', 'just after the spring-forward, with milliseconds after a comma');
  assertDate(a!.get('timestamp'), '2026-03-08T08:00:00.000', 'the vendor time');
  assert.deepEqual([b!.get('text')?.type, b!.get('text')?.text], ['string', 'a;b,c']);

  // The control: the same rows with a decimal point, in the same German Calc, are text. The setting is what makes them numbers.
  const [pa, , pc] = await openInCalc(t, HEADER, ROWS, { ...german, decimal: '.' }, IS_TIME, filter);
  assert.equal(pa!.get('amount')?.type, 'string', '-1250.5 in German is not a number');
  assert.equal(pc!.get('received_at')?.type, 'string', 'nor is a time with a decimal point before its milliseconds');
});
