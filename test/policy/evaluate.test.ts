// The pure evaluator, table-driven: deny wins at any precedence, default deny, globs, argument schemas,
// task intersection, expiry with an injected clock, matchers, kinds. No I/O anywhere in here.
import { describe, expect, it } from 'vitest';
import type { Principal, TaskRef } from '../../src/model/principal.js';
import type { AuthorizeRequest } from '../../src/pipeline/stages.js';
import { compilePolicy, type CompiledPolicy } from '../../src/policy/compile.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { PolicyFileSchema } from '../../src/policy/schema.js';

const NOW = Date.parse('2025-06-01T12:00:00Z');

function policy(...files: Record<string, unknown>[]): CompiledPolicy {
  return compilePolicy(
    files.map((data, i) => ({ label: `p${i}.yaml`, data: PolicyFileSchema.parse({ version: 1, ...data }) })),
  );
}

function agent(extra: Partial<Principal> = {}): Principal {
  return {
    subject: 'agent:a',
    issuer: 'urn:mcp-warden:builtin',
    delegation: [],
    scopes: [],
    authMethod: 'jwt',
    ...extra,
  };
}

function call(
  p: CompiledPolicy,
  target: string,
  options: {
    principal?: Principal;
    method?: AuthorizeRequest['method'];
    args?: Record<string, unknown>;
    now?: number;
  } = {},
) {
  const method = options.method ?? 'tools/call';
  const server = target.includes('__') ? target.slice(0, target.indexOf('__')) : '';
  return evaluate(
    p,
    {
      principal: options.principal ?? agent(),
      method,
      server,
      target,
      ...(options.args && { arguments: options.args }),
    },
    options.now ?? NOW,
  );
}

const everyone = (grants: unknown[], extra: Record<string, unknown> = {}) => ({
  agents: [{ id: 'all', match: {}, grants, ...extra }],
});
const allow = (tools: string[], extra: Record<string, unknown> = {}) => ({ effect: 'allow', tools, ...extra });
const deny = (tools: string[], extra: Record<string, unknown> = {}) => ({ effect: 'deny', tools, ...extra });

describe('deny wins, at any precedence', () => {
  it.each([
    [
      'deny written after the allow',
      policy(everyone([allow(['*'], { id: 'broad' }), deny(['notes__delete_note'], { id: 'narrow' })])),
    ],
    [
      'deny written before the allow',
      policy(everyone([deny(['notes__delete_note'], { id: 'narrow' }), allow(['*'], { id: 'broad' })])),
    ],
    [
      'global deny, agent allow',
      policy({ ...everyone([allow(['notes__*'], { id: 'broad' })]), grants: [deny(['*__delete*'], { id: 'narrow' })] }),
    ],
    [
      'deny in a role, allow for every agent',
      policy({
        roles: { r: { grants: [deny(['notes__delete_note'], { id: 'narrow' })] } },
        agents: [{ id: 'a', match: {}, roles: ['r'] }],
        grants: [allow(['*'], { id: 'broad' })],
      }),
    ],
    [
      'deny in another file',
      policy(everyone([allow(['notes__delete_note', 'notes__read_note'], { id: 'broad' })]), {
        grants: [deny(['notes__delete*'], { id: 'narrow' })],
      }),
    ],
    [
      'exact allow, wildcard deny',
      policy(
        everyone([
          allow(['notes__delete_note', 'notes__read_note'], { id: 'broad' }),
          deny(['*delete*'], { id: 'narrow' }),
        ]),
      ),
    ],
    [
      'allow inside a task, deny outside any',
      policy({
        ...everyone([allow(['*'], { id: 'broad', task: 'required' })]),
        grants: [deny(['notes__delete_note'], { id: 'narrow' })],
      }),
    ],
  ])('%s', (_name, p) => {
    const task: TaskRef = { id: 't', grants: ['*'] };
    const decision = call(p, 'notes__delete_note', { principal: agent({ task }) });
    expect(decision).toMatchObject({ effect: 'deny', rule: 'narrow' });
    expect(decision.refusal).toBeUndefined(); // hidden: reads as "unknown tool"
    expect(call(p, 'notes__read_note', { principal: agent({ task }) })).toMatchObject({
      effect: 'allow',
      rule: 'broad',
    });
    expect(call(p, 'notes__delete_note', { principal: agent({ task }), method: 'tools/list' }).effect).toBe('deny');
  });
});

describe('default deny', () => {
  it.each([
    ['an empty policy', policy({}), agent()],
    [
      'no agent entry matches',
      policy({ agents: [{ id: 'bots', match: { subject: 'bot:*' }, grants: [allow(['*'])] }] }),
      agent(),
    ],
    ['the grant is for another tool', policy(everyone([allow(['notes__read_note'])])), agent()],
    ['the grant is for prompts, not tools', policy(everyone([{ effect: 'allow', prompts: ['*'] }])), agent()],
    ['the grant needs a task', policy(everyone([allow(['*'], { task: 'required' })])), agent()],
  ])('%s', (_name, p, principal) => {
    expect(call(p, 'notes__write_note', { principal })).toMatchObject({
      effect: 'deny',
      rule: 'default-deny',
      policyVersion: p.version,
    });
  });
});

describe('globs over namespaced names', () => {
  const p = policy(everyone([allow(['notes__read*', 'tickets__list_tickets', 'a.b', 'x__*__y'])]));
  it.each([
    ['notes__read_note', 'allow'],
    ['notes__read', 'allow'],
    ['notes__write_note', 'deny'],
    ['Notes__read_note', 'deny'],
    ['tickets__list_tickets', 'allow'],
    ['tickets__list_tickets2', 'deny'],
    ['axb', 'deny'],
    ['a.b', 'allow'],
    ['x__1__y', 'allow'],
    ['x____y', 'allow'],
    ['x__1__z', 'deny'],
  ])('%s → %s', (target, effect) => {
    expect(call(p, target).effect).toBe(effect);
  });
});

describe('argument constraints (JSON Schema)', () => {
  const drafts = { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^drafts-' } } };
  const secret = {
    type: 'object',
    required: ['content'],
    properties: { content: { type: 'string', pattern: 'SECRET' } },
  };
  const p = policy({
    ...everyone([allow(['notes__write_note'], { id: 'drafts', arguments: drafts })]),
    grants: [deny(['notes__write_note'], { id: 'no-secrets', arguments: secret })],
  });
  it.each([
    ['allowed arguments', { name: 'drafts-1', content: 'ok' }, 'tools/call', { effect: 'allow', rule: 'drafts' }],
    [
      'arguments the allow does not accept',
      { name: 'plan', content: 'ok' },
      'tools/call',
      { effect: 'deny', rule: 'drafts', refusal: 'forbidden' },
    ],
    ['missing arguments', undefined, 'tools/call', { effect: 'deny', rule: 'drafts', refusal: 'forbidden' }],
    [
      'arguments the deny matches',
      { name: 'drafts-1', content: 'a SECRET' },
      'tools/call',
      { effect: 'deny', rule: 'no-secrets', refusal: 'forbidden' },
    ],
    [
      'a list: the allow shows the tool, the argument deny does not hide it',
      undefined,
      'tools/list',
      { effect: 'allow', rule: 'drafts' },
    ],
  ] as const)('%s', (_name, args, method, expected) => {
    expect(call(p, 'notes__write_note', { args: args as Record<string, unknown> | undefined, method })).toMatchObject(
      expected,
    );
  });

  it('an argument deny on a tool nobody may see still reads as unknown', () => {
    const hidden = policy({ grants: [deny(['notes__write_note'], { arguments: secret })] });
    const decision = call(hidden, 'notes__write_note', { args: { content: 'SECRET' } });
    expect(decision.effect).toBe('deny');
    expect(decision.refusal).toBeUndefined();
  });

  it('prompt arguments are checked the same way', () => {
    const prompts = policy(everyone([{ effect: 'allow', prompts: ['notes__summarize_note'], arguments: drafts }]));
    expect(call(prompts, 'notes__summarize_note', { method: 'prompts/get', args: { name: 'drafts-a' } }).effect).toBe(
      'allow',
    );
    expect(call(prompts, 'notes__summarize_note', { method: 'prompts/get', args: { name: 'plan' } }).effect).toBe(
      'deny',
    );
  });
});

describe('tasks: the ceiling intersected with the task', () => {
  const p = policy({
    ...everyone([
      allow(['notes__read_note', 'notes__search_notes'], { id: 'read' }),
      allow(['tickets__*'], { id: 'tickets-in-task', task: 'required' }),
    ]),
  });
  const inTask = (grants: string[] | undefined, expiresAt?: number) =>
    agent({ task: { id: 't1', ...(grants && { grants }), ...(expiresAt !== undefined && { expiresAt }) } });
  it.each([
    ['no task: the base ceiling', undefined, 'notes__read_note', 'allow', 'read'],
    ['no task: task-only grants are absent', undefined, 'tickets__create_ticket', 'deny', 'default-deny'],
    [
      'a task that does not narrow: ceiling inside a task',
      inTask(undefined),
      'tickets__create_ticket',
      'allow',
      'tickets-in-task',
    ],
    [
      'a task narrows: inside its grants',
      inTask(['tickets__create_ticket']),
      'tickets__create_ticket',
      'allow',
      'tickets-in-task',
    ],
    [
      'a task narrows: outside its grants',
      inTask(['tickets__create_ticket']),
      'notes__read_note',
      'deny',
      'task-scope',
    ],
    ['a task never widens', inTask(['*']), 'notes__write_note', 'deny', 'default-deny'],
    ['a task never widens (exact name)', inTask(['notes__write_note']), 'notes__write_note', 'deny', 'default-deny'],
    ['a task glob', inTask(['notes__*']), 'notes__search_notes', 'allow', 'read'],
  ] as const)('%s', (_name, principal, target, effect, rule) => {
    expect(call(p, target, { principal: principal ?? agent() })).toMatchObject({ effect, rule });
  });

  it.each([
    ['before expiry', NOW - 1, 'allow', 'tickets-in-task'],
    ['at expiry: its tools are gone', NOW, 'deny', 'default-deny'],
    ['after expiry', NOW + 60_000, 'deny', 'default-deny'],
  ] as const)('expiry with an injected clock: %s', (_name, now, effect, rule) => {
    const principal = inTask(['tickets__*'], NOW);
    expect(call(p, 'tickets__close_ticket', { principal, now })).toMatchObject({ effect, rule });
  });

  it('requireTask: only the task meta-tools until a task is declared', () => {
    const strict = policy({
      agents: [{ id: 'bots', match: { subject: 'bot:*' }, requireTask: true, grants: [allow(['*'])] }],
    });
    const bot = agent({ subject: 'bot:1' });
    expect(call(strict, 'notes__read_note', { principal: bot })).toMatchObject({
      effect: 'deny',
      rule: 'task-required',
    });
    expect(call(strict, 'warden__begin_task', { principal: bot })).toMatchObject({
      effect: 'allow',
      rule: 'builtin:task-tools',
    });
    expect(call(strict, 'warden__end_task', { principal: bot, method: 'tools/list' }).effect).toBe('allow');
    expect(call(strict, 'notes__read_note', { principal: { ...bot, task: { id: 't' } } }).effect).toBe('allow');
    expect(
      call(strict, 'notes__read_note', { principal: { ...bot, task: { id: 't', expiresAt: NOW } } }),
    ).toMatchObject({ rule: 'task-required' });
  });

  it('the meta-tools cannot be hidden by policy, and a downstream cannot pose as them', () => {
    const p2 = policy({ grants: [deny(['*'])] });
    expect(call(p2, 'warden__begin_task').effect).toBe('allow');
    expect(
      evaluate(p2, { principal: agent(), method: 'tools/call', server: 'other', target: 'warden__begin_task' }, NOW)
        .effect,
    ).toBe('deny');
  });
});

describe('agent matchers', () => {
  const p = policy({
    agents: [
      { id: 'subject', match: { subject: 'agent:triage-*' }, grants: [allow(['a'])] },
      { id: 'issuer', match: { issuer: 'https://idp.example.com', client: 'ci-*' }, grants: [allow(['b'])] },
      { id: 'tenant', match: { tenant: 'acme' }, grants: [allow(['c'])] },
      { id: 'scopes', match: { scopes: ['mcp:tools', 'mcp:write'] }, grants: [allow(['d'])] },
      { id: 'claims', match: { claims: { org: 'contractor-*', groups: 'admins' } }, grants: [allow(['e'])] },
      { id: 'local', match: { authMethod: 'unauthenticated-local' }, grants: [allow(['f'])] },
    ],
  });
  it.each([
    ['subject glob', agent({ subject: 'agent:triage-7' }), 'a', 'allow'],
    ['subject glob, other subject', agent({ subject: 'agent:other' }), 'a', 'deny'],
    ['issuer and client', agent({ issuer: 'https://idp.example.com', clientId: 'ci-main' }), 'b', 'allow'],
    ['issuer without the client', agent({ issuer: 'https://idp.example.com' }), 'b', 'deny'],
    ['tenant', agent({ tenant: 'acme' }), 'c', 'allow'],
    ['another tenant', agent({ tenant: 'acme2' }), 'c', 'deny'],
    ['every scope present', agent({ scopes: ['mcp:write', 'mcp:tools', 'x'] }), 'd', 'allow'],
    ['a scope missing', agent({ scopes: ['mcp:tools'] }), 'd', 'deny'],
    [
      'claims: string and array',
      agent({ claims: { org: 'contractor-acme', groups: ['users', 'admins'] } }),
      'e',
      'allow',
    ],
    ['claims: one missing', agent({ claims: { org: 'contractor-acme' } }), 'e', 'deny'],
    ['auth method', agent({ authMethod: 'unauthenticated-local' }), 'f', 'allow'],
    ['auth method (jwt)', agent(), 'f', 'deny'],
  ] as const)('%s', (_name, principal, target, effect) => {
    expect(call(p, target, { principal }).effect).toBe(effect);
  });
});

describe('prompts and resources are governed like tools', () => {
  const p = policy({
    ...everyone([{ effect: 'allow', prompts: ['notes__*'], resources: ['note://*'] }]),
    grants: [{ effect: 'deny', resources: ['note://secret*'] }],
  });
  it.each([
    ['prompts/get', 'notes__summarize_note', 'allow'],
    ['prompts/list', 'notes__summarize_note', 'allow'],
    ['tools/call', 'notes__summarize_note', 'deny'],
    ['resources/read', 'note://plan.md', 'allow'],
    ['resources/templates/list', 'note://{name}', 'allow'],
    ['resources/subscribe', 'note://plan.md', 'allow'],
    ['resources/read', 'note://secret-plan', 'deny'],
    ['resources/read', 'file:///etc/passwd', 'deny'],
    ['completion/complete', 'notes__summarize_note', 'allow'],
    ['completion/complete', 'note://plan.md', 'allow'],
    ['completion/complete', 'note://secret', 'deny'],
  ] as const)('%s %s → %s', (method, target, effect) => {
    expect(call(p, target, { method }).effect).toBe(effect);
  });
});

describe('decisions', () => {
  it('carry the rule, the reason and the policy version; derived rule ids say where the rule is written', () => {
    const p = policy({ roles: { r: { grants: [allow(['x'])] } }, agents: [{ id: 'a', match: {}, roles: ['r'] }] });
    expect(call(p, 'x')).toEqual({
      effect: 'allow',
      rule: 'p0.yaml#roles.r.grants[0]',
      reason: 'allow grant p0.yaml#roles.r.grants[0] (agent a, role r)',
      policyVersion: p.version,
      approval: false,
      rateLimits: [],
    });
    expect(p.version).toMatch(/^[0-9a-f]{12}$/);
  });

  it('a revoked principal is refused everything, meta-tools included', () => {
    const p = policy(everyone([allow(['*'])]));
    for (const target of ['x', 'warden__begin_task']) {
      expect(call(p, target, { principal: agent({ revoked: 'agent agent:a revoked' }) })).toMatchObject({
        effect: 'deny',
        rule: 'revoked',
        refusal: 'revoked',
      });
    }
  });

  it('reports approval and every rate limit of the allows that apply', () => {
    const p = policy(
      everyone([
        allow(['t*'], { id: 'a', rateLimit: { calls: 5, perSeconds: 60 } }),
        allow(['tool'], { id: 'b', approval: 'required', rateLimit: { calls: 1, perSeconds: 1 } }),
      ]),
    );
    const decision = call(p, 'tool');
    expect(decision).toMatchObject({ effect: 'allow', rule: 'a', approval: true });
    expect(decision.rateLimits.map((l) => l.ruleId).sort()).toEqual(['a', 'b']);
  });

  it('the version is the content: reordering keys keeps it, changing a rule changes it', () => {
    const a = policy({ grants: [{ effect: 'allow', tools: ['x'] }] });
    const b = policy({ grants: [{ tools: ['x'], effect: 'allow' }] });
    const c = policy({ grants: [{ effect: 'allow', tools: ['y'] }] });
    expect(a.version).toBe(b.version);
    expect(a.version).not.toBe(c.version);
  });
});
