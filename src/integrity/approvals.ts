// The approval stage's side of the approvals table: its audit events, and state.db's store behind the
// shared interface. The table's rows and statements live in src/state/ (approval-rows.ts, sqlite-approvals.ts,
// pg/approvals.ts).
import type { AuditEvent } from '../pipeline/stages.js';
import type { SharedApprovals } from '../state/shared.js';
import type { ApprovalStore } from '../state/sqlite-approvals.js';
import type { ApprovalRow } from './types.js';

export { ApprovalStore } from '../state/sqlite-approvals.js';
export { bindingDigest, bindingFields, effectiveStatus, type ApprovalRequest } from '../state/approval-rows.js';

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

/** The approvals on `state.db` behind the shared interface (each runs at once, synchronously). */
export function sqliteApprovals(store: ApprovalStore): SharedApprovals {
  return {
    requestApproval: async (input, max) => store.requestWithin(input, max),
    createApproval: async (input) => store.create(input),
    consumeApproval: async (binding, now) => store.consume(binding, now),
    useApproval: async (id, now) => store.use(id, now),
    expireDueApprovals: async (now, binding, limit) => store.expireDue(now, binding, limit),
    openApprovalsFor: async (issuer, subject, now, tenant) => store.openFor(issuer, subject, now, tenant),
    approveApproval: async (id, by, now) => store.approve(id, by, now),
    denyApproval: async (id, by, now, reason) => store.deny(id, by, now, reason),
    expireApproval: async (id, now, reason) => store.expire(id, now, reason),
    getApproval: async (id) => store.get(id),
    listApprovals: async (filter) => store.list(filter),
  };
}
