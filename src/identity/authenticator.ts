import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { localPrincipal, type AuthFailureKind, type Principal } from '../model/principal.js';
import type { TokenVerifier } from './verify.js';

export type AuthResult =
  | { ok: true; principal: Principal }
  | { ok: false; status: 401 | 403 | 503; message: string; headers?: Record<string, string> };

/** Turns the credential a request carries into a verified principal. Never trusts caller-asserted identity. */
export interface RequestAuthenticator {
  readonly mode: string;
  authenticate(credential: { authorization?: string | undefined; metadataUrl?: string }): Promise<AuthResult>;
}

/**
 * The explicit development mode: every request is the one configured local principal, marked
 * `unauthenticated-local` wherever it is recorded.
 */
export class LocalAuthenticator implements RequestAuthenticator {
  readonly mode = 'unauthenticated-local';
  private readonly principal: Principal;

  constructor(subject: string) {
    this.principal = localPrincipal(subject);
  }

  async authenticate(): Promise<AuthResult> {
    return { ok: true, principal: this.principal };
  }
}

const CACHE_LIMIT = 1024;
/**
 * A verified token is verified again after this long, so a key removed from the issuer's JWKS (or a
 * rotated-out key file) stops admitting tokens within this window plus the JWKS cache age, not only at
 * the token's expiry.
 */
const REVERIFY_AFTER_MS = 30_000;

/**
 * `Authorization: Bearer <JWT>` on every request, verified by the TokenVerifier. Answers follow RFC 6750
 * and RFC 9728: 401 with `resource_metadata`, 403 `insufficient_scope`, 503 when keys cannot be had.
 * Error text never carries token contents or library internals.
 */
export class JwtAuthenticator implements RequestAuthenticator {
  readonly mode = 'jwt';
  /**
   * Verified tokens by digest, until they expire or REVERIFY_AFTER_MS passes: verification runs once per
   * token and window, not per request. Past CACHE_LIMIT tokens the least recently used is dropped.
   */
  private readonly cache = new LRUCache<string, { principal: Principal; verifiedAt: number }>({ max: CACHE_LIMIT });

  constructor(
    private readonly verifier: TokenVerifier,
    private readonly requiredScopes: readonly string[],
    private readonly onFailure: (reason: string, kind: AuthFailureKind) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  async authenticate(credential: { authorization?: string | undefined; metadataUrl?: string }): Promise<AuthResult> {
    const challenge = (extra: string) =>
      `Bearer realm="mcp-warden"${credential.metadataUrl ? `, resource_metadata="${credential.metadataUrl}"` : ''}${extra}`;
    const match = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(credential.authorization ?? '');
    if (!match) {
      if (credential.authorization) this.onFailure('malformed Authorization header', 'malformed');
      else this.onFailure('no credential', 'no_credential');
      return {
        ok: false,
        status: 401,
        message: 'Authentication required: send Authorization: Bearer <token>',
        headers: { 'www-authenticate': challenge('') },
      };
    }
    const token = match[1]!;
    const principal = await this.principalFor(token);
    if (!principal.ok) {
      this.onFailure(principal.reason, principal.kind);
      if (principal.kind === 'unavailable') {
        return {
          ok: false,
          status: 503,
          message: 'Token keys are unavailable; try again later',
          headers: { 'retry-after': '5' },
        };
      }
      return {
        ok: false,
        status: 401,
        message: 'Invalid or expired token',
        headers: {
          'www-authenticate': challenge(
            ', error="invalid_token", error_description="The access token is invalid or expired"',
          ),
        },
      };
    }
    const missing = this.requiredScopes.filter((scope) => !principal.principal.scopes.includes(scope));
    if (missing.length > 0) {
      this.onFailure(`missing scope ${missing.join(' ')}`, 'insufficient_scope');
      return {
        ok: false,
        status: 403,
        message: 'Insufficient scope',
        headers: {
          'www-authenticate': challenge(`, error="insufficient_scope", scope="${this.requiredScopes.join(' ')}"`),
        },
      };
    }
    return { ok: true, principal: principal.principal };
  }

  private async principalFor(token: string) {
    const key = createHash('sha256').update(token).digest('base64url');
    const cached = this.cache.get(key);
    const now = this.now();
    if (
      cached &&
      (cached.principal.expiresAt === undefined || cached.principal.expiresAt > now) &&
      now - cached.verifiedAt < REVERIFY_AFTER_MS
    ) {
      return { ok: true as const, principal: cached.principal };
    }
    if (cached) this.cache.delete(key);
    const result = await this.verifier.verify(token);
    if (result.ok) {
      this.cache.set(key, { principal: result.principal, verifiedAt: now });
    }
    return result;
  }
}
