import type { PoolClient } from 'pg';
import type { PgPool } from './pg-pool.js';

/** One pooled connection for `fn` (the pool hears a dying connection's 'error' event: see pg-pool.ts withClient). */
export function withConnection<T>(pool: PgPool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return pool.withClient(fn);
}

/**
 * Runs `fn` in one READ COMMITTED transaction on one pooled connection:
 * COMMIT when it returns, ROLLBACK when it throws (the error is rethrown,
 * classified by the pool: StoreUnavailableError when the database is gone).
 */
export async function inTransaction<T>(pool: PgPool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return withConnection(pool, async (client) => {
    await client.query('BEGIN');
    let result: T;
    try {
      result = await fn(client);
    } catch (err) {
      // A broken connection cannot roll back: the server does when the session ends.
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    await client.query('COMMIT');
    return result;
  });
}
