// The one walk every result goes through before an agent or the record sees it (src/model/json-walk.ts),
// and the egress stage that uses it for results.
import { describe, expect, it } from 'vitest';
import { Egress } from '../../src/egress/egress.js';
import { isWardenError } from '../../src/errors.js';
import { MAX_JSON_DEPTH } from '../../src/model/json-walk.js';

const EMPTY = { content: [] };

function nestedIn(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i += 1) value = i % 2 === 0 ? { a: value } : [value];
  return value;
}

function leafOf(value: unknown): unknown {
  let current = value;
  while (typeof current === 'object' && current !== null)
    current = Array.isArray(current) ? current[0] : (current as { a: unknown }).a;
  return current;
}

describe('result scrubbing', () => {
  it('cleans strings at any depth a real result reaches (well past the old cap of 64)', () => {
    const out = new Egress().scrubResult(nestedIn(200, 'red \u001b[31mtext\u001b[0m'));
    expect(leafOf(out)).toBe('red text');
  });

  it('refuses a value nested past the cap instead of passing it on unscrubbed', () => {
    let thrown: unknown;
    try {
      new Egress().scrubResult(nestedIn(MAX_JSON_DEPTH + 5, '\u001b]52;c;ZXZpbA==\u0007'));
    } catch (error) {
      thrown = error;
    }
    expect(isWardenError(thrown, 'ERR_JSON_TOO_DEEP')).toBe(true);
  });

  it('cleans keys too, and a __proto__ key stays an own key instead of becoming the prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "k\\u001b[2Jey": 1}') as Record<string, unknown>;
    const out = new Egress().scrubResult(parsed);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 'key']);
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":true},"key":1}');
  });

  it('removes escapes and secret values in one pass', () => {
    const egress = new Egress();
    egress.remember('canary-0123456789');
    const out = egress.scrubResult({
      content: [{ type: 'text', text: '\u001b[1mcanary-0123456789\u001b[0m and Y2FuYXJ5LTAxMjM0NTY3ODk=' }],
    });
    expect(out).toEqual({ content: [{ type: 'text', text: '[REDACTED] and [REDACTED]' }] });
    expect(egress.scrubResult(EMPTY)).toEqual(EMPTY);
  });
});
