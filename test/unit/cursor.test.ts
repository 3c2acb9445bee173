// The gateway's own list cursors: opaque to agents, valid only for the list that issued them, and
// checked on the way back so a forged or foreign cursor is refused instead of trusted.
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, page } from '../../src/gateway/cursor.js';

const forged = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('encodeCursor / decodeCursor', () => {
  it.each([0, 1, 500, 123_456, Number.MAX_SAFE_INTEGER])('round-trips offset %i', (offset) => {
    const cursor = encodeCursor('tools/list', offset);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor('tools/list', cursor)).toBe(offset);
  });

  it('no cursor means the first page', () => {
    expect(decodeCursor('tools/list', undefined)).toBe(0);
  });

  it.each([
    ['a cursor for another list', encodeCursor('prompts/list', 10)],
    ['an empty string', ''],
    ['not base64url JSON', 'not a cursor!'],
    ['base64 of non-JSON', Buffer.from('hello').toString('base64url')],
    ['JSON null', forged(null)],
    ['a JSON array', forged(['tools/list', 1])],
    ['a missing offset', forged({ k: 'tools/list' })],
    ['a negative offset', forged({ k: 'tools/list', o: -1 })],
    ['a fractional offset', forged({ k: 'tools/list', o: 1.5 })],
    ['an unsafe integer offset', forged({ k: 'tools/list', o: 2 ** 60 })],
    ['a string offset', forged({ k: 'tools/list', o: '5' })],
    ['a numeric kind', forged({ k: 1, o: 0 })],
    ['an overlong cursor', forged({ k: 'tools/list', o: 1, pad: 'x'.repeat(300) })],
    ['a __proto__ payload', Buffer.from('{"__proto__":{"k":"tools/list","o":3}}').toString('base64url')],
  ])('refuses %s', (_name, cursor) => {
    expect(decodeCursor('tools/list', cursor)).toBeUndefined();
  });
});

describe('page', () => {
  const items = Array.from({ length: 7 }, (_, i) => i);

  it.each([
    ['first page', 0, 3, [0, 1, 2], 3],
    ['middle page', 3, 3, [3, 4, 5], 6],
    ['last partial page', 6, 3, [6], undefined],
    ['exactly the last item boundary', 4, 3, [4, 5, 6], undefined],
    ['a page bigger than the list', 0, 100, items, undefined],
    ['an offset past the end', 50, 3, [], undefined],
  ])('%s', (_name, offset, size, expected, next) => {
    const result = page(items, offset, size, 'tools/list');
    expect(result.items).toEqual(expected);
    if (next === undefined) expect(result).not.toHaveProperty('nextCursor');
    else expect(decodeCursor('tools/list', result.nextCursor)).toBe(next);
  });

  it('walking the cursors visits every item exactly once', () => {
    const many = Array.from({ length: 1001 }, (_, i) => `tool${i}`);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const offset = decodeCursor('tools/list', cursor);
      expect(offset).toBeDefined();
      const result = page(many, offset!, 100, 'tools/list');
      seen.push(...result.items);
      cursor = result.nextCursor;
      pages += 1;
    } while (cursor !== undefined && pages < 100);
    expect(pages).toBe(11);
    expect(seen).toEqual(many);
  });

  it('an empty list is one empty page without a cursor', () => {
    expect(page([], 0, 10, 'prompts/list')).toEqual({ items: [] });
  });
});
