import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import type { PostgresStoreConfig } from '../../config/store-schema.js';
import { WardenError } from '../../errors.js';

export type PgPool = pg.Pool;

/**
 * A pool on the configured PostgreSQL: deadlines on connecting and on every statement, the configured
 * schema first on every connection's search_path, TLS when configured. `baseDir` resolves `tls.caFile`.
 */
export function openStorePool(store: PostgresStoreConfig, baseDir: string): PgPool {
  let ssl: pg.ConnectionConfig['ssl'];
  if (store.tls) {
    let ca: string | undefined;
    if (store.tls.caFile !== undefined) {
      const file = resolve(baseDir, store.tls.caFile);
      try {
        ca = readFileSync(file, 'utf8');
      } catch (error) {
        throw new WardenError(
          'ERR_CONFIG_INVALID',
          `store.tls.caFile: ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        );
      }
    }
    ssl = { rejectUnauthorized: store.tls.verify, ...(ca !== undefined && { ca }) };
  }
  const pool = new pg.Pool({
    connectionString: store.url,
    max: store.poolSize,
    connectionTimeoutMillis: store.connectTimeoutMs,
    statement_timeout: store.statementTimeoutMs,
    // The client gives up a little after the server would have cancelled (a lost connection answers nothing).
    query_timeout: store.statementTimeoutMs + 2_000,
    idleTimeoutMillis: 30_000,
    ...(store.schema !== undefined && { options: `-c search_path=${store.schema}` }),
    ...(ssl !== undefined && { ssl }),
  });
  // An idle connection that breaks is dropped by the pool; the next query opens a new one.
  pool.on('error', () => undefined);
  return pool;
}

/** One line on what a PostgreSQL failure was, without driver internals, the URL or a password. */
export function describePgError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'database unreachable (connection refused)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'database host not found';
    case 'ETIMEDOUT':
      return 'database unreachable (timed out)';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection to the database was lost';
    case '57014':
      return 'statement timed out (store.statementTimeoutMs)';
    case '57P01':
    case '57P02':
    case '57P03':
      return 'the database is shutting down or starting';
    case '53100':
      return 'the database disk is full';
    case '53300':
      return 'too many connections to the database';
    case '25006':
      return 'the database is read-only';
    case '28P01':
    case '28000':
      return 'the database refused the credentials';
    case '3D000':
      return 'the database does not exist';
    case '42501':
      return 'permission denied in the database';
  }
  if (typeof code === 'string') return `database error (${code})`;
  // The driver's own timeouts and lost connections carry no code.
  return 'database unreachable (no connection within store.connectTimeoutMs, or the connection was lost)';
}

/** ERR_STATE_UNAVAILABLE with what failed and why, for a store operation that could not be done. */
export function storeUnavailable(what: string, error: unknown): WardenError {
  if (error instanceof WardenError) return error;
  return new WardenError('ERR_STATE_UNAVAILABLE', `${what}: ${describePgError(error)}`, { cause: error });
}
