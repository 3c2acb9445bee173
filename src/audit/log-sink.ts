import type { Logger } from '../observe/logger.js';
import type { CallContext, ListContext } from '../pipeline/context.js';
import { ok, type Outcome } from '../pipeline/denial.js';
import type { AuditSink, CallRecordOutcome, Decision } from '../pipeline/stages.js';

/**
 * Writes the record as structured log lines on stderr. This is the audit stage until the SQLite store
 * lands; it never logs argument values, only their keys.
 */
export class LogAuditSink implements AuditSink {
  constructor(private readonly logger: Logger) {}

  async intent(ctx: CallContext, decision: Decision): Promise<Outcome<void>> {
    this.logger.info(
      {
        audit: 'intent',
        reqId: ctx.requestId,
        traceId: ctx.traceId,
        session: ctx.sessionId,
        ingress: ctx.ingress,
        subject: ctx.principal.subject,
        authMethod: ctx.principal.authMethod,
        method: ctx.method,
        server: ctx.server,
        target: ctx.target,
        argumentKeys: ctx.arguments ? Object.keys(ctx.arguments) : undefined,
        decision: decision.effect,
        rule: decision.rule,
      },
      'audit intent',
    );
    return ok(undefined);
  }

  async outcome(ctx: CallContext, outcome: CallRecordOutcome): Promise<void> {
    this.logger.info(
      {
        audit: 'outcome',
        reqId: ctx.requestId,
        status: outcome.status,
        durationMs: outcome.durationMs,
        denial: outcome.denial?.kind,
        reason: outcome.denial?.reason,
      },
      'audit outcome',
    );
  }

  listed(ctx: ListContext, shown: number, hidden: number): void {
    this.logger.debug({ audit: 'list', reqId: ctx.requestId, method: ctx.method, shown, hidden }, 'audit list');
  }
}
