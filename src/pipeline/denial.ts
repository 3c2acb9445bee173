import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';

/** Why the gateway refused to forward something. A value, never thrown across stages. */
export type Denial =
  | { kind: 'unauthenticated'; reason: string }
  | { kind: 'unknown_tool'; name: string; reason: string }
  | { kind: 'unknown_prompt'; name: string; reason: string }
  | { kind: 'unknown_resource'; uri: string; reason: string }
  | { kind: 'forbidden'; reason: string }
  /** Allowed to this caller only inside a task (its own policy says so): names the meta-tool and the grant to ask for. */
  | { kind: 'needs_task'; name: string; reason: string }
  | { kind: 'approval_required'; reason: string; approval?: ApprovalRef }
  | { kind: 'rate_limited'; retryAfterSeconds: number; reason: string }
  /** A visible tool or prompt whose current definition is not approved (quarantined, pending, rejected). */
  | {
      kind: 'unapproved_definition';
      definition: 'tool' | 'prompt';
      name: string;
      status: 'quarantined' | 'pending' | 'rejected' | 'unrecorded';
      cause?: 'changed' | 'flagged';
      reason: string;
    }
  | { kind: 'audit_unavailable'; reason: string }
  | { kind: 'store_unavailable'; reason: string }
  | { kind: 'secret_unavailable'; secret: string; reason: string }
  | { kind: 'invalid_params'; message: string; reason: string }
  | { kind: 'server_unavailable'; server: string; reason: string }
  | { kind: 'timeout'; server: string; timeoutMs: number; reason: string }
  | { kind: 'downstream_closed'; server: string; reason: string }
  /** The downstream answered with a JSON-RPC error: passed on with its code, text cleaned. */
  | { kind: 'downstream_error'; server: string; code: number; message: string; data?: unknown; reason: string };

/** The approval a refused call is waiting for, or the one that ended without letting it run. */
export interface ApprovalRef {
  id: string;
  expiresAt: number;
  status: 'pending' | 'denied' | 'expired';
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; denial: Denial };

export const ok = <T>(value: T): Outcome<T> => ({ ok: true, value });
export const deny = <T = never>(denial: Denial): Outcome<T> => ({ ok: false, denial });

/**
 * An error meant for the agent: the SDK sends `code`, `message` and `data` as they are. (The SDK's own
 * McpError prefixes its message with "MCP error <code>:", which agents would then see twice.)
 */
export class WireError extends Error {
  readonly code: number;
  readonly data?: unknown;

  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = 'WireError';
    this.code = code;
    if (data !== undefined) this.data = data;
  }
}

/** MCP's "resource not found" code (not in the SDK's ErrorCode enum). */
export const RESOURCE_NOT_FOUND = -32002;

/**
 * The one place a denial becomes a JSON-RPC error. The message is what the agent may know; the
 * denial's `reason` stays in the gateway's own record. A hidden tool and a missing tool read the same.
 */
export function denialToWire(denial: Denial): WireError {
  switch (denial.kind) {
    case 'unknown_tool':
      return new WireError(ErrorCode.InvalidParams, `Unknown tool: ${denial.name}`);
    case 'unknown_prompt':
      return new WireError(ErrorCode.InvalidParams, `Unknown prompt: ${denial.name}`);
    case 'unknown_resource':
      return new WireError(RESOURCE_NOT_FOUND, `Resource not found: ${denial.uri}`);
    case 'unauthenticated':
      return new WireError(ErrorCode.InvalidRequest, 'Authentication required');
    case 'forbidden':
      return new WireError(ErrorCode.InvalidRequest, 'Forbidden by gateway policy');
    case 'needs_task':
      return new WireError(
        ErrorCode.InvalidRequest,
        `${denial.name} is available only inside a task: call warden__begin_task with {"purpose": "<why>", "tools": ["${denial.name}"]} first`,
        { needsTask: true, grant: denial.name },
      );
    case 'approval_required':
      return denial.approval
        ? approvalToWire(denial.approval)
        : new WireError(ErrorCode.InvalidRequest, 'Approval required: this call needs a person to approve it');
    case 'unapproved_definition':
      return new WireError(ErrorCode.InvalidRequest, unapprovedMessage(denial), {
        status: denial.status,
        ...(denial.cause && { cause: denial.cause }),
        [denial.definition]: denial.name,
      });
    case 'rate_limited':
      return new WireError(ErrorCode.InvalidRequest, `Rate limit exceeded; retry in ${denial.retryAfterSeconds} s`, {
        retryAfterSeconds: denial.retryAfterSeconds,
      });
    case 'audit_unavailable':
      return new WireError(
        ErrorCode.InternalError,
        'Audit log unavailable: the call was refused and nothing was forwarded',
      );
    case 'store_unavailable':
      return new WireError(
        ErrorCode.InternalError,
        'Shared state store unavailable: the call was refused and nothing was forwarded; try again shortly',
      );
    case 'secret_unavailable':
      return new WireError(ErrorCode.InternalError, `Secret unavailable: ${denial.secret}; nothing was forwarded`);
    case 'invalid_params':
      return new WireError(ErrorCode.InvalidParams, denial.message);
    case 'server_unavailable':
      return new WireError(ErrorCode.InternalError, `Server ${denial.server} is unavailable; try again later`);
    case 'timeout':
      return new WireError(
        ErrorCode.RequestTimeout,
        `Server ${denial.server} did not answer within ${denial.timeoutMs} ms; the call was cancelled`,
      );
    case 'downstream_closed':
      return new WireError(
        ErrorCode.InternalError,
        `Server ${denial.server} closed the connection during the call; it was not retried`,
      );
    case 'downstream_error':
      return new WireError(denial.code, denial.message, denial.data);
    default: {
      const unreachable: never = denial;
      return unreachable;
    }
  }
}

/** What the agent is told about the approval its call waits for: the id, the deadline and what happens next. */
function approvalToWire(approval: ApprovalRef): WireError {
  const expiresAt = new Date(approval.expiresAt).toISOString();
  const data = { approvalId: approval.id, expiresAt, status: approval.status };
  switch (approval.status) {
    case 'pending':
      return new WireError(
        ErrorCode.InvalidRequest,
        `Approval required: a person must approve this exact call before it runs. Approval ${approval.id} is pending until ${expiresAt}; ` +
          `a reviewer approves it with "mcp-warden approvals approve ${approval.id}". Then repeat the identical call (same arguments) before it expires: it runs once.`,
        data,
      );
    case 'denied':
      return new WireError(
        ErrorCode.InvalidRequest,
        `Approval denied: the call was not run (approval ${approval.id}).`,
        data,
      );
    case 'expired':
      return new WireError(
        ErrorCode.InvalidRequest,
        `Approval expired: approval ${approval.id} expired at ${expiresAt} before it was used; the call was not run. Repeat the call to ask again.`,
        data,
      );
  }
}

/** Says why a tool or prompt is unavailable and what a reviewer runs; the name is a validated downstream name. */
function unapprovedMessage(denial: Extract<Denial, { kind: 'unapproved_definition' }>): string {
  const what = `${denial.definition === 'tool' ? 'Tool' : 'Prompt'} ${denial.name}`;
  const review = `a reviewer runs "mcp-warden tools diff ${denial.name}", then "mcp-warden tools approve ${denial.name}"`;
  switch (denial.status) {
    case 'quarantined':
      return denial.cause === 'flagged'
        ? `${what} is quarantined: its definition was flagged when first seen (text in its description or schema addressed to the model) and has never been approved. It is unavailable until ${review}`
        : `${what} is quarantined: its definition changed since it was approved. It is unavailable until ${review}`;
    case 'pending':
      return `${what} is waiting for approval of its definition. It is unavailable until ${review}`;
    case 'rejected':
      return `${what} is unavailable: a reviewer rejected its current definition`;
    case 'unrecorded':
      return `${what} is unavailable: its definition could not be checked against its pin; try again later`;
  }
}
