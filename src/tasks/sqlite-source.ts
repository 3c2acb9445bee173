import type { RevocationSnapshot, SharedTasks } from '../state/shared.js';
import type { TaskStore } from './store.js';

/**
 * Where the registry reads revocations: `state.db` by default (`PRAGMA data_version`), or a replica's
 * cache of the shared store (src/state/pg/revocation-cache.ts). Both throw while they cannot be trusted.
 */
export interface RevocationSource {
  /** Changes whenever the snapshot may have changed. */
  version(): number;
  snapshot(now: number): RevocationSnapshot;
}

export function sqliteRevocations(store: TaskStore): RevocationSource {
  return {
    version: () => store.dataVersion(),
    snapshot: (now) => ({
      agents: store.revocations(),
      tokenIds: store.revokedTokenIds(),
      taskIds: store.revokedTaskIds(now),
    }),
  };
}

/** The task rows on `state.db`, behind the async interface the shared store has (each runs at once, synchronously). */
export function sqliteTaskRows(store: TaskStore): SharedTasks {
  return {
    insertTask: async (task) => store.insert(task),
    endTask: async (key, at, reason) => store.end(key, at, reason),
    tasksById: async (id, limit) => store.get(id, limit),
    listTasks: async (options) => store.list(options),
  };
}
