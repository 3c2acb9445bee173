import type { LoadedConfig } from '../config/load.js';
import type { PostgresStoreConfig } from '../config/store-schema.js';
import { openPgPool } from '../state/pg/open.js';
import { PgSharedState } from '../state/pg/shared.js';
import type { TaskRow } from '../state/shared.js';
import { EXIT } from './common.js';

/**
 * Revocations with `store.kind: postgres`: written to the shared store, whose NOTIFY trigger tells every
 * replica's LISTEN; each re-reads its cache and refuses from its next call (within a second).
 */
async function withShared<T>(loaded: LoadedConfig, run: (state: PgSharedState) => Promise<T>): Promise<T> {
  const { pool } = await openPgPool(loaded.config.store as PostgresStoreConfig, loaded.baseDir);
  try {
    return await run(new PgSharedState(pool));
  } finally {
    await pool.end().catch(() => undefined);
  }
}

const EVERYWHERE = 'every replica on the shared store';

export async function pgRevokeToken(
  loaded: LoadedConfig,
  tokenId: string,
  reason: string | undefined,
): Promise<number> {
  const added = await withShared(loaded, (state) => state.revokeToken(tokenId, Date.now(), reason));
  process.stdout.write(
    `${added ? 'revoked' : 'already revoked:'} token ${tokenId}: it and every token delegated from it are refused from the next call on ${EVERYWHERE}\n`,
  );
  return EXIT.ok;
}

export async function pgRevokeAgent(
  loaded: LoadedConfig,
  revocation: { subject: string; issuer: string; reason?: string },
): Promise<number> {
  const revokedAt = Date.now();
  await withShared(loaded, (state) => state.revokeAgent({ ...revocation, revokedAt }));
  process.stdout.write(
    `revoked agent ${revocation.subject}${revocation.issuer !== '*' ? ` (issuer ${revocation.issuer})` : ''}: tokens issued up to ${new Date(revokedAt).toISOString()} are refused ` +
      `from the next call on ${EVERYWHERE}, with every task they run. Issue a new token to let it back in.\n`,
  );
  return EXIT.ok;
}

export async function pgRevokeTask(loaded: LoadedConfig, id: string): Promise<number> {
  const added = await withShared(loaded, (state) => state.revokeTaskId(id, Date.now()));
  process.stdout.write(
    added
      ? `revoked task ${id}: ${EVERYWHERE} refuses it, and every token naming it or delegated within it, from its next call\n`
      : `task ${id} is already revoked\n`,
  );
  return EXIT.ok;
}

/** `task list` with `store.kind: postgres`: the tasks every replica recorded in the shared store. */
export async function pgListTasks(loaded: LoadedConfig, options: { all: boolean; now: number }): Promise<TaskRow[]> {
  return withShared(loaded, (state) => state.listTasks(options));
}
