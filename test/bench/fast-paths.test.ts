// The performance fixes the benchmark led to keep their behaviour: the namespace index of wildcard
// rules gives the same decision as trying every rule (checked against a reference on generated
// policies), and a minted credential signed with node:crypto is the JWT jose would have made (verified
// by jose against the published JWKS, every claim checked), and the active signing key, looked up at
// most once a second, still follows a rotation.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/model/principal.js';
import { KeyStore } from '../../src/state/keys.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { PolicyFileSchema } from '../../src/policy/schema.js';
import { publishJwks } from '../../src/secrets/setup.js';
import { SecretSources } from '../../src/secrets/sources.js';
import { reveal } from '../../src/secrets/value.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const agent: Principal = {
  subject: 'agent:a',
  issuer: 'urn:mcp-warden:builtin',
  delegation: [],
  scopes: [],
  authMethod: 'jwt',
};

/** Deterministic pseudo-random numbers (xorshift), so a failure names a reproducible case. */
function rng(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

// Pieces chosen to hit the edges of the index: `_` next to `__`, `___`, a `*` inside or before `__`.
const PIECES = ['a', 'b', 'ab', '_', '__', '___', 'x'];
const pick = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
function randomName(random: () => number): string {
  let name = '';
  const parts = 1 + Math.floor(random() * 5);
  for (let i = 0; i < parts; i++) name += pick(random, PIECES);
  return name;
}
function randomGlob(random: () => number): string {
  const name = randomName(random);
  const at = Math.floor(random() * (name.length + 1));
  const glob = `${name.slice(0, at)}*${name.slice(at)}`;
  return random() < 0.3
    ? `${glob.slice(0, Math.floor(random() * glob.length))}*${glob.slice(Math.floor(random() * glob.length))}`.replace(
        /\*+/g,
        '*',
      )
    : glob;
}
const globRegExp = (glob: string) =>
  new RegExp(
    `^${glob
      .split('*')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );

describe('wildcard rules bucketed by namespace', () => {
  it.each(Array.from({ length: 40 }, (_, i) => i + 1))(
    'seed %i: every decision equals trying every rule in order',
    (seed) => {
      const random = rng(seed * 7919);
      const rules = Array.from({ length: 12 }, (_, i) => ({
        id: `r${i}`,
        effect: random() < 0.3 ? 'deny' : 'allow',
        tools: Array.from({ length: 1 + Math.floor(random() * 2) }, () =>
          random() < 0.2 ? randomName(random) : randomGlob(random),
        ),
      }));
      const policy = compilePolicy([
        {
          label: 'p.yaml',
          data: PolicyFileSchema.parse({ version: 1, agents: [{ id: 'all', match: {}, grants: rules }] }),
        },
      ]);
      for (let t = 0; t < 60; t++) {
        const target = randomName(random);
        const matching = rules.filter((rule) => rule.tools.some((glob) => globRegExp(glob).test(target)));
        const expected = matching.find((r) => r.effect === 'deny') ?? matching.find((r) => r.effect === 'allow');
        const server = target.includes('__') ? target.slice(0, target.indexOf('__')) : '';
        const got = evaluate(policy, { principal: agent, method: 'tools/call', server, target }, NOW);
        expect({
          target,
          rules: rules.map((r) => `${r.id} ${r.effect} ${r.tools.join(',')}`),
          effect: got.effect,
          rule: got.rule,
        }).toEqual({
          target,
          rules: rules.map((r) => `${r.id} ${r.effect} ${r.tools.join(',')}`),
          effect: expected?.effect ?? 'deny',
          rule: expected?.id ?? 'default-deny',
        });
      }
    },
  );
});

describe('minted credentials signed with node:crypto', () => {
  let dir: TempDir;
  afterAll(async () => dir?.cleanup());

  it('verify with jose against the published keys, with exactly the claims of a per-call credential', async () => {
    dir = await makeTempDir('warden-mint');
    const keys = new KeyStore(dir.path);
    await keys.init(NOW);
    const jwksFile = publishJwks(dir.path, keys, NOW);
    const seen: string[] = [];
    const sources = new SecretSources({
      baseDir: dir.path,
      env: {},
      keys,
      issuer: 'urn:mcp-warden:builtin',
      now: () => NOW,
      onSigningKey: (kid) => seen.push(kid),
    });
    const source = { source: 'minted', audience: 'urn:bench:echo', ttlSeconds: 60 } as const;
    const first = reveal(await sources.resolve('echo', source, { subject: 'agent:a', taskId: 'task_1', tool: 'echo' }));
    const second = reveal(await sources.resolve('echo', source, { subject: 'agent:a' }));

    const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')) as JSONWebKeySet);
    const options = {
      audience: 'urn:bench:echo',
      issuer: 'urn:mcp-warden:builtin',
      algorithms: ['EdDSA'],
      currentDate: new Date(NOW),
    };
    const { payload, protectedHeader } = await jwtVerify(first, jwks, options);
    const { jti, ...rest } = payload;
    expect(rest).toEqual({
      act: { sub: 'urn:mcp-warden:builtin' },
      task_id: 'task_1',
      tool: 'echo',
      iss: 'urn:mcp-warden:builtin',
      sub: 'agent:a',
      aud: 'urn:bench:echo',
      iat: NOW / 1000,
      nbf: NOW / 1000,
      exp: NOW / 1000 + 60,
    });
    expect(jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(protectedHeader).toEqual({ alg: 'EdDSA', kid: seen[0], typ: 'JWT' });

    const other = await jwtVerify(second, jwks, options);
    expect(other.payload.jti).not.toBe(jti);
    expect(other.payload).not.toHaveProperty('task_id');
    // The redactor knows minted values by their constant start: the encoded header is the same every time.
    expect(second.slice(0, second.indexOf('.'))).toBe(first.slice(0, first.indexOf('.')));
    expect(decodeProtectedHeader(second).kid).toBe(seen[0]);
    // A tampered payload does not verify.
    const [h, p, s] = first.split('.');
    const forged = Buffer.from(JSON.stringify({ ...payload, sub: 'agent:root' })).toString('base64url');
    await expect(jwtVerify(`${h}.${forged}.${s}`, jwks, options)).rejects.toThrow();
    expect(p).not.toBe(forged);
  });
});

describe('the active signing key is looked up at most once a second', () => {
  let dir: TempDir;
  afterAll(async () => dir?.cleanup());

  it('sees a rotation made by another process within a second, and its own at once', async () => {
    dir = await makeTempDir('warden-active-key');
    const gateway = new KeyStore(dir.path);
    const first = await gateway.init(NOW);
    expect((await gateway.active(NOW)).kid).toBe(first.kid);
    // `mcp-warden keys rotate` in another process: a second store on the same file.
    const { added } = await new KeyStore(dir.path).rotate(NOW + 10);
    expect((await gateway.active(NOW + 500)).kid).toBe(first.kid);
    expect((await gateway.active(NOW + 1_000)).kid).toBe(added.kid);
    // A clock that went backwards is not trusted to keep the cached answer.
    const again = await new KeyStore(dir.path).rotate(NOW + 20);
    expect((await gateway.active(NOW)).kid).toBe(again.added.kid);
    // A rotation through this store is seen immediately.
    const own = await gateway.rotate(NOW + 1_100);
    expect((await gateway.active(NOW + 1_100)).kid).toBe(own.added.kid);
    // A key retired elsewhere may still sign for up to a second: it stays published a second longer.
    const grace = 60_000;
    expect(gateway.publicJwks(NOW + 1_100 + grace + 500, grace).keys.map((k) => k.kid)).toContain(again.added.kid);
    expect(gateway.publicJwks(NOW + 1_100 + grace + 1_001, grace).keys.map((k) => k.kid)).not.toContain(
      again.added.kid,
    );
  });
});
