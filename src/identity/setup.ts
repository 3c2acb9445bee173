import { resolve } from 'node:path';
import type { JwtAuthConfig } from '../config/schema.js';
import { WardenError } from '../errors.js';
import { builtinKeySource, fileKeySource, hmacKeySource, remoteKeySource, type OtherReplicaKeys } from './jwks.js';
import type { KeyStore } from '../state/keys.js';
import { TokenVerifier, issuerAlgorithms, type TrustedIssuer } from './verify.js';

export interface VerifierInputs {
  auth: JwtAuthConfig;
  baseDir: string;
  keys: KeyStore;
  /** Used when the config names no `resource`: http://<gateway.host>:<gateway.port>/mcp. */
  defaultResource: string;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /** The built-in issuer's keys published by other replicas (store.kind postgres). */
  otherKeys?: OtherReplicaKeys;
}

export function resourceOf(auth: JwtAuthConfig, defaultResource: string): string {
  return auth.resource ?? defaultResource;
}

/** Builds the verifier for `auth.mode = jwt`; a missing HMAC secret variable is a start-up error. */
export function buildVerifier(inputs: VerifierInputs): TokenVerifier {
  const { auth, baseDir, keys } = inputs;
  const env = inputs.env ?? process.env;
  const now = inputs.now ?? Date.now;
  const issuers: TrustedIssuer[] = [];
  if (auth.builtin) {
    issuers.push({
      issuer: auth.builtin.issuer,
      algorithms: ['EdDSA'],
      source: builtinKeySource(
        keys,
        now,
        auth.maxTokenLifetimeSeconds * 1000 + auth.clockSkewSeconds * 1000,
        inputs.otherKeys,
      ),
    });
  }
  for (const issuer of auth.issuers) {
    const algorithms = issuerAlgorithms(issuer);
    if (issuer.jwksUri !== undefined)
      issuers.push({
        issuer: issuer.issuer,
        algorithms,
        source: remoteKeySource({ ...issuer, jwksUri: issuer.jwksUri }),
      });
    else if (issuer.jwksFile !== undefined)
      issuers.push({ issuer: issuer.issuer, algorithms, source: fileKeySource(resolve(baseDir, issuer.jwksFile)) });
    else if (issuer.hmacSecretEnv !== undefined) {
      const secret = env[issuer.hmacSecretEnv];
      if (!secret || secret.length < 32) {
        throw new WardenError(
          'ERR_CONFIG_INVALID',
          `auth.issuers: ${issuer.issuer}: environment variable ${issuer.hmacSecretEnv} must hold an HMAC secret of at least 32 characters`,
        );
      }
      issuers.push({ issuer: issuer.issuer, algorithms, source: hmacKeySource(secret) });
    }
  }
  return new TokenVerifier(
    {
      resource: resourceOf(auth, inputs.defaultResource),
      clockSkewSeconds: auth.clockSkewSeconds,
      maxTokenLifetimeSeconds: auth.maxTokenLifetimeSeconds,
    },
    issuers,
    now,
  );
}
