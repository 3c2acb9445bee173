import { createHash } from 'node:crypto';
import { pooledRandomBytes } from './random.js';

/**
 * Canonical JSON as RFC 8785 (JCS) writes it: object members sorted by the UTF-16 code units of their
 * names (integer-like names included, which a plain object would put first), no whitespace, numbers and
 * strings as ECMAScript serializes them. `undefined`, function and symbol members are dropped (in arrays
 * they become null, as in JSON.stringify) and bigints are written as decimal strings. The whole value is
 * always written, however deep: digests bind approvals and pins to it, so two different values must
 * never give the same bytes. How deep a value may be is decided at the edge (gateway.maxJsonDepth).
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out);
  return out.join('');
}

function write(value: unknown, out: string[]): void {
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'number':
      out.push(Number.isFinite(value) ? JSON.stringify(value) : 'null');
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'bigint':
      out.push(JSON.stringify(value.toString()));
      return;
    case 'object':
      if (value === null) out.push('null');
      else if (Array.isArray(value)) writeArray(value, out);
      else writeObject(value as Record<string, unknown>, out);
      return;
    default:
      out.push('null');
  }
}

function writeArray(items: readonly unknown[], out: string[]): void {
  out.push('[');
  for (let i = 0; i < items.length; i += 1) {
    if (i > 0) out.push(',');
    write(items[i], out);
  }
  out.push(']');
}

function writeObject(object: Record<string, unknown>, out: string[]): void {
  out.push('{');
  let first = true;
  for (const key of Object.keys(object).sort()) {
    const item = object[key];
    if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
    out.push(first ? '' : ',', JSON.stringify(key), ':');
    first = false;
    write(item, out);
  }
  out.push('}');
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `sha256:<hex>` of the canonical JSON of a value: how argument and result digests are written. */
export function digestOf(value: unknown): { digest: string; bytes: number; json: string } {
  const json = canonicalJson(value);
  return { digest: `sha256:${sha256Hex(json)}`, bytes: Buffer.byteLength(json), json };
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastTime = 0;
let lastRandom: Buffer = Buffer.alloc(10);

/**
 * A sortable id (ULID layout: 48-bit millisecond time, 80 random bits, Crockford base32). Ids made in
 * the same millisecond by one process increase monotonically, so the id order is the creation order.
 */
export function newRecordId(now: number = Date.now()): string {
  let random: Buffer;
  if (now <= lastTime) {
    random = Buffer.from(lastRandom);
    for (let i = random.length - 1; i >= 0; i -= 1) {
      random[i] = (random[i]! + 1) & 0xff;
      if (random[i] !== 0) break;
    }
    now = lastTime;
  } else {
    random = pooledRandomBytes(10);
  }
  lastTime = now;
  lastRandom = random;
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i += 1) {
    time = CROCKFORD[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  let bits = 0n;
  for (const byte of random) bits = (bits << 8n) | BigInt(byte);
  let tail = '';
  for (let i = 0; i < 16; i += 1) {
    tail = CROCKFORD[Number(bits & 31n)]! + tail;
    bits >>= 5n;
  }
  return time + tail;
}

export const RECORD_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;
