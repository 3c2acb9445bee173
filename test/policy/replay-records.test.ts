// What the audit record must hold for a faithful replay, on a real SQLite audit file written by the real
// audit stage: the token task's grants, the approval and rate-limit state of a decision, and how rows
// written before intent body v2 (which lack them) are replayed: as partial where it matters.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChainAppender } from '../../src/audit/chain.js';
import { recordedRequests } from '../../src/audit/replay-source.js';
import { replayRecorded } from '../../src/policy/replay.js';
import type { SqliteAuditSink } from '../../src/audit/sink.js';
import { auditFile, openAuditDb, type Db } from '../../src/audit/store.js';
import type { Principal } from '../../src/model/principal.js';
import type { CallMethod } from '../../src/pipeline/context.js';
import type { Decision } from '../../src/pipeline/stages.js';
import { PolicyAuthorizer } from '../../src/policy/authorizer.js';
import { compilePolicy, type CompiledPolicy } from '../../src/policy/compile.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { callContext, openSink } from '../audit/helpers.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const policy = (text: string): CompiledPolicy =>
  compilePolicy([{ label: 'p.yaml', data: parsePolicyText(text, 'p.yaml') }]);

const IN_FORCE = policy(`version: 1
agents:
  - id: all
    match: {}
    grants:
      - { id: read, effect: allow, tools: [notes__read], rateLimit: { calls: 1, perSeconds: 3600 } }
      - { id: write, effect: allow, tools: [notes__write] }
      - { id: close, effect: allow, tools: [notes__close], approval: required }
`);

/** Everything allowed, nothing limited, no approvals: only a task's own grants can still refuse. */
const OPEN = policy(`version: 1
agents:
  - id: all
    match: {}
    grants:
      - { id: anything, effect: allow, tools: ["*"] }
`);

/** Resources under notes://drafts/ and every notes prompt. */
const READS = policy(`version: 1
agents:
  - id: all
    match: {}
    grants:
      - { id: drafts, effect: allow, resources: ["notes://drafts/*"] }
      - { id: prompts, effect: allow, prompts: ["notes__*"] }
`);
/** Final notes instead of drafts; prompts only in the short style. */
const READS_TIGHTER = policy(`version: 1
agents:
  - id: all
    match: {}
    grants:
      - { id: final-notes, effect: allow, resources: ["notes://final/*"] }
      - { id: prompts, effect: allow, prompts: ["notes__*"], arguments: { type: object, properties: { style: { const: short } } } }
`);

const agent = (task?: Principal['task']): Principal => ({
  subject: 'agent:r',
  issuer: 'urn:test',
  delegation: ['agent:parent'],
  scopes: [],
  authMethod: 'jwt',
  ...(task && { task }),
});

describe('replay from recorded intents', () => {
  let dir: TempDir;
  let sink: SqliteAuditSink;
  let db: Db | undefined;
  let authorizer: PolicyAuthorizer;

  /** Decides with the policy in force, as the gateway does, and records the intent through the real audit stage. */
  async function record(principal: Principal, target: string, at: number): Promise<Decision> {
    const ctx = callContext({
      principal,
      target,
      server: 'notes',
      downstreamTarget: target.split('__')[1]!,
      startedAt: at,
      arguments: {},
    });
    const decision = authorizer.authorize(
      { principal, method: 'tools/call', server: 'notes', target, arguments: {} },
      at,
    );
    const written = await sink.intent(ctx, decision);
    expect(written.ok).toBe(true);
    return decision;
  }

  function replay(p: CompiledPolicy) {
    db ??= openAuditDb(auditFile(dir.path), { readonly: true });
    return replayRecorded(p, recordedRequests(db, {}));
  }

  beforeEach(async () => {
    dir = await makeTempDir('warden-replay-records');
    authorizer = new PolicyAuthorizer({ current: IN_FORCE });
    sink = await openSink(dir.path);
  });
  afterEach(async () => {
    db?.close();
    db = undefined;
    await sink.close();
    await dir.cleanup();
  });

  it("keeps the token task's grants: a call outside them stays refused under a policy that allows everything", async () => {
    const at = Date.now();
    const decision = await record(
      agent({ id: 'task-1', grants: ['notes__read'], expiresAt: at + 60_000, source: 'token' }),
      'notes__write',
      at,
    );
    expect(decision).toMatchObject({ effect: 'deny', rule: 'task-scope' });
    const report = replay(OPEN);
    expect(report.summary).toMatchObject({ evaluated: 1, unchanged: 1, changed: 0, partial: 0 });
  });

  it('keeps the task expiry: a call made after the task expired replays without the task', async () => {
    const at = Date.now();
    await record(
      agent({ id: 'task-2', grants: ['notes__read'], expiresAt: at - 1, source: 'session' }),
      'notes__write',
      at,
    );
    expect(replay(OPEN).summary).toMatchObject({ evaluated: 1, unchanged: 1 });
  });

  it('keeps whether a call needed approval or was rate-limited, so the same policy replays unchanged', async () => {
    const at = Date.now();
    expect(await record(agent(), 'notes__close', at)).toMatchObject({ effect: 'allow', approvalRequired: true });
    expect(await record(agent(), 'notes__read', at + 1)).toMatchObject({ effect: 'allow' });
    expect(await record(agent(), 'notes__read', at + 2)).toMatchObject({
      effect: 'deny',
      refusal: { kind: 'rate_limited' },
    });
    expect(replay(IN_FORCE).summary).toMatchObject({ evaluated: 3, unchanged: 3, changed: 0 });
    const open = replay(OPEN);
    expect(open.summary).toMatchObject({
      evaluated: 3,
      changed: 2,
      noLongerNeedsApproval: 1,
      noLongerRateLimited: 1,
      partial: 0,
    });
    expect(open.groups).toEqual([{ rule: 'anything', count: 2, changes: expect.any(Array) }]);
  });

  it('replays resource reads, prompt gets and completions as it replays calls, prompt arguments checked against the proposed schema', async () => {
    authorizer = new PolicyAuthorizer({ current: READS });
    const at = Date.now();
    const p = agent();
    const recorded = async (method: CallMethod, server: string, target: string, args?: Record<string, unknown>) => {
      const ctx = callContext({
        principal: p,
        method,
        server,
        target,
        downstreamTarget: target,
        startedAt: at,
        ...(args ? { arguments: args } : { arguments: undefined }),
      });
      const decision = authorizer.authorize(
        { principal: p, method, server, target, ...(args && { arguments: args }) },
        at,
      );
      expect((await sink.intent(ctx, decision)).ok).toBe(true);
      return decision.effect;
    };
    expect(await recorded('resources/read', 'notes', 'notes://drafts/1')).toBe('allow');
    expect(await recorded('resources/read', 'notes', 'notes://final/1')).toBe('deny');
    expect(await recorded('prompts/get', 'notes', 'notes__summarize', { style: 'long' })).toBe('allow');
    expect(await recorded('completion/complete', 'notes', 'notes__summarize')).toBe('allow');
    expect(await recorded('completion/complete', 'notes', 'notes://drafts/{id}')).toBe('allow');

    expect(replay(READS).summary).toMatchObject({ evaluated: 5, unchanged: 5, changed: 0 });
    const report = replay(READS_TIGHTER);
    expect(report.summary).toMatchObject({ evaluated: 5, changed: 4, newlyDenied: 3, newlyAllowed: 1 });
    const byTarget = Object.fromEntries(
      report.groups.flatMap((g) => g.changes.map((c) => [`${c.method} ${c.target}`, `${c.kind} by ${c.new.rule}`])),
    );
    expect(byTarget).toEqual({
      'resources/read notes://drafts/1': 'newly-denied by default-deny',
      'resources/read notes://final/1': 'newly-allowed by final-notes',
      // Same prompt, but its recorded arguments no longer satisfy the proposed schema.
      'prompts/get notes__summarize': 'newly-denied by prompts',
      'completion/complete notes://drafts/{id}': 'newly-denied by default-deny',
    });
  });

  it('rows written before intent body v2 replay as partial where the missing task grants or approval state matter', async () => {
    const at = Date.now();
    await record(
      agent({ id: 'task-3', grants: ['notes__read'], expiresAt: at + 60_000, source: 'token' }),
      'notes__write',
      at,
    );
    await record(agent(), 'notes__close', at + 1);
    await sink.close();
    // Rewrite both bodies as a version-1 gateway wrote them (no task grants, no approval state), as new chain entries.
    const writer = openAuditDb(auditFile(dir.path));
    const rows = writer
      .prepare<
        [],
        {
          id: string;
          body: string;
          started_at: number;
          type: string;
          subject: string;
          task_id: string | null;
          server: string;
          target: string;
          decision: string;
        }
      >("SELECT * FROM entries WHERE kind = 'intent' ORDER BY seq")
      .all();
    writer.exec("DELETE FROM entries WHERE kind = 'intent'");
    const appender = new ChainAppender(writer);
    writer.transaction(() =>
      appender.append(
        rows.map((row) => {
          const body = JSON.parse(row.body) as Record<string, Record<string, unknown> | number | undefined>;
          body.v = 1;
          if (body.task && typeof body.task === 'object') body.task = { id: body.task.id, purpose: body.task.purpose };
          if (body.decision && typeof body.decision === 'object')
            body.decision = {
              effect: body.decision.effect,
              rule: body.decision.rule,
              reason: body.decision.reason,
              policyVersion: body.decision.policyVersion,
            };
          if (body.principal && typeof body.principal === 'object') delete body.principal.claims;
          return {
            id: row.id,
            kind: 'intent' as const,
            ts: row.started_at,
            startedAt: row.started_at,
            instance: 'old',
            type: row.type,
            subject: row.subject,
            taskId: row.task_id,
            server: row.server,
            target: row.target,
            decision: row.decision,
            outcome: null,
            body: JSON.stringify(body),
          };
        }),
      ),
    )();
    writer.close();
    sink = await openSink(dir.path); // for afterEach

    const report = replay(OPEN);
    // Without its grants the task cannot narrow: the write reads as newly allowed, flagged; the approval state was not kept: flagged only where it matters.
    expect(report.summary).toMatchObject({ evaluated: 2, changed: 1, newlyAllowed: 1, partial: 1 });
    expect(report.groups[0]!.changes[0]).toMatchObject({
      target: 'notes__write',
      kind: 'newly-allowed',
      old: { class: 'deny', rule: 'task-scope' },
      partial: ['task-grants'],
    });
    const same = replay(IN_FORCE);
    expect(same.summary).toMatchObject({ evaluated: 2, changed: 2, newlyNeedsApproval: 1, partial: 2 });
    expect(same.groups.flatMap((g) => g.changes).find((c) => c.target === 'notes__close')).toMatchObject({
      kind: 'newly-needs-approval',
      partial: ['approval-state'],
    });
  });
});
