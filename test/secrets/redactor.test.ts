import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.js';
import { Egress } from '../../src/egress/egress.js';
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

/** Every way a value is written out that the egress stage must catch, for a value inside longer text. */
function wrapped(secret: string): [string, string][] {
  const out: [string, string][] = [];
  for (const [label, inner] of [
    ['alone', secret],
    ['after one byte', `k${secret}`],
    ['after two bytes', `kk${secret}`],
    ['in a JSON object', JSON.stringify({ token: secret, n: 1 })],
  ] as const) {
    const bytes = Buffer.from(inner);
    out.push([`${label}, raw`, inner]);
    out.push([`${label}, base64`, bytes.toString('base64')]);
    out.push([`${label}, base64url`, bytes.toString('base64url')]);
    out.push([`${label}, hex`, bytes.toString('hex')]);
    out.push([`${label}, HEX`, bytes.toString('hex').toUpperCase()]);
    out.push([`${label}, URL-encoded`, encodeURIComponent(inner)]);
    out.push([`${label}, form-encoded`, new URLSearchParams({ q: inner }).toString()]);
  }
  return out;
}

/** Decodes every way the test wrote a value, to check the secret cannot be read back. */
function decodings(text: string): string[] {
  const attempts = [text];
  for (const run of text.match(/[A-Za-z0-9+/_=-]{8,}/g) ?? []) {
    attempts.push(Buffer.from(run, 'base64').toString('latin1'), Buffer.from(run, 'base64url').toString('latin1'));
    if (/^[0-9a-fA-F]+$/.test(run))
      attempts.push(Buffer.from(run.length % 2 ? run.slice(1) : run, 'hex').toString('latin1'));
  }
  try {
    attempts.push(decodeURIComponent(text.replace(/\+/g, ' ')));
  } catch {
    // not URL-encoded
  }
  return attempts;
}

describe('egress stage: secret values in every form', () => {
  const secrets = ['sk-live/ä+canary=42', 'plain-secret-0123456789abcdef', 'eight888'];
  const egress = new Egress();
  for (const secret of secrets) egress.remember(secret);
  it.each(secrets.flatMap((secret) => wrapped(secret).map(([label, form]) => [secret, label, form] as const)))(
    'removes %s %s',
    (secret, _label, form) => {
      const out = egress.scrubText(`before ${form} after`);
      expect(out).toContain('[REDACTED]');
      const ascii = Buffer.from(secret).toString('latin1');
      for (const decoded of decodings(out)) expect(decoded.includes(ascii), `decodes back: ${out}`).toBe(false);
      expect(JSON.stringify(egress.scrubValue({ x: [{ [form]: form }] }))).not.toContain(form);
    },
  );

  it('removes the payload and the signature of a minted token each on its own, and the whole token in any form', () => {
    const e = new Egress({ now: () => 1_000_000 });
    const header = Buffer.from('{"alg":"EdDSA","kid":"k1","typ":"JWT"}').toString('base64url');
    const payload = Buffer.from(
      JSON.stringify({ act: { sub: 'urn:mcp-warden:gateway' }, sub: 'agent', exp: 2000, jti: 'c0ffee-0001' }),
    ).toString('base64url');
    const signature = Buffer.from('s'.repeat(64)).toString('base64url');
    const token = `${header}.${payload}.${signature}`;
    e.rememberMinted(token);
    const other = `${header}.${Buffer.from(JSON.stringify({ act: { sub: 'urn:mcp-warden:gateway' }, sub: 'b', jti: 'x' })).toString('base64url')}.${Buffer.from('t'.repeat(64)).toString('base64url')}`;
    for (const fragment of [
      token,
      `${payload}.${signature}`,
      payload,
      signature,
      `Bearer ${token}`,
      other.split('.')[1]!,
    ]) {
      for (const form of [
        fragment,
        Buffer.from(`x${fragment}`).toString('base64'),
        Buffer.from(`xy${fragment}`).toString('base64url'),
        Buffer.from(fragment).toString('hex'),
      ]) {
        const out = e.scrubText(`<${form}>`);
        expect(out, form).toMatch(/^<.{0,16}\[REDACTED\].{0,4}>$/);
      }
    }
  });

  it('covers the header of every signing key, when keys alternate (the last header is not the only one)', () => {
    const e = new Egress({ now: () => 1_000_000 });
    const header = (kid: string) => Buffer.from(`{"alg":"EdDSA","kid":"${kid}","typ":"JWT"}`).toString('base64url');
    const token = (kid: string, n: number) =>
      `${header(kid)}.${Buffer.from(`{"exp":2000,"jti":"j-${n}-0000"}`).toString('base64url')}.${Buffer.from(`${kid}-sig-${n}`.padEnd(64, 'z')).toString('base64url')}`;
    const tokens = [token('key-one', 1), token('key-two', 2), token('key-one', 3), token('key-two', 4)];
    for (const t of tokens) e.rememberMinted(t);
    for (const t of tokens) expect(e.scrubText(`<${t}>`)).toBe('<[REDACTED]>');
    for (const kid of ['key-one', 'key-two']) expect(e.scrubText(`${header(kid)}.e30.c2ln`)).toBe('[REDACTED]');
  });

  it('forgets a minted signature once its token has expired', () => {
    let now = 1_000_000;
    const e = new Egress({ now: () => now });
    const signature = Buffer.from('u'.repeat(64)).toString('base64url');
    e.rememberMinted(`eyJhbGciOiJFZERTQSJ9.${Buffer.from('{"exp":1001}').toString('base64url')}.${signature}`);
    expect(e.scrubText(signature)).toBe('[REDACTED]');
    now = 1_002_000;
    e.remember('another-value-to-prune');
    expect(e.scrubText(signature)).toBe(signature);
  });

  // Over about 1 MB the redacted text is written into a Buffer (src/egress/literals.ts): the same text.
  it.each([
    ['ASCII', 'lorem ipsum dolor sit amet. '],
    ['Latin-1', 'lörem ipsum dolor sit amet. '],
    ['two-byte', 'lorem ipsum € dolor sit amet. '],
  ])('redacts a %s text over 1 MB exactly as piecewise', (_label, filler) => {
    const e = new Egress();
    e.remember('plain-secret-0123456789abcdef');
    e.remember('secret-0123456789abcdef-tail');
    const big = filler.repeat(Math.ceil(400_000 / filler.length));
    // At the start, inside, overlapping the second value (one replacement for the run), and at the end.
    const text = `plain-secret-0123456789abcdef${big}plain-secret-0123456789abcdef${big}plain-secret-0123456789abcdef-tail${big}plain-secret-0123456789abcdef`;
    expect(text.length).toBeGreaterThan(1_048_576);
    expect(e.scrubText(text)).toBe(`[REDACTED]${big}[REDACTED]${big}[REDACTED]${big}[REDACTED]`);
    expect(e.scrubText(big + big + big)).toBe(big + big + big);
  });

  it('removes escape sequences and secrets from a result text over 1 MB', () => {
    const e = new Egress();
    e.remember('plain-secret-0123456789abcdef');
    const big = 'lorem ipsum dolor sit amet. '.repeat(40_000);
    const result = {
      content: [{ type: 'text', text: `${big}\u001b[31mred\u001b[0m ${big}\u009b2J plain-secret-0123456789abcdef` }],
    };
    expect(e.scrubResult(result).content[0]!.text).toBe(`${big}red ${big} [REDACTED]`);
  });

  it('keeps at most 4,096 values that expire: past that the oldest is forgotten first', () => {
    const e = new Egress({ now: () => 1_000_000 });
    const value = (i: number) => `expiring-value-${String(i).padStart(5, '0')}`;
    for (let i = 0; i < 4_097; i += 1) e.remember(value(i), 2_000_000);
    expect(e.scrubText(value(0))).toBe(value(0));
    expect(e.scrubText(value(1))).toBe('[REDACTED]');
    expect(e.scrubText(value(4_096))).toBe('[REDACTED]');
    e.remember(value(1), 2_000_000); // already held: stays, and is not moved
    e.remember(value(4_097), 2_000_000);
    expect(e.scrubText(value(1))).toBe(value(1));
    expect(e.scrubText(value(2))).toBe('[REDACTED]');
  });

  it('ignores values too short to scrub safely', () => {
    const e = new Egress();
    e.remember('short');
    expect(e.scrubText('short text')).toBe('short text');
  });
});

describe('secrets config', () => {
  const base = {
    version: 1,
    servers: {
      web: {
        transport: 'http',
        url: 'http://127.0.0.1:1/mcp',
        secrets: { headers: { Authorization: 'Bearer {{secret:api}}' } },
      },
    },
  };
  it('accepts a header that names a defined secret', () => {
    expect(ConfigSchema.safeParse({ ...base, secrets: { api: { source: 'minted', audience: 'a' } } }).success).toBe(
      true,
    );
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
