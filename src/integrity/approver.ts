import { digestOf } from '../model/canonical.js';
import { capValue, scrubValue } from '../model/stored-value.js';
import { isWardenError } from '../errors.js';
import type { Logger } from 'pino';
import type { CallContext } from '../pipeline/context.js';
import { deny, ok, type ApprovalRef, type Denial, type Outcome } from '../pipeline/denial.js';
import { cleanLabel, cleanText } from '../model/sanitize.js';
import type { Approver, AuditEvent, AuditSink } from '../pipeline/stages.js';
import type { SharedApprovals } from '../state/shared.js';
import { ApprovalStore, approvalEvent, bindingDigest, sqliteApprovals, type ApprovalRequest } from './approvals.js';
import type { ApprovalBinding, ApprovalRow } from './types.js';

export interface StoreApproverOptions {
  /** `<dataDir>/state.db`: opened on the first call that needs an approval, then kept. */
  stateFile: string;
  /**
   * The shared store's approvals (store.kind postgres), used instead of `stateFile`: an approval requested
   * or granted through any replica is spent once, by whichever replica's identical call comes first.
   */
  shared?: SharedApprovals;
  audit: Pick<AuditSink, 'event' | 'recordId'>;
  ttlMs: number;
  /** Ask through the agent host (elicitation) when it can; `false`: out-of-band only. */
  inBand?: boolean;
  logger: Logger;
  /** The egress stage's text scrubber: the stored summary and the question hold no secret value. */
  redact: (text: string) => string;
  now?: () => number;
}

/** Arguments in a summary are capped to this many bytes of JSON (the digest covers them whole). */
const SUMMARY_ARGUMENT_BYTES = 4_096;
/** The pretty-printed arguments shown in an elicitation, at most. */
const MESSAGE_ARGUMENT_CHARS = 2_000;
/** Bound to calls that have no definition (resources): never equal to a real `sha256:` hash. */
const NO_DEFINITION = 'none';
/** Approvals one agent may have waiting at once; past it, calls needing a new one are refused as rate-limited. */
const MAX_OPEN_PER_AGENT = 50;
/** Approvals of other calls expired (and recorded) per call at most. */
const SWEEP_LIMIT = 100;
/** JSON-RPC "request timed out" (the SDK's error when the agent host does not answer in time). */
const REQUEST_TIMEOUT = -32001;

/**
 * The approval stage on `state.db`. For a call allowed only with approval it, in order: expires what is
 * due; uses an approved, unexpired approval bound to exactly this call (single use); otherwise asks the
 * agent host's user when the agent declared form elicitation; otherwise opens (or reuses) an out-of-band
 * request and refuses with its id. Every change is an audit event naming the call's record id.
 */
export class StoreApprover implements Approver {
  private readonly now: () => number;
  private store: SharedApprovals | undefined;
  private sqlite: ApprovalStore | undefined;

  constructor(private readonly options: StoreApproverOptions) {
    this.now = options.now ?? Date.now;
  }

  async approve(ctx: CallContext, now: number): Promise<Outcome<{ approvalId: string }>> {
    const store = this.open();
    if (!store.ok) return store;
    try {
      return await this.decide(ctx, store.value, now);
    } catch (error) {
      // The shared store unreachable mid-decision: refused, as when it cannot be opened (fail closed).
      if (!isWardenError(error, 'ERR_STATE_UNAVAILABLE')) throw error;
      this.options.logger.error({ err: error.message }, 'approvals unavailable: the store cannot be reached');
      return deny({ kind: 'approval_required', reason: `approvals unavailable: ${error.message}` });
    }
  }

  close(): void {
    this.sqlite?.close();
    this.sqlite = undefined;
    this.store = undefined;
  }

  private async decide(
    ctx: CallContext,
    approvals: SharedApprovals,
    now: number,
  ): Promise<Outcome<{ approvalId: string }>> {
    const callId = this.options.audit.recordId?.(ctx);
    const binding = bindingOf(ctx);

    const mine = await approvals.expireDueApprovals(now, binding);
    const expired = [...mine, ...(await approvals.expireDueApprovals(now, undefined, SWEEP_LIMIT))];
    await this.record(
      expired.map((row) =>
        approvalEvent('approval.expire', row, sameBinding(row, binding) && callId !== undefined ? { callId } : {}),
      ),
    );
    if (mine.length > 0) {
      const last = mine[mine.length - 1]!;
      return refuse(last, 'expired', `approval ${last.id} expired before this call could use it`);
    }

    const used = await approvals.consumeApproval(binding, now);
    if (used) {
      const written = await this.options.audit.event(
        approvalEvent('approval.use', used, callId === undefined ? {} : { callId }),
      );
      if (!written.ok) return written as Outcome<never>;
      return ok({ approvalId: used.id });
    }

    const request = {
      binding,
      summary: summaryOf(ctx, this.options.redact),
      now,
      ttlMs: this.options.ttlMs,
      ...(callId !== undefined && { callId }),
    };
    if (ctx.askUser && this.options.inBand !== false) {
      const waiting = await approvals.openApprovalsFor(binding.issuer, binding.subject, now, binding.tenant);
      if (waiting.count >= MAX_OPEN_PER_AGENT) return this.tooMany(waiting, now);
      return this.askInBand(ctx, approvals, { ...request, channel: 'elicitation' });
    }

    const requested = await approvals.requestApproval({ ...request, channel: 'out-of-band' }, MAX_OPEN_PER_AGENT);
    if ('limited' in requested) return this.tooMany(requested.limited, now);
    const { row, created } = requested;
    if (created) await this.record([approvalEvent('approval.request', row)]);
    return refuse(row, 'pending', `waiting for a reviewer: approval ${row.id}${created ? '' : ' (already requested)'}`);
  }

  /** Unbounded consumption: one agent cannot fill the reviewers' queue (and state.db) with requests. */
  private tooMany(waiting: { count: number; firstExpiry?: number }, now: number): Outcome<never> {
    const retryAfterSeconds = Math.max(1, Math.ceil(((waiting.firstExpiry ?? now + this.options.ttlMs) - now) / 1000));
    return deny({
      kind: 'rate_limited',
      retryAfterSeconds,
      reason: `${waiting.count} approvals of this agent are already waiting (at most ${MAX_OPEN_PER_AGENT})`,
    });
  }

  /** Asks the person at the agent host on the call's own request; accept runs it once, anything else refuses it. */
  private async askInBand(
    ctx: CallContext,
    approvals: SharedApprovals,
    request: ApprovalRequest,
  ): Promise<Outcome<{ approvalId: string }>> {
    const row = await approvals.createApproval(request);
    const requested = await this.options.audit.event(approvalEvent('approval.request', row));
    if (!requested.ok) {
      await approvals
        .denyApproval(row.id, 'mcp-warden', this.now(), 'the request could not be recorded in the audit log')
        .catch(() => undefined);
      return requested as Outcome<never>;
    }
    let answer: 'accept' | 'decline' | 'cancel' | 'timeout' | 'failed';
    let failure = '';
    try {
      answer = await ctx.askUser!({ message: questionOf(row), timeoutMs: Math.max(1, row.expiresAt - this.now()) });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      answer = code === REQUEST_TIMEOUT ? 'timeout' : 'failed';
      failure = ctx.signal?.aborted
        ? 'the agent cancelled the call'
        : cleanText(error instanceof Error ? error.message : String(error)).slice(0, 300);
    }
    const at = this.now();
    const by = `user at the agent host of ${ctx.principal.subject}`;
    try {
      if (answer === 'accept') {
        const granted = await approvals.approveApproval(row.id, by, at);
        const used = await approvals.useApproval(row.id, at);
        const written = await this.options.audit.event(
          approvalEvent('approval.grant', granted, { by, via: 'elicitation' }),
        );
        if (!written.ok) return written as Outcome<never>;
        const usedEvent = await this.options.audit.event(approvalEvent('approval.use', used));
        if (!usedEvent.ok) return usedEvent as Outcome<never>;
        return ok({ approvalId: used.id });
      }
      if (answer === 'timeout') {
        const ended =
          (await approvals.expireApproval(row.id, at, 'the agent host did not answer before the approval expired')) ??
          row;
        await this.record([approvalEvent('approval.expire', ended)]);
        return refuse(ended, 'expired', 'no answer from the agent host before expiry');
      }
      const reason =
        answer === 'failed'
          ? `the agent host could not ask: ${failure}`
          : answer === 'decline'
            ? 'declined by the user'
            : 'cancelled by the user';
      const denied = await approvals.denyApproval(row.id, answer === 'failed' ? 'mcp-warden' : by, at, reason);
      await this.record([approvalEvent('approval.deny', denied, { by: denied.decidedBy ?? by, via: 'elicitation' })]);
      return refuse(denied, 'denied', reason);
    } catch (error) {
      // The approval expired (or was decided elsewhere) while the user was answering.
      if (!isWardenError(error)) throw error;
      const ended = (await approvals.expireApproval(row.id, at)) ?? (await approvals.getApproval(row.id)) ?? row;
      if (ended.status === 'expired') await this.record([approvalEvent('approval.expire', ended)]);
      return refuse(ended, ended.status === 'denied' ? 'denied' : 'expired', error.message);
    }
  }

  /** Opened on the first call that needs an approval (a gateway without such grants never touches it); retried after a failure. */
  private open(): Outcome<SharedApprovals> {
    if (this.options.shared) return ok(this.options.shared);
    if (this.store) return ok(this.store);
    try {
      this.sqlite = ApprovalStore.open(this.options.stateFile);
      this.store = sqliteApprovals(this.sqlite);
      return ok(this.store);
    } catch (error) {
      this.options.logger.error(
        { err: error instanceof Error ? error.message : String(error) },
        'approvals unavailable: state database cannot be opened',
      );
      return deny({
        kind: 'approval_required',
        reason: `approvals unavailable: ${error instanceof Error ? error.message : 'state database error'}`,
      });
    }
  }

  /** Writes events; a failure is logged (the call is refused or already decided either way). */
  private async record(events: readonly AuditEvent[]): Promise<void> {
    for (const event of events) {
      const written = await this.options.audit.event(event);
      if (!written.ok)
        this.options.logger.error(
          { type: event.type, reason: written.denial.reason },
          'approval event could not be written to the audit log',
        );
    }
  }
}

/** Who, in which task, which tool at which definition, with exactly which arguments (as the agent sent them). */
export function bindingOf(ctx: CallContext): ApprovalBinding {
  return {
    issuer: ctx.principal.issuer,
    subject: ctx.principal.subject,
    ...(ctx.principal.tenant !== undefined && { tenant: ctx.principal.tenant }),
    ...(ctx.principal.task && { taskId: ctx.principal.task.id }),
    server: ctx.server,
    tool: ctx.target,
    definitionHash: ctx.definitionHash ?? ctx.toolHash ?? NO_DEFINITION,
    argumentsDigest: digestOf(ctx.arguments ?? {}).digest,
  };
}

/** Whether a stored approval is for this binding: the one digest decides, as for the store's lookups. */
function sameBinding(row: ApprovalRow, binding: ApprovalBinding): boolean {
  return row.binding === bindingDigest(binding);
}

/** What a person deciding sees: names cleaned, credentials blanked, secret values redacted, arguments capped. */
export function summaryOf(ctx: CallContext, redact: (text: string) => string): ApprovalRow['summary'] {
  const task = ctx.principal.task;
  return {
    tool: cleanLabel(ctx.target),
    server: ctx.server,
    arguments: capValue(scrubValue(ctx.arguments ?? {}, redact), SUMMARY_ARGUMENT_BYTES),
    ...(task && {
      task: {
        id: cleanLabel(task.id),
        ...(task.purpose !== undefined && { purpose: redact(cleanText(task.purpose)).slice(0, 500) }),
      },
    }),
  };
}

/** The question put to the user: plain text, one screen, nothing invisible. */
function questionOf(row: ApprovalRow): string {
  const s = row.summary;
  let args = JSON.stringify(s.arguments, null, 2) ?? '{}';
  if (args.length > MESSAGE_ARGUMENT_CHARS)
    args = `${args.slice(0, MESSAGE_ARGUMENT_CHARS)}\n… (${args.length - MESSAGE_ARGUMENT_CHARS} more characters not shown)`;
  const lines = [
    `mcp-warden: approve this call?`,
    ``,
    `Tool: ${s.tool} (server ${s.server})`,
    `Agent: ${cleanLabel(row.subject)}`,
    ...(s.task ? [`Task: ${s.task.id}${s.task.purpose ? ` (${s.task.purpose})` : ''}`] : []),
    `Arguments:`,
    args,
    ``,
    `Accept runs this call once, exactly as shown. Decline or cancel refuses it. Unanswered, it expires at ${new Date(row.expiresAt).toISOString()}.`,
  ];
  return cleanText(lines.join('\n'));
}

function refuse(row: ApprovalRow, status: ApprovalRef['status'], reason: string): Outcome<never> {
  const denial: Denial = {
    kind: 'approval_required',
    reason,
    approval: { id: row.id, expiresAt: row.expiresAt, status },
  };
  return deny(denial);
}
