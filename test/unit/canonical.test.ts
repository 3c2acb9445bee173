// Digests bind approvals, pins and audit rows to a value: canonical JSON must write the whole value, in
// one form, however deep, so that two different values never share a digest.
import { describe, expect, it } from 'vitest';
import { canonicalJson, digestOf } from '../../src/model/canonical.js';
import { bindingDigest } from '../../src/integrity/approvals.js';

/** `{ "a": { "a": … { "leaf": leaf } } }`, `depth` objects deep. */
function deep(depth: number, leaf: unknown): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf };
  for (let i = 1; i < depth; i += 1) value = { a: value };
  return value;
}

describe('canonicalJson', () => {
  it.each([
    ['keys sorted', { b: 1, a: [true, null, 'x'] }, '{"a":[true,null,"x"],"b":1}'],
    ['sorted by UTF-16 code units', { é: 1, z: 2, Z: 3, '10': 4, '9': 5 }, '{"10":4,"9":5,"Z":3,"z":2,"é":1}'],
    ['nested objects sorted too', { z: { y: 1, x: 2 } }, '{"z":{"x":2,"y":1}}'],
    ['undefined members dropped', { a: undefined, b: 1 }, '{"b":1}'],
    ['numbers as ECMAScript writes them', { n: [1e21, 0.1, -0, 1.5e-7] }, '{"n":[1e+21,0.1,0,1.5e-7]}'],
    [
      'a __proto__ member is kept as a member',
      JSON.parse('{"__proto__":{"x":1},"b":2}') as unknown,
      '{"__proto__":{"x":1},"b":2}',
    ],
  ])('%s', (_name, value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  it.each([129, 131, 500, 1000])('two values that differ only %i levels deep get different digests', (depth) => {
    const one = digestOf(deep(depth, 'delete nothing')).digest;
    const two = digestOf(deep(depth, 'delete everything')).digest;
    expect(one).not.toBe(two);
    expect(canonicalJson(deep(depth, 1))).not.toContain('too deep');
  });

  it('two values that differ only in a __proto__ member get different digests', () => {
    expect(digestOf(JSON.parse('{"__proto__":{"x":1}}')).digest).not.toBe(
      digestOf(JSON.parse('{"__proto__":{"x":2}}')).digest,
    );
  });

  it('an approval for one deep call is not the approval of another (binding digest)', () => {
    const binding = (leaf: string): Parameters<typeof bindingDigest>[0] => ({
      issuer: 'local',
      subject: 'agent:a',
      server: 'tickets',
      tool: 'delete',
      definitionHash: 'sha256:def',
      argumentsDigest: digestOf(deep(131, leaf)).digest,
    });
    expect(bindingDigest(binding('ticket 1'))).not.toBe(bindingDigest(binding('ticket 2')));
  });
});
