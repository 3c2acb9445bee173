// Policy replay against a real history: a real gateway process records calls with known decisions (real
// tokens from the built-in issuer, a real notes server, a real SQLite audit file), then the real CLI
// replays that history against a tightened and a loosened policy.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { NOTES, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';
import { issueTokenAsync, runCliAsync } from '../helpers/cli.js';
import { recordedRequests } from '../../src/audit/replay-source.js';
import { replayRecorded } from '../../src/policy/replay.js';
import { auditFile, openAuditDb } from '../../src/audit/store.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { readPolicyFile } from '../../src/policy/load.js';

const RESOURCE = 'http://gateway.test/mcp';
const auth = { mode: 'jwt', resource: RESOURCE, builtin: {}, maxTokenLifetimeSeconds: 3600 };

/** The policy in force while the history is recorded. */
const RECORDED = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: notes-read, effect: allow, tools: [notes__list_notes, notes__read_note, notes__search_notes] }
      - id: notes-write-drafts
        effect: allow
        tools: [notes__write_note]
        arguments: { type: object, required: [name], properties: { name: { type: string, pattern: "^drafts-" } } }
grants:
  - { id: no-deletes, effect: deny, tools: ["*__delete*"] }
`;

/** Listing is gone, reads are limited to one an hour, writes need approval, searches naming a key are denied. */
const TIGHTENED = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: notes-read, effect: allow, tools: [notes__read_note, notes__search_notes], rateLimit: { calls: 1, perSeconds: 3600 } }
      - id: notes-write-drafts
        effect: allow
        tools: [notes__write_note]
        approval: required
        arguments: { type: object, required: [name], properties: { name: { type: string, pattern: "^drafts-" } } }
grants:
  - { id: no-deletes, effect: deny, tools: ["*__delete*"] }
  - { id: no-keys-in-search, effect: deny, tools: [notes__search_notes], arguments: { type: object, required: [api_key] } }
`;

/** Any note may be written and deleted. */
const LOOSENED = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: notes-read, effect: allow, tools: [notes__list_notes, notes__read_note, notes__search_notes] }
      - { id: notes-write-any, effect: allow, tools: [notes__write_note, notes__delete_note] }
`;

interface Change {
  id: string;
  subject: string;
  target: string;
  kind: string;
  old: { class: string; rule?: string; reason: string };
  new: { class: string; rule: string };
  partial?: string[];
}
interface Report {
  summary: Record<string, number>;
  groups: { rule: string; count: number; changes: Change[] }[];
  notReplayed: number;
}

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'replay-test', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
  );
  return client;
}

/** Calls a tool and returns whether it ran (a refusal is an expected outcome here, not a failure). */
async function call(client: Client, name: string, args: Record<string, unknown>): Promise<boolean> {
  return client.callTool({ name, arguments: args }).then(
    () => true,
    () => false,
  );
}

describe('policy replay', () => {
  let gateway: RunningGateway;
  let dir: TempDir;
  const files: Record<string, string> = {};
  /** The calls recorded, by label: the outcome they got when recorded. */
  const ran: Record<string, boolean> = {};
  /** The notes tools each agent was shown when it listed them. */
  const listed: Record<string, string[]> = {};

  const replay = (args: string[]) => runCliAsync(gateway.configFile, ['policy', 'replay', ...args]);
  const replayJson = async (policy: string, extra: string[] = []): Promise<{ code: number | null; report: Report }> => {
    const result = await replay(['--policy', files[policy]!, '--json', ...extra]);
    expect(result.stderr).toBe('');
    return { code: result.code, report: JSON.parse(result.stdout) as Report };
  };
  const changes = (report: Report) =>
    report.groups
      .flatMap((g) =>
        g.changes.map((c) => ({
          rule: g.rule,
          subject: c.subject,
          target: c.target,
          kind: c.kind,
          old: `${c.old.class}:${c.old.rule ?? c.old.reason}`,
          partial: c.partial ?? [],
        })),
      )
      .sort((a, b) => `${a.subject}${a.target}${a.kind}`.localeCompare(`${b.subject}${b.target}${b.kind}`));

  beforeAll(async () => {
    dir = await makeTempDir('warden-replay');
    for (const [name, text] of Object.entries({
      recorded: RECORDED,
      tightened: TIGHTENED,
      loosened: LOOSENED,
      broken: 'version: 1\ngrants:\n  - { effect: maybe, tools: [x] }\n',
    })) {
      files[name] = join(dir.path, `${name}.yaml`);
      await writeFile(files[name], text);
    }
    await mkdir(join(dir.path, 'notes'));
    gateway = await startGateway({
      auth,
      audit: { maxArgumentBytes: 256 },
      policy: { files: [files.recorded], watch: false },
      servers: { notes: { transport: 'stdio', command: 'node', args: [NOTES, '--dir', join(dir.path, 'notes')] } },
    });
    const alpha = await connect(gateway.url, await issueTokenAsync(gateway.configFile, ['--sub', 'agent:alpha']));
    const beta = await connect(
      gateway.url,
      await issueTokenAsync(gateway.configFile, [
        '--sub',
        'agent:beta',
        '--task-purpose',
        'drafts',
        '--grant',
        'notes__read_note',
        '--grant',
        'notes__write_note',
      ]),
    );
    try {
      // One at a time, so the history's order (and the replayed rate limit) is known.
      const notesTools = async (client: Client) =>
        (await client.listTools()).tools
          .map((t) => t.name)
          .filter((name) => name.startsWith('notes__'))
          .sort();
      listed.alpha = await notesTools(alpha);
      listed.beta = await notesTools(beta);
      ran.list = await call(alpha, 'notes__list_notes', {});
      ran.write = await call(alpha, 'notes__write_note', { name: 'drafts-1', content: 'one' });
      ran.read1 = await call(alpha, 'notes__read_note', { name: 'drafts-1' });
      ran.read2 = await call(alpha, 'notes__read_note', { name: 'drafts-1' });
      ran.writeFinal = await call(alpha, 'notes__write_note', { name: 'final', content: 'x' });
      ran.delete = await call(alpha, 'notes__delete_note', { name: 'drafts-1' });
      ran.big = await call(alpha, 'notes__write_note', { name: 'drafts-big', content: 'y'.repeat(1_000) });
      ran.search = await call(alpha, 'notes__search_notes', { query: 'one', api_key: 'k-123' });
      ran.betaList = await call(beta, 'notes__list_notes', {});
      ran.betaWrite = await call(beta, 'notes__write_note', { name: 'drafts-2', content: 'two' });
      ran.betaDelete = await call(beta, 'notes__delete_note', { name: 'drafts-2' });
    } finally {
      await alpha.close();
      await beta.close();
    }
  });
  afterAll(async () => {
    await gateway?.stop();
    await dir?.cleanup();
  });

  it('records the history the cases below rely on', () => {
    expect(ran).toEqual({
      list: true,
      write: true,
      read1: true,
      read2: true,
      writeFinal: false,
      delete: false,
      big: true,
      search: true,
      betaList: false,
      betaWrite: true,
      betaDelete: false,
    });
    // alpha may not delete; beta's task grants only read and write.
    expect(listed).toEqual({
      alpha: ['notes__list_notes', 'notes__read_note', 'notes__search_notes', 'notes__write_note'],
      beta: ['notes__read_note', 'notes__write_note'],
    });
  });

  it('a tightened policy: exactly the calls it now refuses, limits or sends for approval, with truncated and redacted arguments flagged partial', async () => {
    const { code, report } = await replayJson('tightened');
    expect(code).toBe(3);
    expect(changes(report)).toEqual([
      {
        rule: 'default-deny',
        subject: 'agent:alpha',
        target: 'notes__list_notes',
        kind: 'newly-denied',
        old: 'allow:notes-read',
        partial: [],
      },
      // The tool alpha was shown when it listed is hidden from that list now; beta's list is unchanged.
      {
        rule: 'default-deny',
        subject: 'agent:alpha',
        target: 'notes__list_notes',
        kind: 'newly-hidden',
        old: 'allow:shown',
        partial: [],
      },
      {
        rule: 'notes-read',
        subject: 'agent:alpha',
        target: 'notes__read_note',
        kind: 'newly-rate-limited',
        old: 'allow:notes-read',
        partial: [],
      },
      {
        rule: 'no-keys-in-search',
        subject: 'agent:alpha',
        target: 'notes__search_notes',
        kind: 'newly-denied',
        old: 'allow:notes-read',
        partial: ['arguments-redacted'],
      },
      // Its arguments were cut at 256 bytes: evaluated on what was stored (nothing), and flagged.
      {
        rule: 'notes-write-drafts',
        subject: 'agent:alpha',
        target: 'notes__write_note',
        kind: 'newly-denied',
        old: 'allow:notes-write-drafts',
        partial: ['arguments-truncated'],
      },
      {
        rule: 'notes-write-drafts',
        subject: 'agent:alpha',
        target: 'notes__write_note',
        kind: 'newly-needs-approval',
        old: 'allow:notes-write-drafts',
        partial: [],
      },
      {
        rule: 'notes-write-drafts',
        subject: 'agent:beta',
        target: 'notes__write_note',
        kind: 'newly-needs-approval',
        old: 'allow:notes-write-drafts',
        partial: [],
      },
    ]);
    expect(report.summary).toEqual({
      evaluated: 13,
      unchanged: 6,
      changed: 7,
      newlyDenied: 3,
      newlyAllowed: 0,
      newlyNeedsApproval: 2,
      noLongerNeedsApproval: 0,
      newlyRateLimited: 1,
      noLongerRateLimited: 0,
      lists: 2,
      listsChanged: 1,
      newlyHidden: 1,
      newlyVisible: 0,
      partial: 2,
    });
  });

  it('a loosened policy: exactly the calls it now allows; task grants still narrow and argument constraints no longer bite', async () => {
    const { code, report } = await replayJson('loosened');
    expect(code).toBe(3);
    expect(changes(report)).toEqual([
      {
        rule: 'notes-write-any',
        subject: 'agent:alpha',
        target: 'notes__delete_note',
        kind: 'newly-allowed',
        old: 'deny:no-deletes',
        partial: [],
      },
      {
        rule: 'notes-write-any',
        subject: 'agent:alpha',
        target: 'notes__delete_note',
        kind: 'newly-visible',
        old: 'deny:not shown',
        partial: [],
      },
      {
        rule: 'notes-write-any',
        subject: 'agent:alpha',
        target: 'notes__write_note',
        kind: 'newly-allowed',
        old: 'deny:notes-write-drafts',
        partial: [],
      },
    ]);
    // beta's token task grants only read and write: its list and delete stay refused (task-scope), and
    // the delete tool stays hidden from the list it was shown.
    expect(report.summary).toMatchObject({
      evaluated: 13,
      unchanged: 10,
      changed: 3,
      newlyAllowed: 2,
      newlyDenied: 0,
      lists: 2,
      listsChanged: 1,
      newlyHidden: 0,
      newlyVisible: 1,
      partial: 0,
    });
  });

  it('the policy in force replays unchanged except where stored arguments were cut (flagged partial)', async () => {
    const { code, report } = await replayJson('recorded');
    expect(code).toBe(3);
    expect(changes(report)).toEqual([
      {
        rule: 'notes-write-drafts',
        subject: 'agent:alpha',
        target: 'notes__write_note',
        kind: 'newly-denied',
        old: 'allow:notes-write-drafts',
        partial: ['arguments-truncated'],
      },
    ]);
  });

  it('exit 0 when nothing changes; filters by agent, tool and time', async () => {
    // beta's one list, narrowed to the tools the filter names (it made no read call).
    const beta = await replayJson('tightened', ['--agent', 'agent:beta', '--tool', 'notes__read*']);
    expect(beta.code).toBe(0);
    expect(beta.report.summary).toMatchObject({ evaluated: 1, lists: 1, changed: 0 });
    const reads = await replayJson('recorded', ['--tool', 'notes__read_note', '--since', '1h']);
    expect(reads.code).toBe(0);
    expect(reads.report.summary).toMatchObject({ evaluated: 4, lists: 2, unchanged: 4, changed: 0 });
    const future = await replayJson('loosened', ['--since', new Date(Date.now() + 3_600_000).toISOString()]);
    expect(future.report.summary.evaluated).toBe(0);
  });

  it('filters narrow the items of a list: a tool filter without its changed item, a server it has none of', () => {
    // In-process on the same audit file (the CLI passes these filters through unchanged).
    const db = openAuditDb(auditFile(join(dirname(gateway.configFile), 'data')), { readonly: true });
    try {
      const proposed = (name: string) => compilePolicy([readPolicyFile({ path: files[name]!, label: `${name}.yaml` })]);
      expect(
        replayRecorded(proposed('tightened'), recordedRequests(db, { agent: 'agent:alpha', tool: 'notes__search*' }))
          .summary,
      ).toMatchObject({ lists: 1, listsChanged: 0, newlyHidden: 0 });
      expect(replayRecorded(proposed('loosened'), recordedRequests(db, { server: 'tickets' })).summary).toMatchObject({
        evaluated: 0,
        lists: 0,
      });
      expect(
        replayRecorded(proposed('loosened'), recordedRequests(db, { server: 'notes', tool: 'notes__delete*' })).summary,
      ).toMatchObject({
        lists: 2,
        listsChanged: 1,
        newlyVisible: 1,
      });
    } finally {
      db.close();
    }
  });

  it('the text report groups changes by rule with old and new rule, reason and record id', async () => {
    const result = await replay(['--policy', files.tightened!]);
    expect(result.code).toBe(3);
    expect(result.stdout).toMatch(/newly denied\s+3\n/);
    expect(result.stdout).toMatch(/newly needing approval\s+2\n/);
    expect(result.stdout).toMatch(/rate limits\s+1 newly limited, 0 no longer limited/);
    expect(result.stdout).toContain('\nnotes-write-drafts (3)\n');
    expect(result.stdout).toMatch(
      / {2}[0-9A-Z]{26} {2}\S+ {2}agent:alpha {2}tools\/call notes__list_notes: newly denied\n {6}was allow by notes-read: allow grant notes-read \(agent verified\)\n {6}now deny by default-deny: no grant allows notes__list_notes for agent verified\n/,
    );
    expect(result.stdout).toContain('[partial: arguments-truncated]');
    expect(result.stdout).toMatch(/evaluated\s+13 \(11 calls, 2 lists\)\n/);
    expect(result.stdout).toMatch(/list visibility\s+1 item newly hidden, 0 newly shown \(in 1 of 2 lists\)\n/);
    expect(result.stdout).toMatch(
      / {2}[0-9A-Z]{26} {2}\S+ {2}agent:alpha {2}tools\/list notes__list_notes: newly hidden from the list\n {6}was shown\n {6}now deny by default-deny: no grant allows notes__list_notes for agent verified\n/,
    );
  });

  it('exit 2 on a bad policy, naming the file and path; usage errors too', async () => {
    const bad = await replay(['--policy', files.broken!]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/broken\.yaml: grants\[0\]\.effect/);
    expect(bad.stdout).toBe('');
    const missing = await replay([]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--policy FILE is required');
  });

  it('exit 1 without an audit log to read (a data folder no gateway has written to)', async () => {
    const empty = await runCliAsync(gateway.configFile, [
      '--data-dir',
      join(dir.path, 'notes'),
      'policy',
      'replay',
      '--policy',
      files.recorded!,
    ]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/no audit database at .*audit\.db/);
  });
});
