/** How a principal was established. Recorded with every action. */
export type AuthMethod = 'unauthenticated-local' | 'jwt';

export interface TaskRef {
  id: string;
  purpose?: string;
  grants?: readonly string[];
  /**
   * A second set of globs the target must also match: the grants of the token presented now, when they
   * only partly overlap the session task's globs (the task is the intersection of both).
   */
  within?: readonly string[];
  /** Epoch milliseconds; a task declared in-band (`warden__begin_task`) has its own lifetime. */
  expiresAt?: number;
  /** Where the task came from: the token's `task` claim, or declared in-band by the session. */
  source?: 'token' | 'session';
}

/** One actor of a delegation chain (RFC 8693 `act`), as far as the token names it. */
export interface ActorRef {
  subject: string;
  /** The actor's own token id (`jti`), when the delegation recorded it. */
  tokenId?: string;
  /** The task of the actor's token, when it had one. */
  taskId?: string;
  /** Epoch milliseconds: when the actor's token was issued. */
  issuedAt?: number;
}

/**
 * The verified caller. Built once by authentication; nothing after that stage reads raw headers or
 * raw token claims.
 */
export interface Principal {
  subject: string;
  issuer: string;
  clientId?: string;
  tenant?: string;
  task?: TaskRef;
  /** Delegation chain, outermost actor first (RFC 8693 `act`). */
  delegation: readonly string[];
  /** The same chain with what revocation needs of each actor (its token id, task and issue time). */
  actors?: readonly ActorRef[];
  tokenId?: string;
  /** Epoch milliseconds. */
  expiresAt?: number;
  /** Epoch milliseconds (`iat`): `mcp-warden agent revoke` refuses tokens issued up to the revocation. */
  issuedAt?: number;
  scopes: readonly string[];
  /** Top-level string (or string-array) claims not otherwise mapped, for policy agent matchers. */
  claims?: Readonly<Record<string, string | readonly string[]>>;
  authMethod: AuthMethod;
  /** Set by the task registry when the agent or its token's task has been revoked: every request is refused. */
  revoked?: string;
}

/** Identity of a principal for binding sessions and keying caches: issuer, subject and tenant together. */
export function principalKey(principal: Principal): string {
  return JSON.stringify([principal.issuer, principal.subject, principal.tenant ?? null]);
}

export const LOCAL_ISSUER = 'urn:mcp-warden:unauthenticated-local';

export function localPrincipal(subject: string): Principal {
  return { subject, issuer: LOCAL_ISSUER, delegation: [], scopes: [], authMethod: 'unauthenticated-local' };
}

/** Why a credential was refused, as a fixed set (metrics count by it; the text reason is for the log and the record). */
export type AuthFailureKind = 'no_credential' | 'malformed' | 'invalid' | 'unavailable' | 'insufficient_scope';
