// The depth cap runs on the raw text before anything parses it, so it must not be fooled by brackets
// inside strings or escaped quotes, and must agree with the real nesting of valid JSON.
import { describe, expect, it } from 'vitest';
import { allowsBatch, checkJsonLimits, exceedsJsonDepth, topLevelRequestId } from '../../src/ingress/json-limits.js';

const nest = (depth: number, open = '[', close = ']'): string => `${open.repeat(depth)}${close.repeat(depth)}`;

describe('exceedsJsonDepth', () => {
  it.each([
    ['a scalar', '42', 0, false],
    ['a string', '"x"', 0, false],
    ['an empty object at limit 1', '{}', 1, false],
    ['an empty object at limit 0', '{}', 0, true],
    ['arrays exactly at the limit', nest(8), 8, false],
    ['arrays one past the limit', nest(9), 8, true],
    ['objects exactly at the limit', '{"a":{"b":{"c":{}}}}', 4, false],
    ['objects one past the limit', '{"a":{"b":{"c":{"d":{}}}}}', 4, true],
    ['mixed objects and arrays', '{"a":[{"b":[1]}]}', 4, false],
    ['mixed, one past', '{"a":[{"b":[[1]]}]}', 4, true],
    ['siblings do not add up', '[[],[],[],[[]]]', 3, false],
    ['brackets inside strings do not count', `{"s":"${nest(100)}"}`, 2, false],
    ['an escaped quote does not end the string', `{"s":"\\"${'['.repeat(50)}"}`, 2, false],
    ['an escaped backslash before the closing quote', `{"s":"\\\\","t":${nest(3)}}`, 3, true],
    ['unicode escapes in strings', '{"s":"\\u005b\\u005b"}', 1, false],
    ['unterminated deep input (never parsed)', '['.repeat(100_000), 64, true],
    [
      'a JSON-RPC request at the default cap',
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'x', arguments: { a: [{ b: 1 }] } },
      }),
      64,
      false,
    ],
  ])('%s', (_name, text, limit, expected) => {
    expect(exceedsJsonDepth(text, limit)).toBe(expected);
  });

  it.each([2, 10, 64, 200])('agrees with the real nesting of parsed JSON (limit %i)', (limit) => {
    for (const depth of [limit - 1, limit, limit + 1]) {
      const text = JSON.stringify(JSON.parse(nest(depth)));
      expect(exceedsJsonDepth(text, limit)).toBe(depth > limit);
    }
  });

  // How fast this is belongs in a benchmark, not a timed test: here only the answer on a hostile body.
  it('refuses a hostile body: 10 MB of "["', () => {
    expect(exceedsJsonDepth('['.repeat(10 * 1024 * 1024), 64)).toBe(true);
  });
});

const keysObject = (n: number): string =>
  JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])));
const LIMITS = { maxDepth: 64, maxKeys: 10, maxNodes: 70 };

describe('checkJsonLimits', () => {
  it.each([
    ['an object at the key limit', keysObject(10), undefined],
    ['an object one key past', keysObject(11), { kind: 'keys', limit: 10 }],
    [
      'keys of nested objects count per object',
      JSON.stringify({ a: JSON.parse(keysObject(9)) as unknown, b: JSON.parse(keysObject(9)) as unknown }),
      undefined,
    ],
    [
      'a nested object one key past',
      JSON.stringify({ a: { b: JSON.parse(keysObject(11)) as unknown } }),
      { kind: 'keys', limit: 10 },
    ],
    ['arrays have no key limit', JSON.stringify(Array.from({ length: 40 }, (_, i) => i)), undefined],
    [
      'values at the node limit (root + 69 elements)',
      JSON.stringify(Array.from({ length: 69 }, (_, i) => i)),
      undefined,
    ],
    [
      'one value past the node limit',
      JSON.stringify(Array.from({ length: 70 }, (_, i) => i)),
      { kind: 'nodes', limit: 70 },
    ],
    ['empty containers count once each', JSON.stringify(Array.from({ length: 69 }, () => [])), undefined],
    [
      'nested containers count their members',
      JSON.stringify(Array.from({ length: 35 }, () => [1])),
      { kind: 'nodes', limit: 70 },
    ],
    ['commas and colons in strings do not count', JSON.stringify({ s: ',:,:'.repeat(100) }), undefined],
    ['depth past the limit', `{"a":${'['.repeat(64)}`, { kind: 'depth', limit: 64 }],
  ])('%s', (_name, text, expected) => {
    expect(checkJsonLimits(text, LIMITS)).toEqual(expected);
  });

  it('counts the values of parsed JSON exactly', () => {
    const value = { a: [1, { b: 'x', c: [] }, null], d: {} };
    // root, a, 1, {b,c}, b, c, null, d = 8
    const text = JSON.stringify(value);
    expect(checkJsonLimits(text, { maxDepth: 64, maxKeys: 10, maxNodes: 8 })).toBeUndefined();
    expect(checkJsonLimits(text, { maxDepth: 64, maxKeys: 10, maxNodes: 7 })).toEqual({ kind: 'nodes', limit: 7 });
  });
});

describe('topLevelRequestId', () => {
  it.each([
    ['a number id', '{"jsonrpc":"2.0","id":7,"method":"x","params":{"id":9}}', 7],
    ['a string id after params', '{"params":{"id":"inner"},"id" : "outer","jsonrpc":"2.0"}', 'outer'],
    ['a string value "id" is not a key', '{"method":"id","id":3}', 3],
    ['no id', '{"jsonrpc":"2.0","method":"x"}', null],
    ['an id that is not a string or number', '{"id":{"x":1}}', null],
    ['unterminated text', '{"id":"abc', null],
    ['a deep unterminated body', `{"id":5,"params":${'['.repeat(10_000)}`, 5],
  ])('%s', (_name, text, expected) => {
    expect(topLevelRequestId(text)).toBe(expected);
  });
});

describe('allowsBatch', () => {
  it.each([
    ['2024-11-05', true],
    ['2025-03-26', true],
    ['2025-06-18', false],
    ['2025-11-25', false],
    ['2099-01-01', false],
    ['', false],
    ['garbage', false],
    [undefined, false],
  ])('%s → %s', (version, expected) => {
    expect(allowsBatch(version)).toBe(expected);
  });
});
