import { VIEW_NAMES } from '../../src/model/views.js';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadSettings, type Settings } from '../../src/config/settings.js';
import { SettingError } from '../../src/errors.js';

const CWD = '/srv/ember';
const SHEET_ID = '1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms';
const SECRET_A = 'whsec_' + Buffer.from('0123456789abcdef0123').toString('base64');
const SECRET_B = 'whsec_' + Buffer.from('fedcba9876543210fedc').toString('base64');

const load = (env: Record<string, string | undefined>) => loadSettings(env, CWD);

/** The setting is refused with a SettingError naming it, in one line. */
function rejects(env: Record<string, string | undefined>, setting: string, problem?: RegExp) {
  assert.throws(
    () => load(env),
    (err: unknown) => {
      assert.ok(err instanceof SettingError, `${JSON.stringify(env)}: expected SettingError, got ${String(err)}`);
      assert.equal(err.setting, setting, JSON.stringify(env));
      assert.ok(err.message.startsWith(`${setting}: `), err.message);
      assert.ok(!err.message.includes('\n'), 'one line');
      assert.ok(err.problem.length > 0);
      if (problem) assert.match(err.problem, problem);
      return true;
    },
    JSON.stringify(env),
  );
}

test('defaults as documented in the README', () => {
  const s = load({});
  const expected: Settings = {
    port: 3000,
    host: '127.0.0.1',
    publicUrl: 'http://127.0.0.1:3000',
    dataDir: join(CWD, 'data'),
    dbPath: join(CWD, 'data', 'ember-sync.db'),
    webhookToken: undefined,
    adminToken: undefined,
    signingSecrets: [],
    maxBodyBytes: 1048576,
    syncSchedule: '* * * * *',
    syncTimezone: 'UTC',
    syncTargets: ['csv'],
    csvDir: join(CWD, 'data', 'exports'),
    csvDelimiter: ',',
    csvBom: false,
    reportTimezone: 'UTC',
    csvTimeFormat: 'iso',
    csvDecimal: '.',
    csvFormulaGuard: true,
    csvPartition: 'month',
    sheetsSpreadsheetId: undefined,
    sheetsViews: [...VIEW_NAMES],
    sheetsPartition: 'month',
    sheetsKeepMonths: 'auto',
    sheetsOnConflict: 'rebuild',
    googleApplicationCredentials: undefined,
    sheetsAccessToken: undefined,
    sheetsApiRootUrl: undefined,
    googleOauthTokenUrl: undefined,
    logLevel: 'info',
    maxDynamicColumns: 500,
    retentionDays: undefined,
    databaseUrl: undefined,
    databasePoolSize: 10,
    databaseStatementTimeoutMs: 30_000,
  };
  assert.deepEqual(s, expected);
});

test('empty values mean the default (a "FOO=" line in a unit file)', () => {
  const s = load({ PORT: '', HOST: '', DATA_DIR: '', SYNC_TARGETS: '', CSV_DELIMITER: '', CSV_BOM: '', LOG_LEVEL: ' ', WEBHOOK_TOKEN: '', WEBHOOK_SIGNING_SECRET: '', PUBLIC_URL: '', REPORT_TIMEZONE: '', CSV_TIME_FORMAT: ' ', CSV_DECIMAL: '', CSV_FORMULA_GUARD: '' });
  assert.deepEqual(s, load({}));
});

test('PUBLIC_URL defaults to http://HOST:PORT; a set one wins (trailing slash dropped)', () => {
  assert.equal(load({ HOST: '0.0.0.0', PORT: '8080' }).publicUrl, 'http://0.0.0.0:8080');
  assert.equal(load({ HOST: '::1', PORT: '8080' }).publicUrl, 'http://[::1]:8080');
  assert.equal(load({ PUBLIC_URL: 'https://ember.example.com/', PORT: '8080' }).publicUrl, 'https://ember.example.com');
  assert.equal(load({ PUBLIC_URL: 'https://example.com/ember' }).publicUrl, 'https://example.com/ember');
});

test('DB_PATH and CSV_DIR derive from DATA_DIR; DATA_DIR is resolved against cwd', () => {
  const abs = load({ DATA_DIR: '/var/lib/ember' });
  assert.equal(abs.dataDir, '/var/lib/ember');
  assert.equal(abs.dbPath, '/var/lib/ember/ember-sync.db');
  assert.equal(abs.csvDir, '/var/lib/ember/exports');
  const rel = load({ DATA_DIR: 'state' });
  assert.equal(rel.dataDir, join(CWD, 'state'));
  assert.equal(rel.dbPath, join(CWD, 'state', 'ember-sync.db'));
  assert.equal(rel.csvDir, join(CWD, 'state', 'exports'));
  const own = load({ DATA_DIR: '/var/lib/ember', DB_PATH: '/mnt/fast/e.db', CSV_DIR: '/mnt/share/csv' });
  assert.equal(own.dbPath, '/mnt/fast/e.db');
  assert.equal(own.csvDir, '/mnt/share/csv');
  assert.equal(load({ GOOGLE_APPLICATION_CREDENTIALS: 'key.json' }).googleApplicationCredentials, join(CWD, 'key.json'));
});

test('good values are parsed', () => {
  const s = load({
    PORT: '0',
    MAX_BODY_BYTES: '2048',
    SYNC_SCHEDULE: '*/5 * * * *',
    SYNC_TIMEZONE: 'Europe/Paris',
    CSV_DELIMITER: ';',
    CSV_BOM: 'true',
    LOG_LEVEL: 'DEBUG',
    WEBHOOK_TOKEN: 'abcdefghijklmnop',
    ADMIN_TOKEN: 'A-Za_z0.9~' + 'x'.repeat(10),
    WEBHOOK_SIGNING_SECRET: `${SECRET_A} ${SECRET_B}`,
    SHEETS_SPREADSHEET_ID: SHEET_ID,
    SHEETS_API_ROOT_URL: 'http://127.0.0.1:9000/',
    GOOGLE_OAUTH_TOKEN_URL: 'http://127.0.0.1:9001/token',
    SHEETS_ACCESS_TOKEN: 'ya29.token',
  });
  assert.equal(s.port, 0);
  assert.equal(s.maxBodyBytes, 2048);
  assert.equal(s.syncSchedule, '*/5 * * * *');
  assert.equal(s.syncTimezone, 'Europe/Paris');
  assert.equal(s.csvDelimiter, ';');
  assert.equal(s.csvBom, true);
  assert.equal(s.logLevel, 'debug');
  assert.equal(s.webhookToken, 'abcdefghijklmnop');
  assert.equal(s.adminToken, 'A-Za_z0.9~xxxxxxxxxx');
  assert.deepEqual(s.signingSecrets, [SECRET_A, SECRET_B]);
  assert.deepEqual(s.syncTargets, ['csv', 'sheets']);
  assert.equal(s.sheetsSpreadsheetId, SHEET_ID);
  assert.equal(s.sheetsApiRootUrl, 'http://127.0.0.1:9000');
  assert.equal(s.googleOauthTokenUrl, 'http://127.0.0.1:9001/token');
  assert.equal(s.sheetsAccessToken, 'ya29.token');
  assert.deepEqual(load({ WEBHOOK_SIGNING_SECRET: `${SECRET_A},${SECRET_B}` }).signingSecrets, [SECRET_A, SECRET_B]);
  assert.equal(load({ PORT: '65535' }).port, 65535);
  assert.equal(load({ PORT: ' 8080 ' }).port, 8080);
});

test('PORT: not a whole number from 0 to 65535 is refused', () => {
  for (const v of ['abc', '-1', '65536', '70000', '3000.5', '3e3', '0x50', '80 80']) rejects({ PORT: v }, 'PORT');
});

test('MAX_BODY_BYTES: not a whole number in range is refused', () => {
  for (const v of ['abc', '1mb', '-5', '0', '1023', '1.5', String(64 * 1024 * 1024 + 1)]) rejects({ MAX_BODY_BYTES: v }, 'MAX_BODY_BYTES');
  assert.equal(load({ MAX_BODY_BYTES: '1024' }).maxBodyBytes, 1024);
});

test('SYNC_SCHEDULE: an invalid cron expression is refused', () => {
  for (const v of ['not a cron', '61 * * * *', '0 25 * * *', '* * *', '* * * * * * *', 'every minute']) rejects({ SYNC_SCHEDULE: v }, 'SYNC_SCHEDULE');
});

test('SYNC_TIMEZONE: an unknown timezone is refused', () => {
  for (const v of ['Mars/Olympus_Mons', 'Europe/Pariss', 'not a zone']) rejects({ SYNC_TIMEZONE: v }, 'SYNC_TIMEZONE');
  assert.equal(load({ SYNC_TIMEZONE: 'America/New_York' }).syncTimezone, 'America/New_York');
});

test('SYNC_TARGETS: csv by default, plus sheets when a spreadsheet id is set', () => {
  assert.deepEqual(load({}).syncTargets, ['csv']);
  assert.deepEqual(load({ SHEETS_SPREADSHEET_ID: SHEET_ID }).syncTargets, ['csv', 'sheets']);
  assert.deepEqual(load({ SHEETS_SPREADSHEET_ID: SHEET_ID, SYNC_TARGETS: 'sheets' }).syncTargets, ['sheets']);
  assert.deepEqual(load({ SYNC_TARGETS: 'CSV' }).syncTargets, ['csv']);
  assert.deepEqual(load({ SYNC_TARGETS: 'csv, csv' }).syncTargets, ['csv']);
  assert.deepEqual(load({ SHEETS_SPREADSHEET_ID: SHEET_ID, SYNC_TARGETS: ' sheets , csv ' }).syncTargets, ['sheets', 'csv']);
});

test('SYNC_TARGETS: unknown targets, no target, or sheets without SHEETS_SPREADSHEET_ID are refused', () => {
  rejects({ SYNC_TARGETS: 'ftp' }, 'SYNC_TARGETS', /ftp/);
  rejects({ SYNC_TARGETS: 'csv,s3' }, 'SYNC_TARGETS', /s3/);
  rejects({ SYNC_TARGETS: ',' }, 'SYNC_TARGETS');
  rejects({ SYNC_TARGETS: 'sheets' }, 'SYNC_TARGETS', /SHEETS_SPREADSHEET_ID/);
  rejects({ SYNC_TARGETS: 'csv,sheets' }, 'SYNC_TARGETS', /SHEETS_SPREADSHEET_ID/);
});

test('SHEETS_SPREADSHEET_ID: something that is not a sheet id (e.g. the whole URL) is refused', () => {
  rejects({ SHEETS_SPREADSHEET_ID: `https://docs.google.com/spreadsheets/d/${SHEET_ID}/edit` }, 'SHEETS_SPREADSHEET_ID');
  rejects({ SHEETS_SPREADSHEET_ID: 'short' }, 'SHEETS_SPREADSHEET_ID');
});

test('CSV_DELIMITER: , ; | and tab are accepted, anything else refused', () => {
  assert.equal(load({ CSV_DELIMITER: 'tab' }).csvDelimiter, '\t');
  assert.equal(load({ CSV_DELIMITER: '\t' }).csvDelimiter, '\t');
  assert.equal(load({ CSV_DELIMITER: '|' }).csvDelimiter, '|');
  assert.equal(load({ CSV_DELIMITER: ',' }).csvDelimiter, ',');
  for (const v of [':', ',,', 'comma', ' ', 'x']) rejects({ CSV_DELIMITER: v }, 'CSV_DELIMITER');
});

test('CSV_BOM: true/false words are accepted, anything else refused', () => {
  for (const v of ['true', 'TRUE', '1', 'yes', 'on']) assert.equal(load({ CSV_BOM: v }).csvBom, true, v);
  for (const v of ['false', 'False', '0', 'no', 'off']) assert.equal(load({ CSV_BOM: v }).csvBom, false, v);
  for (const v of ['maybe', '2', 'y']) rejects({ CSV_BOM: v }, 'CSV_BOM');
});

test('REPORT_TIMEZONE: an IANA zone, UTC by default; an unknown one is refused', () => {
  assert.equal(load({}).reportTimezone, 'UTC');
  for (const z of ['America/New_York', 'Europe/Berlin', 'Asia/Kathmandu', 'UTC', 'Etc/GMT-14']) assert.equal(load({ REPORT_TIMEZONE: z }).reportTimezone, z);
  assert.equal(load({ REPORT_TIMEZONE: ' Europe/Berlin ' }).reportTimezone, 'Europe/Berlin');
  for (const v of ['Mars/Olympus_Mons', 'Europe/Pariss', 'not a zone', 'America/New York', 'GMT+25']) rejects({ REPORT_TIMEZONE: v }, 'REPORT_TIMEZONE', /unknown timezone/);
  // The two zones are separate settings: the schedule's does not follow the report's.
  assert.equal(load({ REPORT_TIMEZONE: 'Asia/Tokyo' }).syncTimezone, 'UTC');
});

test('CSV_TIME_FORMAT: iso (default) or local, any case; anything else refused', () => {
  assert.equal(load({}).csvTimeFormat, 'iso');
  assert.equal(load({ CSV_TIME_FORMAT: 'local' }).csvTimeFormat, 'local');
  assert.equal(load({ CSV_TIME_FORMAT: 'LOCAL' }).csvTimeFormat, 'local');
  assert.equal(load({ CSV_TIME_FORMAT: 'ISO' }).csvTimeFormat, 'iso');
  for (const v of ['utc', 'locale', 'iso8601', 'excel', '1']) rejects({ CSV_TIME_FORMAT: v }, 'CSV_TIME_FORMAT', /must be iso or local/);
});

test('CSV_DECIMAL: . (default) or , with a ; | or tab delimiter; a comma with , as delimiter is refused', () => {
  assert.equal(load({}).csvDecimal, '.');
  for (const delimiter of [';', 'tab', '|']) assert.equal(load({ CSV_DECIMAL: ',', CSV_DELIMITER: delimiter }).csvDecimal, ',', delimiter);
  assert.equal(load({ CSV_DECIMAL: '.', CSV_DELIMITER: ',' }).csvDecimal, '.');
  rejects({ CSV_DECIMAL: ',' }, 'CSV_DECIMAL', /decimal comma needs CSV_DELIMITER ; \| or tab \(CSV_DELIMITER is ","\)/);
  rejects({ CSV_DECIMAL: ',', CSV_DELIMITER: ',' }, 'CSV_DECIMAL', /CSV_DELIMITER/);
  for (const v of ['comma', 'dot', ';', '..', '·', "'"]) rejects({ CSV_DECIMAL: v, CSV_DELIMITER: ';' }, 'CSV_DECIMAL', /must be \. or ,/);
});

test('CSV_FORMULA_GUARD: on by default; true/false words, anything else refused', () => {
  assert.equal(load({}).csvFormulaGuard, true);
  for (const v of ['false', 'FALSE', '0', 'no', 'off']) assert.equal(load({ CSV_FORMULA_GUARD: v }).csvFormulaGuard, false, v);
  for (const v of ['true', '1', 'yes', 'on']) assert.equal(load({ CSV_FORMULA_GUARD: v }).csvFormulaGuard, true, v);
});

test('partitions, SHEETS_VIEWS, SHEETS_KEEP_MONTHS and SHEETS_ON_CONFLICT', () => {
  assert.equal(load({ CSV_PARTITION: 'none' }).csvPartition, 'none');
  assert.equal(load({ SHEETS_PARTITION: 'NONE' }).sheetsPartition, 'none');
  assert.deepEqual(load({ SHEETS_VIEWS: ' daily_metrics, contents ,contents' }).sheetsViews, ['contents', 'daily_metrics'], 'view order, duplicates once');
  assert.equal(load({ SHEETS_KEEP_MONTHS: '12' }).sheetsKeepMonths, 12);
  assert.equal(load({ SHEETS_KEEP_MONTHS: 'ALL' }).sheetsKeepMonths, 'all');
  assert.equal(load({ SHEETS_ON_CONFLICT: 'stop' }).sheetsOnConflict, 'stop');
  const bad: [Record<string, string>, RegExp][] = [
    [{ CSV_PARTITION: 'week' }, /CSV_PARTITION.*month or none/],
    [{ SHEETS_PARTITION: 'day' }, /SHEETS_PARTITION/],
    [{ SHEETS_VIEWS: 'scores,calls' }, /SHEETS_VIEWS.*unknown view "calls"/],
    [{ SHEETS_VIEWS: ' , ' }, /SHEETS_VIEWS.*at least one/],
    [{ SHEETS_KEEP_MONTHS: '0' }, /SHEETS_KEEP_MONTHS.*auto, all or a number/],
    [{ SHEETS_KEEP_MONTHS: '3.5' }, /SHEETS_KEEP_MONTHS/],
    [{ SHEETS_ON_CONFLICT: 'ignore' }, /SHEETS_ON_CONFLICT.*rebuild or stop/],
  ];
  for (const [env, re] of bad) assert.throws(() => load(env), re, JSON.stringify(env));
  for (const v of ['maybe', 'raw', 'y']) rejects({ CSV_FORMULA_GUARD: v }, 'CSV_FORMULA_GUARD');
});

test('RETENTION_DAYS: unset keeps everything; 1..36500 days; refused with a target that has one file or tab per view', () => {
  assert.equal(load({}).retentionDays, undefined);
  assert.equal(load({ RETENTION_DAYS: '' }).retentionDays, undefined, 'empty is unset');
  assert.equal(load({ RETENTION_DAYS: '90' }).retentionDays, 90);
  assert.equal(load({ RETENTION_DAYS: ' 1 ' }).retentionDays, 1);
  for (const v of ['0', '-1', '3.5', '90d', '36501', 'forever']) rejects({ RETENTION_DAYS: v }, 'RETENTION_DAYS');
  assert.throws(() => load({ RETENTION_DAYS: '30', CSV_PARTITION: 'none' }), /RETENTION_DAYS.*CSV_PARTITION=month/);
  // Only a target that is on matters.
  assert.equal(load({ RETENTION_DAYS: '30', CSV_PARTITION: 'none', SYNC_TARGETS: 'sheets', SHEETS_SPREADSHEET_ID: 'abcdefghijklmnop' }).retentionDays, 30);
  assert.throws(() => load({ RETENTION_DAYS: '30', SHEETS_PARTITION: 'none', SHEETS_SPREADSHEET_ID: 'abcdefghijklmnop' }), /RETENTION_DAYS.*SHEETS_PARTITION=month/);
  assert.equal(load({ RETENTION_DAYS: '30', SHEETS_PARTITION: 'none' }).retentionDays, 30, 'no sheets target');
});

test('LOG_LEVEL: a pino level is accepted (any case), anything else refused', () => {
  for (const v of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) assert.equal(load({ LOG_LEVEL: v.toUpperCase() }).logLevel, v);
  for (const v of ['verbose', 'warning', '10']) rejects({ LOG_LEVEL: v }, 'LOG_LEVEL');
});

test('PUBLIC_URL and the API URLs: not an absolute http(s) URL is refused', () => {
  for (const v of ['not a url', 'ember.example.com', '/webhooks', 'ftp://example.com', 'file:///etc/passwd']) rejects({ PUBLIC_URL: v }, 'PUBLIC_URL');
  rejects({ SHEETS_API_ROOT_URL: 'localhost:9000' }, 'SHEETS_API_ROOT_URL');
  rejects({ GOOGLE_OAUTH_TOKEN_URL: 'ftp://x/token' }, 'GOOGLE_OAUTH_TOKEN_URL');
  // Found by the attack review: paths are appended to it, so a query, a fragment or credentials would break every URL.
  for (const v of ['http://x/p?q=1', 'http://x/p#f', 'https://user:pw@hooks.example.com', 'http://x/?']) rejects({ PUBLIC_URL: v }, 'PUBLIC_URL', /without query, fragment or credentials/);
  assert.equal(load({ PUBLIC_URL: 'https://hooks.example.com/ember/' }).publicUrl, 'https://hooks.example.com/ember', 'a path prefix is fine');
  // The refusal does not repeat a secret it holds (the line goes to a terminal or a journal).
  for (const v of ['https://admin:s3cret-pw@hooks.example.com', 'https://hooks.example.com/?token=s3cret-pw', 'https://hooks.example.com/#s3cret-pw', 'https://:s3cret-pw@x']) {
    assert.throws(() => load({ PUBLIC_URL: v }), (err: Error) => !err.message.includes('s3cret-pw') && /PUBLIC_URL/.test(err.message), v);
  }
});

test('WEBHOOK_TOKEN / ADMIN_TOKEN: too short, too long or not URL-safe is refused', () => {
  for (const v of ['short', 'x'.repeat(15), 'x'.repeat(257), 'has/slash/in/the/token', 'has space in the token', 'percent%20encoded-xx', 'ünïcödé-token-value']) {
    rejects({ WEBHOOK_TOKEN: v }, 'WEBHOOK_TOKEN');
    rejects({ ADMIN_TOKEN: v }, 'ADMIN_TOKEN');
  }
  assert.equal(load({ WEBHOOK_TOKEN: 'x'.repeat(256) }).webhookToken, 'x'.repeat(256));
});

test('WEBHOOK_SIGNING_SECRET: malformed secrets are refused', () => {
  const short = 'whsec_' + Buffer.from('only8byte').toString('base64').slice(0, 12); // 9 bytes
  for (const v of ['abc', 'whsec_', 'whsec_!!!notbase64!!!', short, Buffer.from('0123456789abcdef0123').toString('base64'), `${SECRET_A} nope`]) {
    rejects({ WEBHOOK_SIGNING_SECRET: v }, 'WEBHOOK_SIGNING_SECRET');
  }
});

test('loadSettings is a pure function of env and cwd', () => {
  const env = { PORT: '8080', DATA_DIR: 'd' };
  const before = { ...env };
  assert.deepEqual(load(env), load(env));
  assert.deepEqual(env, before, 'env is not modified');
  assert.notEqual(loadSettings({}, '/a').dataDir, loadSettings({}, '/b').dataDir);
});
