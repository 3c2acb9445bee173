import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JWK } from 'jose';
import type { LoadedConfig } from '../config/load.js';
import type { ServerConfig } from '../config/schema.js';
import { KeyStore } from '../state/keys.js';
import type { SecretInjector } from '../pipeline/stages.js';
import { ConfiguredSecrets, type InjectorOptions } from './injector.js';
import { NoSecrets } from './none.js';
import { SecretSources } from './sources.js';

/** `iss` and `act.sub` of minted credentials when no built-in issuer is configured. */
export const GATEWAY_ISSUER = 'urn:mcp-warden:gateway';
/** Where the gateway publishes its public keys for downstreams that verify minted credentials. */
export const JWKS_FILE = 'jwks.json';

/** Other replicas' published public keys (the shared store), told when they change. */
export interface OtherPublishedKeys {
  jwks(now: number, graceMs: number): JWK[];
  onChange(listener: () => void): () => void;
}

/** How long a retired key stays in the published set: minted credentials live at most 5 minutes. */
const JWKS_GRACE_MS = 10 * 60_000;

export interface SecretsRuntime {
  injector: SecretInjector;
  /** The config with `spawn`-mode secret env resolved into each stdio server's env (never written anywhere). */
  loaded: LoadedConfig;
}

/** Builds the secrets stage from the config; with no secrets configured, calls carry nothing extra. */
export async function secretsFor(
  loaded: LoadedConfig,
  egress: InjectorOptions['egress'],
  now: () => number = Date.now,
  /** With the shared store: every replica's keys go into jwks.json, so any replica's credential verifies. */
  others?: OtherPublishedKeys,
): Promise<SecretsRuntime> {
  const { config } = loaded;
  if (Object.keys(config.secrets).length === 0) return { injector: new NoSecrets(), loaded };
  const keys = new KeyStore(loaded.dataDir);
  const issuer = config.auth?.mode === 'jwt' && config.auth.builtin ? config.auth.builtin.issuer : GATEWAY_ISSUER;
  let published: string | undefined;
  // A rotation (`mcp-warden keys rotate`) is published before the first token signed with the new key.
  const onSigningKey = (kid: string) => {
    if (kid !== published) publishJwks(loaded.dataDir, keys, now(), others);
    published = kid;
  };
  const sources = new SecretSources({ baseDir: loaded.baseDir, env: process.env, keys, issuer, now, onSigningKey });
  const servers = Object.fromEntries(Object.entries(config.servers).map(([id, spec]) => [id, spec.secrets]));
  const injector = new ConfiguredSecrets({
    secrets: config.secrets,
    servers,
    sources,
    fingerprintKey: fingerprintKey(loaded.dataDir),
    gatewaySubject: issuer,
    egress,
  });
  if (Object.values(config.secrets).some((s) => s.source === 'minted')) {
    publishJwks(loaded.dataDir, keys, now(), others);
    // Another replica started or rotated: downstreams on this machine trust its credentials too.
    others?.onChange(() => publishJwks(loaded.dataDir, keys, now(), others));
  }
  const resolved: Record<string, ServerConfig> = {};
  for (const [id, spec] of Object.entries(config.servers)) {
    const env = spec.transport === 'stdio' && spec.enabled && spec.secrets?.envMode === 'spawn' ? spec.secrets.env : {};
    if (Object.keys(env).length === 0) {
      resolved[id] = spec;
      continue;
    }
    const values = await injector.resolveForProcess(Object.values(env), GATEWAY_ISSUER);
    const extra = Object.fromEntries(Object.entries(env).map(([variable, name]) => [variable, values.get(name)!]));
    resolved[id] = { ...spec, env: { ...(spec as { env: Record<string, string> }).env, ...extra } } as ServerConfig;
  }
  return { injector, loaded: { ...loaded, config: { ...config, servers: resolved } } };
}

/**
 * The public JWKS, written to `<dataDir>/keys/jwks.json` for downstreams on this machine
 * (`TICKETS_JWKS_FILE`): this gateway's keys, and with the shared store every other replica's.
 */
export function publishJwks(dataDir: string, keys: KeyStore, now: number, others?: OtherPublishedKeys): string {
  const file = join(dataDir, 'keys', JWKS_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(withOthers(keys.publicJwks(now, JWKS_GRACE_MS).keys, others, now), null, 2), {
    mode: 0o644,
  });
  renameSync(temp, file);
  return file;
}

/** This gateway's keys first (its own key file wins for a kid it holds), then the other replicas'. */
export function withOthers(own: JWK[], others: OtherPublishedKeys | undefined, now: number): { keys: JWK[] } {
  const kids = new Set(own.map((k) => k.kid));
  return { keys: [...own, ...(others?.jwks(now, JWKS_GRACE_MS) ?? []).filter((k) => !kids.has(k.kid))] };
}

/** The key of audit fingerprints: random, kept in the data folder so fingerprints compare across restarts. */
function fingerprintKey(dataDir: string): Buffer {
  const dir = join(dataDir, 'keys');
  const file = join(dir, 'secret-fingerprint.key');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
}
