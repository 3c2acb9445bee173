import { randomFillSync } from 'node:crypto';

/**
 * Random bytes for ids made on every call (trace ids, audit record ids), taken from one pooled buffer
 * filled by the CSPRNG 4 KB at a time, the way `crypto.randomUUID()` keeps its entropy cache: a
 * `randomBytes(n)` of its own cost about 5 µs of CPU per id on the development VM (a trip through
 * `randomFillSync` and OpenSSL each), the pool about 0.1-0.3 µs (docs/performance.md, issue 21).
 * The bytes are the same CSPRNG output; each is handed out once. Not for keys or session ids: those are
 * made rarely and keep `randomBytes`.
 */
const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let used = POOL_BYTES;

function take(size: number): number {
  if (size > POOL_BYTES) throw new RangeError(`pooled random: at most ${POOL_BYTES} bytes at once`);
  if (used + size > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const at = used;
  used += size;
  return at;
}

/** `size` random bytes in a Buffer of their own (a copy: the pool is refilled later). */
export function pooledRandomBytes(size: number): Buffer {
  const at = take(size);
  return Buffer.from(pool.subarray(at, at + size));
}

/** `size` random bytes as lowercase hex (a W3C trace id is 16). */
export function pooledRandomHex(size: number): string {
  const at = take(size);
  return pool.toString('hex', at, at + size);
}
