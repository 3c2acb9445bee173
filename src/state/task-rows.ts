import type Database from 'better-sqlite3';
import type { EndReason, TaskKey, TaskRow, TaskSource } from './shared.js';

/** A `tasks` row as either store returns it (PostgreSQL's bigint arrives as a string). */
export interface RawTask {
  id: string;
  issuer: string;
  subject: string;
  source: TaskSource;
  purpose: string | null;
  grants: string | null;
  parent: string | null;
  session: string | null;
  gateway: string;
  created_at: number | string;
  expires_at: number | string | null;
  ended_at: number | string | null;
  end_reason: EndReason | null;
}

/** The `tasks` columns of an insert, in the order of TASK_COLUMNS. */
export const TASK_COLUMNS = [
  'id',
  'issuer',
  'subject',
  'source',
  'purpose',
  'grants',
  'parent',
  'session',
  'gateway',
  'created_at',
  'expires_at',
  'ended_at',
  'end_reason',
] as const;

export function taskValues(task: TaskRow): (string | number | null)[] {
  const ended = task.endedAt !== undefined && task.endReason !== undefined;
  return [
    task.id,
    task.issuer,
    task.subject,
    task.source,
    task.purpose ?? null,
    task.grants ? JSON.stringify(task.grants) : null,
    task.parent ?? null,
    task.session ?? null,
    task.gateway,
    task.createdAt,
    task.expiresAt ?? null,
    ended ? task.endedAt! : null,
    ended ? task.endReason! : null,
  ];
}

export function taskFromRaw(raw: RawTask): TaskRow {
  return {
    id: raw.id,
    issuer: raw.issuer,
    subject: raw.subject,
    source: raw.source,
    gateway: raw.gateway,
    createdAt: Number(raw.created_at),
    ...(raw.purpose !== null && { purpose: raw.purpose }),
    ...(raw.grants !== null && { grants: JSON.parse(raw.grants) as string[] }),
    ...(raw.parent !== null && { parent: raw.parent }),
    ...(raw.session !== null && { session: raw.session }),
    ...(raw.expires_at !== null && { expiresAt: Number(raw.expires_at) }),
    ...(raw.ended_at !== null && { endedAt: Number(raw.ended_at) }),
    ...(raw.end_reason !== null && { endReason: raw.end_reason }),
  };
}

/** The `tasks` queries on state.db, shared by the task store (src/tasks/store.ts) and SqliteSharedState. */
export const sqliteTasks = {
  insert(db: Database.Database, task: TaskRow): boolean {
    return (
      db
        .prepare(
          `INSERT OR IGNORE INTO tasks (${TASK_COLUMNS.join(', ')}) VALUES (${TASK_COLUMNS.map(() => '?').join(', ')})`,
        )
        .run(...taskValues(task)).changes === 1
    );
  },

  end(db: Database.Database, key: TaskKey, at: number, reason: EndReason): boolean {
    return (
      db
        .prepare(
          'UPDATE tasks SET ended_at = ?, end_reason = ? WHERE id = ? AND issuer = ? AND subject = ? AND ended_at IS NULL',
        )
        .run(at, reason, key.id, key.issuer, key.subject).changes > 0
    );
  },

  byId(db: Database.Database, id: string, limit = 20): TaskRow[] {
    const rows = db
      .prepare('SELECT * FROM tasks WHERE id = ? ORDER BY created_at DESC LIMIT ?')
      .all(id, limit) as RawTask[];
    return rows.map(taskFromRaw);
  },

  list(db: Database.Database, options: { all: boolean; now: number; limit?: number }): TaskRow[] {
    const where = options.all ? '' : 'WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > @now)';
    const rows = db
      .prepare(`SELECT * FROM tasks ${where} ORDER BY created_at DESC LIMIT @limit`)
      .all({ now: options.now, limit: options.limit ?? 1_000 }) as RawTask[];
    return rows.map(taskFromRaw);
  },
};
