import { readFileSync, statSync } from 'node:fs';
import type { JSONWebKeySet, JWK, JWTVerifyGetKey } from 'jose';
import { createLocalJWKSet } from 'jose/jwks/local';
import { createRemoteJWKSet, customFetch } from 'jose/jwks/remote';
import type { IssuerConfig } from '../config/schema.js';
import type { KeyStore } from '../state/keys.js';

/** Largest JWKS document accepted from anywhere. Real ones are a few KiB. */
export const MAX_JWKS_BYTES = 256 * 1024;

/** Where an issuer's verification keys come from. `unavailable` errors mean "could not tell": 503, not 401. */
export interface KeySource {
  readonly kind: 'remote' | 'file' | 'builtin' | 'hmac';
  key: JWTVerifyGetKey | Uint8Array;
}

export class KeysUnavailable extends Error {}

/**
 * A remote JWKS with a deadline, a cooldown between refetches, a cache age, one shared in-flight fetch
 * (jose), no redirects, and a size cap on the body: an HTML page or a huge body is a clean refusal.
 */
export function remoteKeySource(issuer: IssuerConfig & { jwksUri: string }): KeySource {
  const key = createRemoteJWKSet(new URL(issuer.jwksUri), {
    timeoutDuration: issuer.jwksTimeoutMs,
    cooldownDuration: issuer.jwksCooldownSeconds * 1000,
    cacheMaxAge: issuer.jwksCacheMaxAgeSeconds * 1000,
    [customFetch]: cappedFetch,
  });
  return { kind: 'remote', key };
}

async function cappedFetch(
  url: string,
  options: { headers: Headers; method: 'GET'; redirect: 'manual'; signal: AbortSignal },
): Promise<Response> {
  const response = await fetch(url, { ...options, redirect: 'manual' });
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new KeysUnavailable(`JWKS endpoint answered ${response.status}`);
  }
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > MAX_JWKS_BYTES) {
    await response.body?.cancel().catch(() => undefined);
    throw new KeysUnavailable('JWKS document too large');
  }
  const reader = response.body?.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (reader) {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_JWKS_BYTES) {
        await reader.cancel().catch(() => undefined);
        throw new KeysUnavailable('JWKS document too large');
      }
      chunks.push(value);
    }
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new KeysUnavailable('JWKS endpoint did not return JSON');
  }
  return new Response(JSON.stringify(parsed), { status: 200, headers: { 'content-type': 'application/json' } });
}

/** A JWKS file, re-read when its modification time or size changes. */
export function fileKeySource(path: string): KeySource {
  let cached: { mtimeMs: number; size: number; getKey: JWTVerifyGetKey } | undefined;
  const load = (): JWTVerifyGetKey => {
    let stat;
    try {
      stat = statSync(path);
    } catch {
      throw new KeysUnavailable(`JWKS file ${path} cannot be read`);
    }
    if (cached && cached.mtimeMs === stat.mtimeMs && cached.size === stat.size) return cached.getKey;
    if (stat.size > MAX_JWKS_BYTES) throw new KeysUnavailable(`JWKS file ${path} is too large`);
    const jwks = JSON.parse(readFileSync(path, 'utf8')) as JSONWebKeySet;
    const getKey = createLocalJWKSet(jwks);
    cached = { mtimeMs: stat.mtimeMs, size: stat.size, getKey };
    return getKey;
  };
  return { kind: 'file', key: (header, token) => load()(header, token) };
}

/**
 * The keys other replicas published in the shared store (store.kind postgres): none until `use` is given
 * the store's copy (src/state/pg/published-keys.ts), which `serve` does once the store is open.
 */
export class OtherReplicaKeys {
  private source: { jwks(now: number, graceMs: number): JWK[] } | undefined;

  use(source: { jwks(now: number, graceMs: number): JWK[] }): void {
    this.source = source;
  }

  jwks(now: number, graceMs: number): JWK[] {
    return this.source?.jwks(now, graceMs) ?? [];
  }
}

/** The gateway's own published keys (active plus recently retired), and those of the other replicas if any. */
export function builtinKeySource(
  store: KeyStore,
  now: () => number,
  graceMs: number,
  others?: OtherReplicaKeys,
): KeySource {
  return {
    kind: 'builtin',
    key: (header, token) => {
      const at = now();
      const own = store.publicJwks(at, graceMs).keys;
      const kids = new Set(own.map((k) => k.kid));
      // This replica's own key file wins for a kid it holds.
      const keys = [...own, ...(others?.jwks(at, graceMs) ?? []).filter((k) => !kids.has(k.kid))];
      return createLocalJWKSet({ keys } as JSONWebKeySet)(header, token);
    },
  };
}

export function hmacKeySource(secret: string): KeySource {
  return { kind: 'hmac', key: new TextEncoder().encode(secret) };
}
