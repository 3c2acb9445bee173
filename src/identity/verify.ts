// jose by subpath: its index loads every JWE and JWS module, about 40 ms more at each start.
import type { JWTPayload, ProtectedHeaderParameters } from 'jose';
import { decodeJwt } from 'jose/jwt/decode';
import { decodeProtectedHeader } from 'jose/decode/protected_header';
import * as errors from 'jose/errors';
import { jwtVerify } from 'jose/jwt/verify';
import type { IssuerConfig, JwtAuthConfig } from '../config/schema.js';
import { principalFromClaims, type WardenClaims } from './claims.js';
import { KeysUnavailable, type KeySource } from './jwks.js';
import type { Principal } from '../model/principal.js';

export type VerifyResult =
  | { ok: true; principal: Principal }
  /** `invalid`: the token is refused (401). `unavailable`: keys could not be had (503, fail closed). */
  | { ok: false; kind: 'invalid' | 'unavailable'; reason: string };

export interface TrustedIssuer {
  issuer: string;
  algorithms: readonly string[];
  source: KeySource;
}

const DEFAULT_ALGORITHMS = ['EdDSA', 'ES256', 'RS256'] as const;
const KID = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Header parameters that would make a verifier fetch or trust key material the token itself names. */
const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;
const MAX_TOKEN_LENGTH = 16 * 1024;

export function issuerAlgorithms(issuer: IssuerConfig): readonly string[] {
  if (issuer.algorithms) return issuer.algorithms;
  return issuer.hmacSecretEnv !== undefined ? ['HS256'] : DEFAULT_ALGORITHMS;
}

/**
 * Verifies a bearer JWT against the configured issuers. Checks, in order: shape and size, header
 * (no `none`, no key-bearing or key-locating headers, no `crit`, a sane `kid`), a trusted `iss`, the
 * issuer's algorithm allowlist, the signature, `aud` = this gateway's resource, required claims, time
 * claims with bounded skew, the maximum lifetime, then task and delegation claims.
 */
export class TokenVerifier {
  private readonly issuers: Map<string, TrustedIssuer>;

  constructor(
    private readonly settings: Pick<JwtAuthConfig, 'clockSkewSeconds' | 'maxTokenLifetimeSeconds'> & {
      resource: string;
    },
    issuers: readonly TrustedIssuer[],
    private readonly now: () => number = Date.now,
  ) {
    this.issuers = new Map(issuers.map((issuer) => [issuer.issuer, issuer]));
  }

  get resource(): string {
    return this.settings.resource;
  }

  get issuerNames(): string[] {
    return [...this.issuers.keys()];
  }

  async verify(token: string): Promise<VerifyResult> {
    const invalid = (reason: string): VerifyResult => ({ ok: false, kind: 'invalid', reason });
    if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token))
      return invalid('malformed token');
    let header: ProtectedHeaderParameters;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      return invalid('malformed token');
    }
    if (typeof header.alg !== 'string' || header.alg.toLowerCase() === 'none') return invalid('unsigned token');
    for (const name of FORBIDDEN_HEADERS) if (name in header) return invalid(`header ${name} is not accepted`);
    if ('crit' in header) return invalid('crit header is not accepted');
    if (header.kid !== undefined && (typeof header.kid !== 'string' || !KID.test(header.kid)))
      return invalid('kid malformed');
    const trusted = typeof unverified.iss === 'string' ? this.issuers.get(unverified.iss) : undefined;
    if (!trusted) return invalid('issuer not trusted');
    if (!trusted.algorithms.includes(header.alg)) return invalid(`algorithm ${header.alg} not allowed for this issuer`);

    const now = this.now();
    const skew = this.settings.clockSkewSeconds;
    let payload: WardenClaims;
    try {
      const verified = await jwtVerify(token, trusted.source.key as never, {
        issuer: trusted.issuer,
        audience: this.settings.resource,
        algorithms: [...trusted.algorithms],
        clockTolerance: skew,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
        currentDate: new Date(now),
      });
      payload = verified.payload as WardenClaims;
    } catch (error) {
      return this.mapError(error);
    }
    const nowSeconds = Math.floor(now / 1000);
    if (typeof payload.iat !== 'number' || payload.iat > nowSeconds + skew) return invalid('iat in the future');
    if (typeof payload.exp !== 'number' || payload.exp - payload.iat > this.settings.maxTokenLifetimeSeconds) {
      return invalid(`lifetime longer than ${this.settings.maxTokenLifetimeSeconds} s`);
    }
    const built = principalFromClaims(payload, 'jwt');
    return built.ok ? built : invalid(built.reason);
  }

  private mapError(error: unknown): VerifyResult {
    if (error instanceof KeysUnavailable || error instanceof errors.JWKSTimeout) {
      return { ok: false, kind: 'unavailable', reason: `keys unavailable: ${(error as Error).message}` };
    }
    if (error instanceof errors.JOSEError) {
      if (error instanceof errors.JWTExpired) return { ok: false, kind: 'invalid', reason: 'expired' };
      if (error instanceof errors.JWTClaimValidationFailed)
        return { ok: false, kind: 'invalid', reason: `claim ${error.claim} ${error.reason}` };
      if (error instanceof errors.JWKSNoMatchingKey)
        return { ok: false, kind: 'invalid', reason: 'no key matches kid' };
      if (error instanceof errors.JWKSInvalid) return { ok: false, kind: 'unavailable', reason: 'JWKS invalid' };
      return { ok: false, kind: 'invalid', reason: error.code };
    }
    // fetch failures (connection refused, DNS) arrive as a TypeError, an abort or deadline as a DOMException
    // (whose name is its kind, there being no subclasses)
    if (
      error instanceof TypeError ||
      (error instanceof DOMException && (error.name === 'AbortError' || error.name === 'TimeoutError'))
    ) {
      return { ok: false, kind: 'unavailable', reason: 'keys unavailable: JWKS endpoint unreachable' };
    }
    return { ok: false, kind: 'invalid', reason: 'verification failed' };
  }
}
