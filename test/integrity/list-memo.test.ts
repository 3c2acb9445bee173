// Lists remember their decisions per catalog and authorizer list key (issue 21): a repeated list decides
// nothing again, and every change that can alter what an agent sees (a policy reload, another task, a task
// expiring, a pin quarantined by another process) is seen on the very next list. Real policy, real pin
// store on a SQLite file, the real pipeline; the injected clock drives expiry.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Egress } from '../../src/egress/egress.js';
import { aggregate } from '../../src/gateway/catalog.js';
import { PinStore, type ServerPinning } from '../../src/integrity/pins.js';
import { PinAuthorizer } from '../../src/integrity/pin-authorizer.js';
import { PinRegistry } from '../../src/integrity/registry.js';
import type { ListDecisions } from '../../src/model/list-verdict.js';
import type { Principal } from '../../src/model/principal.js';
import { createLogger } from '../../src/observe/logger.js';
import { Pipeline } from '../../src/pipeline/orchestrator.js';
import type { AuditSink, Authorizer, AuthorizeRequest, Stages } from '../../src/pipeline/stages.js';
import { PolicyAuthorizer } from '../../src/policy/authorizer.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { PolicyFileSchema } from '../../src/policy/schema.js';
import { PolicyHolder } from '../../src/policy/watch.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const EGRESS = new Egress();
const TOFU: ServerPinning = { mode: 'trust-on-first-use', quarantineFlagged: false };
const logger = createLogger({ level: 'silent' });
const T0 = Date.parse('2026-12-01T12:00:00Z');
const NAMES = ['read_a', 'read_b', 'write_a', 'write_b', 'delete_all'];

const source = (changed?: string) => ({
  serverId: 'fx',
  prefix: 'fx',
  catalog: {
    tools: NAMES.map((name) => ({
      name,
      description: name === changed ? `${name}, and now something else` : name,
      inputSchema: { type: 'object' as const },
    })),
    prompts: [],
    resources: [],
    templates: [],
  },
});

function policy(grants: unknown[]) {
  return compilePolicy([
    { label: 'p.yaml', data: PolicyFileSchema.parse({ version: 1, agents: [{ id: 'all', match: {}, grants }] }) },
  ]);
}
const FIRST = policy([
  { effect: 'allow', tools: ['fx__read_*'] },
  { effect: 'allow', tools: ['fx__write_*'], task: 'required' },
]);
const alice: Principal = { subject: 'alice', issuer: 'urn:i', delegation: [], scopes: [], authMethod: 'jwt' };

/** Counts the decisions the pipeline asks for, passing each to the real authorizer. */
class Counting implements Authorizer {
  calls = 0;
  constructor(private readonly inner: Authorizer) {}
  authorize(request: AuthorizeRequest, now: number) {
    this.calls += 1;
    return this.inner.authorize(request, now);
  }
  listKey(principal: Principal, now: number) {
    return this.inner.listKey?.(principal, now);
  }
}

describe('memoised list decisions', () => {
  let dir: TempDir;
  let registry: PinRegistry;
  let other: PinRegistry;
  beforeEach(async () => {
    dir = await makeTempDir('warden-list-memo');
    const open = () =>
      new PinRegistry(
        PinStore.open(join(dir.path, 'state.db')),
        () => TOFU,
        logger,
        async () => undefined,
        EGRESS,
      );
    registry = open();
    other = open(); // another gateway process on the same data folder
  });
  afterEach(async () => {
    registry.close();
    other.close();
    await dir.cleanup();
  });

  it('decides a catalog once per key, and sees a reload, a task, its expiry and a pin change on the next list', () => {
    let now = T0;
    const view = aggregate(EGRESS, [source()]);
    registry.observe(view, [source()]);
    const holder = new PolicyHolder(FIRST);
    const counting = new Counting(new PinAuthorizer(new PolicyAuthorizer(holder), registry));
    const decided: ListDecisions[] = [];
    const audit = { listed: (_ctx: unknown, result: ListDecisions) => decided.push(result) } as unknown as AuditSink;
    const pipeline = new Pipeline({ authorizer: counting, audit, now: () => now } as unknown as Stages, logger);
    // The same array while the view is the same, as the session keeps it.
    const catalog = [...view.tools.values()].map((r) => ({
      server: r.server,
      target: r.item.name,
      item: r.item.name,
      definitionHash: r.definitionHash,
    }));
    const list = (principal: Principal) =>
      pipeline
        .filterList({ requestId: 'r', ingress: 'http', sessionId: 's', principal, method: 'tools/list' }, catalog, {
          source: catalog,
          from: 0,
        })
        .sort();

    expect(list(alice)).toEqual(['fx__read_a', 'fx__read_b']);
    expect(counting.calls).toBe(5);
    expect(list(alice)).toEqual(['fx__read_a', 'fx__read_b']);
    expect(counting.calls).toBe(5); // remembered
    // Every list is still recorded in full.
    expect(decided).toHaveLength(2);
    expect([...decided[1]!.verdicts]).toEqual([...decided[0]!.verdicts]);

    // A task: the task-only tools appear on the next list.
    const inTask: Principal = { ...alice, task: { id: 't1', source: 'session', expiresAt: T0 + 60_000 } };
    expect(list(inTask)).toEqual(['fx__read_a', 'fx__read_b', 'fx__write_a', 'fx__write_b']);
    // The task expires (injected clock): gone on the next list, though the principal object is the same.
    now = T0 + 60_000;
    expect(list(inTask)).toEqual(['fx__read_a', 'fx__read_b']);

    // A reload: the new policy decides the next list.
    holder.swap(policy([{ effect: 'allow', tools: ['fx__*'] }]));
    expect(list(alice)).toEqual(['fx__delete_all', 'fx__read_a', 'fx__read_b', 'fx__write_a', 'fx__write_b']);

    // Another gateway sees read_a change and quarantines it: the next list here hides it.
    const changed = aggregate(EGRESS, [source('read_a')]);
    other.observe(changed, [source('read_a')]);
    now += 1; // the registry looks for other processes' commits once per clock value
    expect(list(alice)).toEqual(['fx__delete_all', 'fx__read_b', 'fx__write_a', 'fx__write_b']);
    // And back to the first policy: the memo of that key was made before the quarantine, so it is not reused.
    holder.swap(FIRST);
    expect(list(alice)).toEqual(['fx__read_b']);
  });

  it('without a list key (no policy), every list decides every entry', () => {
    const view = aggregate(EGRESS, [source()]);
    registry.observe(view, [source()]);
    const inner: Authorizer = { authorize: () => ({ effect: 'allow', rule: 'r', reason: 'r' }) };
    const counting = new Counting(new PinAuthorizer(inner, registry));
    const audit = { listed: () => undefined } as unknown as AuditSink;
    const pipeline = new Pipeline({ authorizer: counting, audit, now: () => T0 } as unknown as Stages, logger);
    const catalog = [...view.tools.values()].map((r) => ({
      server: r.server,
      target: r.item.name,
      item: r.item.name,
      definitionHash: r.definitionHash,
    }));
    const ctx = {
      requestId: 'r',
      ingress: 'http' as const,
      sessionId: 's',
      principal: alice,
      method: 'tools/list' as const,
    };
    pipeline.filterList(ctx, catalog, { source: catalog, from: 0 });
    pipeline.filterList(ctx, catalog, { source: catalog, from: 0 });
    expect(counting.calls).toBe(10);
  });
});
