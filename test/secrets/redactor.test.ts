import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.js';
import { encodings, SecretRedactor } from '../../src/secrets/redactor.js';
import { reveal, SecretValue } from '../../src/secrets/value.js';

const SECRET = 'sk-live/ä+canary=42';

describe('SecretValue', () => {
  it.each([
    ['String()', (s: SecretValue) => String(s)],
    ['template', (s: SecretValue) => `${s}`],
    ['JSON', (s: SecretValue) => JSON.stringify({ s })],
    ['inspect', (s: SecretValue) => inspect(s)],
  ])('prints as [REDACTED] via %s', (_name, print) => {
    const printed = print(new SecretValue(SECRET));
    expect(printed).toContain('[REDACTED]');
    expect(printed).not.toContain('canary');
  });
  it('reveals the raw value only through reveal()', () => expect(reveal(new SecretValue(SECRET))).toBe(SECRET));
});

describe('SecretRedactor', () => {
  const redactor = new SecretRedactor();
  redactor.remember(SECRET);
  it.each(encodings(SECRET).map((form) => [form]))('removes the form %s from text and nested values', (form) => {
    expect(redactor.redact(`a ${form} b`)).toBe('a [REDACTED] b');
    expect(JSON.stringify(redactor.scrub({ x: [{ [form]: `${form}` }] }))).not.toContain(form);
  });
  it('removes every token that starts with a remembered prefix, in every encoding', () => {
    const r = new SecretRedactor();
    r.rememberPrefix('eyJhbGciOiJFZERTQSJ9.');
    for (const token of ['eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl', 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJiIn0.b3RoZXI']) {
      for (const form of encodings(token)) expect(r.redact(`<${form}>`)).toBe('<[REDACTED]>');
    }
  });
  it('ignores values too short to scrub safely', () => {
    const r = new SecretRedactor();
    r.remember('short');
    expect(r.redact('short text')).toBe('short text');
  });
});

describe('secrets config', () => {
  const base = { version: 1, servers: { web: { transport: 'http', url: 'http://127.0.0.1:1/mcp', secrets: { headers: { Authorization: 'Bearer {{secret:api}}' } } } } };
  it('accepts a header that names a defined secret', () => {
    expect(ConfigSchema.safeParse({ ...base, secrets: { api: { source: 'minted', audience: 'a' } } }).success).toBe(true);
  });
  it.each([
    ['an undefined secret', {}, /not defined under/],
    ['a minted lifetime over 5 minutes', { api: { source: 'minted', audience: 'a', ttlSeconds: 301 } }, /300/],
    ['a value written in the config', { api: { source: 'env', name: 'X', value: 'raw' } }, /value/],
  ])('refuses %s', (_name, secrets, message) => {
    const parsed = ConfigSchema.safeParse({ ...base, secrets });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toMatch(message);
  });
});
