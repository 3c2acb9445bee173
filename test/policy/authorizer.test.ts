// The authorize stage under a policy: approval and rate limits on top of the pure evaluation, with an
// injected clock; and the token buckets themselves.
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../src/model/principal.js';
import type { AuthorizeRequest } from '../../src/pipeline/stages.js';
import { PolicyAuthorizer } from '../../src/policy/authorizer.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { RateLimiter } from '../../src/policy/rate-limit.js';
import { PolicyFileSchema } from '../../src/policy/schema.js';
import { PolicyHolder } from '../../src/policy/watch.js';

const T0 = Date.parse('2025-06-01T12:00:00Z');

function authorizer(grants: unknown[]): { authz: PolicyAuthorizer; holder: PolicyHolder } {
  const compiled = compilePolicy([
    { label: 'p.yaml', data: PolicyFileSchema.parse({ version: 1, agents: [{ id: 'all', match: {}, grants }] }) },
  ]);
  const holder = new PolicyHolder(compiled);
  return { authz: new PolicyAuthorizer(holder), holder };
}

const alice: Principal = { subject: 'alice', issuer: 'urn:i', delegation: [], scopes: [], authMethod: 'jwt' };
const bob: Principal = { ...alice, subject: 'bob' };

function req(target: string, principal = alice, method: AuthorizeRequest['method'] = 'tools/call'): AuthorizeRequest {
  return { principal, method, server: 's', target };
}

describe('PolicyAuthorizer', () => {
  it('approval required: visible in lists; each call allowed on condition of an approval (the approval stage decides)', () => {
    const { authz } = authorizer([{ effect: 'allow', tools: ['s__close'], approval: 'required' }]);
    const listed = authz.authorize(req('s__close', alice, 'tools/list'), T0);
    expect(listed.effect).toBe('allow');
    expect(listed.approvalRequired).toBeUndefined();
    const decision = authz.authorize(req('s__close'), T0);
    expect(decision).toMatchObject({ effect: 'allow', approvalRequired: true });
    expect(decision.refusal).toBeUndefined();
    expect(decision.reason).toContain('approval required');
    expect(decision.policyVersion).toMatch(/^[0-9a-f]{12}$/);
  });

  it('rate limits per principal and tool, with a retry hint; lists never count', () => {
    const { authz } = authorizer([
      { id: 'limited', effect: 'allow', tools: ['s__*'], rateLimit: { calls: 2, perSeconds: 10 } },
    ]);
    for (let i = 0; i < 5; i += 1) expect(authz.authorize(req('s__a', alice, 'tools/list'), T0).effect).toBe('allow');
    expect(authz.authorize(req('s__a'), T0).effect).toBe('allow');
    expect(authz.authorize(req('s__a'), T0).effect).toBe('allow');
    const refused = authz.authorize(req('s__a'), T0);
    expect(refused).toMatchObject({
      effect: 'deny',
      rule: 'limited',
      refusal: { kind: 'rate_limited', retryAfterSeconds: 5 },
    });
    expect(authz.authorize(req('s__b'), T0).effect).toBe('allow'); // another tool
    expect(authz.authorize(req('s__a', bob), T0).effect).toBe('allow'); // another principal
    expect(authz.authorize(req('s__a'), T0 + 4_999).effect).toBe('deny');
    expect(authz.authorize(req('s__a'), T0 + 5_000).effect).toBe('allow');
  });

  it('resource URIs share one bucket per rule: varying the URI does not dodge the limit', () => {
    const { authz } = authorizer([
      { id: 'notes', effect: 'allow', resources: ['note://*'], rateLimit: { calls: 2, perSeconds: 10 } },
    ]);
    expect(authz.authorize(req('note://1', alice, 'resources/read'), T0).effect).toBe('allow');
    expect(authz.authorize(req('note://2', alice, 'resources/read'), T0).effect).toBe('allow');
    expect(authz.authorize(req('note://3', alice, 'resources/read'), T0)).toMatchObject({
      effect: 'deny',
      refusal: { kind: 'rate_limited' },
    });
    expect(authz.authorize(req('note://4', bob, 'resources/read'), T0).effect).toBe('allow'); // another principal
    expect(authz.limiter.size).toBe(2);
  });

  it('reads the policy in force at each decision (a swap applies to the next call)', () => {
    const { authz, holder } = authorizer([{ effect: 'allow', tools: ['s__a'] }]);
    expect(authz.authorize(req('s__a'), T0).effect).toBe('allow');
    holder.swap(compilePolicy([{ label: 'p.yaml', data: PolicyFileSchema.parse({ version: 1 }) }]));
    expect(authz.authorize(req('s__a'), T0)).toMatchObject({
      effect: 'deny',
      rule: 'default-deny',
      policyVersion: holder.current.version,
    });
  });
});

describe('RateLimiter (token buckets)', () => {
  it.each([
    [
      'a burst up to the limit, then a wait of one refill',
      { calls: 3, perSeconds: 3 },
      [0, 0, 0, 0],
      [true, true, true, false],
      1000,
    ],
    ['refills evenly', { calls: 2, perSeconds: 2 }, [0, 0, 1000, 1000], [true, true, true, false], 1000],
    ['a full bucket after a long idle', { calls: 1, perSeconds: 60 }, [0, 60_000, 60_000], [true, true, false], 60_000],
  ] as const)('%s', (_name, limit, times, expected, retry) => {
    const limiter = new RateLimiter();
    const results = times.map((t) => limiter.take([{ key: 'k', limit }], T0 + t));
    expect(results.map((r) => r.ok)).toEqual(expected);
    const last = results.at(-1)!;
    if (!last.ok) expect(last.retryAfterMs).toBe(retry);
  });

  it('takes from every bucket or from none', () => {
    const limiter = new RateLimiter();
    const tight = { key: 'tight', limit: { calls: 1, perSeconds: 60 } };
    const loose = { key: 'loose', limit: { calls: 10, perSeconds: 60 } };
    expect(limiter.take([tight, loose], T0).ok).toBe(true);
    expect(limiter.take([tight, loose], T0).ok).toBe(false);
    for (let i = 0; i < 9; i += 1) expect(limiter.take([loose], T0).ok).toBe(true);
    expect(limiter.take([loose], T0).ok).toBe(false);
  });

  it('forgets buckets that have refilled', () => {
    const limiter = new RateLimiter();
    for (let i = 0; i < 1_024; i += 1) limiter.take([{ key: `k${i}`, limit: { calls: 5, perSeconds: 1 } }], T0);
    expect(limiter.size).toBeLessThanOrEqual(1_024);
    for (let i = 0; i < 1_024; i += 1)
      limiter.take([{ key: 'same', limit: { calls: 5_000, perSeconds: 1 } }], T0 + 2_000);
    expect(limiter.size).toBe(1);
  });
});
