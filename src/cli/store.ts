import { loadConfig } from '../config/load.js';
import { openStateDb, STATE_SCHEMA_VERSION, stateFile } from '../state/db.js';
import { openPgPool } from '../state/pg/open.js';
import { EXIT, UsageError, type CommandContext } from './common.js';

export const STORE_USAGE = `mcp-warden store migrate

Brings the configured store's schema up to date and says which version it is at. With "store":
{"kind": "sqlite"} (the default) that is <data-dir>/state.db; with {"kind": "postgres", ...} the shared
tables in that database, under an advisory lock, so replicas starting at the same time (which also
migrate at start) apply each step once. A database written by a newer mcp-warden is refused.`;

/** `mcp-warden store migrate`. */
export async function runStore(ctx: CommandContext, positionals: string[]): Promise<number> {
  if (positionals.length !== 1 || positionals[0] !== 'migrate') throw new UsageError('expected: store migrate');
  const loaded = loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
  const store = loaded.config.store;
  if (store.kind === 'sqlite') {
    const file = stateFile(loaded.dataDir);
    openStateDb(file).close();
    process.stdout.write(`state store ${file}: schema version ${STATE_SCHEMA_VERSION}\n`);
    return EXIT.ok;
  }
  const { pool, migrated } = await openPgPool(store, loaded.baseDir);
  try {
    const where = describeTarget(store.url, store.schema);
    process.stdout.write(
      migrated.from === migrated.to
        ? `state store ${where}: schema version ${migrated.to}, already up to date\n`
        : `state store ${where}: migrated from version ${migrated.from} to ${migrated.to}\n`,
    );
    return EXIT.ok;
  } finally {
    await pool.end().catch(() => undefined);
  }
}

/** host:port/database (schema), never the user or a password. */
function describeTarget(url: string, schema: string | undefined): string {
  const parsed = new URL(url);
  return `postgres ${parsed.host}${parsed.pathname}${schema ? ` (schema ${schema})` : ''}`;
}
