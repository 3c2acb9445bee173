// The approvals table's rows (state.db and the PostgreSQL store): their shapes, the one binding digest,
// the mapping of a stored row, and why one cannot be decided or used. src/integrity/ builds on these.
import { canonicalJson, sha256Hex } from '../model/canonical.js';
import { WardenError } from '../errors.js';

/**
 * - `pending`: waiting for a person (out-of-band) or for the agent host's user (elicitation);
 * - `approved`: a person approved; the identical call may run once before `expiresAt`;
 * - `denied`, `expired`: final;
 * - `used`: the approved call ran (single use).
 */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'used' | 'expired';
export type ApprovalChannel = 'elicitation' | 'out-of-band';

/** What an approval is bound to: any difference (another argument value, a changed definition) needs a new one. */
export interface ApprovalBinding {
  issuer: string;
  subject: string;
  /** The principal's tenant, when its token names one. */
  tenant?: string;
  taskId?: string;
  server: string;
  /** The tool as agents see it. */
  tool: string;
  definitionHash: string;
  /** SHA-256 of the canonical JSON of the exact arguments the agent sent. */
  argumentsDigest: string;
}

export interface ApprovalRow extends ApprovalBinding {
  id: string;
  /** SHA-256 over the canonical binding: the lookup key for "the identical call". */
  binding: string;
  status: ApprovalStatus;
  channel: ApprovalChannel;
  /** A sanitised, size-capped summary of the call for the person deciding (arguments included, secrets never). */
  summary: {
    tool: string;
    server: string;
    description?: string;
    arguments: unknown;
    task?: { id: string; purpose?: string };
  };
  /** The audit record id of the call that asked. */
  callId?: string;
  createdAt: number;
  expiresAt: number;
  decidedAt?: number;
  decidedBy?: string;
  reason?: string;
  usedAt?: number;
}

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

/** An `approvals` row as either store returns it (PostgreSQL's bigint arrives as a string). */
export interface RawApproval {
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
  created_at: number | string;
  expires_at: number | string;
  decided_at: number | string | null;
  decided_by: string | null;
  reason: string | null;
  used_at: number | string | null;
}

/** The status as of `now`: a pending or approved approval past its expiry is expired, whether or not that was written yet. */
export function effectiveStatus(row: ApprovalRow, now: number): ApprovalStatus {
  return (row.status === 'pending' || row.status === 'approved') && row.expiresAt <= now ? 'expired' : row.status;
}

/** Why an approval cannot be decided or used, as a WardenError a reviewer can act on (`row`: as found now). */
export function approvalRefusal(
  id: string,
  row: ApprovalRow | undefined,
  now: number,
  verb: 'approve' | 'deny' | 'use',
): WardenError {
  if (!row)
    return new WardenError('ERR_APPROVAL_NOT_FOUND', `no approval with id ${id} (see mcp-warden approvals list --all)`);
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

export function approvalFromRaw(raw: RawApproval): ApprovalRow {
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
    createdAt: Number(raw.created_at),
    expiresAt: Number(raw.expires_at),
    ...(raw.decided_at !== null && { decidedAt: Number(raw.decided_at) }),
    ...(raw.decided_by !== null && { decidedBy: raw.decided_by }),
    ...(raw.reason !== null && { reason: raw.reason }),
    ...(raw.used_at !== null && { usedAt: Number(raw.used_at) }),
  };
}
