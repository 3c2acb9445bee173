import type pg from 'pg';
import { storeUnavailable, type PgPool } from './pool.js';

/**
 * What every group of statements on the shared store (approvals, pins, spent states, …) does the same
 * way: one operation or one transaction on the pool, a driver failure turned into ERR_STATE_UNAVAILABLE
 * naming the operation (a WardenError passes), so the caller refuses the call (fail closed).
 */
export abstract class PgTables {
  constructor(protected readonly pool: PgPool) {}

  /** One transaction on one pooled connection, rolled back on any failure. */
  protected async transaction<T>(what: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.run(what, async (pool) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    });
  }

  /** Runs one operation; a driver failure becomes ERR_STATE_UNAVAILABLE naming it (a WardenError passes). */
  protected async run<T>(what: string, operation: (pool: PgPool) => Promise<T>): Promise<T> {
    try {
      return await operation(this.pool);
    } catch (error) {
      throw storeUnavailable(`store: ${what}`, error);
    }
  }
}
