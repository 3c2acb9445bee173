import { existsSync } from 'node:fs';
import { lastCheckpoint, type CheckpointRow } from '../audit/checkpoints.js';
import type { RecordDetail } from '../audit/queries.js';
import { SqliteAuditReader } from '../audit/reader.js';
import { auditFile, openAuditDb } from '../audit/store.js';
import type { StoredEntry } from '../audit/chain.js';
import type { VerifyReport } from '../audit/verify.js';
import type { PostgresStoreConfig } from '../config/store-schema.js';
import { WardenError } from '../errors.js';
import { stateFile } from '../state/db.js';
import type { AgentRevocationRow, TaskRow } from '../state/shared.js';
import { TaskStore } from '../tasks/store.js';
import { openIntegrity, sqliteConsoleApprovals, sqliteConsolePins, type IntegrityStores } from './integrity.js';
import { sqliteQuery, type Query } from './queries.js';
import { ConsoleSessions, type ConsoleSessionStore } from './sessions.js';

/** The audit log as the console reads it: audit.db, or the audit tables of the PostgreSQL store. */
export interface ConsoleAudit {
  /** Runs a statement of src/console/queries.ts. */
  query: Query;
  getRecord(id: string): Promise<RecordDetail | { event: StoredEntry } | undefined>;
  /** Walks the chain with these keys (on PostgreSQL with the keys replicas published too). */
  verify(publicKeys: ReadonlyMap<string, object>): Promise<VerifyReport>;
  lastCheckpoint(): Promise<CheckpointRow | undefined>;
  /** Public keys published in the store (PostgreSQL: every replica's); none on SQLite. */
  publishedKeys(): Promise<Map<string, object>>;
  close(): Promise<void>;
}

/** Tasks and revocations as the console shows and changes them: state.db, or the shared store. */
export interface ConsoleTasks {
  /** The rows with this id, newest first. */
  byId(id: string, limit: number): Promise<TaskRow[]>;
  /** By the status a reviewer sees: `active`, `expired`, an end reason, or `all`; newest first. */
  listByStatus(status: string, now: number, limit: number): Promise<TaskRow[]>;
  agentRevocations(now: number): Promise<AgentRevocationRow[]>;
  /** How many open tasks an agent revocation would end (`*`: every issuer). */
  openTaskCount(subject: string, issuer: string): Promise<number>;
  /** Ends the task's open rows as revoked and records the id; how many rows it ended. */
  revokeTask(id: string, now: number): Promise<number>;
  /** Records the revocation and ends the agent's open tasks; how many it ended. */
  revokeAgent(revocation: AgentRevocationRow): Promise<number>;
  close(): Promise<void>;
}

/** Everything the console reads and writes, on one store. */
export interface ConsoleStores {
  kind: 'sqlite' | 'postgres';
  audit: ConsoleAudit;
  tasks: ConsoleTasks;
  integrity: IntegrityStores;
  sessions: ConsoleSessionStore;
  close(): Promise<void>;
}

export type ConsoleStoreOptions =
  | { kind: 'sqlite'; dataDir: string; readonly: boolean }
  | { kind: 'postgres'; dataDir: string; readonly: boolean; store: PostgresStoreConfig; baseDir: string };

/**
 * Opens the console's stores: the data folder's `audit.db` and `state.db`, or the PostgreSQL store every
 * replica shares (its client imported only then), tool pins included (where the gateway keeps them).
 * Nothing is left open when any part fails.
 */
export async function openConsoleStores(options: ConsoleStoreOptions): Promise<ConsoleStores> {
  if (options.kind === 'postgres') {
    const { openPgConsoleStores } = await import('./pg-stores.js');
    return openPgConsoleStores(options);
  }
  const file = auditFile(options.dataDir);
  if (!existsSync(file))
    throw new WardenError('ERR_AUDIT_UNAVAILABLE', `no audit database at ${file} (start the gateway once)`);
  const state = stateFile(options.dataDir);
  const opened: { close(): unknown }[] = [];
  try {
    const sessions = ConsoleSessions.open(state);
    opened.push(sessions);
    const db = openAuditDb(file, { readonly: true });
    const reader = new SqliteAuditReader(db, file);
    opened.push(db);
    const tasks = TaskStore.open(state, { readonly: options.readonly });
    opened.push(tasks);
    const approvals = sqliteConsoleApprovals(state, options.readonly);
    opened.push(approvals);
    const pins = sqliteConsolePins(state, options.readonly);
    opened.push(pins);
    const integrity = openIntegrity(pins, approvals);
    const audit: ConsoleAudit = {
      query: sqliteQuery(db),
      getRecord: (id) => reader.getRecord(id),
      verify: (keys) => reader.verify(keys),
      lastCheckpoint: () => Promise.resolve(lastCheckpoint(db)),
      publishedKeys: () => Promise.resolve(new Map()),
      close: () => reader.close(),
    };
    const consoleTasks = sqliteTasks(tasks);
    return {
      kind: 'sqlite',
      audit,
      tasks: consoleTasks,
      integrity,
      sessions,
      async close() {
        await audit.close();
        await consoleTasks.close();
        integrity.close();
        await sessions.close();
      },
    };
  } catch (error) {
    for (const store of opened.reverse()) store.close();
    throw error;
  }
}

function sqliteTasks(store: TaskStore): ConsoleTasks {
  return {
    byId: (id, limit) => Promise.resolve(store.get(id, limit)),
    listByStatus: (status, now, limit) => Promise.resolve(store.listByStatus(status, now, limit)),
    agentRevocations: () => Promise.resolve(store.revocations()),
    openTaskCount: (subject, issuer) => Promise.resolve(store.openTaskCount(subject, issuer)),
    revokeTask: (id, now) => Promise.resolve(store.revokeTask(id, now).ended),
    revokeAgent: (revocation) => Promise.resolve(store.revokeAgent(revocation)),
    close: () => Promise.resolve(store.close()),
  };
}
