/** How a principal was established. Recorded with every action. */
export type AuthMethod = 'unauthenticated-local' | 'jwt';

export interface TaskRef {
  id: string;
  purpose?: string;
  grants?: readonly string[];
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
  tokenId?: string;
  /** Epoch milliseconds. */
  expiresAt?: number;
  scopes: readonly string[];
  authMethod: AuthMethod;
}

/** Identity of a principal for binding sessions and keying caches: issuer, subject and tenant together. */
export function principalKey(principal: Principal): string {
  return JSON.stringify([principal.issuer, principal.subject, principal.tenant ?? null]);
}

export const LOCAL_ISSUER = 'urn:mcp-warden:unauthenticated-local';

export function localPrincipal(subject: string): Principal {
  return { subject, issuer: LOCAL_ISSUER, delegation: [], scopes: [], authMethod: 'unauthenticated-local' };
}
