import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { activeSigner } from '../audit/checkpoints.js';
import { pruneBefore, type PruneResult } from '../audit/prune.js';
import { SqliteAuditReader, type AuditReader } from '../audit/reader.js';
import { auditFile, openAuditDb } from '../audit/store.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import type { PostgresStoreConfig } from '../config/store-schema.js';
import { WardenError } from '../errors.js';
import { KeyStore } from '../state/keys.js';
import type { CommandContext } from './common.js';

/** Where the audit log is: `audit.db` in the data folder, or the configured PostgreSQL store. */
export interface Source {
  dataDir: string;
  file: string;
  pg?: { store: PostgresStoreConfig; baseDir: string };
}

/**
 * The config decides the store (`store.kind`); `--data-dir` alone (no config file) reads that folder's
 * `audit.db`, as before there was a choice.
 */
export function sourceOf(ctx: CommandContext): Source {
  const loaded: LoadedConfig | undefined =
    ctx.dataDir === undefined || existsSync(ctx.configPath)
      ? loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir })
      : undefined;
  const dataDir = ctx.dataDir !== undefined ? resolve(ctx.dataDir) : loaded!.dataDir;
  const store = loaded?.config.store;
  return {
    dataDir,
    file: auditFile(dataDir),
    ...(store?.kind === 'postgres' && { pg: { store, baseDir: loaded!.baseDir } }),
  };
}

/** host:port/database (schema), never the user or a password. */
function pgLocation(store: PostgresStoreConfig): string {
  const url = new URL(store.url);
  return `postgres ${url.host}${url.pathname}${store.schema ? ` (schema ${store.schema})` : ''}`;
}

export async function openReader(source: Source): Promise<AuditReader> {
  if (source.pg) {
    // The PostgreSQL client is imported only when the config names that store.
    const { PgAuditReader } = await import('../audit/pg/reader.js');
    return PgAuditReader.open(source.pg.store, source.pg.baseDir, pgLocation(source.pg.store));
  }
  if (!existsSync(source.file))
    throw new WardenError(
      'ERR_AUDIT_UNAVAILABLE',
      `no audit database at ${source.file} (has a gateway run with this data folder?)`,
    );
  return new SqliteAuditReader(openAuditDb(source.file, { readonly: true }), source.file);
}

/** `audit prune --before`: on the store the config names, signed with this data folder's key. */
export async function pruneSource(source: Source, before: number): Promise<PruneResult | undefined> {
  const signer = await activeSigner(new KeyStore(source.dataDir));
  if (source.pg) {
    const [{ openPgAuditStore }, { prunePgBefore }] = await Promise.all([
      import('../audit/pg/open.js'),
      import('../audit/pg/prune.js'),
    ]);
    // A prune of a large log is one long transaction: the store's statement deadline is raised for it.
    const { kind: _kind, ...pg } = source.pg.store;
    const pool = await openPgAuditStore(
      { ...pg, poolSize: 2, statementTimeoutMs: Math.max(pg.statementTimeoutMs, 600_000) },
      source.pg.baseDir,
    );
    try {
      return await prunePgBefore(pool, before, signer, Date.now());
    } finally {
      await pool.end().catch(() => undefined);
    }
  }
  if (!existsSync(source.file)) throw new WardenError('ERR_AUDIT_UNAVAILABLE', `no audit database at ${source.file}`);
  const db = openAuditDb(source.file, {});
  try {
    return pruneBefore(db, before, signer, Date.now());
  } finally {
    db.close();
  }
}
