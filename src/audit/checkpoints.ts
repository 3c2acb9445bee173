import { KeyObject, createPublicKey, sign, verify, type JsonWebKey } from 'node:crypto';
import { z } from 'zod';
import { WardenError } from '../errors.js';
import type { KeyStore } from '../state/keys.js';
import { canonicalJson } from '../model/canonical.js';
import { ChainAppender } from './chain.js';
import type { Db } from './store.js';

export const CHECKPOINT_TYPE = 'mcp-warden-audit-checkpoint';

/** What a checkpoint signs: the chain's end, its length, and the previous checkpoint's signature. */
export const CheckpointPayloadSchema = z
  .object({
    v: z.literal(1),
    seq: z.number().int().min(1),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    count: z.number().int().min(1),
    ts: z.number().int(),
    kid: z.string(),
    instance: z.string(),
    prev: z.string().nullable(),
  })
  .strict();
export type CheckpointPayload = z.infer<typeof CheckpointPayloadSchema>;

export interface CheckpointRow {
  id: number;
  seq: number;
  hash: string;
  count: number;
  ts: number;
  kid: string;
  instance: string;
  prevSig: string | null;
  jws: string;
}

export interface SignerKey {
  kid: string;
  privateKey: KeyObject;
}

/** The gateway's active Ed25519 key as a node:crypto key (signing then needs no await inside a transaction). */
export async function activeSigner(keys: KeyStore): Promise<SignerKey> {
  const active = await keys.active();
  if (active.privateKey instanceof Uint8Array)
    throw new WardenError('ERR_KEYS_INVALID', 'the active key is not an Ed25519 key');
  return { kid: active.kid, privateKey: KeyObject.from(active.privateKey) };
}

const b64 = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

/** A compact JWS (EdDSA): any JOSE library can check it against the gateway's JWKS. */
export function signPayload(payload: CheckpointPayload, key: SignerKey): string {
  const input = `${b64(JSON.stringify({ alg: 'EdDSA', kid: key.kid, typ: CHECKPOINT_TYPE }))}.${b64(canonicalJson(payload))}`;
  return `${input}.${b64(sign(null, Buffer.from(input), key.privateKey))}`;
}

export function signatureOf(jws: string): string {
  return jws.slice(jws.lastIndexOf('.') + 1);
}

export type JwsCheck = { ok: true; payload: CheckpointPayload; kid: string } | { ok: false; reason: string };

/** Checks a checkpoint's signature with the key its header names; never fetches a key from anywhere. */
export function verifyJws(jws: string, publicKeys: ReadonlyMap<string, JsonWebKey | object>): JwsCheck {
  const parts = jws.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'not a compact JWS' };
  const [headerPart, payloadPart, sigPart] = parts as [string, string, string];
  let header: { alg?: unknown; kid?: unknown; typ?: unknown };
  let payloadJson: unknown;
  try {
    header = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8')) as typeof header;
    payloadJson = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'header or payload is not JSON' };
  }
  if (header.alg !== 'EdDSA' || header.typ !== CHECKPOINT_TYPE || typeof header.kid !== 'string')
    return { ok: false, reason: 'unexpected JWS header' };
  const jwk = publicKeys.get(header.kid);
  if (!jwk) return { ok: false, reason: `signed with unknown key ${header.kid}` };
  let good = false;
  try {
    const { kty, crv, x } = jwk as { kty?: string; crv?: string; x?: string };
    const key = createPublicKey({ key: { kty, crv, x } as JsonWebKey, format: 'jwk' });
    good = verify(null, Buffer.from(`${headerPart}.${payloadPart}`), key, Buffer.from(sigPart, 'base64url'));
  } catch {
    good = false;
  }
  if (!good) return { ok: false, reason: `signature does not verify with key ${header.kid}` };
  const payload = CheckpointPayloadSchema.safeParse(payloadJson);
  if (!payload.success) return { ok: false, reason: 'payload is not a checkpoint' };
  if (payload.data.kid !== header.kid) return { ok: false, reason: 'payload kid differs from the header' };
  return { ok: true, payload: payload.data, kid: header.kid };
}

const COLUMNS = 'id, seq, hash, count, ts, kid, instance, prev_sig AS prevSig, jws';

export function listCheckpoints(db: Db): CheckpointRow[] {
  return db.prepare<[], CheckpointRow>(`SELECT ${COLUMNS} FROM checkpoints ORDER BY id`).all();
}

export function lastCheckpoint(db: Db): CheckpointRow | undefined {
  return db.prepare<[], CheckpointRow>(`SELECT ${COLUMNS} FROM checkpoints ORDER BY id DESC LIMIT 1`).get();
}

/**
 * Signs the chain's current end, unless the last checkpoint already covers it. Runs its own
 * `BEGIN IMMEDIATE` transaction, so checkpoints from several processes still chain one after another.
 */
export function writeCheckpoint(db: Db, key: SignerKey, instance: string, now: number): CheckpointRow | undefined {
  const appender = new ChainAppender(db);
  const insert = db.prepare(
    'INSERT INTO checkpoints (seq, hash, count, ts, kid, instance, prev_sig, jws) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  return db
    .transaction((): CheckpointRow | undefined => {
      const head = appender.head();
      const last = lastCheckpoint(db);
      if (head.seq === 0 || (last && last.seq >= head.seq)) return undefined;
      const prev = last ? signatureOf(last.jws) : null;
      const payload: CheckpointPayload = {
        v: 1,
        seq: head.seq,
        hash: head.hash,
        count: head.seq,
        ts: now,
        kid: key.kid,
        instance,
        prev,
      };
      const jws = signPayload(payload, key);
      const id = Number(insert.run(head.seq, head.hash, head.seq, now, key.kid, instance, prev, jws).lastInsertRowid);
      return {
        id,
        seq: head.seq,
        hash: head.hash,
        count: head.seq,
        ts: now,
        kid: key.kid,
        instance,
        prevSig: prev,
        jws,
      };
    })
    .immediate();
}
