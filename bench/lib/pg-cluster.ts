import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'store', 'pg', 'pg-cluster.sh');

/**
 * A throwaway PostgreSQL cluster for a benchmark (the tests' script: initdb in
 * a temp dir, unix socket only, fsync on). PG_BENCH_URL instead uses a server
 * you give (then nothing is started or stopped).
 */
export function startBenchCluster(): { url: string; stop(): void } {
  const given = process.env['PG_BENCH_URL'];
  if (given) return { url: given, stop: () => undefined };
  const dir = execFileSync('bash', ['-c', 'source "$1" >/dev/null && pg_cluster_start 2>/dev/null && printf %s "$PG_CLUSTER_DIR"', 'pg-cluster', SCRIPT], { encoding: 'utf8' });
  if (!dir) throw new Error('could not start a PostgreSQL cluster (Debian: apt-get install postgresql), or set PG_BENCH_URL');
  return {
    url: `postgres://postgres@/postgres?host=${dir}`,
    stop: () => execFileSync('bash', ['-c', 'source "$1" && PG_CLUSTER_DIR="$2" && pg_cluster_stop', 'pg-cluster', SCRIPT, dir], { stdio: 'inherit' }),
  };
}
