import { PgAuditReader } from '../audit/pg/reader.js';
import type { PostgresStoreConfig } from '../config/store-schema.js';
import { approvalFromRaw, type RawApproval } from '../state/approval-rows.js';
import { openPgPool } from '../state/pg/open.js';
import { storeUnavailable, type PgPool } from '../state/pg/pool.js';
import { PgSharedState } from '../state/pg/shared.js';
import { taskFromRaw, type RawTask } from '../state/task-rows.js';
import { openIntegrity, type ConsoleApprovals } from './integrity.js';
import { PgConsoleSessions } from './pg-sessions.js';
import type { Query } from './queries.js';
import type { ConsoleAudit, ConsoleStores, ConsoleTasks } from './stores.js';

/** Columns of the console's statements that PostgreSQL returns as text (bigint, `->>`) and the page reads as numbers. */
const NUMERIC = new Set([
  'seq',
  'intentSeq',
  'outcomeSeq',
  'ts',
  'startedAt',
  'endedAt',
  'durationMs',
  'bucket',
  'calls',
  'denied',
  'errors',
  'last',
  'first',
]);

function numbers<T>(row: Record<string, unknown>): T {
  for (const key of Object.keys(row)) {
    const value = row[key];
    if (NUMERIC.has(key) && value !== null && value !== undefined) row[key] = Number(value);
  }
  return row as T;
}

/** host:port/database (schema), never the user or a password. */
function location(store: PostgresStoreConfig): string {
  const url = new URL(store.url);
  return `postgres ${url.host}${url.pathname}${store.schema ? ` (schema ${store.schema})` : ''}`;
}

/**
 * The console on the PostgreSQL store: the audit tables every replica appends to, and the tasks,
 * revocations, approvals, sign-in codes and sessions every replica shares. A reviewer behind a load
 * balancer sees the same on every replica, and what they do there takes effect on all of them (the
 * store's NOTIFY reaches every replica's cache), tool pins included.
 */
export async function openPgConsoleStores(options: {
  dataDir: string;
  readonly: boolean;
  store: PostgresStoreConfig;
  baseDir: string;
}): Promise<ConsoleStores> {
  // A reviewer's page asks a few things at once; the gateway's own pool is left to agents.
  const store = { ...options.store, poolSize: Math.min(options.store.poolSize, 4) };
  const { pool } = await openPgPool(store, options.baseDir);
  let reader: PgAuditReader | undefined;
  try {
    reader = await PgAuditReader.open(store, options.baseDir, location(store));
    const shared = new PgSharedState(pool);
    const approvals: ConsoleApprovals = {
      approvals: shared,
      forCall: async (callId) => {
        const rows = await run(pool, 'read approvals', (p) =>
          p.query<RawApproval>('SELECT * FROM approvals WHERE call_id = $1 ORDER BY created_at, id', [callId]),
        );
        return rows.rows.map(approvalFromRaw);
      },
      close: () => undefined,
    };
    const integrity = openIntegrity({ pins: shared, close: () => undefined }, approvals);
    const audit = pgAudit(reader);
    const sessions = new PgConsoleSessions(pool);
    return {
      kind: 'postgres',
      audit,
      tasks: pgTasks(pool, shared),
      integrity,
      sessions,
      async close() {
        integrity.close();
        await audit.close();
        await pool.end().catch(() => undefined);
      },
    };
  } catch (error) {
    await reader?.close();
    await pool.end().catch(() => undefined);
    throw error;
  }
}

function pgAudit(reader: PgAuditReader): ConsoleAudit {
  const query: Query = async <T>(sql: string, params: readonly unknown[]) =>
    (await reader.query<Record<string, unknown>>(sql, params)).map((row) => numbers<T>(row));
  return {
    query,
    getRecord: (id) => reader.getRecord(id),
    verify: (keys) => reader.verify(keys),
    lastCheckpoint: () => reader.lastCheckpoint(),
    publishedKeys: () => reader.publishedKeys(),
    close: () => reader.close(),
  };
}

async function run<T>(pool: PgPool, what: string, operation: (pool: PgPool) => Promise<T>): Promise<T> {
  try {
    return await operation(pool);
  } catch (error) {
    throw storeUnavailable(what, error);
  }
}

/** The filters of TaskStore.listByStatus (src/tasks/store.ts), on the shared `tasks` table; the limit is `$n`. */
function statusFilter(status: string, now: number): { where: string; values: unknown[] } {
  if (status === 'all') return { where: '', values: [] };
  if (status === 'active')
    return { where: 'WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > $1)', values: [now] };
  if (status === 'expired')
    return { where: "WHERE end_reason = 'expired' OR (end_reason IS NULL AND expires_at <= $1)", values: [now] };
  return { where: 'WHERE end_reason = $1', values: [status] };
}

function pgTasks(pool: PgPool, shared: PgSharedState): ConsoleTasks {
  const openCount = async (where: string, values: unknown[]): Promise<number> => {
    const result = await run(pool, 'read tasks', (p) =>
      p.query<{ n: string }>(`SELECT count(*) AS n FROM tasks WHERE ${where} AND ended_at IS NULL`, values),
    );
    return Number(result.rows[0]?.n ?? 0);
  };
  return {
    byId: (id, limit) => shared.tasksById(id, limit),
    async listByStatus(status, now, limit) {
      const { where, values } = statusFilter(status, now);
      const result = await run(pool, 'list tasks', (p) =>
        p.query<RawTask>(`SELECT * FROM tasks ${where} ORDER BY created_at DESC LIMIT $${values.length + 1}`, [
          ...values,
          limit,
        ]),
      );
      return result.rows.map(taskFromRaw);
    },
    async agentRevocations(now) {
      return (await shared.revocations(now)).agents;
    },
    openTaskCount: (subject, issuer) =>
      issuer === '*'
        ? openCount('subject = $1', [subject])
        : openCount('subject = $1 AND issuer = $2', [subject, issuer]),
    async revokeTask(id, now) {
      const open = await openCount('id = $1', [id]);
      await shared.revokeTaskId(id, now);
      return open;
    },
    async revokeAgent(revocation) {
      const open = await this.openTaskCount(revocation.subject, revocation.issuer);
      await shared.revokeAgent(revocation);
      return open;
    },
    close: () => Promise.resolve(),
  };
}
