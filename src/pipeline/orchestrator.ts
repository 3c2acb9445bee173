// Over 300 lines: the one place that fixes the stage order, for calls, lists, relays and refusals; kept whole on purpose.
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { LRUCache } from 'lru-cache';
import { LIST_VERDICT } from '../model/list-verdict.js';
import type { Logger } from 'pino';
import type { Principal } from '../model/principal.js';
import type { CallContext, ListContext, RelayContext } from './context.js';
import { deny, denialToWire, ok, type Denial, type Outcome } from './denial.js';
import type { AuditEvent, CallRecordOutcome, CallStatus, Decision, Injection, Stages } from './stages.js';

export interface ListEntry<T> {
  server: string;
  /** Name or URI as the agent sees it. */
  target: string;
  item: T;
  /** The hash of the definition this entry shows, so a definition that is not the pinned one is never listed. */
  definitionHash?: string;
}

/**
 * Part of a list whose entries stay the same while `source` is the same object (a session's merged
 * catalog, rebuilt whenever a server's catalog changes): `entries.slice(from)`. Its decisions may be
 * reused for an equal authorizer list key; the entries before `from` are decided every time.
 */
export interface ListMemo {
  source: object;
  from: number;
}

/** Decisions remembered per catalog: principals (with tasks) and policy versions seen lately. */
const MEMO_KEYS_PER_CATALOG = 64;

interface Decided {
  verdicts: Uint8Array;
  shown: readonly number[];
}

/**
 * A remembered decision of a list's memoised part: the same object for as long as the decisions are
 * remembered (same catalog, same list key), so a caller may remember what it built from it (the
 * serialised page). `verdicts` are the verdicts of `entries.slice(from)` in order, `shown` the
 * indexes (into that slice) of those shown.
 */
export interface RememberedList {
  readonly verdicts: Uint8Array;
  readonly shown: readonly number[];
}

/**
 * Puts the stages in their one order. Stages never call each other; only this file knows the order.
 */
export class Pipeline {
  private readonly clock: () => number;
  /** Per catalog (weakly: it goes with its session's view), the decisions of its entries per list key. */
  private readonly listMemo = new WeakMap<object, LRUCache<string, Decided>>();

  constructor(
    private readonly stages: Stages,
    private readonly logger: Logger,
  ) {
    this.clock = stages.clock ?? stages.now;
  }

  /** The pipeline's injected clock (epoch ms): a request's `startedAt` comes from it, as its duration does. */
  now(): number {
    return this.stages.now();
  }

  /**
   * The order, and why:
   * 1. authenticate — nothing is decided for a caller whose identity is no longer valid (expired token).
   * 2. authorize   — before the record, so the intent row carries the decision; denials are recorded too.
   * 3. audit intent — committed before anything leaves the gateway: no audit, no action.
   * 3a. approval — only for calls the policy allows with `approval: required`. After the intent, so the
   *    approval request, the question put to the user and the grant all name a recorded call (and a call
   *    whose intent cannot be written never asks anyone); before secrets, so nothing is resolved for a
   *    call that will not run. It sees the arguments exactly as the agent sent them.
   * 4. inject secrets — only after an allow and a durable intent, resolved for this call alone.
   * 5. forward.
   * 6. scrub (the egress stage) — results and downstream errors, before the outcome is recorded and
   *    before the agent sees them, so the record holds exactly what went out and neither holds a secret.
   * 7. audit outcome — every intent gets one, whatever happened after step 3.
   */
  async call<R>(ctx: CallContext, forward: (injection: Injection) => Promise<Outcome<R>>): Promise<Outcome<R>> {
    // Made only when a line is written: a pino child per call costs more than most allowed calls log.
    const log = (): Logger =>
      this.logger.child({ reqId: ctx.requestId, method: ctx.method, server: ctx.server, target: ctx.target });
    const now = this.stages.now();
    // Observation (metrics, traces) is optional chaining throughout: without an observer no clock is read.
    const clock = this.clock;
    const obs = this.stages.observer?.begin(ctx, clock());
    // Every exit after the intent writes its outcome here; the observation ends after it.
    const settle = async (
      status: CallStatus,
      denial?: Denial,
      error?: string,
      injection?: Injection,
      result?: unknown,
    ): Promise<void> => {
      await this.finish(ctx, status, denial, error, injection, result);
      obs?.stage('audit_outcome', clock());
      obs?.end(clock(), decision, status);
    };

    const authenticated = authenticate(ctx, now);
    obs?.stage('authenticate', clock());
    // A replica whose shared store is down (or not re-read since) may hold stale revocations: fail closed.
    const storeDown = authenticated.ok ? this.stages.store?.unavailable() : undefined;
    const decided: Decision | Promise<Decision> = !authenticated.ok
      ? { effect: 'deny', rule: 'authentication', reason: authenticated.denial.reason }
      : storeDown !== undefined
        ? {
            effect: 'deny',
            rule: 'store',
            reason: `${storeDown} (fail closed)`,
            refusal: { kind: 'store_unavailable' },
          }
        : this.authorize(ctx, now);
    // Awaited only when it is a promise: the synchronous path (one process, SQLite) stays without a tick.
    const decision = decided instanceof Promise ? await decided : decided;
    obs?.stage('authorize', clock());

    const intent = await this.stages.audit.intent(ctx, decision);
    obs?.stage('audit_intent', clock());
    if (!intent.ok) {
      log().error({ reason: intent.denial.reason }, 'audit intent could not be written; call refused');
      obs?.end(clock(), decision, 'rejected');
      return intent as Outcome<never>;
    }

    if (decision.effect === 'deny') {
      const denial: Denial = authenticated.ok ? denialFor(ctx, decision) : authenticated.denial;
      await settle(statusOf(denial), denial);
      log().info({ rule: decision.rule }, 'call denied');
      return deny(denial);
    }

    if (decision.approvalRequired) {
      let approved: Outcome<{ approvalId: string }>;
      try {
        approved = this.stages.approver
          ? await this.stages.approver.approve(ctx, now)
          : deny({
              kind: 'approval_required',
              reason: `${decision.rule}: approval required, and this gateway has no approval stage`,
            });
      } catch (error) {
        await settle('rejected', undefined, 'internal error');
        throw error;
      }
      if (!approved.ok) {
        await settle(statusOf(approved.denial), approved.denial);
        log().info(
          {
            rule: decision.rule,
            approval: approved.denial.kind === 'approval_required' ? approved.denial.approval?.id : undefined,
          },
          'call not approved',
        );
        return approved as Outcome<never>;
      }
      obs?.stage('approval', clock());
      log().info({ approval: approved.value.approvalId }, 'call runs under an approval');
    }

    let injected: Outcome<Injection>;
    try {
      injected = await this.stages.secrets.inject(ctx);
    } catch (error) {
      await settle('rejected', undefined, 'internal error');
      throw error;
    }
    obs?.stage('inject', clock());
    if (!injected.ok) {
      const denial = this.stages.scrubber.scrubDenial(injected.denial);
      await settle(statusOf(denial), denial);
      return deny(denial);
    }

    let result: Outcome<R>;
    try {
      const traceparent = obs?.downstream();
      result = await forward(traceparent === undefined ? injected.value : { ...injected.value, traceparent });
    } catch (error) {
      obs?.stage('forward', clock());
      // Unexpected (or the agent cancelled): recorded, then surfaced by the caller's single catch.
      const cancelled = ctx.signal?.aborted === true;
      await settle(
        cancelled ? 'cancelled' : 'downstream_failed',
        undefined,
        cancelled ? 'cancelled by the agent' : 'internal error',
        injected.value,
      );
      throw error;
    }

    obs?.stage('forward', clock());
    if (!result.ok) {
      // A downstream's error text and data leave through the egress stage like a result does.
      let denial: Denial;
      try {
        denial = this.stages.scrubber.scrubDenial(result.denial);
      } catch (error) {
        await settle('downstream_failed', undefined, 'internal error', injected.value);
        throw error;
      }
      await settle(statusOf(denial), denial, undefined, injected.value);
      return deny(denial);
    }
    let scrubbed: R;
    try {
      scrubbed = this.stages.scrubber.scrubResult(result.value);
    } catch (error) {
      // Nothing unscrubbed reaches the agent: the call fails, and its intent still gets an outcome.
      await settle('downstream_failed', undefined, 'internal error', injected.value);
      throw error;
    }
    obs?.stage('scrub', clock());
    await settle(isToolError(scrubbed) ? 'tool_error' : 'ok', undefined, undefined, injected.value, scrubbed);
    return ok(scrubbed);
  }

  /** The authorize step of a call: asynchronous only when the authorizer needs the shared store. */
  private authorize(ctx: CallContext, now: number): Decision | Promise<Decision> {
    const request = {
      principal: ctx.principal,
      method: ctx.method,
      server: ctx.server,
      target: ctx.target,
      arguments: ctx.arguments,
      ...(ctx.definitionHash !== undefined && { definitionHash: ctx.definitionHash }),
    };
    const authorizer = this.stages.authorizer;
    return authorizer.authorizeCall ? authorizer.authorizeCall(request, now) : authorizer.authorize(request, now);
  }

  /**
   * A request a downstream sends towards the agent (sampling, elicitation, roots): recorded like a call,
   * intent first, so an investigator sees what a server asked the agent's model or user for. If the
   * intent cannot be written the request is refused and the agent never sees it. The agent's follow-ups
   * on a downstream task (`tasks/*`) are recorded the same way, under the rule `task-owner`.
   */
  async relay<R>(ctx: RelayContext, run: () => Promise<R>): Promise<R> {
    const obs = this.stages.observer?.relay?.(ctx, this.clock());
    const intent = await this.stages.audit.intent(
      ctx,
      ctx.method.startsWith('tasks/') ? TASK_DECISION : RELAY_DECISION,
    );
    if (!intent.ok) {
      this.logger.error(
        { reqId: ctx.requestId, method: ctx.method, server: ctx.server },
        'audit intent could not be written; relay refused',
      );
      obs?.end(this.clock(), 'rejected');
      throw denialToWire(intent.denial);
    }
    let result: R;
    try {
      result = await run();
    } catch (error) {
      const timeout = error instanceof McpError && error.code === ErrorCode.RequestTimeout;
      await this.finish(
        ctx,
        timeout ? 'timeout' : 'rejected',
        undefined,
        error instanceof Error ? error.message : 'relay failed',
      );
      obs?.end(this.clock(), timeout ? 'timeout' : 'rejected');
      throw error;
    }
    await this.finish(ctx, 'ok', undefined, undefined, undefined, result);
    obs?.end(this.clock(), 'ok');
    return result;
  }

  /**
   * Records a request refused before a server could be chosen (a name nothing answers to), so refused
   * calls are in the record like every other.
   */
  async refuse(ctx: CallContext, denial: Denial): Promise<void> {
    const decision: Decision = { effect: 'deny', rule: 'routing', reason: denial.reason };
    const obs = this.stages.observer?.begin(ctx, this.clock());
    const intent = await this.stages.audit.intent(ctx, decision);
    if (intent.ok) await this.finish(ctx, 'denied', denial);
    obs?.end(this.clock(), decision, intent.ok ? 'denied' : 'rejected');
  }

  /** The record id of a call's intent while the call runs (its forward callback): what later records point at. */
  recordId(ctx: CallContext): string | undefined {
    return this.stages.audit.recordId?.(ctx);
  }

  /**
   * An agent's `logging/setLevel`, which changes what every server of its session logs: an expired
   * credential is refused (and recorded as an auth failure), and the change is recorded before it is
   * applied; if that record cannot be written, it is refused.
   */
  async setLevel(request: {
    principal: Principal;
    level: string;
    ingress: string;
    session: string | undefined;
    jsonrpcId: string | number;
  }): Promise<Outcome<void>> {
    const { principal, ...data } = request;
    if (principal.expiresAt !== undefined && principal.expiresAt <= this.stages.now()) {
      this.authFailure({ ingress: request.ingress, session: request.session, reason: 'credential expired' });
      return deny({ kind: 'unauthenticated', reason: 'credential expired' });
    }
    return this.stages.audit.event({
      type: 'logging.level',
      subject: principal.subject,
      ...(principal.task && { taskId: principal.task.id }),
      data,
    });
  }

  /**
   * An agent's request that is neither a call nor a list (a 2026 listen stream opened, refused or ended):
   * recorded as an event. The caller refuses what could not be recorded (no audit, no action).
   */
  record(event: AuditEvent): Promise<Outcome<void>> {
    return this.stages.audit.event(event);
  }

  /** A request refused because no valid credential came with it (an expired stdio token, none at all): recorded. */
  authFailure(details: { ingress: string; session: string | undefined; reason: string }): void {
    void this.stages.audit.event({ type: 'auth.failure', data: details });
  }

  /**
   * Whether `principal` may now see `target` in a list (`method` a list method: a definition a pin holds
   * back is not seen) or read it (`resources/read`), decided as the authorize step decides; an expired
   * credential sees nothing. Unrecorded: for telling a 2026 listener that its view changed, never the
   * answer to a request (the list or read it then sends is decided and recorded as always).
   */
  shows(
    principal: Principal,
    method: ListContext['method'] | 'resources/read',
    server: string,
    target: string,
    definitionHash?: string,
  ): boolean {
    const now = this.stages.now();
    if (principal.expiresAt !== undefined && principal.expiresAt <= now) return false;
    const decision = this.stages.authorizer.authorize(
      { principal, method, server, target, ...(definitionHash !== undefined && { definitionHash }) },
      now,
    );
    return decision.effect === 'allow';
  }

  /** Runs the authorize step over a merged list: the agent only sees what it may use. */
  filterList<T>(ctx: ListContext, entries: readonly ListEntry<T>[], memo?: ListMemo): T[] {
    return this.filterListRemembered(ctx, entries, memo).shown;
  }

  /**
   * filterList, also giving the remembered decision of the memoised part when there is one (an
   * authorizer without a list key remembers nothing): every list is still authenticated and recorded.
   */
  filterListRemembered<T>(
    ctx: ListContext,
    entries: readonly ListEntry<T>[],
    memo?: ListMemo,
  ): { shown: T[]; remembered?: RememberedList } {
    const now = this.stages.now();
    let remembered: RememberedList | undefined;
    const obs = this.stages.observer?.list?.(ctx, this.clock());
    const shown: T[] = [];
    const authenticated = authenticateList(ctx, now);
    // Each entry's verdict goes to the audit record, so policy replay can tell what a new policy would hide or show.
    const verdicts = new Uint8Array(authenticated ? entries.length : 0);
    if (authenticated) {
      const from = memo ? Math.min(memo.from, entries.length) : entries.length;
      for (let i = 0; i < from; i += 1) {
        verdicts[i] = this.listVerdict(ctx, entries[i]!, now);
        if (verdicts[i] === LIST_VERDICT.shown) shown.push(entries[i]!.item);
      }
      if (memo) {
        const [decided, kept] = this.memoised(ctx, entries, from, memo.source, now);
        if (kept) remembered = decided;
        verdicts.set(decided.verdicts, from);
        for (const i of decided.shown) shown.push(entries[from + i]!.item);
      }
    }
    this.stages.audit.listed(ctx, {
      entries: authenticated ? entries : [],
      verdicts,
      shown: shown.length,
      hidden: entries.length - shown.length,
      refused: !authenticated,
    });
    obs?.end(this.clock(), { shown: shown.length, hidden: entries.length - shown.length, refused: !authenticated });
    return remembered ? { shown, remembered } : { shown };
  }

  /**
   * The decisions of `entries.slice(from)` for this principal now: remembered per catalog and list key,
   * so a repeated list costs one key instead of a decision per entry. Without a key, decided afresh.
   * The flag says whether the decision is the remembered one (false: decided afresh, not kept).
   */
  private memoised<T>(
    ctx: ListContext,
    entries: readonly ListEntry<T>[],
    from: number,
    source: object,
    now: number,
  ): [Decided, boolean] {
    const key = this.stages.authorizer.listKey?.(ctx.principal, now);
    let byKey = key === undefined ? undefined : this.listMemo.get(source);
    const cached = key === undefined ? undefined : byKey?.get(`${ctx.method}\u0000${key}`);
    if (cached && cached.verdicts.length === entries.length - from) return [cached, true];
    const verdicts = new Uint8Array(entries.length - from);
    const shown: number[] = [];
    for (let i = from; i < entries.length; i += 1) {
      verdicts[i - from] = this.listVerdict(ctx, entries[i]!, now);
      if (verdicts[i - from] === LIST_VERDICT.shown) shown.push(i - from);
    }
    const decided = { verdicts, shown };
    if (key !== undefined) {
      if (!byKey) {
        byKey = new LRUCache<string, Decided>({ max: MEMO_KEYS_PER_CATALOG });
        this.listMemo.set(source, byKey);
      }
      byKey.set(`${ctx.method}\u0000${key}`, decided);
    }
    return [decided, key !== undefined];
  }

  /** One entry's list verdict: shown, hidden by policy, or held back by a definition pin. */
  private listVerdict(ctx: ListContext, entry: ListEntry<unknown>, now: number): number {
    const decision = this.stages.authorizer.authorize(
      {
        principal: ctx.principal,
        method: ctx.method,
        server: entry.server,
        target: entry.target,
        ...(entry.definitionHash !== undefined && { definitionHash: entry.definitionHash }),
      },
      now,
    );
    return decision.effect === 'allow'
      ? LIST_VERDICT.shown
      : decision.refusal?.kind === 'unapproved_definition'
        ? LIST_VERDICT.held
        : LIST_VERDICT.hidden;
  }

  private async finish(
    ctx: CallContext | RelayContext,
    status: CallStatus,
    denial?: Denial,
    error?: string,
    injection?: Injection,
    result?: unknown,
  ): Promise<void> {
    const durationMs = this.stages.now() - ctx.startedAt;
    const outcome: CallRecordOutcome = { status, durationMs, ...(denial && { denial }), ...(error && { error }) };
    if (injection && injection.used.length > 0) outcome.secrets = injection.used;
    if (result !== undefined) outcome.result = result;
    try {
      await this.stages.audit.outcome(ctx, outcome);
    } catch (failure) {
      // The intent is durable; a missing outcome is flagged as unknown_outcome at the next start.
      this.logger.error({ reqId: ctx.requestId, err: failure }, 'audit outcome could not be written');
    }
  }
}

function authenticate(ctx: CallContext, now: number): Outcome<void> {
  const expiresAt = ctx.principal.expiresAt;
  if (expiresAt !== undefined && expiresAt <= now) {
    return deny({ kind: 'unauthenticated', reason: 'credential expired' });
  }
  return ok(undefined);
}

function authenticateList(ctx: ListContext, now: number): boolean {
  const expiresAt = ctx.principal.expiresAt;
  return expiresAt === undefined || expiresAt > now;
}

/** A policy denial looks, to the agent, exactly like the target not existing. */
function denialFor(ctx: CallContext, decision: Decision): Denial {
  const reason = `${decision.rule}: ${decision.reason}`;
  if (decision.refusal) return refusalDenial(decision.refusal, ctx.target, reason);
  switch (ctx.method) {
    case 'tools/call':
      return { kind: 'unknown_tool', name: ctx.target, reason };
    case 'prompts/get':
      return { kind: 'unknown_prompt', name: ctx.target, reason };
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return { kind: 'unknown_resource', uri: ctx.target, reason };
    case 'completion/complete':
      // The ref is a prompt name (never contains ':') or a resource URI (always has a scheme).
      return ctx.target.includes(':')
        ? { kind: 'unknown_resource', uri: ctx.target, reason }
        : { kind: 'unknown_prompt', name: ctx.target, reason };
  }
}

/** A refusal of something the caller can see (arguments, approval, rate limit, revocation). */
function refusalDenial(refusal: NonNullable<Decision['refusal']>, target: string, reason: string): Denial {
  switch (refusal.kind) {
    case 'forbidden':
      return { kind: 'forbidden', reason };
    case 'needs_task':
      return { kind: 'needs_task', name: target, reason };
    case 'approval_required':
      return { kind: 'approval_required', reason };
    case 'rate_limited':
      return { kind: 'rate_limited', retryAfterSeconds: refusal.retryAfterSeconds, reason };
    case 'revoked':
      return { kind: 'unauthenticated', reason };
    case 'store_unavailable':
      return { kind: 'store_unavailable', reason };
    case 'unapproved_definition':
      return {
        kind: 'unapproved_definition',
        definition: refusal.definition,
        name: refusal.name,
        status: refusal.status,
        ...(refusal.cause && { cause: refusal.cause }),
        reason,
      };
  }
}

const RELAY_DECISION: Decision = {
  effect: 'allow',
  rule: 'relay',
  reason: 'a server-to-client request, relayed to the agent that owns the call',
};

const TASK_DECISION: Decision = {
  effect: 'allow',
  rule: 'task-owner',
  reason: 'a follow-up on a task the same principal created through a governed call, relayed to its server',
};

/** JSON-RPC codes a downstream answers with that are not failures of the server. */
const REQUEST_CANCELLED = -32800;
const URL_ELICITATION_REQUIRED = -32042;

/** The recorded outcome for each way a call can be refused or fail. */
function statusOf(denial: Denial): CallStatus {
  switch (denial.kind) {
    case 'unauthenticated':
    case 'unknown_tool':
    case 'unknown_prompt':
    case 'unknown_resource':
    case 'forbidden':
    case 'needs_task':
    case 'unapproved_definition':
      return 'denied';
    case 'approval_required':
    case 'rate_limited':
    case 'audit_unavailable':
    case 'store_unavailable':
    case 'secret_unavailable':
    case 'invalid_params':
      return 'rejected';
    case 'timeout':
      return 'timeout';
    case 'downstream_error':
      if (denial.code === REQUEST_CANCELLED) return 'cancelled';
      return denial.code === URL_ELICITATION_REQUIRED ? 'elicitation_required' : 'downstream_failed';
    case 'server_unavailable':
    case 'downstream_closed':
      return 'downstream_failed';
    default: {
      const unreachable: never = denial;
      return unreachable;
    }
  }
}

function isToolError(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { isError?: unknown }).isError === true;
}
