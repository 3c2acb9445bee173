import { canonicalJson } from '../model/canonical.js';
import { principalKey, type Principal } from '../model/principal.js';
import type { AuthorizeRequest, Authorizer, Decision } from '../pipeline/stages.js';
import type { CompiledPolicy } from './compile.js';
import { activeTask, evaluate } from './evaluate.js';
import { RateLimiter } from './rate-limit.js';

/** Where the authorizer reads the policy in force; a reload swaps it in one assignment. */
export interface CurrentPolicy {
  readonly current: CompiledPolicy;
}

/** Methods that act (approval applies to them); completions and subscriptions only look. */
const EXECUTES = new Set<AuthorizeRequest['method']>(['tools/call', 'prompts/get', 'resources/read']);

/**
 * The authorize stage under a policy: the pure evaluation, then what a visible, allowed call can still
 * be refused for (approval required, rate limit). Calls only consume rate-limit tokens once allowed;
 * lists never do. No I/O: the rate limiter is memory, the clock is passed in.
 */
export class PolicyAuthorizer implements Authorizer {
  readonly limiter = new RateLimiter();

  constructor(private readonly policy: CurrentPolicy) {}

  /**
   * The policy's version (a digest of its content) and the whole principal, its task as `evaluate` sees it
   * at `now` (gone once expired): a list decision reads nothing else but the entry (no rate limit, no
   * approval), so equal keys decide every entry alike.
   */
  listKey(principal: Principal, now: number): string {
    const task = activeTask(principal.task, now);
    return canonicalJson([this.policy.current.version, { ...principal, task }]);
  }

  authorize(request: AuthorizeRequest, now: number): Decision {
    const evaluation = evaluate(this.policy.current, request, now);
    const decision: Decision = {
      effect: evaluation.effect,
      rule: evaluation.rule,
      reason: evaluation.reason,
      policyVersion: evaluation.policyVersion,
      ...(evaluation.refusal && { refusal: { kind: evaluation.refusal } }),
    };
    if (evaluation.effect === 'deny' || request.method.endsWith('/list')) return decision;
    if (evaluation.rateLimits.length > 0) {
      const who = principalKey(request.principal);
      const taken = this.limiter.take(
        evaluation.rateLimits.map(({ ruleId, limit }) => ({
          key: `${who}\u0000${ruleId}\u0000${bucketOf(request.target)}`,
          limit,
        })),
        now,
      );
      if (!taken.ok) {
        const retryAfterSeconds = Math.max(1, Math.ceil(taken.retryAfterMs / 1000));
        return {
          ...decision,
          effect: 'deny',
          reason: `rate limit of ${evaluation.rateLimits.map((l) => `${l.ruleId} (${l.limit.calls}/${l.limit.perSeconds}s)`).join(', ')} exceeded`,
          refusal: { kind: 'rate_limited', retryAfterSeconds },
        };
      }
    }
    if (evaluation.approval && EXECUTES.has(request.method)) {
      // Allowed on condition: the approval stage decides after the intent is recorded (src/pipeline/orchestrator.ts).
      return { ...decision, reason: `${evaluation.reason}; approval required`, approvalRequired: true };
    }
    return decision;
  }
}

/**
 * Tools and prompts are limited one bucket per name (a bounded set: the catalog). Resource URIs are
 * chosen by the caller, so every URI a rule covers shares one bucket: varying the URI gains nothing.
 * Names never contain ':' and URIs always do.
 */
function bucketOf(target: string): string {
  return target.includes(':') ? '\u0000resources' : target;
}
