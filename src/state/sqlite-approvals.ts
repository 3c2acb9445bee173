import type Database from 'better-sqlite3';
import { newRecordId } from '../model/canonical.js';
import type { WardenError } from '../errors.js';
import { openStateDb, StateStore } from './db.js';
import {
  approvalFromRaw,
  approvalRefusal,
  bindingDigest,
  bindingFields,
  type ApprovalBinding,
  type ApprovalRequest,
  type ApprovalRow,
  type ApprovalStatus,
  type RawApproval,
} from './approval-rows.js';

const MAX_LIST = 1_000;

/**
 * Call approvals in `<dataDir>/state.db`, shared by every gateway on the data folder, the CLI
 * (`mcp-warden approvals …`) and the reviewer console. Every change of status is one conditional UPDATE,
 * so two gateways (or a reviewer and a gateway) can never both win: an approval is used at most once.
 * Rows past their expiry are final whatever their stored status says; `expireDue` writes that down.
 */
export class ApprovalStore extends StateStore {
  private constructor(file: string, db: Database.Database) {
    super(file, db);
  }

  static open(file: string, options: { readonly?: boolean; busyTimeoutMs?: number } = {}): ApprovalStore {
    return new ApprovalStore(file, openStateDb(file, options));
  }

  /**
   * A pending approval for this binding: the open one that already exists (repeated identical calls do not
   * pile up requests), or a new one. Out-of-band only; an elicitation always asks afresh (`create`).
   */
  request(input: ApprovalRequest): { row: ApprovalRow; created: boolean } {
    return this.requestWithin(input, Number.POSITIVE_INFINITY) as { row: ApprovalRow; created: boolean };
  }

  /** As `request`, but no new request once the agent already has `maxOpenPerAgent` waiting (`limited`). */
  requestWithin(
    input: ApprovalRequest,
    maxOpenPerAgent: number,
  ): { row: ApprovalRow; created: boolean } | { limited: { count: number; firstExpiry?: number } } {
    const digest = bindingDigest(input.binding);
    return this.db
      .transaction(() => {
        const open = this.db
          .prepare(
            "SELECT * FROM approvals WHERE binding = ? AND status = 'pending' AND channel = 'out-of-band' AND expires_at > ? ORDER BY created_at LIMIT 1",
          )
          .get(digest, input.now) as RawApproval | undefined;
        if (open) return { row: approvalFromRaw(open), created: false };
        if (Number.isFinite(maxOpenPerAgent)) {
          const waiting = this.openFor(input.binding.issuer, input.binding.subject, input.now, input.binding.tenant);
          if (waiting.count >= maxOpenPerAgent) return { limited: waiting };
        }
        return { row: this.insert(input, digest), created: true };
      })
      .immediate();
  }

  /** A new pending approval (the elicitation channel asks for each call). */
  create(input: ApprovalRequest): ApprovalRow {
    return this.insert(input, bindingDigest(input.binding));
  }

  /**
   * Uses the approved, unexpired approval for this binding, if there is one: approved → used in one
   * statement, so it runs one call, once, whichever gateway asks first.
   */
  consume(binding: ApprovalBinding, now: number): ApprovalRow | undefined {
    const raw = this.db
      .prepare(
        `UPDATE approvals SET status = 'used', used_at = @now
         WHERE id = (SELECT id FROM approvals WHERE binding = @binding AND status = 'approved' AND expires_at > @now ORDER BY created_at LIMIT 1)
           AND status = 'approved'
         RETURNING *`,
      )
      .get({ binding: bindingDigest(binding), now }) as RawApproval | undefined;
    return raw && approvalFromRaw(raw);
  }

  /** Marks one approved approval used (the elicitation channel: approved and used by the same call). */
  use(id: string, now: number): ApprovalRow {
    const raw = this.db
      .prepare(
        "UPDATE approvals SET status = 'used', used_at = ? WHERE id = ? AND status = 'approved' AND expires_at > ? RETURNING *",
      )
      .get(now, id, now) as RawApproval | undefined;
    if (!raw) throw this.refusal(id, now, 'use');
    return approvalFromRaw(raw);
  }

  /**
   * Pending and approved approvals past their expiry become `expired`: one binding's, or the `limit` that
   * expired first (so one call never carries an unbounded sweep). Returns the rows it changed, for the
   * `approval.expire` events.
   */
  expireDue(now: number, binding?: ApprovalBinding, limit = 100): ApprovalRow[] {
    const rows = (
      binding === undefined
        ? this.db
            .prepare(
              `UPDATE approvals SET status = 'expired'
               WHERE id IN (SELECT id FROM approvals WHERE status IN ('pending', 'approved') AND expires_at <= ? ORDER BY expires_at LIMIT ?)
               RETURNING *`,
            )
            .all(now, Math.max(1, Math.trunc(limit)))
        : this.db
            .prepare(
              "UPDATE approvals SET status = 'expired' WHERE binding = ? AND status IN ('pending', 'approved') AND expires_at <= ? RETURNING *",
            )
            .all(bindingDigest(binding), now)
    ) as RawApproval[];
    return rows.map(approvalFromRaw);
  }

  /** How many approvals one agent has waiting (unexpired), and when the first of them expires. */
  openFor(issuer: string, subject: string, now: number, tenant?: string): { count: number; firstExpiry?: number } {
    const row = this.db
      .prepare(
        "SELECT COUNT(*) AS count, MIN(expires_at) AS first FROM approvals WHERE issuer = ? AND subject = ? AND tenant IS ? AND status = 'pending' AND expires_at > ?",
      )
      .get(issuer, subject, tenant ?? null, now) as { count: number; first: number | null };
    return { count: row.count, ...(row.first !== null && { firstExpiry: row.first }) };
  }

  /** A person approves: only a pending approval that has not expired. Throws a WardenError saying why not. */
  approve(id: string, by: string, now: number): ApprovalRow {
    return this.decide(id, 'approved', by, now, undefined);
  }

  /** A person (or the agent host's user) denies: only a pending approval that has not expired. */
  deny(id: string, by: string, now: number, reason?: string): ApprovalRow {
    return this.decide(id, 'denied', by, now, reason);
  }

  /** Ends a pending approval as expired (an elicitation nobody answered in time). Returns it, or undefined if it was no longer pending. */
  expire(id: string, now: number, reason?: string): ApprovalRow | undefined {
    const raw = this.db
      .prepare(
        "UPDATE approvals SET status = 'expired', decided_at = ?, reason = COALESCE(?, reason) WHERE id = ? AND status IN ('pending', 'approved') RETURNING *",
      )
      .get(now, reason ?? null, id) as RawApproval | undefined;
    return raw && approvalFromRaw(raw);
  }

  get(id: string): ApprovalRow | undefined {
    const raw = this.db.prepare('SELECT * FROM approvals WHERE id = ?').get(id) as RawApproval | undefined;
    return raw && approvalFromRaw(raw);
  }

  /** Newest first. `status` filters on the stored status (see `effectiveStatus` for rows past expiry). */
  list(filter: { status?: ApprovalStatus; limit?: number; offset?: number } = {}): ApprovalRow[] {
    const limit = Math.min(Math.max(1, Math.trunc(filter.limit ?? 200)), MAX_LIST);
    const offset = Math.max(0, Math.trunc(filter.offset ?? 0));
    const rows = (
      filter.status === undefined
        ? this.db
            .prepare('SELECT * FROM approvals ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?')
            .all(limit, offset)
        : this.db
            .prepare('SELECT * FROM approvals WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?')
            .all(filter.status, limit, offset)
    ) as RawApproval[];
    return rows.map(approvalFromRaw);
  }

  /** The approvals a call asked for (its audit record id), oldest first. */
  forCall(callId: string): ApprovalRow[] {
    const rows = this.db
      .prepare('SELECT * FROM approvals WHERE call_id = ? ORDER BY created_at, id')
      .all(callId) as RawApproval[];
    return rows.map(approvalFromRaw);
  }

  private insert(input: ApprovalRequest, digest: string): ApprovalRow {
    const id = newRecordId(input.now);
    this.db
      .prepare(
        `INSERT INTO approvals (id, binding, status, channel, issuer, subject, tenant, task_id, server, tool, definition_hash, arguments_digest, summary, call_id, created_at, expires_at)
         VALUES (@id, @binding, 'pending', @channel, @issuer, @subject, @tenant, @taskId, @server, @tool, @definitionHash, @argumentsDigest, @summary, @callId, @now, @expiresAt)`,
      )
      .run({
        id,
        binding: digest,
        channel: input.channel,
        ...bindingFields(input.binding),
        summary: JSON.stringify(input.summary),
        callId: input.callId ?? null,
        now: input.now,
        expiresAt: input.now + input.ttlMs,
      });
    return this.get(id)!;
  }

  private decide(
    id: string,
    status: 'approved' | 'denied',
    by: string,
    now: number,
    reason: string | undefined,
  ): ApprovalRow {
    const raw = this.db
      .prepare(
        "UPDATE approvals SET status = ?, decided_at = ?, decided_by = ?, reason = ? WHERE id = ? AND status = 'pending' AND expires_at > ? RETURNING *",
      )
      .get(status, now, by, reason ?? null, id, now) as RawApproval | undefined;
    if (!raw) throw this.refusal(id, now, status === 'approved' ? 'approve' : 'deny');
    return approvalFromRaw(raw);
  }

  private refusal(id: string, now: number, verb: 'approve' | 'deny' | 'use'): WardenError {
    return approvalRefusal(id, this.get(id), now, verb);
  }
}
