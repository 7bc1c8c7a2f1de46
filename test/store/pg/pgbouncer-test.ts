/**
 * PgBouncer 1.18 (Debian 12's) in transaction pooling mode in front of the
 * test cluster (pgbouncer.sh), for the pgbouncer-*.test.ts files. Needs the
 * cluster of pg-cluster.sh (PG_CLUSTER_DIR: PgBouncer reaches it through its
 * socket folder) and the pgbouncer binary; otherwise those tests skip, saying
 * why.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { PG_SKIP } from './pg-test-db.js';

const SCRIPTS = { cluster: join(import.meta.dirname, 'pg-cluster.sh'), bouncer: join(import.meta.dirname, 'pgbouncer.sh') };

function hasPgBouncer(): boolean {
  if (process.env['PGBOUNCER_BIN']) return existsSync(process.env['PGBOUNCER_BIN']);
  try {
    execFileSync('bash', ['-c', 'source "$1" && pgbouncer_bin', 'pgbouncer', SCRIPTS.bouncer], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const CLUSTER_DIR = process.env['PG_CLUSTER_DIR'] || undefined;

export const PGBOUNCER_SKIP: string | false =
  PG_SKIP ||
  (!CLUSTER_DIR
    ? 'PG_CLUSTER_DIR is not set: PgBouncer is started in front of the throwaway cluster of test/store/pg/pg-cluster.sh (run the test through it)'
    : !hasPgBouncer()
      ? 'no pgbouncer binary: these tests need PgBouncer (Debian: apt-get install pgbouncer; .ci/run installs it)'
      : false);

export interface PgBouncer {
  /** Its socket folder (port 6432). */
  dir: string;
  /** The URL of `database` through PgBouncer, with pgbouncer=true unless `flag` is false. */
  url(database: string, flag?: boolean): string;
}

/** The database named by a postgres:// URL (pg-test-db's freshDatabase gives URLs). */
export function databaseOf(url: string): string {
  const m = /^postgres(?:ql)?:\/\/[^/?#]*\/([^?#]+)/.exec(url);
  if (!m) throw new Error(`no database in ${url}`);
  return decodeURIComponent(m[1]!);
}

/**
 * A PgBouncer of the test's own (transaction mode, `poolSize` server connections per database), stopped when the
 * test ends; in front of the shared cluster, or of `clusterDir` (pg-test-db's privateCluster).
 */
export function startPgBouncer(t: TestContext, poolSize = 2, clusterDir = CLUSTER_DIR): PgBouncer {
  const out = execFileSync('bash', ['-c', 'source "$1" && source "$2" && pgbouncer_start "$3" 2>/dev/null', 'pgbouncer', SCRIPTS.cluster, SCRIPTS.bouncer, String(poolSize)], {
    encoding: 'utf8',
    env: { ...process.env, PG_CLUSTER_DIR: clusterDir },
  });
  const dir = out.trim().split('\n').at(-1)!;
  if (!dir.startsWith('/')) throw new Error(`pgbouncer_start printed no folder: ${out}`);
  t.after(() => {
    execFileSync('bash', ['-c', 'source "$1" && source "$2" && pgbouncer_stop "$3"', 'pgbouncer', SCRIPTS.cluster, SCRIPTS.bouncer, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  });
  return {
    dir,
    url: (database, flag = true) => `postgres://postgres@/${encodeURIComponent(database)}?host=${dir}&port=6432${flag ? '&pgbouncer=true' : ''}`,
  };
}
