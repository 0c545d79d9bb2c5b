// One transaction on one pooled connection, for the PostgreSQL stores: BEGIN, the work, COMMIT;
// on any error ROLLBACK and rethrow. The connection goes back to the pool either way, and is
// destroyed after an error: one that a timeout left in the middle of a statement must not serve
// the next caller.
import type pg from 'pg';

/**
 * Runs `work` inside a transaction. `begin` may carry a first statement in the same round trip
 * (e.g. `BEGIN; SELECT pg_advisory_xact_lock(…)`).
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (c: pg.PoolClient) => Promise<T>,
  begin = 'BEGIN',
): Promise<T> {
  const c = await pool.connect();
  let broken: Error | undefined;
  try {
    await c.query(begin);
    const result = await work(c);
    await c.query('COMMIT');
    return result;
  } catch (e) {
    broken = e as Error;
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    c.release(broken);
  }
}
