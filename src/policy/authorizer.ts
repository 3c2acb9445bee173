import { canonicalJson, sha256Hex } from '../model/canonical.js';
import { principalKey, type Principal } from '../model/principal.js';
import type { AuthorizeRequest, Authorizer, Decision } from '../pipeline/stages.js';
import type { CompiledPolicy } from './compile.js';
import { activeTask, evaluate } from './evaluate.js';
import { RateLimiter } from './rate-limit.js';
import type { RateLimit } from './schema.js';
import type { RateKey, RateTake } from '../state/shared.js';

/** Rate-limit buckets counted in a store every replica shares (src/state/shared.ts, `takeRate`). */
export interface SharedRates {
  takeRate(keys: readonly RateKey[], now: number): Promise<RateTake>;
}

/** Where the authorizer reads the policy in force; a reload swaps it in one assignment. */
export interface CurrentPolicy {
  readonly current: CompiledPolicy;
}

/** Methods that act (approval applies to them); completions and subscriptions only look. */
const EXECUTES = new Set<AuthorizeRequest['method']>(['tools/call', 'prompts/get', 'resources/read']);

/**
 * The authorize stage under a policy: the pure evaluation, then what a visible, allowed call can still
 * be refused for (approval required, rate limit). Calls only consume rate-limit tokens once allowed;
 * lists never do. `authorize` does no I/O (the rate limiter is memory, the clock is passed in); with
 * shared rates (several replicas), calls go through `authorizeCall`, which counts them in the store.
 */
export class PolicyAuthorizer implements Authorizer {
  readonly limiter = new RateLimiter();
  /** Set by `useSharedRates`: calls are decided here, their rate limits counted in the shared store. */
  authorizeCall?: (request: AuthorizeRequest, now: number) => Promise<Decision>;

  constructor(private readonly policy: CurrentPolicy) {}

  /**
   * Counts calls' rate limits in a store every replica shares (a limit of N is N in total), instead of
   * this process's memory. A store that cannot be reached refuses the call (fail closed).
   */
  useSharedRates(rates: SharedRates): void {
    this.authorizeCall = async (request, now) => {
      const { decision, limits } = this.decide(request, now);
      if (limits.length === 0) return decision;
      // Keys are digested: bounded, no NUL for PostgreSQL, and no subject in the buckets table.
      const keys = limits.map(({ key, limit }) => ({
        key: sha256Hex(key),
        calls: limit.calls,
        perSeconds: limit.perSeconds,
      }));
      let taken: RateTake;
      try {
        taken = await rates.takeRate(keys, now);
      } catch (error) {
        const { approvalRequired: _, ...denied } = decision;
        return {
          ...denied,
          effect: 'deny',
          rule: 'store',
          reason: `rate limit could not be counted: ${(error as Error).message} (fail closed)`,
          refusal: { kind: 'store_unavailable' },
        };
      }
      return taken.ok ? decision : this.limited(decision, limits, taken.retryAfterMs);
    };
  }

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
    const { decision, limits } = this.decide(request, now);
    if (limits.length > 0) {
      const taken = this.limiter.take(limits, now);
      if (!taken.ok) return this.limited(decision, limits, taken.retryAfterMs);
    }
    return decision;
  }

  /**
   * The pure evaluation, and the rate-limit buckets an allowed call must take from. Calls only consume
   * tokens once allowed; lists never do. A call that needs approval is allowed on condition: the approval
   * stage decides after the intent is recorded (src/pipeline/orchestrator.ts).
   */
  private decide(
    request: AuthorizeRequest,
    now: number,
  ): { decision: Decision; limits: { key: string; limit: RateLimit; ruleId: string }[] } {
    const evaluation = evaluate(this.policy.current, request, now);
    const decision: Decision = {
      effect: evaluation.effect,
      rule: evaluation.rule,
      reason: evaluation.reason,
      policyVersion: evaluation.policyVersion,
      ...(evaluation.refusal && { refusal: { kind: evaluation.refusal } }),
    };
    if (evaluation.effect === 'deny' || request.method.endsWith('/list')) return { decision, limits: [] };
    const conditional: Decision =
      evaluation.approval && EXECUTES.has(request.method)
        ? { ...decision, reason: `${evaluation.reason}; approval required`, approvalRequired: true }
        : decision;
    if (evaluation.rateLimits.length === 0) return { decision: conditional, limits: [] };
    const who = principalKey(request.principal);
    return {
      decision: conditional,
      limits: evaluation.rateLimits.map(({ ruleId, limit }) => ({
        key: `${who}\u0000${ruleId}\u0000${bucketOf(request.target)}`,
        limit,
        ruleId,
      })),
    };
  }

  private limited(
    decision: Decision,
    limits: readonly { limit: RateLimit; ruleId: string }[],
    retryAfterMs: number,
  ): Decision {
    const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    const { approvalRequired: _, ...denied } = decision;
    return {
      ...denied,
      effect: 'deny',
      reason: `rate limit of ${limits.map((l) => `${l.ruleId} (${l.limit.calls}/${l.limit.perSeconds}s)`).join(', ')} exceeded`,
      refusal: { kind: 'rate_limited', retryAfterSeconds },
    };
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
