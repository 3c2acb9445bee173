import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { copySqliteAuditToPg } from '../audit/pg/copy.js';
import { openPgAuditStore } from '../audit/pg/open.js';
import { pgPublishedKeys, verifyPgChain } from '../audit/pg/verify.js';
import { auditFile, openAuditDb } from '../audit/store.js';
import { loadConfig } from '../config/load.js';
import { KeyStore } from '../state/keys.js';
import { openStateDb, STATE_SCHEMA_VERSION, stateFile } from '../state/db.js';
import { openPgPool } from '../state/pg/open.js';
import { EXIT, UsageError, type CommandContext } from './common.js';

export const STORE_USAGE = `mcp-warden store migrate
mcp-warden store copy --from sqlite --to postgres

Brings the configured store's schema up to date and says which version it is at. With "store":
{"kind": "sqlite"} (the default) that is <data-dir>/state.db; with {"kind": "postgres", ...} the shared
tables in that database, under an advisory lock, so replicas starting at the same time (which also
migrate at start) apply each step once. A database written by a newer mcp-warden is refused.

"store copy --from sqlite --to postgres" moves this installation's audit log (<data-dir>/audit.db) into
the configured PostgreSQL store: every entry with its hash as it is, checkpoints, prune anchors and the
signing keys' public halves, in one transaction, into an empty audit log; then verifies the copy (exit 1
if it does not verify). The state (state.db) is not copied yet.`;

export const STORE_OPTIONS = {
  from: { type: 'string' },
  to: { type: 'string' },
} as const;

/** `mcp-warden store migrate`, `store copy --from sqlite --to postgres`. */
export async function runStore(
  ctx: CommandContext,
  positionals: string[],
  values: Record<string, unknown> = {},
): Promise<number> {
  if (positionals.length === 1 && positionals[0] === 'copy') return copyStore(ctx, values);
  if (positionals.length !== 1 || positionals[0] !== 'migrate')
    throw new UsageError('expected: store migrate | store copy --from sqlite --to postgres');
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

/** `mcp-warden store copy --from sqlite --to postgres`: the audit log, verified on arrival. */
async function copyStore(ctx: CommandContext, values: Record<string, unknown>): Promise<number> {
  if (values.from !== 'sqlite' || values.to !== 'postgres')
    throw new UsageError('expected: store copy --from sqlite --to postgres');
  const loaded = loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
  const store = loaded.config.store;
  if (store.kind !== 'postgres')
    throw new UsageError('store copy --to postgres needs "store": {"kind": "postgres", "url": ...} in the config');
  const source = openAuditDb(auditFile(loaded.dataDir), { readonly: true });
  const pool = await openPgAuditStore({
    url: store.url,
    poolSize: 2,
    statementTimeoutMs: Math.max(store.statementTimeoutMs, 60_000),
    connectTimeoutMs: store.connectTimeoutMs,
    ...(store.schema !== undefined && { schema: store.schema }),
    ...(store.tls && {
      ssl: {
        rejectUnauthorized: store.tls.verify,
        ...(store.tls.caFile !== undefined && { ca: readFileSync(resolve(loaded.baseDir, store.tls.caFile), 'utf8') }),
      },
    }),
  });
  try {
    const keys = new KeyStore(loaded.dataDir).allPublicKeys();
    const copied = await copySqliteAuditToPg(source, pool, keys, Date.now());
    const report = await verifyPgChain(pool, new Map([...(await pgPublishedKeys(pool)), ...keys]));
    const where = describeTarget(store.url, store.schema);
    process.stdout.write(
      `audit log ${auditFile(loaded.dataDir)} -> ${where}: ${copied.entries} entries, ${copied.checkpoints} checkpoints, ${copied.anchors} anchors\n`,
    );
    if (!report.ok) {
      for (const problem of report.problems)
        process.stdout.write(`  ${problem.kind.toUpperCase()}: ${problem.message}\n`);
      process.stdout.write('the copy does not verify\n');
      return EXIT.failure;
    }
    process.stdout.write(`verified: ${report.entries} entries, ${report.signaturesVerified} signed checkpoints\n`);
    return EXIT.ok;
  } finally {
    source.close();
    await pool.end().catch(() => undefined);
  }
}
