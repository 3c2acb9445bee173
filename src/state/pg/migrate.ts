import { WardenError } from '../../errors.js';
import { storeUnavailable, type PgPool } from './pool.js';

/** One numbered step of a track's schema; never edited once shipped: append. */
export interface PgMigration {
  version: number;
  sql: string;
}

/**
 * The advisory lock every migration of every track runs under: replicas starting at once, and
 * `mcp-warden store migrate` beside them, apply each step exactly once, one after another.
 */
export const MIGRATE_LOCK = 0x5741_5244_4d47; // "WARDMG"

const VERSIONS_TABLE = `CREATE TABLE IF NOT EXISTS warden_schema_versions (
  track      text    PRIMARY KEY,
  version    integer NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
)`;

/**
 * Creates the configured schema if it is missing (before migrating into it), under the migrations' advisory
 * lock: two replicas creating the same schema at once would otherwise collide on its name.
 */
export async function ensureStoreSchema(pool: PgPool, schema: string | undefined): Promise<void> {
  if (schema === undefined) return;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATE_LOCK]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export interface MigrateResult {
  track: string;
  from: number;
  to: number;
}

/**
 * Brings one track (`state`, `audit`, ...) up to its last migration, each step in its own transaction
 * with its version bump, all under MIGRATE_LOCK. A database written by a newer mcp-warden is refused.
 */
export async function migrateTrack(
  pool: PgPool,
  track: string,
  migrations: readonly PgMigration[],
): Promise<MigrateResult> {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`${track} migration ${i + 1} is numbered ${m.version}`);
  });
  let client;
  try {
    client = await pool.connect();
  } catch (error) {
    throw storeUnavailable('store', error);
  }
  let locked = false;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATE_LOCK]);
    locked = true;
    await client.query(VERSIONS_TABLE);
    const found = await client.query<{ version: number }>(
      'SELECT version FROM warden_schema_versions WHERE track = $1',
      [track],
    );
    const from = found.rows[0]?.version ?? 0;
    if (from > migrations.length)
      throw new WardenError(
        'ERR_STATE_UNAVAILABLE',
        `store: the ${track} schema is at version ${from}, newer than this mcp-warden understands (${migrations.length}); upgrade mcp-warden`,
      );
    for (const migration of migrations.slice(from)) {
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query(
          `INSERT INTO warden_schema_versions (track, version) VALUES ($1, $2)
           ON CONFLICT (track) DO UPDATE SET version = excluded.version, updated_at = now()`,
          [track, migration.version],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    }
    return { track, from, to: migrations.length };
  } catch (error) {
    throw storeUnavailable(`store migrate (${track})`, error);
  } finally {
    if (locked) await client.query('SELECT pg_advisory_unlock($1)', [MIGRATE_LOCK]).catch(() => undefined);
    client.release();
  }
}

/** The version a track is at (0: never migrated), without changing anything. */
export async function trackVersion(pool: PgPool, track: string): Promise<number> {
  const exists = await pool.query<{ found: string | null }>(`SELECT to_regclass('warden_schema_versions') AS found`);
  if (exists.rows[0]?.found == null) return 0;
  const found = await pool.query<{ version: number }>('SELECT version FROM warden_schema_versions WHERE track = $1', [
    track,
  ]);
  return found.rows[0]?.version ?? 0;
}
