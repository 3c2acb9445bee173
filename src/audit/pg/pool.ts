import pg from 'pg';
import { WardenError } from '../../errors.js';

export interface PgOptions {
  /** postgres://user@host:port/database */
  url: string;
  /** Connections at most (the writer uses one at a time; checkpoints, heartbeats and reviewers the rest). */
  poolSize?: number;
  /** Every statement is cancelled by the server after this long. */
  statementTimeoutMs?: number;
  /** How long to wait for a connection before the write is refused. */
  connectTimeoutMs?: number;
  /** Tables live in this schema (created if missing); tests use one each. */
  schema?: string;
  ssl?: pg.ConnectionConfig['ssl'];
}

export type PgPool = pg.Pool;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** A pool whose connections all use the audit schema, with deadlines on connecting and on every statement. */
export function openPgPool(options: PgOptions): PgPool {
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema))
    throw new WardenError('ERR_CONFIG_INVALID', `store schema "${options.schema}" must match ${SCHEMA_NAME}`);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 4,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    statement_timeout: options.statementTimeoutMs ?? 10_000,
    query_timeout: (options.statementTimeoutMs ?? 10_000) + 2_000,
    idleTimeoutMillis: 30_000,
    ...(options.schema !== undefined && { options: `-c search_path=${options.schema}` }),
    ...(options.ssl !== undefined && { ssl: options.ssl }),
  });
  // A connection that breaks while idle is dropped from the pool; the next query opens a new one.
  pool.on('error', () => undefined);
  return pool;
}

/** One line on what a PostgreSQL failure means for the audit log, without driver internals or the URL. */
export function describePgError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'ECONNREFUSED') return 'database unreachable (connection refused)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'database host not found';
  if (code === 'ETIMEDOUT') return 'database unreachable (timed out)';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'connection to the database was lost';
  if (code === '57014') return 'statement timed out';
  if (code === '57P01' || code === '57P02' || code === '57P03') return 'the database is shutting down or starting';
  if (code === '53100') return 'database disk is full';
  if (code === '53300') return 'too many connections to the database';
  if (code === '25006') return 'database is read-only';
  if (code === '28P01' || code === '28000') return 'database refused the credentials';
  if (code === '3D000') return 'database does not exist';
  if (typeof code === 'string') return `database error (${code})`;
  // The driver's own timeouts and lost connections carry no code.
  return 'database unreachable (no connection within the timeout, or the connection was lost)';
}
