// The depth cap runs on the raw text before anything parses it, so it must not be fooled by brackets
// inside strings or escaped quotes, and must agree with the real nesting of valid JSON.
import { describe, expect, it } from 'vitest';
import { allowsBatch, exceedsJsonDepth } from '../../src/ingress/json-limits.js';

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
    ['a JSON-RPC request at the default cap', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', arguments: { a: [{ b: 1 }] } } }), 64, false],
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
