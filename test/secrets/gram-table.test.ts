import { describe, expect, it } from 'vitest';
import { GramTable } from '../../src/egress/gram-table.js';

const codesOf = (table: GramTable, gram: number): number[] => {
  const out: number[] = [];
  const count = table.codesOf(gram, out);
  return out.slice(0, count).sort((a, b) => a - b);
};

/** A small deterministic generator (xorshift32): the same churn on every run. */
function xorshift(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

describe('GramTable: the egress matcher’s multimap of grams to pattern codes', () => {
  it('holds several codes under one gram and removes exactly the pair named', () => {
    const table = new GramTable();
    for (const code of [7, 3, 11]) table.add(-123_456_789, code); // bit 31 set: a gram is any int32
    table.add(42, 3);
    expect(codesOf(table, -123_456_789)).toEqual([3, 7, 11]);
    expect(table.delete(-123_456_789, 3)).toBe(true);
    expect(table.delete(-123_456_789, 3)).toBe(false);
    expect(table.delete(99, 7)).toBe(false);
    expect(codesOf(table, -123_456_789)).toEqual([7, 11]);
    expect(codesOf(table, 42)).toEqual([3]);
    expect(table.size).toBe(3);
  });

  it('still finds pairs placed after a removed one in the same probe run', () => {
    const table = new GramTable();
    // One gram many times: a single run of slots; removing from its start must not cut the rest off.
    for (let code = 0; code < 50; code++) table.add(5, code);
    for (let code = 0; code < 50; code += 2) table.delete(5, code);
    expect(codesOf(table, 5)).toEqual(Array.from({ length: 25 }, (_, i) => 2 * i + 1));
    for (let code = 100; code < 110; code++) table.add(5, code); // into the dead slots
    expect(codesOf(table, 5)).toHaveLength(35);
  });

  it('agrees with a plain model after 400,000 changes (rebuilt, grown and shrunk on the way)', () => {
    const table = new GramTable();
    const model = new Map<number, Set<number>>();
    const next = xorshift(21);
    const live: [number, number][] = [];
    let missed = 0;
    let largest = 0;
    // Grams from a small range so that many share a slot, and pairs outlive a few rebuilds.
    for (let i = 0; i < 400_000; i++) {
      if (live.length < (i < 300_000 ? 20_000 : 100) && next() % 3 !== 0) {
        const pair: [number, number] = [(next() % 5_000) - 2_500, i];
        table.add(pair[0], pair[1]);
        (model.get(pair[0]) ?? model.set(pair[0], new Set()).get(pair[0])!).add(pair[1]);
        live.push(pair);
        largest = Math.max(largest, table.capacity);
      } else if (live.length > 0) {
        const at = next() % live.length;
        const [gram, code] = live[at]!;
        live[at] = live[live.length - 1]!;
        live.pop();
        if (!table.delete(gram, code)) missed++;
        model.get(gram)!.delete(code);
      }
    }
    expect(missed).toBe(0);
    expect(table.size).toBe(live.length);
    // 20,000 live pairs at most 40 % of the slots, then 100 live: grown to 65,536 slots, shrunk again.
    expect(largest).toBe(65_536);
    expect(table.capacity).toBeLessThanOrEqual(1_024);
    for (let gram = -2_500; gram < 2_500; gram++)
      expect(codesOf(table, gram)).toEqual([...(model.get(gram) ?? [])].sort((a, b) => a - b));
  });
});
