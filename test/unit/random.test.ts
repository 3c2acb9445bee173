// The pooled random bytes behind per-call ids (trace ids, audit record ids): each byte handed out once,
// each Buffer a copy that later takes and refills of the pool never change.
import { describe, expect, it } from 'vitest';
import { pooledRandomBytes, pooledRandomHex } from '../../src/model/random.js';
import { newRecordId, RECORD_ID_PATTERN } from '../../src/model/canonical.js';

describe('pooled random bytes', () => {
  it.each([1, 10, 16, 32, 4096])('%i bytes: the size asked for, different every time', (size) => {
    const taken = Array.from({ length: 64 }, () => pooledRandomBytes(size).toString('hex'));
    for (const hex of taken) expect(hex).toHaveLength(2 * size);
    if (size >= 10) expect(new Set(taken).size).toBe(taken.length);
  });

  it('gives hex ids of the asked length, unique across many pool refills', () => {
    const ids = Array.from({ length: 5000 }, () => pooledRandomHex(16));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('hands out a copy: a Buffer keeps its bytes after the pool is refilled', () => {
    const kept = pooledRandomBytes(16);
    const before = kept.toString('hex');
    for (let i = 0; i < 1000; i++) pooledRandomBytes(16); // about four refills
    expect(kept.toString('hex')).toBe(before);
  });

  it('refuses more than one pool at once', () => {
    expect(() => pooledRandomBytes(4097)).toThrow(RangeError);
  });

  it('keeps record ids well-formed and increasing within a millisecond across refills', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => newRecordId(1_900_000_000_000 + Math.floor(i / 7)));
    for (const id of ids) expect(id).toMatch(RECORD_ID_PATTERN);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
