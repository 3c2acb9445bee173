import { describe, expect, it } from 'vitest';
import { LiteralSet } from '../../src/egress/literals.js';

const R = '[X]';

describe('LiteralSet: patterns that come and go', () => {
  it('keeps a pattern added twice until it is deleted twice', () => {
    const set = new LiteralSet();
    set.add({ text: 'shared-value-01' });
    set.add({ text: 'shared-value-01' });
    set.delete('shared-value-01');
    expect(set.replace('a shared-value-01 b', R)).toBe(`a ${R} b`);
    set.delete('shared-value-01');
    expect(set.replace('a shared-value-01 b', R)).toBe('a shared-value-01 b');
    expect(set.size).toBe(0);
  });

  it('still finds a pattern whose grams another, deleted pattern shared', () => {
    const set = new LiteralSet();
    // Same first 12 characters: every gram at offsets 0-4 collides.
    set.add({ text: 'collide-gram-one' });
    set.add({ text: 'collide-gram-two' });
    set.add({ text: 'aaaaaaaaaa' }); // one gram at every offset of the same pattern
    expect(set.replace('<collide-gram-one|collide-gram-two|aaaaaaaaaa>', R)).toBe(`<${R}|${R}|${R}>`);
    set.delete('collide-gram-one');
    expect(set.replace('<collide-gram-one|collide-gram-two>', R)).toBe(`<collide-gram-one|${R}>`);
    set.delete('aaaaaaaaaa');
    expect(set.replace('<aaaaaaaaaa>', R)).toBe('<aaaaaaaaaa>');
    set.add({ text: 'collide-gram-three' }); // reuses the freed id
    expect(set.replace('<collide-gram-three|collide-gram-two|collide-gram-one>', R)).toBe(
      `<${R}|${R}|collide-gram-one>`,
    );
  });

  it('matches live patterns and only those after many thousands came and went (the filter is rebuilt on the way)', () => {
    const set = new LiteralSet();
    // Distinct first characters, as random signatures have: their grams do not all collide.
    const value = (i: number): string => `${(Math.imul(i, 0x9e3779b1) >>> 0).toString(36).padStart(7, '0')}-signature`;
    set.add({ text: 'kept-for-good-0001' });
    const live: number[] = [];
    // 14,000 deletes of 5 grams each: past the rebuild threshold (65,536 stale grams) once.
    for (let i = 0; i < 15_000; i++) {
      set.add({ text: value(i) });
      live.push(i);
      if (live.length > 1_000) set.delete(value(live.shift()!));
    }
    expect(set.size).toBe(1_001);
    const text = `${value(0)} ${value(13_999)} ${value(14_000)} ${value(14_999)} kept-for-good-0001`;
    expect(set.replace(text, R)).toBe(`${value(0)} ${value(13_999)} ${R} ${R} ${R}`);
  });

  it('extends a family pattern through the characters its regex accepts', () => {
    const set = new LiteralSet();
    set.add({ text: 'Bearer eyJhbGci.', extend: /[A-Za-z0-9._-]*/y });
    expect(set.replace('h: Bearer eyJhbGci.abc.def-ghi, next', R)).toBe(`h: ${R}, next`);
    set.delete('Bearer eyJhbGci.');
    expect(set.replace('h: Bearer eyJhbGci.abc', R)).toBe('h: Bearer eyJhbGci.abc');
  });
});
