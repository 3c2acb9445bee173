// Tasks with a real SQLite file: the registry shared through the data folder (two connections stand in
// for two gateway processes), revocations, and one session's task life (begin, narrowing, expiry with an
// injected clock, end) against a real policy.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aggregate } from '../../src/gateway/catalog.js';
import type { Principal } from '../../src/model/principal.js';
import { createLogger } from '../../src/observe/logger.js';
import type { AuditEvent } from '../../src/pipeline/stages.js';
import { PolicyAuthorizer } from '../../src/policy/authorizer.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { PolicyFileSchema } from '../../src/policy/schema.js';
import { PolicyHolder } from '../../src/policy/watch.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Outcome } from '../../src/pipeline/denial.js';
import { SessionTasks, withinToken } from '../../src/tasks/session.js';
import { TaskStore } from '../../src/tasks/store.js';
import { TaskRegistry } from '../../src/tasks/tasks.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';
import { Egress } from '../../src/egress/egress.js';

/** The egress stage, as the gateway builds it (no secret known: definitions pass unchanged). */
const EGRESS = new Egress();

const T0 = Date.parse('2025-06-01T12:00:00Z');
const logger = createLogger({ level: 'silent' });
/** The structured result of a meta-tool call that ran (not refused as invalid). */
function structured(outcome: Outcome<CallToolResult>): Record<string, unknown> & { isError?: boolean } {
  if (!outcome.ok) throw new Error(`refused: ${outcome.denial.reason}`);
  return { ...outcome.value.structuredContent, ...(outcome.value.isError && { isError: true }) };
}

const agent = (extra: Partial<Principal> = {}): Principal => ({
  subject: 'agent:a',
  issuer: 'urn:i',
  delegation: [],
  scopes: [],
  authMethod: 'jwt',
  issuedAt: T0 - 60_000,
  ...extra,
});

let dir: TempDir;
beforeAll(async () => {
  dir = await makeTempDir('warden-tasks');
});
afterAll(async () => dir?.cleanup());

describe('TaskRegistry: shared through the data folder', () => {
  it('refuses a token task revoked by id before any gateway stored it, once it shows up', () => {
    const file = join(dir.path, 'unseen.db');
    const here = new TaskRegistry(TaskStore.open(file), logger);
    const cli = TaskStore.open(file);
    try {
      here.sync(T0);
      expect(cli.revokeTask('tok-unseen', T0 + 1)).toEqual({ ended: 0, unseen: true });
      expect(cli.revokeTask('tok-unseen', T0 + 2)).toEqual({ ended: 0, unseen: false });
      expect(cli.isRevokedById('tok-unseen')).toBe(true);
      here.sync(T0 + 3);
      const holder = agent({ task: { id: 'tok-unseen', grants: ['x'] } });
      here.noteTokenTask(holder, T0 + 3);
      expect(here.revocationOf(holder)).toBe('task tok-unseen revoked');
      // stored as revoked when it shows up, not as a running task
      expect(cli.get('tok-unseen').map((t) => t.endReason)).toEqual(['revoked']);
      const delegate = agent({ subject: 'agent:b', actors: [{ subject: 'agent:a', taskId: 'tok-unseen' }] });
      expect(here.revocationOf(delegate)).toBe('delegated within task tok-unseen, revoked');
    } finally {
      cli.close();
      here.close();
    }
  });

  it('sees a revocation made through another connection at its next sync', () => {
    const file = join(dir.path, 'shared.db');
    const here = new TaskRegistry(TaskStore.open(file), logger);
    const elsewhere = TaskStore.open(file);
    try {
      here.sync(T0);
      const tokenTask = agent({ task: { id: 'tok-1', grants: ['x'] } });
      here.noteTokenTask(tokenTask, T0);
      expect(elsewhere.list({ all: false, now: T0 }).map((t) => [t.id, t.source])).toEqual([['tok-1', 'token']]);
      expect(here.revocationOf(tokenTask)).toBeUndefined();

      expect(elsewhere.revokeTask('tok-1', T0 + 1)).toEqual({ ended: 1, unseen: false });
      expect(here.revocationOf(tokenTask)).toBeUndefined(); // not until the next sync (every call does one)
      here.sync(T0 + 2);
      expect(here.revocationOf(tokenTask)).toBe('task tok-1 revoked');
      expect(here.revocationOf(agent())).toBeUndefined();

      elsewhere.revokeAgent({ subject: 'agent:a', issuer: '*', revokedAt: T0 + 10, reason: 'compromised' });
      here.sync(T0 + 11);
      expect(here.revocationOf(agent())).toMatch(/^agent agent:a revoked at .* \(compromised\)$/);
      expect(here.revocationOf(agent({ issuedAt: T0 + 10 }))).toBeDefined(); // issued in the same instant
      expect(here.revocationOf(agent({ issuedAt: T0 + 1_000 }))).toBeUndefined(); // a token issued afterwards works
      expect(here.revocationOf(agent({ subject: 'agent:b' }))).toBeUndefined();
    } finally {
      here.close();
      elsewhere.close();
    }
  });

  it('revokes an agent for one issuer only when asked to', () => {
    const file = join(dir.path, 'issuer.db');
    const registry = new TaskRegistry(TaskStore.open(file), logger);
    const cli = TaskStore.open(file);
    try {
      cli.revokeAgent({ subject: 'agent:a', issuer: 'urn:other', revokedAt: T0 });
      registry.sync(T0);
      expect(registry.revocationOf(agent())).toBeUndefined();
      expect(registry.revocationOf(agent({ issuer: 'urn:other' }))).toBeDefined();
    } finally {
      registry.close();
      cli.close();
    }
  });
});

describe('SessionTasks: one session', () => {
  const compiled = compilePolicy([
    {
      label: 'p.yaml',
      data: PolicyFileSchema.parse({
        version: 1,
        tasks: { defaultTtlSeconds: 60, maxTtlSeconds: 120 },
        agents: [
          {
            id: 'all',
            match: {},
            grants: [
              { id: 'read', effect: 'allow', tools: ['s__read'] },
              { id: 'write', effect: 'allow', tools: ['s__write', 's__close'], task: 'required' },
            ],
          },
        ],
        grants: [{ id: 'no-delete', effect: 'deny', tools: ['s__delete'] }],
      }),
    },
  ]);
  const view = aggregate(EGRESS, [
    {
      serverId: 's',
      prefix: 's',
      catalog: {
        tools: ['read', 'write', 'close', 'delete', 'admin'].map((name) => ({
          name,
          inputSchema: { type: 'object' as const },
        })),
        prompts: [],
        resources: [],
        templates: [],
      },
    },
  ]);

  function setup(name: string) {
    const registry = new TaskRegistry(TaskStore.open(join(dir.path, `${name}.db`)), logger);
    const authorizer = new PolicyAuthorizer(new PolicyHolder(compiled));
    const events: AuditEvent[] = [];
    let changes = 0;
    const tasks = new SessionTasks(
      { registry, authorizer, logger, taskSettings: () => compiled.tasks, record: (e) => events.push(e) },
      () => 'session-1',
      () => (changes += 1),
    );
    const visibleTools = (principal: Principal, now: number) =>
      ['warden__begin_task', 'warden__end_task', ...view.tools.keys()].filter(
        (t) =>
          authorizer.authorize(
            { principal, method: 'tools/list', server: t.startsWith('warden__') ? 'warden' : 's', target: t },
            now,
          ).effect === 'allow',
      );
    return { registry, tasks, events, visibleTools, changes: () => changes };
  }

  it('begin narrows within the ceiling and reports what was refused; expiry removes the tools; list changes are noticed', async () => {
    const { registry, tasks, events, visibleTools, changes } = setup('life');
    try {
      let principal = tasks.effective(agent(), T0);
      expect(visibleTools(principal, T0)).toEqual(['warden__begin_task', 'warden__end_task', 's__read']);
      tasks.listed(
        'tools/list',
        visibleTools(principal, T0).map((name) => ({ name })),
      );

      const begun = await tasks.run(
        'warden__begin_task',
        { purpose: 'fix things', tools: ['s__write', 's__delete', 's__admin', 's__nope', 's__c*'], ttlSeconds: 600 },
        view,
        T0,
      );
      const result = structured(begun);
      expect(result).toMatchObject({
        status: 'granted',
        granted: ['s__write', 's__c*'],
        note: expect.stringContaining('120'),
      });
      expect((result.refused as { tool: string }[]).map((r) => r.tool)).toEqual(['s__delete', 's__admin', 's__nope']);
      expect(changes()).toBe(1);
      expect(events.map((e) => e.type)).toEqual(['task.begin']);

      principal = tasks.effective(agent(), T0 + 1);
      expect(principal.task).toMatchObject({
        source: 'session',
        grants: ['s__write', 's__c*'],
        expiresAt: T0 + 120_000,
      });
      expect(visibleTools(principal, T0 + 1)).toEqual([
        'warden__begin_task',
        'warden__end_task',
        's__write',
        's__close',
      ]);
      expect(tasks.changedKinds(view, T0 + 1)).toEqual(['tools']);
      expect(tasks.changedKinds(view, T0 + 2)).toEqual([]);

      const again = await tasks.run('warden__begin_task', { purpose: 'x', tools: ['s__read'] }, view, T0 + 2);
      expect(structured(again).isError).toBe(true);

      principal = tasks.effective(agent(), T0 + 120_000); // the clock passes the expiry
      expect(principal.task).toBeUndefined();
      expect(events.map((e) => e.type)).toEqual(['task.begin', 'task.expire']);
      expect(visibleTools(principal, T0 + 120_000)).toEqual(['warden__begin_task', 'warden__end_task', 's__read']);
      expect(tasks.changedKinds(view, T0 + 120_000)).toEqual(['tools']);
    } finally {
      tasks.close(T0);
      registry.close();
    }
  });

  it('end_task ends the task; invalid arguments are refused; nothing granted means no task', async () => {
    const { registry, tasks, events } = setup('end');
    try {
      tasks.effective(agent(), T0);
      expect(await tasks.run('warden__begin_task', { purpose: '', tools: [] }, view, T0)).toMatchObject({
        ok: false,
        denial: { kind: 'invalid_params' },
      });
      const nothing = await tasks.run('warden__begin_task', { purpose: 'p', tools: ['s__delete'] }, view, T0);
      expect(structured(nothing).status).toBe('refused');
      expect(structured(await tasks.run('warden__end_task', {}, view, T0)).isError).toBe(true);
      await tasks.run('warden__begin_task', { purpose: 'p', tools: ['s__write'] }, view, T0);
      expect(tasks.effective(agent(), T0).task?.source).toBe('session');
      expect(structured(await tasks.run('warden__end_task', {}, view, T0 + 5)).status).toBe('ended');
      expect(tasks.effective(agent(), T0 + 6).task).toBeUndefined();
      expect(events.map((e) => e.type)).toEqual(['task.begin', 'task.end']);
    } finally {
      registry.close();
    }
  });

  it('a task declared under a token task stays within the token task', async () => {
    const { registry, tasks } = setup('token');
    try {
      const tokenAgent = agent({ task: { id: 'tok', grants: ['s__write'] } });
      tasks.effective(tokenAgent, T0);
      const begun = await tasks.run('warden__begin_task', { purpose: 'p', tools: ['s__*'] }, view, T0);
      expect(structured(begun)).toMatchObject({ status: 'granted', granted: ['s__write'] });
      expect(tasks.effective(tokenAgent, T0).task).toMatchObject({ grants: ['s__write'], source: 'session' });
    } finally {
      tasks.close(T0);
      registry.close();
    }
  });

  it('a narrower token of the same subject on the same session intersects the task: s__* ∩ s__write keeps s__write', async () => {
    const { registry, tasks, visibleTools } = setup('intersect');
    try {
      const wide = agent({ task: { id: 'tok-wide-glob', grants: ['s__*'] } });
      tasks.effective(wide, T0);
      expect(
        structured(await tasks.run('warden__begin_task', { purpose: 'p', tools: ['s__*'] }, view, T0)),
      ).toMatchObject({
        status: 'granted',
        granted: ['s__*'],
      });
      expect(visibleTools(tasks.effective(wide, T0 + 1), T0 + 1)).toEqual(
        expect.arrayContaining(['s__write', 's__close']),
      );

      const narrow = agent({ task: { id: 'tok-narrow-literal', grants: ['s__write'] } });
      const principal = tasks.effective(narrow, T0 + 2);
      expect(principal.task).toMatchObject({ source: 'session', grants: ['s__write'] });
      expect(visibleTools(principal, T0 + 2)).toEqual(['warden__begin_task', 'warden__end_task', 's__write']);
    } finally {
      tasks.close(T0);
      registry.close();
    }
  });

  it.each([
    ['a literal inside a glob', ['s__*'], ['s__write'], { grants: ['s__write'] }],
    ['a glob inside a glob', ['s__*'], ['s__w*'], { grants: ['s__w*'] }],
    ['covered grants are kept', ['s__write'], ['s__*'], { grants: ['s__write'] }],
    ['disjoint literals leave nothing', ['s__close'], ['s__write'], { grants: [] }],
    [
      'two globs that only partly overlap: both must match',
      ['s__w*'],
      ['s__*e'],
      { grants: ['s__w*'], within: ['s__*e'] },
    ],
  ])('withinToken: %s', (_name, session, token, expected) => {
    const result = withinToken({ id: 't', source: 'session', grants: session }, { id: 'k', grants: token });
    expect({ grants: result.grants, ...(result.within && { within: result.within }) }).toEqual(expected);
  });

  it('a partial overlap of two globs allows only what both match', async () => {
    const { registry, tasks, visibleTools } = setup('partial');
    try {
      tasks.effective(agent({ task: { id: 'tok-w', grants: ['s__*'] } }), T0);
      expect(
        structured(await tasks.run('warden__begin_task', { purpose: 'p', tools: ['s__w*', 's__c*'] }, view, T0)),
      ).toMatchObject({ status: 'granted' });
      const principal = tasks.effective(agent({ task: { id: 'tok-e', grants: ['s__*e'] } }), T0 + 1);
      // s__write matches s__w* and s__*e; s__close matches s__c* and s__*e; s__read matches neither task glob
      expect(visibleTools(principal, T0 + 1)).toEqual([
        'warden__begin_task',
        'warden__end_task',
        's__write',
        's__close',
      ]);
      const other = tasks.effective(agent({ task: { id: 'tok-x', grants: ['s__*x'] } }), T0 + 2);
      expect(visibleTools(other, T0 + 2)).toEqual(['warden__begin_task', 'warden__end_task']);
    } finally {
      tasks.close(T0);
      registry.close();
    }
  });

  it('a later, narrower token on the same session does not inherit the wider task', async () => {
    const { registry, tasks, visibleTools } = setup('narrower');
    try {
      const wide = agent({ task: { id: 'tok-wide', grants: ['s__write', 's__close'] } });
      tasks.effective(wide, T0);
      expect(
        structured(await tasks.run('warden__begin_task', { purpose: 'p', tools: ['s__write', 's__close'] }, view, T0)),
      ).toMatchObject({ status: 'granted' });
      expect(visibleTools(tasks.effective(wide, T0 + 1), T0 + 1)).toContain('s__close');

      const narrow = agent({ task: { id: 'tok-narrow', grants: ['s__write'] } });
      const principal = tasks.effective(narrow, T0 + 2);
      expect(principal.task).toMatchObject({ source: 'session', grants: ['s__write'] });
      expect(visibleTools(principal, T0 + 2)).not.toContain('s__close');
      expect(visibleTools(principal, T0 + 2)).toContain('s__write');
    } finally {
      tasks.close(T0);
      registry.close();
    }
  });
});
