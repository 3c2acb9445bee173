import { recordPgAdminEvents } from '../audit/pg/admin.js';
import type { LoadedConfig } from '../config/load.js';
import type { PostgresStoreConfig } from '../config/store-schema.js';
import { openPgPool } from '../state/pg/open.js';
import { PgSharedState } from '../state/pg/shared.js';

/**
 * `approvals …` with `store.kind: postgres`: the approvals every replica requests and spends, read and
 * decided in the shared store; each decision recorded first in the audit log on the same PostgreSQL.
 * Imported only with such a config.
 */
export async function pgApprovalsBackend(loaded: LoadedConfig, store: PostgresStoreConfig, actor: string) {
  const { pool } = await openPgPool(store, loaded.baseDir);
  const state = new PgSharedState(pool);
  return {
    where: 'the shared store',
    recorded: true,
    read: <T>(run: (s: PgSharedState) => Promise<T>) => run(state),
    write: <T>(run: (s: PgSharedState) => Promise<T>) => run(state),
    record: (events: Parameters<typeof recordPgAdminEvents>[1]) =>
      recordPgAdminEvents({ store, baseDir: loaded.baseDir, settings: loaded.config.audit, actor }, events),
    close: () => pool.end().catch(() => undefined),
  };
}
