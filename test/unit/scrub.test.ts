// The one walk every result goes through before an agent or the record sees it.
import { describe, expect, it } from 'vitest';
import { EscapeScrubber, MAX_SCRUB_DEPTH, ScrubDepthError } from '../../src/pipeline/scrub.js';
import { SecretRedactor } from '../../src/secrets/redactor.js';
import { SecretScrubber } from '../../src/secrets/scrubber.js';

const NO_INJECTION = { headers: {}, arguments: {}, used: [] };

function nestedIn(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i += 1) value = i % 2 === 0 ? { a: value } : [value];
  return value;
}

function leafOf(value: unknown): unknown {
  let current = value;
  while (typeof current === 'object' && current !== null) current = Array.isArray(current) ? current[0] : (current as { a: unknown }).a;
  return current;
}

describe('result scrubbing', () => {
  it('cleans strings at any depth a real result reaches (well past the old cap of 64)', () => {
    const out = new EscapeScrubber().scrubResult(nestedIn(200, 'red \u001b[31mtext\u001b[0m'));
    expect(leafOf(out)).toBe('red text');
  });

  it('refuses a value nested past the cap instead of passing it on unscrubbed', () => {
    expect(() => new EscapeScrubber().scrubResult(nestedIn(MAX_SCRUB_DEPTH + 5, '\u001b]52;c;ZXZpbA==\u0007'))).toThrow(ScrubDepthError);
  });

  it('cleans keys too, and a __proto__ key stays an own key instead of becoming the prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "k\\u001b[2Jey": 1}') as Record<string, unknown>;
    const out = new EscapeScrubber().scrubResult(parsed) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 'key']);
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":true},"key":1}');
  });

  it('removes escapes and secret values in one pass', () => {
    const redactor = new SecretRedactor();
    redactor.remember('canary-0123456789');
    const out = new SecretScrubber(redactor).scrubResult({ content: [{ type: 'text', text: '\u001b[1mcanary-0123456789\u001b[0m and Y2FuYXJ5LTAxMjM0NTY3ODk=' }] });
    expect(out).toEqual({ content: [{ type: 'text', text: '[REDACTED] and [REDACTED]' }] });
    expect(new SecretScrubber(redactor).scrubResult(NO_INJECTION)).toEqual(NO_INJECTION);
  });
});
