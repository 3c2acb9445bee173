import type { PostgresStoreConfig } from '../../config/store-schema.js';
import { ensureStoreSchema, migrateTrack, type MigrateResult } from './migrate.js';
import { openStorePool, storeUnavailable, type PgPool } from './pool.js';
import { STATE_MIGRATIONS } from './schema.js';
import { PgStoreLink, type StoreHealth } from './link.js';

export interface PgStore {
  pool: PgPool;
  link: PgStoreLink;
  migrated: MigrateResult;
  health(): StoreHealth;
  close(): Promise<void>;
}

/** Opens the pool, creates the schema if needed and migrates the state tables (under the advisory lock). */
export async function openPgPool(
  store: PostgresStoreConfig,
  baseDir: string,
): Promise<{ pool: PgPool; migrated: MigrateResult }> {
  const pool = openStorePool(store, baseDir);
  try {
    await ensureStoreSchema(pool, store.schema).catch((error: unknown) => {
      throw storeUnavailable('store', error);
    });
    const migrated = await migrateTrack(pool, 'state', STATE_MIGRATIONS);
    return { pool, migrated };
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
}

/**
 * The shared store of a replica: migrated pool plus the live link (LISTEN, health). A replica whose
 * store cannot be reached or migrated at start does not start (ERR_STATE_UNAVAILABLE, naming why).
 */
export async function openPgStore(store: PostgresStoreConfig, baseDir: string): Promise<PgStore> {
  const { pool, migrated } = await openPgPool(store, baseDir);
  const link = new PgStoreLink({
    pool,
    client: {
      connectionString: store.url,
      connectionTimeoutMillis: store.connectTimeoutMs,
      ...(pool.options.ssl !== undefined && { ssl: pool.options.ssl }),
    },
  });
  await link.start();
  return {
    pool,
    link,
    migrated,
    health: () => link.health(),
    async close() {
      await link.close();
      await pool.end().catch(() => undefined);
    },
  };
}
