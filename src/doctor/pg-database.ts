import pg from 'pg';
import { driverTarget } from '../lib/pg-bouncer.js';
import { SYNC_TARGET_NAMES, type SyncTargetName } from '../model/sync.js';
import { PG_MIGRATIONS } from '../store/pg/pg-migrations.js';
import { RECENT_TARGET_MS } from '../store/status.js';
import type { MetaKey } from '../store/store.js';
import { fail, oneLine, pass, warn, type CheckResult } from './check.js';
import type { DoctorDb } from './doctor-db.js';

/** Undefined when the table does not exist (a database ember-sync never started on). */
async function maybe<T>(work: () => Promise<T>): Promise<T | undefined> {
  try {
    return await work();
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return undefined; // undefined_table
    throw err;
  }
}

/**
 * PostgreSQL at DATABASE_URL, in a read-only session: doctor never migrates
 * it nor writes its meta. `location` is the URL without its password, for
 * the messages. Throws when it cannot connect.
 */
export async function pgDoctorDb(url: string, location: string, timeoutMs = 5000): Promise<DoctorDb> {
  const target = driverTarget(url);
  // Through PgBouncer (pgbouncer=true) the options startup parameter fails the login (and would set one server
  // connection only): doctor's statements are reads either way.
  const readOnly = target.pgbouncer ? {} : { options: '-c default_transaction_read_only=on' };
  const client = new pg.Client({ connectionString: target.url, connectionTimeoutMillis: timeoutMs, application_name: 'ember-sync doctor', ...readOnly });
  // A connection that dies while doctor runs fails the query in flight; the event must not crash the command.
  client.on('error', () => undefined);
  const started = Date.now();
  await client.connect();
  const connectMs = Date.now() - started;
  const one = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T | undefined> => (await client.query<T>({ text, values })).rows[0];
  /**
   * synchronous_standby_names set: each commit waits for a standby's answer
   * (unless synchronous_commit is local or off). With that standby down every
   * webhook commit waits until ember-sync gives up on it and answers 503.
   */
  async function standbys(synchronousCommit: string | undefined): Promise<CheckResult> {
    const name = 'database standbys';
    const names = ((await one<{ synchronous_standby_names: string }>('SHOW synchronous_standby_names'))?.synchronous_standby_names ?? '').trim();
    if (names === '') return pass(name, 'synchronous_standby_names is empty: a commit waits for no standby');
    if (synchronousCommit === 'local' || synchronousCommit === 'off') return pass(name, `synchronous_standby_names = '${names}', but synchronous_commit=${synchronousCommit}: ember-sync's commits do not wait for a standby`);
    // sync_state is hidden (NULL) from a role without pg_read_all_stats: then only the count of WAL senders is known.
    const seen = await one<{ senders: number; sync: number; hidden: boolean }>(
      "SELECT count(*)::int AS senders, count(*) FILTER (WHERE sync_state IN ('sync', 'quorum'))::int AS sync, coalesce(bool_or(sync_state IS NULL), false) AS hidden FROM pg_stat_replication",
    );
    const now = !seen || seen.senders === 0 ? 'no standby is connected now' : seen.hidden ? `${seen.senders} WAL sender(s) connected now (this role cannot see which are synchronous)` : `${seen.sync} synchronous standby(s) connected now`;
    return warn(
      name,
      `synchronous_standby_names = '${names}' with synchronous_commit=${synchronousCommit}: every commit waits until a standby confirms it (${now}); while none answers, webhook commits wait until ember-sync gives up and are answered 503 (EmberQA retries them)`,
      "keep a synchronous standby up (or name several, e.g. ANY 1 (a, b)), or, if ember-sync need not wait for one, ALTER DATABASE … SET synchronous_commit = local",
    );
  }

  /**
   * Behind PgBouncer (pgbouncer=true) ember-sync sets statement_timeout and lock_timeout in each of its
   * transactions (webhook batches and the health probe among them), but a statement outside one (status counts, export pages) runs with what the
   * role or the database sets: 0 (PostgreSQL's default) lets a stuck statement hold a connection for ever.
   */
  async function pgBouncerTimeouts(): Promise<CheckResult> {
    const name = 'database timeouts';
    const statement = (await one<{ statement_timeout: string }>('SHOW statement_timeout'))?.statement_timeout ?? '?';
    const lock = (await one<{ lock_timeout: string }>('SHOW lock_timeout'))?.lock_timeout ?? '?';
    const unbounded = [statement === '0' ? 'statement_timeout' : '', lock === '0' ? 'lock_timeout' : ''].filter(Boolean);
    if (unbounded.length === 0) return pass(name, `pgbouncer=true: the role's statement_timeout=${statement}, lock_timeout=${lock} bound statements outside ember-sync's transactions (each transaction sets its own)`);
    return warn(
      name,
      `pgbouncer=true and ${unbounded.join(' and ')} = 0 for this role: a statement outside ember-sync's transactions (status counts, export pages) can wait without end`,
      "ALTER ROLE <ember-sync's user> IN DATABASE <database> SET statement_timeout = '30s'; and SET lock_timeout = '5s' (new server connections of PgBouncer take them)",
    );
  }

  return {
    async checks(): Promise<CheckResult[]> {
      const out: CheckResult[] = [];
      const version = (await one<{ server_version: string }>('SHOW server_version'))?.server_version ?? '?';
      out.push(pass('database', `PostgreSQL ${version} at ${location} (connected in ${connectMs} ms)`));
      const latest = PG_MIGRATIONS.at(-1)?.version ?? 0;
      const schema = await maybe(() => one<{ version: number }>('SELECT version FROM schema_version WHERE id'));
      const at = schema?.version ?? 0;
      if (at === latest) out.push(pass('database schema', `version ${at} (this ember-sync's)`));
      else if (at === 0) out.push(fail('database schema', `no ember-sync tables in ${location}`, 'start ember-sync serve once with this DATABASE_URL (it creates them), or check that the URL names the right database'));
      else if (at < latest) out.push(fail('database schema', `version ${at}, this ember-sync expects ${latest}`, 'start this version of ember-sync serve (it migrates the database at start; replicas wait for each other)'));
      else out.push(fail('database schema', `version ${at} is newer than this ember-sync (${latest})`, 'run doctor from the ember-sync version the servers run'));
      const durability = await one<{ synchronous_commit: string }>('SHOW synchronous_commit');
      const fsync = await one<{ fsync: string }>('SHOW fsync');
      const lossy = durability?.synchronous_commit === 'off' || fsync?.fsync === 'off';
      out.push(
        lossy
          ? fail('database durability', `synchronous_commit=${durability?.synchronous_commit}, fsync=${fsync?.fsync}: a crash of PostgreSQL can lose acknowledged webhooks`, "set synchronous_commit and fsync to on for this database (ALTER DATABASE … SET synchronous_commit = on; fsync in postgresql.conf)")
          : pass('database durability', `synchronous_commit=${durability?.synchronous_commit}, fsync=${fsync?.fsync} (every acknowledged webhook is committed to disk)`),
      );
      out.push(await standbys(durability?.synchronous_commit));
      if (target.pgbouncer) out.push(await pgBouncerTimeouts());
      return out;
    },
    async meta(key: MetaKey) {
      return (await maybe(() => one<{ value: string }>('SELECT value FROM app_meta WHERE key = $1', [key])))?.value;
    },
    async retention(days) {
      if (days === undefined) return pass('retention', 'RETENTION_DAYS unset: every webhook is kept');
      let state: { kept_from_day: string | null; last_result: string | null } | undefined;
      try {
        state = await maybe(() => one('SELECT kept_from_day, last_result FROM retention_state WHERE id'));
      } catch (err) {
        return fail('retention', `cannot read the retention state: ${oneLine(err)}`, 'check that DATABASE_URL names the database the servers use');
      }
      if (state?.last_result?.startsWith('failed')) return fail('retention', `the last retention run ${state.last_result}`, 'look at the servers\' logs (`retention failed`); a server tries again every hour');
      const where = state?.kept_from_day ? `oldest kept day ${state.kept_from_day}` : 'no run yet (a server runs it a minute after it starts, then daily)';
      return pass('retention', `RETENTION_DAYS=${days}: ${where}; PostgreSQL's autovacuum reuses the space freed`);
    },
    async recentTargets(now) {
      const since = new Date(now.getTime() - RECENT_TARGET_MS).toISOString();
      const rows = (await maybe(async () => (await client.query<{ target: string }>({ text: 'SELECT DISTINCT target FROM sync_runs WHERE started_at >= $1', values: [since] })).rows)) ?? [];
      const names = rows.map((r) => r.target);
      return SYNC_TARGET_NAMES.filter((t): t is SyncTargetName => names.includes(t));
    },
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}
