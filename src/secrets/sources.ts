import { execFile } from 'node:child_process';
import { KeyObject, randomUUID, sign, type webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { SecretSource } from '../config/secrets-schema.js';
import { KEY_ALG, type KeyHandle, type KeyStore } from '../state/keys.js';
import { MIN_SECRET_LENGTH } from '../pipeline/stages.js';
import { SecretValue } from './value.js';

/** Who a minted credential is for: the call it is minted for. */
export interface MintClaims {
  subject: string;
  taskId?: string;
  tool?: string;
}

export interface SourceDeps {
  baseDir: string;
  env: NodeJS.ProcessEnv;
  /** The gateway's signing keys; minted credentials need them. */
  keys?: KeyStore;
  /** `iss` and `act.sub` of minted credentials: the gateway itself. */
  issuer: string;
  now: () => number;
  /** Called when a minted credential is signed with a key not published before (start, rotation). */
  onSigningKey?: (kid: string) => void;
}

/** A source failed: the message names the secret and the cause, never a value. */
export class SecretUnavailable extends Error {}

const MAX_OUTPUT = 64 * 1024;

/** Resolves secrets by source; exec results are cached for at most their ttl. */
export class SecretSources {
  private readonly cache = new Map<string, { value: SecretValue; until: number }>();
  private readonly inflight = new Map<string, Promise<SecretValue>>();

  constructor(private readonly deps: SourceDeps) {}

  async resolve(name: string, source: SecretSource, claims: MintClaims): Promise<SecretValue> {
    switch (source.source) {
      case 'env':
        return checked(this.deps.env[source.name], `environment variable ${source.name} is not set`);
      case 'file': {
        const text = await readFile(resolve(this.deps.baseDir, source.path), 'utf8').catch(() => undefined);
        return checked(text?.trim(), `file ${source.path} cannot be read`);
      }
      case 'exec':
        return this.exec(name, source);
      case 'minted':
        return this.mint(source, claims);
    }
  }

  private async exec(name: string, source: Extract<SecretSource, { source: 'exec' }>): Promise<SecretValue> {
    const now = this.deps.now();
    const cached = this.cache.get(name);
    if (cached && cached.until > now) return cached.value;
    let pending = this.inflight.get(name);
    if (!pending) {
      pending = runHelper(source.command, source.timeoutMs, this.deps.baseDir).finally(() =>
        this.inflight.delete(name),
      );
      this.inflight.set(name, pending);
    }
    const value = await pending;
    if (source.ttlSeconds > 0) this.cache.set(name, { value, until: now + source.ttlSeconds * 1000 });
    return value;
  }

  private async mint(source: Extract<SecretSource, { source: 'minted' }>, claims: MintClaims): Promise<SecretValue> {
    if (!this.deps.keys)
      throw new SecretUnavailable(
        'the gateway has no signing key (minted secrets need auth mode "jwt" with "builtin")',
      );
    const key = await this.deps.keys.active();
    this.deps.onSigningKey?.(key.kid);
    const now = Math.floor(this.deps.now() / 1000);
    // The claims jose's SignJWT would set, in the same order; signed with node:crypto directly, because
    // one WebCrypto sign per call was the largest CPU cost of a governed call (see docs/performance.md).
    const payload = {
      act: { sub: this.deps.issuer },
      ...(claims.taskId !== undefined && { task_id: claims.taskId }),
      ...(claims.tool !== undefined && { tool: claims.tool }),
      iss: this.deps.issuer,
      sub: claims.subject,
      aud: source.audience,
      iat: now,
      nbf: now,
      exp: now + source.ttlSeconds,
      jti: randomUUID(),
    };
    const signing = signingKey(key.kid, key.privateKey);
    const input = `${signing.header}.${Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url')}`;
    return new SecretValue(`${input}.${sign(null, Buffer.from(input, 'ascii'), signing.key).toString('base64url')}`);
  }
}

const signingKeys = new Map<string, { handle: KeyHandle; key: KeyObject; header: string }>();

/** The key as a node:crypto KeyObject and the encoded protected header, made once per key. */
function signingKey(kid: string, handle: KeyHandle): { key: KeyObject; header: string } {
  const known = signingKeys.get(kid);
  if (known?.handle === handle) return known;
  if (handle instanceof Uint8Array) throw new SecretUnavailable('the signing key is not an asymmetric key');
  const made = {
    handle,
    key: KeyObject.from(handle as webcrypto.CryptoKey),
    header: Buffer.from(JSON.stringify({ alg: KEY_ALG, kid, typ: 'JWT' }), 'utf8').toString('base64url'),
  };
  signingKeys.set(kid, made);
  return made;
}

function checked(value: string | undefined, missing: string): SecretValue {
  if (value === undefined || value.length === 0) throw new SecretUnavailable(missing);
  if (value.length < MIN_SECRET_LENGTH)
    throw new SecretUnavailable(`value is shorter than ${MIN_SECRET_LENGTH} characters`);
  return new SecretValue(value);
}

function runHelper(argv: readonly string[], timeoutMs: number, cwd: string): Promise<SecretValue> {
  const [command, ...args] = argv as [string, ...string[]];
  return new Promise((resolvePromise, reject) => {
    execFile(
      command,
      args,
      { shell: false, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT, cwd, encoding: 'utf8' },
      (error, stdout) => {
        if (error) {
          reject(
            new SecretUnavailable(
              error.killed
                ? `helper timed out after ${timeoutMs} ms`
                : `helper failed (${typeof error.code === 'number' ? `exit ${error.code}` : 'not started'})`,
            ),
          );
          return;
        }
        try {
          resolvePromise(checked(stdout.trim(), 'helper printed nothing'));
        } catch (failure) {
          reject(failure as Error);
        }
      },
    );
  });
}
