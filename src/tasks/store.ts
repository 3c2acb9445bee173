import type Database from 'better-sqlite3';
import { openStateDb, StateStore } from '../state/db.js';
import type { EndReason, TaskKey, TaskRow } from '../state/shared.js';
import { sqliteTasks, taskFromRaw, type RawTask } from '../state/task-rows.js';

export { STATE_FILE, stateFile } from '../state/db.js';

export type { EndReason, TaskKey, TaskRow, TaskSource } from '../state/shared.js';

export interface AgentRevocation {
  subject: string;
  /** `*`: every issuer. */
  issuer: string;
  revokedAt: number;
  reason?: string;
}

/**
 * Tasks and revocations in `<dataDir>/state.db`, shared by every gateway process on the data folder
 * (WAL, busy timeout). Separate from the audit database so neither waits on the other's writes.
 */
export class TaskStore extends StateStore {
  private constructor(file: string, db: Database.Database) {
    super(file, db);
  }

  static open(file: string, options: { busyTimeoutMs?: number; readonly?: boolean } = {}): TaskStore {
    return new TaskStore(file, openStateDb(file, options));
  }

  /** Records a task; an existing row with the same key is left as it is. Returns whether it was new. */
  insert(task: TaskRow): boolean {
    return sqliteTasks.insert(this.db, task);
  }

  /** Ends one open task. Returns whether it was still open. */
  end(key: TaskKey, at: number, reason: EndReason): boolean {
    return sqliteTasks.end(this.db, key, at, reason);
  }

  /**
   * Revokes every open task with this id (token task ids are chosen by the token's issuer, so there may be
   * several). An id no gateway has stored yet (a parent's token task whose holder never called) is
   * recorded as revoked by id, so its tokens and their delegates are refused whenever they show up.
   */
  revokeTask(id: string, at: number): { ended: number; unseen: boolean } {
    return this.db
      .transaction(() => {
        const ended = this.db
          .prepare("UPDATE tasks SET ended_at = ?, end_reason = 'revoked' WHERE id = ? AND ended_at IS NULL")
          .run(at, id).changes;
        if (ended > 0 || this.db.prepare('SELECT 1 FROM tasks WHERE id = ? LIMIT 1').get(id) !== undefined)
          return { ended, unseen: false };
        const recorded = this.db
          .prepare('INSERT OR IGNORE INTO task_revocations (task_id, revoked_at) VALUES (?, ?)')
          .run(id, at).changes;
        return { ended: 0, unseen: recorded > 0 };
      })
      .immediate();
  }

  /** Refuses the subject's tokens issued up to `at` and revokes its open tasks, in one transaction. */
  revokeAgent(revocation: AgentRevocation): number {
    return this.db
      .transaction(() => {
        this.db
          .prepare('INSERT OR REPLACE INTO agent_revocations (subject, issuer, revoked_at, reason) VALUES (?, ?, ?, ?)')
          .run(revocation.subject, revocation.issuer, revocation.revokedAt, revocation.reason ?? null);
        const issuerClause = revocation.issuer === '*' ? '' : ' AND issuer = ?';
        const args: unknown[] = [
          revocation.revokedAt,
          revocation.subject,
          ...(revocation.issuer === '*' ? [] : [revocation.issuer]),
        ];
        return this.db
          .prepare(
            `UPDATE tasks SET ended_at = ?, end_reason = 'revoked' WHERE subject = ?${issuerClause} AND ended_at IS NULL`,
          )
          .run(...args).changes;
      })
      .immediate();
  }

  /** Refuses the token with this id (`jti`) and every token delegated from it. Returns whether it was new. */
  revokeToken(tokenId: string, at: number, reason?: string): boolean {
    return (
      this.db
        .prepare('INSERT OR IGNORE INTO token_revocations (token_id, revoked_at, reason) VALUES (?, ?, ?)')
        .run(tokenId, at, reason ?? null).changes === 1
    );
  }

  /** Whether this id was revoked before any gateway stored it (`revokeTask` of an unseen id). */
  isRevokedById(id: string): boolean {
    return this.db.prepare('SELECT 1 FROM task_revocations WHERE task_id = ?').get(id) !== undefined;
  }

  revokedTokenIds(): Set<string> {
    const rows = this.db.prepare('SELECT token_id FROM token_revocations').pluck().all() as string[];
    return new Set(rows);
  }

  revocations(): AgentRevocation[] {
    const rows = this.db.prepare('SELECT subject, issuer, revoked_at, reason FROM agent_revocations').all() as {
      subject: string;
      issuer: string;
      revoked_at: number;
      reason: string | null;
    }[];
    return rows.map((r) => ({
      subject: r.subject,
      issuer: r.issuer,
      revokedAt: r.revoked_at,
      ...(r.reason !== null && { reason: r.reason }),
    }));
  }

  /** Ids of revoked tasks that would otherwise still be alive (so the set stays small). */
  revokedTaskIds(now: number): Set<string> {
    const rows = this.db
      .prepare(
        "SELECT id FROM tasks WHERE end_reason = 'revoked' AND (expires_at IS NULL OR expires_at > ?) UNION SELECT task_id FROM task_revocations",
      )
      .pluck()
      .all(now) as string[];
    return new Set(rows);
  }

  /** The task rows with this id (several issuers may choose the same one), newest first; by the primary key. */
  get(id: string, limit = 20): TaskRow[] {
    return sqliteTasks.byId(this.db, id, limit);
  }

  /**
   * Tasks by the status a reviewer sees, newest first, filtered in SQL (before the limit): `active`,
   * `expired` (ended as expired, or past its expiry and not ended), an end reason, or `all`.
   */
  listByStatus(status: string, now: number, limit: number): TaskRow[] {
    const where =
      status === 'all'
        ? ''
        : status === 'active'
          ? 'WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > @now)'
          : status === 'expired'
            ? "WHERE end_reason = 'expired' OR (end_reason IS NULL AND expires_at <= @now)"
            : 'WHERE end_reason = @status';
    const rows = this.db
      .prepare(`SELECT * FROM tasks ${where} ORDER BY created_at DESC LIMIT @limit`)
      .all({ now, status, limit }) as RawTask[];
    return rows.map(taskFromRaw);
  }

  /** How many open tasks an agent revocation would end (`*`: every issuer). */
  openTaskCount(subject: string, issuer: string): number {
    const issuerClause = issuer === '*' ? '' : ' AND issuer = ?';
    const args: unknown[] = [subject, ...(issuer === '*' ? [] : [issuer])];
    return (
      this.db
        .prepare(`SELECT count(*) AS n FROM tasks WHERE subject = ?${issuerClause} AND ended_at IS NULL`)
        .get(...args) as { n: number }
    ).n;
  }

  list(options: { all: boolean; now: number; limit?: number }): TaskRow[] {
    return sqliteTasks.list(this.db, options);
  }
}
