// List visibility in the audit record and in policy replay, on a real SQLite audit file written by the
// real audit stage (clock injected): what a list record holds (and does not), catalogs written once and
// in parts, and how replay reads them back: newly hidden and newly shown items, a pin's held item,
// pages after the first, a revoked agent, and a list whose catalog was pruned.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { activeSigner } from '../../src/audit/checkpoints.js';
import { openAuditSink } from '../../src/audit/open.js';
import { pruneBefore } from '../../src/audit/prune.js';
import { recordedRequests } from '../../src/audit/replay-source.js';
import { replayRecorded } from '../../src/policy/replay.js';
import type { SqliteAuditSink } from '../../src/audit/sink.js';
import { auditFile, openAuditDb, type Db } from '../../src/audit/store.js';
import { verifyChain } from '../../src/audit/verify.js';
import { KeyStore } from '../../src/state/keys.js';
import type { Principal } from '../../src/model/principal.js';
import { LIST_VERDICT, type ListDecisions } from '../../src/model/list-verdict.js';
import type { ListContext, ListMethod } from '../../src/pipeline/context.js';
import { PolicyAuthorizer } from '../../src/policy/authorizer.js';
import { compilePolicy, type CompiledPolicy } from '../../src/policy/compile.js';
import { parsePolicyText } from '../../src/policy/load.js';
import { settings, silent } from '../audit/helpers.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const policy = (text: string): CompiledPolicy =>
  compilePolicy([{ label: 'p.yaml', data: parsePolicyText(text, 'p.yaml') }]);

/** The policy the lists below were decided under: every notes tool but deletes; tickets only for triage. */
const IN_FORCE = policy(`version: 1
agents:
  - id: all
    match: {}
    grants:
      - { id: notes, effect: allow, tools: ["notes__*"] }
  - id: triage
    match: { subject: "agent:triage" }
    grants:
      - { id: tickets, effect: allow, tools: ["tickets__*"] }
grants:
  - { id: no-deletes, effect: deny, tools: ["*__delete*"] }
`);

/** Tighter: notes writes are gone. Looser: deletes are back. */
const TIGHTER = policy(`version: 1
agents:
  - id: all
    match: {}
    grants:
      - { id: notes-read, effect: allow, tools: ["notes__read*", "notes__list*"] }
  - id: triage
    match: { subject: "agent:triage" }
    grants:
      - { id: tickets, effect: allow, tools: ["tickets__*"] }
grants:
  - { id: no-deletes, effect: deny, tools: ["*__delete*"] }
`);
const LOOSER = policy(`version: 1
agents:
  - id: all
    match: {}
    grants:
      - { id: notes, effect: allow, tools: ["notes__*"] }
  - id: triage
    match: { subject: "agent:triage" }
    grants:
      - { id: tickets, effect: allow, tools: ["tickets__*"] }
`);

const NOTES = ['notes__list_notes', 'notes__read_note', 'notes__write_note', 'notes__delete_note'];
const TICKETS = Array.from({ length: 40 }, (_, i) => `tickets__tool_with_a_longish_name_${i}`);
const SECRET = 'hunter2-s3cr3t';

const agent = (subject: string, extra: Partial<Principal> = {}): Principal => ({
  subject,
  issuer: 'urn:test',
  delegation: [],
  scopes: [],
  authMethod: 'jwt',
  ...extra,
});

let request = 0;
function listCtx(principal: Principal, offset?: number, method: ListMethod = 'tools/list'): ListContext {
  request += 1;
  return {
    requestId: `list-${request}`,
    ingress: 'http',
    sessionId: 's-1',
    principal,
    method,
    ...(offset !== undefined && { offset }),
  };
}

/** Decides each entry with the policy in force, as the pipeline's list step does (held: the pin's verdict). */
function decide(
  principal: Principal,
  names: readonly string[],
  at: number,
  held: readonly string[] = [],
): ListDecisions {
  const entries = names.map((target) => ({ server: target.split('__')[0]!, target }));
  const verdicts = new Uint8Array(entries.length);
  entries.forEach((entry, i) => {
    const allowed = evaluateAllowed(principal, entry.target, at);
    verdicts[i] = !allowed ? LIST_VERDICT.hidden : held.includes(entry.target) ? LIST_VERDICT.held : LIST_VERDICT.shown;
  });
  const shown = verdicts.filter((v) => v === LIST_VERDICT.shown).length;
  return { entries, verdicts, shown, hidden: entries.length - shown, refused: false };
}

const inForce = new PolicyAuthorizer({ current: IN_FORCE });
function evaluateAllowed(principal: Principal, target: string, at: number): boolean {
  return (
    inForce.authorize({ principal, method: 'tools/list', server: target.split('__')[0]!, target }, at).effect ===
    'allow'
  );
}

describe('list visibility: recorded, and replayed', () => {
  let dir: TempDir;
  let sink: SqliteAuditSink;
  let clock: number;
  let db: Db | undefined;

  const T0 = Date.now();
  const open = () =>
    openAuditSink({
      dataDir: dir.path,
      settings: settings({ maxArgumentBytes: 512 }),
      logger: silent,
      details: { test: true },
      now: () => clock,
      redact: (text) => text.replaceAll(SECRET, '[REDACTED]'),
    });
  const read = () => (db ??= openAuditDb(auditFile(dir.path), { readonly: true }));
  const events = (type: string) =>
    read()
      .prepare<[string], { body: string; subject: string | null; target: string | null }>(
        "SELECT body, subject, target FROM entries WHERE kind = 'event' AND type = ? ORDER BY seq",
      )
      .all(type);
  const list = (principal: Principal, names: readonly string[], options: { offset?: number; held?: string[] } = {}) =>
    sink.listed(listCtx(principal, options.offset), decide(principal, names, clock, options.held));

  beforeEach(async () => {
    dir = await makeTempDir('warden-replay-lists');
    clock = T0;
    sink = await open();
  });
  afterEach(async () => {
    db?.close();
    db = undefined;
    await sink.close();
    await dir.cleanup();
  });

  it('a list record holds the principal, the catalogs by digest and which items were shown; each catalog is written once, in parts no larger than the argument cap', async () => {
    const alice = agent('agent:triage', {
      task: { id: 'task-1', purpose: `fix ${SECRET}`, grants: ['notes__*', 'tickets__*'] },
      claims: { team: SECRET },
    });
    list(alice, [...NOTES, ...TICKETS]);
    clock += 60_000;
    list(alice, [...NOTES, ...TICKETS]);
    await sink.close();

    const lists = events('list.shown');
    expect(lists).toHaveLength(2);
    const data = JSON.parse(lists[0]!.body).data;
    expect(lists[0]!.subject).toBe('agent:triage');
    expect(data).toMatchObject({
      method: 'tools/list',
      shown: 43,
      hidden: 1,
      principal: { subject: 'agent:triage', issuer: 'urn:test', claims: { team: '[REDACTED]' } },
      task: { id: 'task-1', purpose: 'fix [REDACTED]', grants: ['notes__*', 'tickets__*'] },
    });
    expect(data.catalogs.map((c: { server: string; items: number }) => [c.server, c.items])).toEqual([
      ['notes', 4],
      ['tickets', 40],
    ]);
    // Nothing secret, and no definitions: names only, in the catalogs.
    for (const row of [...lists, ...events('list.catalog')]) expect(row.body).not.toContain(SECRET);

    // The tickets catalog does not fit 512 bytes: it is split; the second list wrote no catalog again.
    const catalogs = events('list.catalog').map((row) => JSON.parse(row.body).data);
    expect(catalogs.filter((c) => c.server === 'notes')).toHaveLength(1);
    const tickets = catalogs.filter((c) => c.server === 'tickets');
    expect(tickets.length).toBeGreaterThan(1);
    expect(tickets.flatMap((c) => c.items)).toEqual(TICKETS);
    for (const row of events('list.catalog')) expect(Buffer.byteLength(row.body)).toBeLessThanOrEqual(512);

    const replay = replayRecorded(IN_FORCE, recordedRequests(read(), {}));
    expect(replay.summary).toMatchObject({ evaluated: 2, lists: 2, unchanged: 2, changed: 0 });
    expect(verifyChain(read(), new KeyStore(dir.path).allPublicKeys()).ok).toBe(true);
  });

  it('replays each list: items a tighter policy hides and a looser one shows, per list record, grouped by rule', async () => {
    const bob = agent('agent:bob');
    list(bob, NOTES);
    clock += 1_000;
    list(agent('agent:triage'), [...NOTES, ...TICKETS.slice(0, 2)]);
    await sink.close();

    const tighter = replayRecorded(TIGHTER, recordedRequests(read(), {}));
    expect(tighter.summary).toMatchObject({
      evaluated: 2,
      lists: 2,
      listsChanged: 2,
      changed: 2,
      unchanged: 0,
      newlyHidden: 2,
      newlyVisible: 0,
    });
    expect(
      tighter.groups.map((g) => [g.rule, g.changes.map((c) => `${c.subject} ${c.target} ${c.kind} (${c.old.reason})`)]),
    ).toEqual([
      [
        'default-deny',
        ['agent:bob notes__write_note newly-hidden (shown)', 'agent:triage notes__write_note newly-hidden (shown)'],
      ],
    ]);

    const looser = replayRecorded(LOOSER, recordedRequests(read(), {}));
    expect(looser.summary).toMatchObject({ lists: 2, newlyHidden: 0, newlyVisible: 2 });
    expect(looser.groups).toEqual([{ rule: 'notes', count: 2, changes: expect.any(Array) }]);
    expect(looser.groups[0]!.changes.map((c) => [c.target, c.kind, c.old, c.new.class])).toEqual([
      ['notes__delete_note', 'newly-visible', { class: 'deny', reason: 'not shown' }, 'allow'],
      ['notes__delete_note', 'newly-visible', { class: 'deny', reason: 'not shown' }, 'allow'],
    ]);
    // Filters narrow the items: the agent's own lists, one server's items, one tool.
    expect(replayRecorded(LOOSER, recordedRequests(read(), { agent: 'agent:bob' })).summary).toMatchObject({
      lists: 1,
      newlyVisible: 1,
    });
    expect(replayRecorded(LOOSER, recordedRequests(read(), { server: 'tickets' })).summary).toMatchObject({
      lists: 1,
      newlyVisible: 0,
      changed: 0,
    });
    expect(replayRecorded(LOOSER, recordedRequests(read(), { tool: 'notes__read*' })).summary).toMatchObject({
      lists: 2,
      newlyVisible: 0,
    });
    expect(replayRecorded(LOOSER, recordedRequests(read(), { since: clock })).summary).toMatchObject({ lists: 1 });
  });

  it('an item a pin held back counts as allowed by the policy; a revoked agent stays revoked; pages after the first are not replayed twice', async () => {
    list(agent('agent:bob'), NOTES, { held: ['notes__write_note'] });
    list(agent('agent:bob'), NOTES, { offset: 2 });
    list(agent('agent:gone', { revoked: 'agent revoked by a reviewer' }), NOTES);
    await sink.close();
    const held = JSON.parse(events('list.shown')[0]!.body).data.catalogs[0];
    expect(held).toMatchObject({ server: 'notes', items: 4, held: expect.any(String) });

    const same = replayRecorded(IN_FORCE, recordedRequests(read(), {}));
    expect(same.summary).toMatchObject({ lists: 2, changed: 0 });
    expect(same.listsNotReplayed).toEqual({ pages: 1, noCatalog: 0 });

    const tighter = replayRecorded(TIGHTER, recordedRequests(read(), {}));
    expect(tighter.summary).toMatchObject({ lists: 2, newlyHidden: 1, newlyVisible: 0 });
    expect(tighter.groups[0]!.changes[0]).toMatchObject({
      target: 'notes__write_note',
      kind: 'newly-hidden',
      old: { class: 'allow', reason: 'allowed, held back by its definition pin' },
    });
    // The revoked agent's list showed nothing; under a looser policy it still would not.
    expect(replayRecorded(LOOSER, recordedRequests(read(), { agent: 'agent:gone' })).summary).toMatchObject({
      lists: 1,
      changed: 0,
    });
  });

  it('a catalog is written again after an hour, so pruning by age rarely parts a list from its catalog', async () => {
    list(agent('agent:bob'), NOTES);
    clock += 30 * 60_000;
    list(agent('agent:bob'), NOTES); // same catalog, written 30 minutes ago: not again
    clock += 31 * 60_000;
    list(agent('agent:bob'), NOTES); // an hour on: written again
    await sink.close();
    expect(events('list.catalog')).toHaveLength(2);
    expect(events('list.shown')).toHaveLength(3);
  });

  it('a list whose catalog was pruned is counted as not replayed; a later copy of the same catalog serves it again', async () => {
    list(agent('agent:bob'), NOTES);
    clock += 30 * 60_000;
    list(agent('agent:bob'), NOTES);
    await sink.close();
    const writable = openAuditDb(auditFile(dir.path));
    try {
      expect(
        pruneBefore(writable, T0 + 10 * 60_000, await activeSigner(new KeyStore(dir.path)), clock)!.removed,
      ).toBeGreaterThan(0);
    } finally {
      writable.close();
    }
    const pruned = replayRecorded(LOOSER, recordedRequests(read(), {}));
    expect(pruned.summary).toMatchObject({ evaluated: 0, lists: 0 });
    expect(pruned.listsNotReplayed).toEqual({ pages: 0, noCatalog: 1 });
    db?.close();
    db = undefined;

    // A gateway started later lists the same catalog: its copy serves the older list too.
    clock += 10 * 60_000;
    sink = await open();
    list(agent('agent:bob'), NOTES);
    await sink.close();
    const report = replayRecorded(LOOSER, recordedRequests(read(), {}));
    expect(report.summary).toMatchObject({ lists: 2, newlyVisible: 2 });
    expect(report.listsNotReplayed).toEqual({ pages: 0, noCatalog: 0 });
  });
});
