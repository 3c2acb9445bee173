import type Database from 'better-sqlite3';
import { openStateDb } from './db.js';
import {
  takeFromBuckets,
  type AgentRevocationRow,
  type BucketRow,
  type RateKey,
  type RateTake,
  type RevocationSnapshot,
  type EndReason,
  type SharedState,
  type SigningKeyRow,
  type TaskKey,
  type TaskRow,
} from './shared.js';
import { sqliteTasks } from './task-rows.js';
import type { ApprovalBinding, ApprovalRequest, ApprovalRow, ApprovalStatus } from './approval-rows.js';
import { ApprovalStore } from './sqlite-approvals.js';
import type { Observation, PinEvent, PinFilter, PinKey, PinRow, PinState, ServerPinning } from './pin-rows.js';
import { PinStore } from './sqlite-pins.js';

/** Buckets full again for this long are deleted on a take, a few at a time. */
const SWEEP_LIMIT = 64;

/** SharedState on state.db: every process on the data folder shares it (one machine). */
export class SqliteSharedState implements SharedState {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly approvals: ApprovalStore;
  private readonly pins: PinStore;

  constructor(file: string) {
    this.db = openStateDb(file);
    this.approvals = ApprovalStore.open(file);
    this.pins = PinStore.open(file);
  }

  async revokeAgent(revocation: AgentRevocationRow): Promise<void> {
    this.db
      .transaction(() => {
        this.db
          .prepare('INSERT OR REPLACE INTO agent_revocations (subject, issuer, revoked_at, reason) VALUES (?, ?, ?, ?)')
          .run(revocation.subject, revocation.issuer, revocation.revokedAt, revocation.reason ?? null);
        const issuerClause = revocation.issuer === '*' ? '' : ' AND issuer = ?';
        this.db
          .prepare(
            `UPDATE tasks SET ended_at = ?, end_reason = 'revoked' WHERE subject = ?${issuerClause} AND ended_at IS NULL`,
          )
          .run(revocation.revokedAt, revocation.subject, ...(revocation.issuer === '*' ? [] : [revocation.issuer]));
      })
      .immediate();
  }

  async revokeToken(tokenId: string, at: number, reason?: string): Promise<boolean> {
    return (
      this.db
        .prepare('INSERT OR IGNORE INTO token_revocations (token_id, revoked_at, reason) VALUES (?, ?, ?)')
        .run(tokenId, at, reason ?? null).changes === 1
    );
  }

  async revokeTaskId(taskId: string, at: number): Promise<boolean> {
    return this.db
      .transaction(() => {
        const ended = this.db
          .prepare("UPDATE tasks SET ended_at = ?, end_reason = 'revoked' WHERE id = ? AND ended_at IS NULL")
          .run(at, taskId).changes;
        const recorded = this.db
          .prepare('INSERT OR IGNORE INTO task_revocations (task_id, revoked_at) VALUES (?, ?)')
          .run(taskId, at).changes;
        return ended > 0 || recorded > 0;
      })
      .immediate();
  }

  async insertTask(task: TaskRow): Promise<boolean> {
    return sqliteTasks.insert(this.db, task);
  }

  async endTask(key: TaskKey, at: number, reason: EndReason): Promise<boolean> {
    return sqliteTasks.end(this.db, key, at, reason);
  }

  async tasksById(id: string, limit?: number): Promise<TaskRow[]> {
    return sqliteTasks.byId(this.db, id, limit);
  }

  async listTasks(options: { all: boolean; now: number; limit?: number }): Promise<TaskRow[]> {
    return sqliteTasks.list(this.db, options);
  }

  async revocations(now: number): Promise<RevocationSnapshot> {
    const agents = this.db.prepare('SELECT subject, issuer, revoked_at, reason FROM agent_revocations').all() as {
      subject: string;
      issuer: string;
      revoked_at: number;
      reason: string | null;
    }[];
    const tokenIds = this.db.prepare('SELECT token_id FROM token_revocations').pluck().all() as string[];
    const taskIds = this.db
      .prepare(
        "SELECT id FROM tasks WHERE end_reason = 'revoked' AND (expires_at IS NULL OR expires_at > ?) UNION SELECT task_id FROM task_revocations",
      )
      .pluck()
      .all(now) as string[];
    return {
      agents: agents.map((r) => ({
        subject: r.subject,
        issuer: r.issuer,
        revokedAt: r.revoked_at,
        ...(r.reason !== null && { reason: r.reason }),
      })),
      tokenIds: new Set(tokenIds),
      taskIds: new Set(taskIds),
    };
  }

  async takeRate(keys: readonly RateKey[], now: number): Promise<RateTake> {
    const select = this.db.prepare('SELECT tokens, updated_at FROM rate_buckets WHERE key = ?');
    const upsert = this.db.prepare(
      `INSERT INTO rate_buckets (key, tokens, updated_at, full_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at, full_at = excluded.full_at`,
    );
    return this.db
      .transaction(() => {
        const found = new Map<string, BucketRow>();
        for (const { key } of keys) {
          const row = select.get(key) as { tokens: number; updated_at: number } | undefined;
          if (row) found.set(key, { tokens: row.tokens, updatedAt: row.updated_at });
        }
        const { answer, rows } = takeFromBuckets(keys, found, now);
        for (const row of rows) upsert.run(row.key, row.tokens, row.updatedAt, row.fullAt);
        this.db
          .prepare('DELETE FROM rate_buckets WHERE key IN (SELECT key FROM rate_buckets WHERE full_at <= ? LIMIT ?)')
          .run(now, SWEEP_LIMIT);
        return answer;
      })
      .immediate();
  }

  async requestApproval(
    input: ApprovalRequest,
    maxOpenPerAgent: number,
  ): Promise<{ row: ApprovalRow; created: boolean } | { limited: { count: number; firstExpiry?: number } }> {
    return this.approvals.requestWithin(input, maxOpenPerAgent);
  }

  async createApproval(input: ApprovalRequest): Promise<ApprovalRow> {
    return this.approvals.create(input);
  }

  async consumeApproval(binding: ApprovalBinding, now: number): Promise<ApprovalRow | undefined> {
    return this.approvals.consume(binding, now);
  }

  async useApproval(id: string, now: number): Promise<ApprovalRow> {
    return this.approvals.use(id, now);
  }

  async expireDueApprovals(now: number, binding?: ApprovalBinding, limit?: number): Promise<ApprovalRow[]> {
    return this.approvals.expireDue(now, binding, limit);
  }

  async openApprovalsFor(
    issuer: string,
    subject: string,
    now: number,
    tenant?: string,
  ): Promise<{ count: number; firstExpiry?: number }> {
    return this.approvals.openFor(issuer, subject, now, tenant);
  }

  async approveApproval(id: string, by: string, now: number): Promise<ApprovalRow> {
    return this.approvals.approve(id, by, now);
  }

  async denyApproval(id: string, by: string, now: number, reason?: string): Promise<ApprovalRow> {
    return this.approvals.deny(id, by, now, reason);
  }

  async expireApproval(id: string, now: number, reason?: string): Promise<ApprovalRow | undefined> {
    return this.approvals.expire(id, now, reason);
  }

  async getApproval(id: string): Promise<ApprovalRow | undefined> {
    return this.approvals.get(id);
  }

  async listApprovals(filter?: { status?: ApprovalStatus; limit?: number; offset?: number }): Promise<ApprovalRow[]> {
    return this.approvals.list(filter);
  }

  async publishSigningKeys(keys: readonly SigningKeyRow[]): Promise<void> {
    const upsert = this.db.prepare(
      `INSERT INTO signing_keys (kid, public_jwk, created_at, retired_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (kid) DO UPDATE SET retired_at = COALESCE(signing_keys.retired_at, excluded.retired_at)`,
    );
    this.db.transaction(() => {
      for (const key of keys) upsert.run(key.kid, JSON.stringify(key.publicJwk), key.createdAt, key.retiredAt ?? null);
    })();
  }

  async signingKeys(): Promise<SigningKeyRow[]> {
    const rows = this.db
      .prepare('SELECT kid, public_jwk, created_at, retired_at FROM signing_keys ORDER BY created_at, kid')
      .all() as { kid: string; public_jwk: string; created_at: number; retired_at: number | null }[];
    return rows.map((r) => ({
      kid: r.kid,
      publicJwk: JSON.parse(r.public_jwk) as Record<string, unknown>,
      createdAt: r.created_at,
      ...(r.retired_at !== null && { retiredAt: r.retired_at }),
    }));
  }

  async listPins(filter?: PinFilter): Promise<PinRow[]> {
    return this.pins.list(filter);
  }

  async findPins(ref: string): Promise<PinRow[]> {
    return this.pins.find(ref);
  }

  async pinStatuses(): Promise<PinState[]> {
    return this.pins.statuses();
  }

  async getPin(key: PinKey): Promise<PinRow | undefined> {
    return this.pins.get(key);
  }

  async observePins(
    observations: readonly Observation[],
    pinningOf: (server: string) => ServerPinning,
    now: number,
  ): Promise<PinEvent[]> {
    return this.pins.observe(observations, pinningOf, now);
  }

  async approvePin(key: PinKey, by: string, now: number, expectedHash?: string): Promise<PinRow> {
    return this.pins.approve(key, by, now, expectedHash);
  }

  async rejectPin(key: PinKey, by: string, now: number, expectedHash?: string): Promise<PinRow> {
    return this.pins.reject(key, by, now, expectedHash);
  }

  /** One IMMEDIATE transaction: a few expired ids forgotten, then this one inserted unless already there. */
  async spendOnce(id: string, expiresAt: number, now: number): Promise<boolean> {
    return this.db
      .transaction(() => {
        this.db
          .prepare(
            'DELETE FROM spent_states WHERE rowid IN (SELECT rowid FROM spent_states WHERE expires_at <= ? LIMIT ?)',
          )
          .run(now, SWEEP_LIMIT);
        return (
          this.db.prepare('INSERT OR IGNORE INTO spent_states (id, expires_at) VALUES (?, ?)').run(id, expiresAt)
            .changes === 1
        );
      })
      .immediate();
  }

  async close(): Promise<void> {
    this.pins.close();
    this.approvals.close();
    if (this.db.open) this.db.close();
  }
}
