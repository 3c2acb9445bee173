import type { Principal } from '../identity/principal.js';
import type { CallContext, ListContext } from './context.js';
import type { Denial, Outcome } from './denial.js';

export interface Decision {
  effect: 'allow' | 'deny';
  /** The rule that decided, for the record (`default-deny`, a policy rule id, …). */
  rule: string;
  reason: string;
  policyVersion?: string;
}

export interface AuthorizeRequest {
  principal: Principal;
  method: CallContext['method'] | ListContext['method'];
  server: string;
  /** Namespaced tool or prompt name, or resource URI. */
  target: string;
  arguments?: Record<string, unknown>;
}

/** Decides; does no I/O. The clock is passed in so decisions are reproducible in tests. */
export interface Authorizer {
  authorize(request: AuthorizeRequest, now: number): Decision;
}

export type CallStatus = 'ok' | 'tool_error' | 'error' | 'denied' | 'cancelled' | 'timeout';

export interface CallRecordOutcome {
  status: CallStatus;
  durationMs: number;
  denial?: Denial;
  /** Error text as the agent saw it. */
  error?: string;
}

/** Writes the record of every delegated action. `intent` must be durable before anything is forwarded. */
export interface AuditSink {
  intent(ctx: CallContext, decision: Decision): Promise<Outcome<void>>;
  outcome(ctx: CallContext, outcome: CallRecordOutcome): Promise<void>;
  listed(ctx: ListContext, shown: number, hidden: number): void;
}

/** What a call carries downstream besides the agent's own arguments; resolved for one call only. */
export interface Injection {
  headers: Readonly<Record<string, string>>;
  arguments: Readonly<Record<string, unknown>>;
  /** Secret names and fingerprints, for the record. Never values. */
  used: readonly { name: string; fingerprint: string }[];
}

export interface SecretInjector {
  inject(ctx: CallContext): Promise<Outcome<Injection>>;
}

/** Removes what must not reach the agent or the record from a downstream result (secret values, escapes). */
export interface Scrubber {
  scrubResult<T>(value: T, injection: Injection): T;
}

export interface Stages {
  authorizer: Authorizer;
  audit: AuditSink;
  secrets: SecretInjector;
  scrubber: Scrubber;
  now: () => number;
}
