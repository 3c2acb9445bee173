import type { Principal } from '../model/principal.js';
import type { CallContext, ListContext, RelayContext } from './context.js';
import type { Denial, Outcome } from './denial.js';
import type { PipelineObserver } from './observer.js';
import type { ListDecisions } from '../model/list-verdict.js';

export interface Decision {
  effect: 'allow' | 'deny';
  /** The rule that decided, for the record (`default-deny`, a policy rule id, …). */
  rule: string;
  reason: string;
  policyVersion?: string;
  /** The approval this call runs under, when one was required (for the record). */
  approval?: string;
  /** Allowed, but only once a person approves this exact call: the approval stage (`Approver`) decides after the intent is recorded. */
  approvalRequired?: boolean;
  /** How a deny reads on the wire when "unknown tool" would be wrong (the target is visible to the caller). */
  refusal?: Refusal;
}

/** A refusal of something the caller can see: mapped to its own wire error instead of "unknown". */
export type Refusal =
  | { kind: 'forbidden' }
  | { kind: 'approval_required' }
  | { kind: 'rate_limited'; retryAfterSeconds: number }
  | { kind: 'revoked' }
  /** The shared store (PostgreSQL) cannot be trusted or reached: refused, fail closed. */
  | { kind: 'store_unavailable' }
  /** Outside a task, allowed by the caller's own policy inside one: the refusal says how to ask. */
  | { kind: 'needs_task' }
  /** A tool or prompt whose current definition is not the approved one (src/integrity/registry.ts). */
  | {
      kind: 'unapproved_definition';
      definition: 'tool' | 'prompt';
      name: string;
      status: 'quarantined' | 'pending' | 'rejected' | 'unrecorded';
      cause?: 'changed' | 'flagged';
    };

export interface AuthorizeRequest {
  principal: Principal;
  method: CallContext['method'] | ListContext['method'];
  server: string;
  /** Namespaced tool or prompt name, or resource URI. */
  target: string;
  arguments?: Record<string, unknown>;
  /** The hash of the tool or prompt definition the caller would use (the session's view of it), when known. */
  definitionHash?: string;
}

/** Decides; does no I/O. The clock is passed in so decisions are reproducible in tests. */
export interface Authorizer {
  authorize(request: AuthorizeRequest, now: number): Decision;
  /**
   * For calls, when deciding needs the shared store (rate limits counted across replicas): used by the
   * orchestrator instead of `authorize`. Absent: calls are decided by `authorize`, synchronously.
   */
  authorizeCall?(request: AuthorizeRequest, now: number): Promise<Decision>;
  /**
   * For list memos: a key equal for two calls only when `authorize` would decide every list entry the
   * same way for both principals at these moments (policy version, everything of the principal the
   * decision reads, task expiry, definition pins). Undefined: lists are decided entry by entry, as always.
   */
  listKey?(principal: Principal, now: number): string | undefined;
}

/**
 * How a recorded action ended. `denied`: the decision was deny (policy, authentication, an unknown name);
 * `rejected`: allowed, but refused before or instead of forwarding (secret unavailable, approval pending,
 * rate limit, invalid parameters); `downstream_failed`: the server was unavailable, closed or answered
 * with a JSON-RPC error; `elicitation_required`: the server answered that a person must first complete a
 * URL-mode elicitation (`-32042`, e.g. an authorization page) before it can do the call: nothing failed.
 * `unknown_outcome` is only ever written by the audit store after a crash.
 */
export type CallStatus =
  'ok' | 'tool_error' | 'denied' | 'rejected' | 'timeout' | 'cancelled' | 'downstream_failed' | 'elicitation_required';

export interface CallRecordOutcome {
  status: CallStatus;
  durationMs: number;
  denial?: Denial;
  /** Error text as the agent saw it. */
  error?: string;
  /** The result as the agent received it (already scrubbed): its size and digest are recorded, the value only when configured. */
  result?: unknown;
  /** Secrets injected into the call: names and fingerprints, never values. */
  secrets?: Injection['used'];
}

/** A recorded event that is not a call. Known types are listed; stages may add their own `area.verb`. */
export type AuditEventType =
  | 'gateway.start'
  | 'gateway.stop'
  | 'config.load'
  | 'auth.failure'
  | 'policy.load'
  | 'policy.reload'
  | 'task.begin'
  | 'task.end'
  | 'task.expire'
  | 'task.revoke'
  | 'tool.pin'
  | 'tool.change'
  | 'tool.quarantine'
  | 'tool.approve'
  | 'tool.reject'
  | 'approval.request'
  | 'approval.grant'
  | 'approval.deny'
  | 'approval.expire'
  | 'approval.use'
  | 'list.refused'
  | 'logging.level'
  | (string & {});

export interface AuditEvent {
  type: AuditEventType;
  subject?: string;
  taskId?: string;
  server?: string;
  /** A tool or prompt name, or a resource URI. */
  target?: string;
  /** Details (scrubbed and size-capped like arguments). Never a secret value: names and fingerprints only. */
  data?: Record<string, unknown>;
}

/**
 * Writes the record of every delegated action. `intent` must be durable before anything is forwarded;
 * it fails (a denial) when it cannot be written, and the call is then refused.
 */
export interface AuditSink {
  intent(ctx: CallContext | RelayContext, decision: Decision): Promise<Outcome<void>>;
  outcome(ctx: CallContext | RelayContext, outcome: CallRecordOutcome): Promise<void>;
  /** A list request's decisions: recorded (unless refused) with what policy replay needs to decide them again. */
  listed(ctx: ListContext, result: ListDecisions): void;
  event(event: AuditEvent): Promise<Outcome<void>>;
  /** The audit record id of a call's intent (once written), so events about the call can name it. */
  recordId?(ctx: CallContext | RelayContext): string | undefined;
}

/**
 * The approval stage: for a call allowed only with a person's approval, uses a matching approval given
 * earlier (single use), asks the agent host's user in-band, or opens an out-of-band request and refuses.
 */
export interface Approver {
  approve(ctx: CallContext, now: number): Promise<Outcome<{ approvalId: string }>>;
}

/** What a call carries downstream besides the agent's own arguments; resolved for one call only. */
export interface Injection {
  headers: Readonly<Record<string, string>>;
  arguments: Readonly<Record<string, unknown>>;
  /** stdio `per-call` secrets: the call runs in a fresh process with this environment, stopped after it. */
  env?: Readonly<Record<string, string>>;
  /** Secret names and fingerprints, for the record. Never values. */
  used: readonly { name: string; source?: string; fingerprint: string }[];
  /** The W3C trace context the downstream continues (header and `_meta`), when the gateway traces. */
  traceparent?: string;
}

export interface SecretInjector {
  inject(ctx: CallContext): Promise<Outcome<Injection>>;
  /** Headers for a server's protocol-level HTTP requests outside any call (initialize, notifications, the GET stream). */
  protocolHeaders?(server: string): Promise<Readonly<Record<string, string>>>;
}

/** Secret values shorter than this are refused by the sources and not removed by the egress stage (they would erase ordinary text). */
export const MIN_SECRET_LENGTH = 8;

/**
 * Values egress must remove: the secrets stage tells the egress stage (src/egress/egress.ts) each value
 * as it is resolved or minted, before it leaves; the egress stage removes it from everything emitted.
 */
export interface EgressValues {
  /** A value that must never leave: kept until the process ends, or until `expiresAt` (epoch ms). */
  remember(value: string, expiresAt?: number): void;
  /** A credential this process minted (JWT): header, payload and signature each covered on its own. */
  rememberMinted(token: string): void;
  /** Every text starting with `prefix` (a filled header around a minted token: `Bearer <header>.`). */
  rememberPrefix(prefix: string): void;
}

/**
 * The egress stage (src/egress/egress.ts): removes what must not leave the gateway (every secret value
 * in every form; escapes from results) from everything emitted. One per process, built at start-up.
 */
export interface Scrubber {
  /** A downstream result: escapes and secrets. Throws rather than pass on a value it cannot walk. */
  scrubResult<T>(value: T): T;
  /** Any JSON-like value (definitions, notifications, relayed requests, error data): secrets. */
  scrubValue<T>(value: T): T;
  scrubText(text: string): string;
  /** A denial's text, data and reason. */
  scrubDenial(denial: Denial): Denial;
  /** A value that must never leave (an internal credential), from now until the process ends. */
  remember(value: string): void;
}

export interface Stages {
  authorizer: Authorizer;
  audit: AuditSink;
  secrets: SecretInjector;
  scrubber: Scrubber;
  /** Without one, calls that need approval are refused. */
  approver?: Approver;
  /**
   * The shared store's readiness (several replicas on PostgreSQL): why it cannot be trusted now (down, or
   * its cache not re-read since it came back), or undefined. While it says why, calls are refused.
   */
  store?: { unavailable(): string | undefined };
  now: () => number;
  /** Metrics and traces; absent, nothing is observed. */
  observer?: PipelineObserver;
  /** A high-resolution clock (epoch ms, fractional) for stage timings; defaults to `now`. */
  clock?: () => number;
}
