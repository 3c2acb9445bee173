import type { z } from 'zod';
import type { AuditConfig } from '../../config/schema.js';
import { PostgresStoreSchema } from '../../config/store-schema.js';
import { WardenError, isWardenError } from '../../errors.js';
import { KeyStore } from '../../state/keys.js';
import type { Logger } from 'pino';
import { newRecordId } from '../../model/canonical.js';
import { AuditLog } from '../sink.js';
import { PgBackend } from './backend.js';
import { ensureStoreSchema } from '../../state/pg/migrate.js';
import { describePgError, openStorePool, type PgPool } from '../../state/pg/pool.js';
import { migrateAudit } from './schema.js';

/** The store config's fields (`store` with `kind: "postgres"`), defaults as there: url, schema, pool size, TLS, timeouts. */
export type PgAuditOptions = Omit<z.input<typeof PostgresStoreSchema>, 'kind'>;

export interface OpenPgAuditInput {
  pg: PgAuditOptions;
  /** Resolves `pg.tls.caFile` (the config file's folder). */
  baseDir?: string;
  /** Where this replica's signing key lives (`<dataDir>/keys/`). */
  dataDir: string;
  settings: AuditConfig;
  logger: Logger;
  details: Record<string, unknown>;
  redact?: (text: string) => string;
  now?: () => number;
  heartbeatMs?: number;
  leaseMs?: number;
}

const KEY_INIT_LOCK = 0x57415244_02;

/**
 * Opens a pool on the store (src/state/pg/pool.ts, the one pool of the PostgreSQL store) and brings the
 * audit track up to date (src/state/pg/migrate.ts: under one advisory lock, so replicas migrate once).
 */
export async function openPgAuditStore(options: PgAuditOptions, baseDir = '.'): Promise<PgPool> {
  const store = PostgresStoreSchema.parse({ ...options, kind: 'postgres' });
  const pool = openStorePool(store, baseDir);
  try {
    await ensureStoreSchema(pool, store.schema);
    await migrateAudit(pool);
    return pool;
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
}

/**
 * The audit stage on PostgreSQL: migrates, creates this replica's signing key on first start, publishes
 * its public half, registers the replica, reconciles dead replicas' intents and records the start. Any
 * failure is a WardenError: a replica does not start without its audit log.
 */
export async function openPgAuditSink(input: OpenPgAuditInput): Promise<AuditLog> {
  let pool: PgPool | undefined;
  try {
    pool = await openPgAuditStore(input.pg, input.baseDir);
    const keys = new KeyStore(input.dataDir);
    if (!keys.exists()) {
      const client = await pool.connect();
      try {
        await client.query('SELECT pg_advisory_lock($1)', [KEY_INIT_LOCK]);
        if (!keys.exists()) await keys.init(Date.now());
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [KEY_INIT_LOCK]).catch(() => undefined);
        client.release();
      }
    }
    const instance = newRecordId();
    const backend = new PgBackend({
      pool,
      instance,
      logger: input.logger,
      publicKeys: keys.allPublicKeys(),
      ...(input.heartbeatMs !== undefined && { heartbeatMs: input.heartbeatMs }),
      ...(input.leaseMs !== undefined && { leaseMs: input.leaseMs }),
    });
    const sink = new AuditLog(backend, {
      settings: input.settings,
      keys,
      logger: input.logger,
      instance,
      ...(input.redact && { redact: input.redact }),
      ...(input.now && { now: input.now }),
    });
    try {
      await sink.start(input.details);
    } catch (error) {
      await backend.close().catch(() => undefined);
      pool = undefined;
      throw error;
    }
    input.logger.info({ store: 'postgres', instance }, 'audit log open');
    return sink;
  } catch (error) {
    await pool?.end().catch(() => undefined);
    const cause = isWardenError(error) ? error.message.replace(/^audit log unavailable: /, '') : describePgError(error);
    const code = isWardenError(error) && error.code !== 'ERR_AUDIT_UNAVAILABLE' ? error.code : 'ERR_AUDIT_UNAVAILABLE';
    throw new WardenError(code, `audit log on PostgreSQL: ${cause}; refusing to start (no audit, no action)`, {
      cause: error,
    });
  }
}
