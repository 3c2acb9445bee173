// Over 300 lines: the approvals table, its queries and the mapping of its rows, kept beside the one binding digest.
import type Database from 'better-sqlite3';
import { canonicalJson, newRecordId, sha256Hex } from '../model/canonical.js';
import { WardenError } from '../errors.js';
import type { AuditEvent } from '../pipeline/stages.js';
import { openStateDb, StateStore } from '../state/db.js';
import type { ApprovalBinding, ApprovalChannel, ApprovalRow, ApprovalStatus } from './types.js';

/**
 * The binding's fields in their one fixed form (absent ones as null), by the names the approvals table's
 * insert takes: what the digest covers and what a row stores are the same eight fields.
 */
export function bindingFields(binding: ApprovalBinding): Record<keyof ApprovalBinding, string | null> {
  return {
    issuer: binding.issuer,
    subject: binding.subject,
    tenant: binding.tenant ?? null,
    taskId: binding.taskId ?? null,
    server: binding.server,
    tool: binding.tool,
    definitionHash: binding.definitionHash,
    argumentsDigest: binding.argumentsDigest,
  };
}

/** The lookup key of "the identical call": SHA-256 over the canonical binding (every field, in one fixed form). */
export function bindingDigest(binding: ApprovalBinding): string {
  return `sha256:${sha256Hex(canonicalJson(bindingFields(binding)))}`;
}

export interface ApprovalRequest {
  binding: ApprovalBinding;
  channel: ApprovalChannel;
  summary: ApprovalRow['summary'];
  /** The audit record id of the call that asks. */
  callId?: string;
  now: number;
  ttlMs: number;
}

interface RawApproval {
  id: string;
  binding: string;
  status: ApprovalStatus;
  channel: ApprovalChannel;
  issuer: string;
  subject: string;
  tenant: string | null;
  task_id: string | null;
  server: string;
  tool: string;
  definition_hash: string;
  arguments_digest: string;
  summary: string;
  call_id: string | null;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
  decided_by: string | null;
  reason: string | null;
  used_at: number | null;
}

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
        if (open) return { row: fromRaw(open), created: false };
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
    return raw && fromRaw(raw);
  }

  /** Marks one approved approval used (the elicitation channel: approved and used by the same call). */
  use(id: string, now: number): ApprovalRow {
    const raw = this.db
      .prepare(
        "UPDATE approvals SET status = 'used', used_at = ? WHERE id = ? AND status = 'approved' AND expires_at > ? RETURNING *",
      )
      .get(now, id, now) as RawApproval | undefined;
    if (!raw) throw this.refusal(id, now, 'use');
    return fromRaw(raw);
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
    return rows.map(fromRaw);
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
    return raw && fromRaw(raw);
  }

  get(id: string): ApprovalRow | undefined {
    const raw = this.db.prepare('SELECT * FROM approvals WHERE id = ?').get(id) as RawApproval | undefined;
    return raw && fromRaw(raw);
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
    return rows.map(fromRaw);
  }

  /** The approvals a call asked for (its audit record id), oldest first. */
  forCall(callId: string): ApprovalRow[] {
    const rows = this.db
      .prepare('SELECT * FROM approvals WHERE call_id = ? ORDER BY created_at, id')
      .all(callId) as RawApproval[];
    return rows.map(fromRaw);
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
    return fromRaw(raw);
  }

  /** Why an approval cannot be decided or used, as a WardenError a reviewer can act on. */
  private refusal(id: string, now: number, verb: 'approve' | 'deny' | 'use'): WardenError {
    const row = this.get(id);
    if (!row)
      return new WardenError(
        'ERR_APPROVAL_NOT_FOUND',
        `no approval with id ${id} (see mcp-warden approvals list --all)`,
      );
    const status = effectiveStatus(row, now);
    const when = (at: number | undefined) => (at === undefined ? '' : ` at ${new Date(at).toISOString()}`);
    const detail =
      status === 'expired'
        ? `it expired${when(row.expiresAt)}; the agent's next identical call asks for a new one`
        : status === 'used'
          ? `it was already used${when(row.usedAt)} (an approval runs one call, once)`
          : status === 'denied'
            ? `it was denied${row.decidedBy ? ` by ${row.decidedBy}` : ''}${when(row.decidedAt)}`
            : status === 'approved'
              ? `it was already approved${row.decidedBy ? ` by ${row.decidedBy}` : ''}${when(row.decidedAt)}`
              : 'it is still pending';
    return new WardenError('ERR_APPROVAL_CLOSED', `cannot ${verb} approval ${id}: ${detail}`);
  }
}

/** The status as of `now`: a pending or approved approval past its expiry is expired, whether or not that was written yet. */
export function effectiveStatus(row: ApprovalRow, now: number): ApprovalStatus {
  return (row.status === 'pending' || row.status === 'approved') && row.expiresAt <= now ? 'expired' : row.status;
}

/**
 * The audit event for a change of an approval (request, grant, deny, expire, use). `callId` is the audit
 * record id of the call the event belongs to (the asking call for request/grant/deny, the running call
 * for use); the row's own `callId` is always included as `requestCallId`.
 */
export function approvalEvent(
  type: 'approval.request' | 'approval.grant' | 'approval.deny' | 'approval.expire' | 'approval.use',
  row: ApprovalRow,
  extra: { callId?: string; by?: string; via?: string } = {},
): AuditEvent {
  return {
    type,
    subject: row.subject,
    ...(row.taskId !== undefined && { taskId: row.taskId }),
    server: row.server,
    target: row.tool,
    data: {
      approvalId: row.id,
      callId: extra.callId ?? row.callId,
      requestCallId: row.callId,
      channel: row.channel,
      tool: row.tool,
      issuer: row.issuer,
      ...(row.tenant !== undefined && { tenant: row.tenant }),
      argumentsDigest: row.argumentsDigest,
      definitionHash: row.definitionHash,
      status: row.status,
      expiresAt: row.expiresAt,
      ...(row.reason !== undefined && { reason: row.reason }),
      ...(extra.by !== undefined && { by: extra.by }),
      ...(extra.via !== undefined && { via: extra.via }),
    },
  };
}

function fromRaw(raw: RawApproval): ApprovalRow {
  return {
    id: raw.id,
    binding: raw.binding,
    status: raw.status,
    channel: raw.channel,
    issuer: raw.issuer,
    subject: raw.subject,
    ...(raw.tenant !== null && raw.tenant !== undefined && { tenant: raw.tenant }),
    ...(raw.task_id !== null && { taskId: raw.task_id }),
    server: raw.server,
    tool: raw.tool,
    definitionHash: raw.definition_hash,
    argumentsDigest: raw.arguments_digest,
    summary: JSON.parse(raw.summary) as ApprovalRow['summary'],
    ...(raw.call_id !== null && { callId: raw.call_id }),
    createdAt: raw.created_at,
    expiresAt: raw.expires_at,
    ...(raw.decided_at !== null && { decidedAt: raw.decided_at }),
    ...(raw.decided_by !== null && { decidedBy: raw.decided_by }),
    ...(raw.reason !== null && { reason: raw.reason }),
    ...(raw.used_at !== null && { usedAt: raw.used_at }),
  };
}
