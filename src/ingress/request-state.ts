// The `requestState` a 2026-07-28 agent holds between the rounds of a multi-round-trip (MRTR) call:
// sealed by the gateway with AES-256-GCM under a key kept in the data folder, so the agent can carry it
// but neither read nor change it. What it binds is checked on every retry (request-rounds.ts).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Bound into every seal as associated data: a value sealed for another purpose never opens here. */
const PURPOSE = Buffer.from('mcp-warden requestState v1');
/** Longest sealed text accepted (a state names a few request digests; anything longer is not ours). */
const MAX_SEALED_CHARS = 8192;

/** What a sealed requestState says. Short keys: the agent sends it back on every retry. */
export const RequestStateSchema = z.strictObject({
  /** Which round of which call: single use, so a replay is refused. */
  sid: z.string().min(1),
  iss: z.string(),
  sub: z.string(),
  ten: z.string().nullable(),
  /** The principal's task id, when it had one. */
  task: z.string().nullable(),
  /** Digest of the call (method, target and arguments, canonical JSON). */
  dig: z.string(),
  rnd: z.number().int().min(1),
  /** Epoch milliseconds on the gateway's clock. */
  exp: z.number().int(),
  /** Each input request of this round by its key: the digest of what the agent was asked. */
  ask: z.record(z.string(), z.string()),
});
export type RequestState = z.infer<typeof RequestStateSchema>;

export class RequestStateSealer {
  constructor(private readonly key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error(`a requestState key has ${KEY_BYTES} bytes`);
  }

  seal(state: RequestState): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(PURPOSE);
    const body = Buffer.concat([cipher.update(JSON.stringify(state), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  /** The state, or undefined for anything that is not a whole, untouched seal of ours. */
  open(sealed: string): RequestState | undefined {
    if (sealed.length > MAX_SEALED_CHARS || !/^[A-Za-z0-9_-]+$/.test(sealed)) return undefined;
    const raw = Buffer.from(sealed, 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(PURPOSE);
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]);
      const parsed = RequestStateSchema.safeParse(JSON.parse(plain.toString('utf8')));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined; // authentication failed (tampered, or sealed under another key), or not JSON
    }
  }
}

export const REQUEST_STATE_KEY_FILE = 'request-state.key';

/**
 * The sealing key from `<dataDir>/keys/request-state.key` (created, mode 0600, on first use), so
 * every gateway process on the data folder opens the states the others sealed. Never logged.
 */
export function loadRequestStateKey(dataDir: string): Buffer {
  const dir = join(dataDir, 'keys');
  const file = join(dir, REQUEST_STATE_KEY_FILE);
  try {
    const stat = statSync(file);
    if ((stat.mode & 0o077) !== 0)
      throw new Error(`${file}: readable by group or others (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600`);
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== KEY_BYTES) throw new Error(`${file}: not a ${KEY_BYTES}-byte base64 key`);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = randomBytes(KEY_BYTES);
  // Written whole beside it, then linked into place: two processes starting together never see half a
  // key, and the one that loses the race reads the winner's.
  const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(partial, `${key.toString('base64')}\n`, { mode: 0o600 });
  chmodSync(partial, 0o600);
  try {
    linkSync(partial, file);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadRequestStateKey(dataDir);
    throw error;
  } finally {
    rmSync(partial, { force: true });
  }
}
