import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

/** Asymmetric algorithms only: a JWKS holds public keys, so HS* and `none` are never acceptable. */
const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const JWKS_TIMEOUT_MS = 5_000;
const CLOCK_TOLERANCE_S = 5;
const MAX_TOKEN_CHARS = 8_192;

export interface AuthConfig {
  /** Static bearer token (compared in constant time). */
  staticToken?: string | undefined;
  /** JWKS URL used to verify JWT bearer tokens: https, or http on a loopback host. */
  jwksUrl?: string | undefined;
  /** A JWKS file on this machine (the gateway publishes its keys at <dataDir>/keys/jwks.json); re-read when it changes. */
  jwksFile?: string | undefined;
  /** Required `aud` of JWT bearer tokens. */
  audience: string;
  /** Required `iss` of JWT bearer tokens, if set. */
  issuer?: string | undefined;
}

export type Authenticator = (authorization: string | undefined) => Promise<AuthInfo | undefined>;

/** Reads the auth settings from the environment; throws a message naming the bad variable. */
export function authConfigFromEnv(env: NodeJS.ProcessEnv): AuthConfig {
  const staticToken = nonEmpty(env['TICKETS_TOKEN']) ?? nonEmpty(env['MCP_WARDEN_DOWNSTREAM_TOKEN']);
  const jwksUrl = nonEmpty(env['TICKETS_JWKS_URL']);
  // MCP_WARDEN_JWKS_FILE: set by the gateway that launched this process (its published public keys).
  const jwksFile = nonEmpty(env['TICKETS_JWKS_FILE']) ?? nonEmpty(env['MCP_WARDEN_JWKS_FILE']);
  if (staticToken === undefined && jwksUrl === undefined && jwksFile === undefined) {
    throw new Error(
      'no credentials configured: set TICKETS_TOKEN (or MCP_WARDEN_DOWNSTREAM_TOKEN) to a static bearer token, and/or TICKETS_JWKS_URL or TICKETS_JWKS_FILE to verify JWTs',
    );
  }
  if (jwksUrl !== undefined) checkJwksUrl(jwksUrl);
  return {
    staticToken,
    jwksUrl,
    jwksFile,
    audience: nonEmpty(env['TICKETS_AUDIENCE']) ?? 'tickets',
    issuer: nonEmpty(env['TICKETS_ISSUER']),
  };
}

/**
 * Builds the bearer-token check. A request is authenticated by the static token or, failing that,
 * by a JWT that verifies against the JWKS with the configured audience (and issuer, if set).
 * Returns undefined for anything else; never says why, to the caller.
 */
export function createAuthenticator(config: AuthConfig): Authenticator {
  const staticDigest = config.staticToken === undefined ? undefined : digest(config.staticToken);
  const jwks =
    config.jwksUrl !== undefined
      ? createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: JWKS_TIMEOUT_MS })
      : config.jwksFile !== undefined
        ? fileJwks(config.jwksFile)
        : undefined;

  return async (authorization) => {
    const token = bearerToken(authorization);
    if (token === undefined) return undefined;

    if (staticDigest !== undefined && timingSafeEqual(digest(token), staticDigest)) {
      return { token, clientId: 'static-token', scopes: [], extra: { subject: 'static-token' } };
    }
    if (jwks === undefined || token.split('.').length !== 3) return undefined;

    try {
      const { payload } = await jwtVerify(token, jwks, {
        audience: config.audience,
        ...(config.issuer === undefined ? {} : { issuer: config.issuer }),
        algorithms: JWT_ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['sub', 'exp'],
      });
      const subject = payload.sub ?? '';
      const clientId = typeof payload['client_id'] === 'string' ? payload['client_id'] : subject;
      const scope = typeof payload['scope'] === 'string' ? payload['scope'] : '';
      return {
        token,
        clientId,
        scopes: scope.split(' ').filter((s) => s !== ''),
        ...(payload.exp === undefined ? {} : { expiresAt: payload.exp }),
        extra: { subject, ...(payload.jti === undefined ? {} : { jti: payload.jti }) },
      };
    } catch {
      return undefined;
    }
  };
}

/** Keys from a local JWKS file, re-read whenever its modification time changes (a key rotation). */
function fileJwks(path: string): JWTVerifyGetKey {
  let cached: { mtimeMs: number; keys: JWTVerifyGetKey } | undefined;
  return (header, token) => {
    const mtimeMs = statSync(path).mtimeMs;
    if (cached?.mtimeMs !== mtimeMs)
      cached = { mtimeMs, keys: createLocalJWKSet(JSON.parse(readFileSync(path, 'utf8')) as JSONWebKeySet) };
    return cached.keys(header, token);
  };
}

/** Extracts the token from `Bearer <token>`; undefined for any other shape. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length > MAX_TOKEN_CHARS + 7) return undefined;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  return match?.[1];
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function checkJwksUrl(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`TICKETS_JWKS_URL: not a valid URL`);
  }
  const loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new Error('TICKETS_JWKS_URL: must be an https URL (loopback may use http)');
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error('TICKETS_JWKS_URL: must not contain credentials');
  }
}
