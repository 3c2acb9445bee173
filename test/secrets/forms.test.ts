import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { valueForms } from '../../src/egress/forms.js';

/** Every form by its definition, built the slow way (src/egress/forms.ts builds fewer where they coincide). */
function definedForms(value: string): string[] {
  const bytes = Buffer.from(value);
  const cores = (encoding: 'base64' | 'base64url') =>
    [0, 1, 2].map((k) =>
      Buffer.concat([Buffer.alloc(k), bytes])
        .toString(encoding)
        .slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6)),
    );
  const all = [
    value,
    JSON.stringify(value).slice(1, -1),
    encodeURIComponent(value),
    encodeURI(value),
    new URLSearchParams({ v: value }).toString().slice(2),
    bytes.toString('hex'),
    ...cores('base64'),
    ...cores('base64url'),
  ];
  return [...new Set(all)];
}

describe('valueForms: every form of a value, each once', () => {
  it.each([
    ['a minted signature (base64url: no form escapes it)', randomBytes(64).toString('base64url')],
    ['the characters every encoding leaves alone', 'aZ09_.-*aZ09_.-*'],
    ['a tilde (form encoding escapes it, the others do not)', 'value~with~tilde'],
    ['base64 with + / =', 'ab+/cd==ef+/gh=='],
    ['quotes, spaces and non-ASCII', 'sk "live" ä € \\ x'],
    ['hex digits only', '0123456789abcdef'],
  ])('%s', (_label, value) => {
    expect(valueForms(value).map((p) => p.text)).toEqual(definedForms(value));
  });

  it('gives 1,000 random base64url and base64 values the forms of their definition', () => {
    for (let i = 0; i < 1_000; i++) {
      const value = randomBytes(6 + (i % 90)).toString(i % 2 ? 'base64url' : 'base64');
      expect(valueForms(value).map((p) => p.text)).toEqual(definedForms(value));
    }
  });
});
