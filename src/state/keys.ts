import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { SigningKeyRow } from './shared.js';
import type { JWK, importJWK } from 'jose';
import { z } from 'zod';
import { WardenError } from '../errors.js';

/** The gateway's own Ed25519 keys: they sign built-in tokens, minted credentials and audit checkpoints. */
export const KEY_ALG = 'EdDSA';
const FILE_NAME = 'signing-keys.json';

const JwkSchema = z.record(z.string(), z.unknown());
const StoredKeySchema = z
  .object({
    kid: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
    createdAt: z.number().int(),
    /** When a newer key took over; the public half stays published until tokens signed before have expired. */
    retiredAt: z.number().int().optional(),
    privateJwk: JwkSchema,
    publicJwk: JwkSchema,
  })
  .strict();
const KeyFileSchema = z.object({ version: z.literal(1), keys: z.array(StoredKeySchema).min(1) }).strict();

export type StoredKey = z.infer<typeof StoredKeySchema>;
/** What jose signs with (a WebCrypto key on Node). */
export type KeyHandle = Awaited<ReturnType<typeof importJWK>>;

export interface SigningKey {
  kid: string;
  privateKey: KeyHandle;
}

/** How long `active()` trusts its last look at the key file. */
const ACTIVE_RECHECK_MS = 1_000;

/**
 * The keys a verifier accepts at `now`: the active ones, and retired ones while a token signed just before
 * retirement could still be valid (`graceMs`: the longest token lifetime the gateway issues or accepts).
 */
export function publishedJwks(keys: readonly SigningKeyRow[], now: number, graceMs: number): JWK[] {
  return (
    keys
      // A gateway may sign with a key for up to ACTIVE_RECHECK_MS after another process retired it.
      .filter((k) => k.retiredAt === undefined || k.retiredAt + graceMs + ACTIVE_RECHECK_MS > now)
      .map((k) => ({ ...(k.publicJwk as JWK), kid: k.kid, alg: KEY_ALG, use: 'sig' }))
  );
}

export function keyFilePath(dataDir: string): string {
  return join(dataDir, 'keys', FILE_NAME);
}

/**
 * Reads the key file from the data folder, re-reading it when it changes on disk so a rotation by
 * `mcp-warden keys rotate` reaches every running gateway that shares the folder.
 */
export class KeyStore {
  private cached: { mtimeMs: number; size: number; keys: StoredKey[] } | undefined;
  private imported = new Map<string, KeyHandle>();

  constructor(readonly dataDir: string) {}

  get file(): string {
    return keyFilePath(this.dataDir);
  }

  exists(): boolean {
    return existsSync(this.file);
  }

  /** Every key ever created (newest last), from the file as it is now. */
  keys(): StoredKey[] {
    let stat;
    try {
      stat = statSync(this.file);
    } catch {
      throw new WardenError('ERR_KEYS_MISSING', `no signing key in ${this.dataDir}: run "mcp-warden keys init" first`);
    }
    if (this.cached && this.cached.mtimeMs === stat.mtimeMs && this.cached.size === stat.size) return this.cached.keys;
    if ((stat.mode & 0o077) !== 0) {
      throw new WardenError(
        'ERR_KEYS_INVALID',
        `${this.file}: readable by group or others (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600`,
      );
    }
    const parsed = KeyFileSchema.safeParse(JSON.parse(readFileSync(this.file, 'utf8')));
    if (!parsed.success) throw new WardenError('ERR_KEYS_INVALID', `${this.file}: not a valid key file`);
    this.cached = { mtimeMs: stat.mtimeMs, size: stat.size, keys: parsed.data.keys };
    return parsed.data.keys;
  }

  /**
   * The key new signatures use: the newest one not retired. The file is looked at again at most once a
   * second (a `stat` per minted credential was a measurable part of a governed call); a rotation keeps
   * the old key published, so signing with it for up to a second longer is harmless.
   */
  async active(now: number = Date.now()): Promise<SigningKey> {
    const recent = this.lastActive;
    if (recent && now - recent.checkedAt < ACTIVE_RECHECK_MS && now >= recent.checkedAt) return recent.key;
    const key = await this.readActive();
    this.lastActive = { key, checkedAt: now };
    return key;
  }

  private lastActive: { key: SigningKey; checkedAt: number } | undefined;

  private async readActive(): Promise<SigningKey> {
    const current = this.keys()
      .filter((k) => k.retiredAt === undefined)
      .at(-1);
    if (!current) throw new WardenError('ERR_KEYS_INVALID', `${this.file}: no active key`);
    let privateKey = this.imported.get(current.kid);
    if (!privateKey) {
      const { importJWK } = await import('jose/key/import'); // loaded by the first signature, not by every key read
      privateKey = await importJWK(current.privateJwk as JWK, KEY_ALG);
      this.imported.set(current.kid, privateKey);
    }
    return { kid: current.kid, privateKey };
  }

  /**
   * Public keys to publish at `now`: the active key, and retired keys while a token signed just before
   * retirement could still be valid (`graceMs`: the longest token lifetime the gateway issues or accepts).
   */
  publicJwks(now: number, graceMs: number): { keys: JWK[] } {
    return { keys: publishedJwks(this.keys(), now, graceMs) };
  }

  /** The public halves, as the shared store publishes them for other replicas (src/state/shared.ts). */
  publicKeyRows(): SigningKeyRow[] {
    return this.keys().map((k) => ({
      kid: k.kid,
      publicJwk: k.publicJwk,
      createdAt: k.createdAt,
      ...(k.retiredAt !== undefined && { retiredAt: k.retiredAt }),
    }));
  }

  /** Every public key ever used, by kid: audit checkpoints signed years ago still verify. */
  allPublicKeys(): Map<string, JWK> {
    return new Map(this.keys().map((k) => [k.kid, { ...(k.publicJwk as JWK), kid: k.kid, alg: KEY_ALG }]));
  }

  /**
   * Creates the first key. Refuses to overwrite an existing file, also one another process (a gateway
   * starting, a `token issue`) creates meanwhile: the file is linked into place, which fails if it exists.
   */
  async init(now: number): Promise<StoredKey> {
    const exists = () =>
      new WardenError('ERR_KEYS_EXIST', `${this.file} already exists; use "mcp-warden keys rotate" for a new key`);
    if (this.exists()) throw exists();
    const key = await newKey(now);
    if (!this.write([key], { replace: false })) throw exists();
    return key;
  }

  /** Adds a new active key and retires the previous one at `now`. */
  async rotate(now: number): Promise<{ added: StoredKey; retired: string[] }> {
    const keys = this.keys().map((k) => ({ ...k }));
    const retired: string[] = [];
    for (const key of keys) {
      if (key.retiredAt === undefined) {
        key.retiredAt = now;
        retired.push(key.kid);
      }
    }
    const added = await newKey(now);
    this.write([...keys, added]);
    return { added, retired };
  }

  /**
   * Atomic write with mode 0600: a temp file, fsync, then rename over the old file (`replace`) or link
   * into place only if there is none. False when `replace` is off and the file already existed.
   */
  private write(keys: StoredKey[], { replace }: { replace: boolean } = { replace: true }): boolean {
    this.lastActive = undefined;
    const dir = join(this.dataDir, 'keys');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const temp = join(dir, `.${FILE_NAME}.${randomBytes(6).toString('hex')}.tmp`);
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, `${JSON.stringify({ version: 1, keys }, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.cached = undefined;
    if (replace) {
      renameSync(temp, this.file);
      return true;
    }
    try {
      linkSync(temp, this.file);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      unlinkSync(temp);
    }
  }
}

async function newKey(now: number): Promise<StoredKey> {
  const [{ exportJWK }, { generateKeyPair }] = await Promise.all([
    import('jose/key/export'),
    import('jose/key/generate/keypair'),
  ]);
  const { privateKey, publicKey } = await generateKeyPair(KEY_ALG, { crv: 'Ed25519', extractable: true });
  const kid = randomBytes(12).toString('base64url');
  return {
    kid,
    createdAt: now,
    privateJwk: { ...(await exportJWK(privateKey)) },
    publicJwk: { ...(await exportJWK(publicKey)) },
  };
}
