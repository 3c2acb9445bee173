// Human approval through the real gateway: `serve` with the fixture policy (notes__write_note needs
// approval), real SDK clients over Streamable HTTP (with and without elicitation), the real bundled notes
// server, the real CLI for `approvals …` and `audit …`, and the real state.db and audit.db on disk. Tokens,
// and the rows a test only reads back, come from the same modules in this process (test/helpers/stores.ts).
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, type ElicitRequest, type ElicitResult } from '@modelcontextprotocol/sdk/types.js';
import { loadConfig } from '../../src/config/load.js';
import { ApprovalStore } from '../../src/integrity/approvals.js';
import { stateFile } from '../../src/state/db.js';
import { BIN, NOTES, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { runCli } from '../helpers/cli.js';
import { auditEvents, auditRecords, issueTokenInProcess, storedApproval } from '../helpers/stores.js';
import { makeTempDir, runToExit, waitFor, type ExitResult, type TempDir } from '../helpers/process.js';

/** Each test spawns the CLI several times: generous on a loaded machine (nothing here measures time). */
const SLOW = 120_000;
const FIXTURES = join(import.meta.dirname, 'fixtures');
const CONFIG_FIXTURE = join(FIXTURES, 'approvals.config.json');
const POLICY_FIXTURE = join(FIXTURES, 'approvals.policy.yaml');

interface Refused {
  ok: false;
  code?: number;
  message: string;
  data?: { approvalId?: string; expiresAt?: string; status?: string };
}
type Called =
  | {
      ok: true;
      result: {
        content?: { type: string; text?: string }[];
        structuredContent?: Record<string, unknown>;
        isError?: boolean;
      };
    }
  | Refused;

/** The fixture config, run in a temp dir: its auth, gateway and policy settings, the notes server writing to a temp folder. */
async function startApprovalGateway(approvals?: {
  ttlSeconds?: number;
  elicitation?: boolean;
}): Promise<{ gateway: RunningGateway; notes: TempDir }> {
  const fixture = JSON.parse(readFileSync(CONFIG_FIXTURE, 'utf8')) as Record<string, Record<string, unknown>>;
  const notes = await makeTempDir('warden-approval-notes');
  const gateway = await startGateway({
    auth: fixture.auth!,
    gateway:
      approvals === undefined
        ? fixture.gateway!
        : { ...fixture.gateway, approvals: { ...(fixture.gateway!.approvals as object), ...approvals } },
    policy: { ...fixture.policy, files: [POLICY_FIXTURE] },
    // One notes process per gateway (`shared`), not one per agent session: no test here is about a
    // session's own downstream connection, and most open a session or two of their own.
    servers: { notes: { transport: 'stdio', command: 'node', args: [NOTES, '--dir', notes.path], shared: true } },
  });
  return { gateway, notes };
}

type Answer = (request: ElicitRequest) => ElicitResult | Promise<ElicitResult>;

async function connect(
  gateway: RunningGateway,
  subject: string,
  answer?: Answer,
): Promise<{ client: Client; asked: ElicitRequest[] }> {
  const token = await issueTokenAsync(gateway, subject);
  const client = new Client(
    { name: 'approvals-test', version: '1' },
    answer ? { capabilities: { elicitation: {} } } : {},
  );
  const asked: ElicitRequest[] = [];
  if (answer) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request);
      return answer(request);
    });
  }
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return { client, asked };
}

/** `mcp-warden stdio` on the same config (and data folder) as a running `serve` gateway, spawned the way an agent host does. */
async function connectStdioAgent(
  gateway: RunningGateway,
  subject: string,
  answer?: Answer,
): Promise<{ client: Client; asked: ElicitRequest[] }> {
  const token = await issueTokenAsync(gateway, subject);
  const client = new Client(
    { name: 'approvals-test-stdio', version: '1' },
    answer ? { capabilities: { elicitation: {} } } : {},
  );
  const asked: ElicitRequest[] = [];
  if (answer) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request);
      return answer(request);
    });
  }
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'stdio', '--config', gateway.configFile],
      stderr: 'pipe',
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MCP_WARDEN_TOKEN: token },
    }),
  );
  return { client, asked };
}

/**
 * The real CLI, run without blocking this process: a blocked event loop would miss the gateway closing
 * idle keep-alive sockets, and the next call would be written on a closed one.
 */
function cli(gateway: RunningGateway, args: string[]): Promise<ExitResult> {
  return runToExit(process.execPath, [BIN, ...args, '--config', gateway.configFile]);
}

function issueTokenAsync(gateway: RunningGateway, subject: string): Promise<string> {
  return issueTokenInProcess(gateway.configFile, { subject });
}

async function callTool(client: Client, name: string, args: Record<string, unknown>): Promise<Called> {
  return client.callTool({ name, arguments: args }).then(
    (result) => ({ ok: true as const, result: result as Extract<Called, { ok: true }>['result'] }),
    (error: { code?: number; message?: string; data?: Refused['data'] }) => ({
      ok: false as const,
      code: error.code,
      message: String(error.message),
      data: error.data,
    }),
  );
}

function refused(outcome: Called): Refused {
  if (outcome.ok) throw new Error(`expected a refusal, the call ran: ${JSON.stringify(outcome.result)}`);
  return outcome;
}

async function noteText(client: Client, name: string): Promise<string | undefined> {
  const read = await callTool(client, 'notes__read_note', { name });
  if (!read.ok || read.result.isError === true) return undefined;
  if (read.result.structuredContent?.content !== undefined) return String(read.result.structuredContent.content);
  return read.result.content?.[0]?.text;
}

interface EventRow {
  id: string;
  type: string;
  subject: string | null;
  target: string | null;
  data: Record<string, unknown>;
}

type RecordRow = { id: string; target: string | null; outcome: string; decision: string | null };

/** `audit list --events --type 'approval.*' --json` through the real CLI (the out-of-band test reads it so once). */
async function approvalEventsCli(gateway: RunningGateway): Promise<EventRow[]> {
  const listed = await cli(gateway, ['audit', 'list', '--events', '--type', 'approval.*', '--json', '-n', '1000']);
  expect(listed.stderr).toBe('');
  return JSON.parse(listed.stdout) as EventRow[];
}

/** The same rows read in this process. */
function approvalEvents(gateway: RunningGateway): EventRow[] {
  return auditEvents(gateway.configFile, { type: 'approval.*' }) as unknown as EventRow[];
}

async function recordsCli(gateway: RunningGateway): Promise<RecordRow[]> {
  const listed = await cli(gateway, ['audit', 'list', '--tool', 'notes__write_note', '--json', '-n', '1000']);
  expect(listed.stderr).toBe('');
  return JSON.parse(listed.stdout) as RecordRow[];
}

function records(gateway: RunningGateway): RecordRow[] {
  return auditRecords(gateway.configFile, { tool: 'notes__write_note' });
}

async function approvalJsonCli(gateway: RunningGateway, id: string): Promise<Record<string, unknown>> {
  const shown = await cli(gateway, ['approvals', 'show', id, '--json']);
  expect(shown.code).toBe(0);
  return JSON.parse(shown.stdout) as Record<string, unknown>;
}

function approvalJson(gateway: RunningGateway, id: string): Record<string, unknown> {
  const row = storedApproval(gateway.configFile, id);
  expect(row, `approval ${id} in state.db`).toBeDefined();
  return row!;
}

describe('fixture config', () => {
  it('loads and validates as checked in (approval TTL, policy file)', () => {
    const loaded = loadConfig(CONFIG_FIXTURE, { dataDirOverride: '/nonexistent-never-written' });
    expect(loaded.config.gateway.approvals.ttlSeconds).toBe(300);
    expect(loaded.config.policy?.files).toEqual(['approvals.policy.yaml']);
  });

  it.each([0, 86_401, 1.5])('gateway.approvals.ttlSeconds %s is refused naming the field', async (ttlSeconds) => {
    const dir = await makeTempDir('warden-approval-config');
    try {
      const file = join(dir.path, 'mcp.config.json');
      const fixture = JSON.parse(readFileSync(CONFIG_FIXTURE, 'utf8')) as Record<string, unknown>;
      await writeFile(
        file,
        JSON.stringify({ ...fixture, gateway: { approvals: { ttlSeconds } }, policy: { files: [POLICY_FIXTURE] } }),
      );
      const checked = runCli(file, ['config', 'check', file]);
      expect(checked.code).toBe(2);
      expect(checked.stderr).toContain('gateway.approvals.ttlSeconds');
    } finally {
      await dir.cleanup();
    }
  });
});

describe('approvals CLI without a gateway', () => {
  it(
    'an empty or older data folder lists nothing; bad usage exits 2; an unknown id exits 1',
    async () => {
      const dir = await makeTempDir('warden-approval-cli');
      try {
        const file = join(dir.path, 'mcp.config.json');
        const fixture = JSON.parse(readFileSync(CONFIG_FIXTURE, 'utf8')) as Record<string, unknown>;
        await writeFile(file, JSON.stringify({ ...fixture, dataDir: './data', policy: { files: [POLICY_FIXTURE] } }));
        const fresh = runCli(file, ['approvals', 'list']);
        expect(fresh).toMatchObject({ code: 0, stdout: expect.stringContaining('no approvals recorded') });
        // A state.db from before approvals existed (no table): read-only commands do not migrate it, and see none.
        await mkdir(join(dir.path, 'data'));
        new Database(join(dir.path, 'data', 'state.db')).close();
        expect(runCli(file, ['approvals', 'list', '--json'])).toMatchObject({ code: 0, stdout: '[]\n' });
        expect(runCli(file, ['approvals', 'show', '01AAAAAAAAAAAAAAAAAAAAAAAA'])).toMatchObject({
          code: 1,
          stderr: expect.stringContaining('no approval with id'),
        });
        expect(runCli(file, ['approvals', 'approve'])).toMatchObject({ code: 2 });
        expect(runCli(file, ['approvals', 'approve', 'X', '--reason', 'y'])).toMatchObject({
          code: 2,
          stderr: expect.stringContaining('--reason goes with deny'),
        });
        expect(runCli(file, ['approvals', 'deny', '01AAAAAAAAAAAAAAAAAAAAAAAA'])).toMatchObject({
          code: 1,
          stderr: expect.stringContaining('no approval with id'),
        });
      } finally {
        await dir.cleanup();
      }
    },
    SLOW,
  );
});

describe('human approval through the gateway', () => {
  let gateway: RunningGateway;
  let notes: TempDir;

  beforeAll(async () => {
    ({ gateway, notes } = await startApprovalGateway());
  });

  afterAll(async () => {
    await gateway?.stop();
    await notes?.cleanup();
  });

  it(
    'out-of-band: refused with an approval id; approve → the identical retry runs once; a second retry and changed arguments need new approvals',
    async () => {
      const { client } = await connect(gateway, 'agent:oob');
      try {
        const args = { name: 'oob.md', content: 'first version' };
        expect((await client.listTools()).tools.map((t) => t.name)).toContain('notes__write_note'); // visible: it needs approval, it is not hidden

        const first = refused(await callTool(client, 'notes__write_note', args));
        const id = first.data?.approvalId;
        expect(id).toMatch(/^[0-9A-Z]{26}$/);
        expect(first.code).toBe(-32600);
        expect(first.message).toContain(`mcp-warden approvals approve ${id}`);
        expect(first.message).toContain(first.data?.expiresAt);
        expect(first.data).toMatchObject({ status: 'pending', expiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
        expect(await noteText(client, 'oob.md')).toBeUndefined();

        // Repeating the identical call while it is pending does not pile up requests.
        const again = refused(await callTool(client, 'notes__write_note', args));
        expect(again.data?.approvalId).toBe(id);

        const listed = await cli(gateway, ['approvals', 'list']);
        expect(listed.code).toBe(0);
        expect(listed.stdout).toContain(id);
        expect(listed.stdout).toContain('agent:oob');
        const listedJson = JSON.parse((await cli(gateway, ['approvals', 'list', '--json'])).stdout) as { id: string }[];
        expect(listedJson.filter((row) => row.id === id)).toHaveLength(1);
        const shown = await cli(gateway, ['approvals', 'show', id!]);
        expect(shown.stdout).toContain('notes__write_note');
        expect(shown.stdout).toContain('"content": "first version"');

        const approved = await cli(gateway, ['approvals', 'approve', id!]);
        expect(approved.stderr).toBe('');
        expect(approved.code).toBe(0);
        expect(approved.stdout).toContain(`approved ${id}`);

        // Another agent's identical call is not covered by it.
        const { client: other } = await connect(gateway, 'agent:other');
        try {
          const theirs = refused(await callTool(other, 'notes__write_note', args));
          expect(theirs.data?.approvalId).not.toBe(id);
        } finally {
          await other.close();
        }

        // Changed arguments: not covered either (and the approved one stays usable).
        const changed = refused(await callTool(client, 'notes__write_note', { ...args, content: 'something else' }));
        expect(changed.data?.approvalId).not.toBe(id);

        const ran = await callTool(client, 'notes__write_note', args);
        expect(ran.ok).toBe(true);
        expect(await noteText(client, 'oob.md')).toBe('first version');
        expect(await approvalJsonCli(gateway, id!)).toMatchObject({ status: 'used' });

        const second = refused(await callTool(client, 'notes__write_note', args));
        expect(second.data?.status).toBe('pending');
        expect(second.data?.approvalId).not.toBe(id);
        expect(second.data?.approvalId).not.toBe(changed.data?.approvalId);

        // A used approval cannot be approved again; an unknown id is an error too.
        const reused = await cli(gateway, ['approvals', 'approve', id!]);
        expect(reused.code).toBe(1);
        expect(reused.stderr).toMatch(/already used/);
        const unknown = await cli(gateway, ['approvals', 'approve', '01AAAAAAAAAAAAAAAAAAAAAAAA']);
        expect(unknown.code).toBe(1);
        expect(unknown.stderr).toContain('no approval with id 01AAAAAAAAAAAAAAAAAAAAAAAA');

        // Every step is in the audit log, linked to the calls' record ids.
        const events = (await approvalEventsCli(gateway)).filter((e) => e.data.approvalId === id);
        expect(events.map((e) => e.type).sort()).toEqual(['approval.grant', 'approval.request', 'approval.use']);
        const byType = Object.fromEntries(events.map((e) => [e.type, e]));
        const calls = await recordsCli(gateway);
        const requestCall = calls.find((r) => r.id === byType['approval.request']!.data.callId);
        const useCall = calls.find((r) => r.id === byType['approval.use']!.data.callId);
        expect(requestCall).toMatchObject({ outcome: 'rejected', decision: 'allow' });
        expect(useCall).toMatchObject({ outcome: 'ok', decision: 'allow' });
        expect(byType['approval.use']!.data).toMatchObject({
          requestCallId: requestCall!.id,
          channel: 'out-of-band',
          tool: 'notes__write_note',
          definitionHash: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
          argumentsDigest: expect.stringMatching(/^sha256:/),
        });
        expect(byType['approval.grant']!.data.by).toMatch(/@/);
      } finally {
        await client.close();
      }
    },
    SLOW,
  );

  it(
    'out-of-band deny: the call is not run, the decision is recorded with its reason, and the next identical call asks again',
    async () => {
      const { client } = await connect(gateway, 'agent:denied');
      try {
        const args = { name: 'denied.md', content: 'never' };
        const id = refused(await callTool(client, 'notes__write_note', args)).data!.approvalId!;
        const denied = await cli(gateway, ['approvals', 'deny', id, '--reason', 'not this one']);
        expect(denied.code).toBe(0);
        expect(approvalJson(gateway, id)).toMatchObject({ status: 'denied', reason: 'not this one' });
        const next = refused(await callTool(client, 'notes__write_note', args));
        expect(next.data?.approvalId).not.toBe(id);
        expect(await noteText(client, 'denied.md')).toBeUndefined();
        const approveDenied = await cli(gateway, ['approvals', 'approve', id]);
        expect(approveDenied.code).toBe(1);
        expect(approveDenied.stderr).toMatch(/was denied/);
        const event = approvalEvents(gateway).find((e) => e.type === 'approval.deny' && e.data.approvalId === id);
        expect(event?.data).toMatchObject({ reason: 'not this one', via: 'cli' });
      } finally {
        await client.close();
      }
    },
    SLOW,
  );

  it(
    'elicitation accept: the user is asked on the call itself with a clean summary, and the call runs once',
    async () => {
      const { client, asked } = await connect(gateway, 'agent:asks', () => ({ action: 'accept', content: {} }));
      try {
        const args = {
          name: 'asked.md',
          content: 'hello \u001b[31mred\u001b[0m \u202eevil',
          api_key: 'sk-canary-approval-0001',
        };
        const ran = await callTool(client, 'notes__write_note', args);
        expect(ran.ok).toBe(true);
        expect(asked).toHaveLength(1);
        const params = asked[0]!.params as {
          message: string;
          requestedSchema: { type: string; properties: Record<string, unknown> };
        };
        expect(params.requestedSchema).toEqual({ type: 'object', properties: {} });
        expect(params.message).toContain('notes__write_note');
        expect(params.message).toContain('agent:asks');
        expect(params.message).toContain('asked.md');
        expect(params.message).not.toContain('sk-canary-approval-0001');
        expect(params.message).not.toContain('\u001b');
        expect(params.message).not.toContain('\u202e');
        expect(await noteText(client, 'asked.md')).toContain('hello');

        const events = approvalEvents(gateway).filter((e) => e.subject === 'agent:asks');
        expect(events.map((e) => e.type).sort()).toEqual(['approval.grant', 'approval.request', 'approval.use']);
        expect(events.every((e) => e.data.channel === 'elicitation')).toBe(true);
        const callIds = new Set(events.map((e) => e.data.callId));
        expect(callIds.size).toBe(1); // one call asked, was granted and ran
        expect(records(gateway).find((r) => r.id === [...callIds][0])).toMatchObject({ outcome: 'ok' });

        // Approved in-band: still single use. The same call asks again.
        expect((await callTool(client, 'notes__write_note', args)).ok).toBe(true);
        expect(asked).toHaveLength(2);
      } finally {
        await client.close();
      }
    },
    SLOW,
  );

  it(
    'stdio: a second gateway process on the same data folder asks in-band, and uses an approval a reviewer gave out-of-band',
    async () => {
      const asking = await connectStdioAgent(gateway, 'agent:stdio-asks', () => ({ action: 'accept', content: {} }));
      try {
        expect(
          (await callTool(asking.client, 'notes__write_note', { name: 'stdio-asked.md', content: 'via stdio' })).ok,
        ).toBe(true);
        expect(asking.asked).toHaveLength(1);
        expect(asking.asked[0]!.params.message).toContain('stdio-asked.md');
      } finally {
        await asking.client.close();
      }
      const { client } = await connectStdioAgent(gateway, 'agent:stdio-oob');
      try {
        const args = { name: 'stdio-oob.md', content: 'approved elsewhere' };
        const id = refused(await callTool(client, 'notes__write_note', args)).data!.approvalId!;
        expect((await cli(gateway, ['approvals', 'approve', id])).code).toBe(0);
        expect((await callTool(client, 'notes__write_note', args)).ok).toBe(true);
        expect(refused(await callTool(client, 'notes__write_note', args)).data?.approvalId).not.toBe(id);
        expect(await noteText(client, 'stdio-oob.md')).toBe('approved elsewhere');
      } finally {
        await client.close();
      }
    },
    SLOW,
  );

  it.each([
    ['decline', 'declined by the user'],
    ['cancel', 'cancelled by the user'],
  ] as const)(
    'elicitation %s: the call is refused and recorded as denied by the user',
    async (action, reason) => {
      const subject = `agent:${action}s`;
      const { client, asked } = await connect(gateway, subject, () => ({ action }));
      try {
        const name = `${action}.md`;
        const outcome = refused(await callTool(client, 'notes__write_note', { name, content: 'no' }));
        expect(asked).toHaveLength(1);
        expect(outcome.code).toBe(-32600);
        expect(outcome.message).toMatch(/^MCP error -32600: Approval denied/);
        expect(outcome.data?.status).toBe('denied');
        expect(approvalJson(gateway, outcome.data!.approvalId!)).toMatchObject({
          status: 'denied',
          channel: 'elicitation',
          reason,
        });
        expect(await noteText(client, name)).toBeUndefined();
        const events = approvalEvents(gateway).filter((e) => e.subject === subject);
        expect(events.map((e) => e.type).sort()).toEqual(['approval.deny', 'approval.request']);
        expect(events.find((e) => e.type === 'approval.deny')?.data).toMatchObject({ reason, via: 'elicitation' });
        expect(records(gateway).find((r) => r.id === events[0]!.data.callId)).toMatchObject({
          outcome: 'rejected',
        });
      } finally {
        await client.close();
      }
    },
    SLOW,
  );
});

describe('approval expiry (gateway.approvals.ttlSeconds: 1)', () => {
  let gateway: RunningGateway;
  let notes: TempDir;

  beforeAll(async () => {
    ({ gateway, notes } = await startApprovalGateway({ ttlSeconds: 1 }));
  });

  afterAll(async () => {
    await gateway?.stop();
    await notes?.cleanup();
  });

  it(
    'an approval that expired before the retry is refused and recorded as expired; the next call asks afresh',
    async () => {
      const { client } = await connect(gateway, 'agent:late');
      try {
        const args = { name: 'late.md', content: 'too late' };
        const first = refused(await callTool(client, 'notes__write_note', args));
        const id = first.data!.approvalId!;
        const expiresAt = Date.parse(first.data!.expiresAt!);
        // Approved "in time" whatever this machine's speed: the store takes the decision's time from its caller.
        const store = ApprovalStore.open(stateFile(join(gateway.dir.path, 'data')));
        try {
          const row = store.get(id)!;
          expect(store.approve(id, 'reviewer@test', row.createdAt + 1)).toMatchObject({ status: 'approved' });
        } finally {
          store.close();
        }
        await waitFor(() => Date.now() > expiresAt + 50, 'the approval to expire');
        const retry = refused(await callTool(client, 'notes__write_note', args));
        expect(retry.message).toMatch(/^MCP error -32600: Approval expired/);
        expect(retry.data).toMatchObject({ approvalId: id, status: 'expired' });
        const next = refused(await callTool(client, 'notes__write_note', args));
        expect(next.data).toMatchObject({ status: 'pending' });
        expect(next.data?.approvalId).not.toBe(id);
        expect(await noteText(client, 'late.md')).toBeUndefined();
        expect(approvalJson(gateway, id)).toMatchObject({ status: 'expired' });
        const expired = approvalEvents(gateway).filter((e) => e.type === 'approval.expire' && e.data.approvalId === id);
        expect(expired).toHaveLength(1);
      } finally {
        await client.close();
      }
    },
    SLOW,
  );

  it(
    'approving an expired approval from the CLI fails with exit 1 and records the expiry',
    async () => {
      const { client } = await connect(gateway, 'agent:slow-reviewer');
      try {
        const first = refused(await callTool(client, 'notes__write_note', { name: 'slow.md', content: 'x' }));
        const id = first.data!.approvalId!;
        const expiresAt = Date.parse(first.data!.expiresAt!);
        await waitFor(() => Date.now() > expiresAt + 50, 'the approval to expire');
        const approved = await cli(gateway, ['approvals', 'approve', id]);
        expect(approved.code).toBe(1);
        expect(approved.stderr).toMatch(/expired at/);
        expect(approvalJson(gateway, id)).toMatchObject({ status: 'expired', storedStatus: 'expired' });
        expect(
          approvalEvents(gateway).filter((e) => e.type === 'approval.expire' && e.data.approvalId === id),
        ).toHaveLength(1);
      } finally {
        await client.close();
      }
    },
    SLOW,
  );

  it(
    'an elicitation nobody answers ends with the approval: refused as expired',
    async () => {
      let release: () => void = () => undefined;
      const never = new Promise<ElicitResult>((resolve) => (release = () => resolve({ action: 'cancel' })));
      const { client, asked } = await connect(gateway, 'agent:unanswered', () => never);
      try {
        const outcome = refused(await callTool(client, 'notes__write_note', { name: 'unanswered.md', content: 'x' }));
        expect(asked).toHaveLength(1);
        expect(outcome.message).toMatch(/^MCP error -32600: Approval expired/);
        expect(approvalJson(gateway, outcome.data!.approvalId!)).toMatchObject({
          status: 'expired',
          channel: 'elicitation',
        });
      } finally {
        release();
        await client.close();
      }
    },
    SLOW,
  );
});

describe('gateway.approvals.elicitation: false', () => {
  let gateway: RunningGateway;
  let notes: TempDir;

  beforeAll(async () => {
    ({ gateway, notes } = await startApprovalGateway({ elicitation: false }));
  });

  afterAll(async () => {
    await gateway?.stop();
    await notes?.cleanup();
  });

  it(
    'an agent that supports elicitation is not asked (it could answer for itself): out-of-band only',
    async () => {
      const { client, asked } = await connect(gateway, 'agent:headless', () => ({ action: 'accept', content: {} }));
      try {
        const outcome = refused(await callTool(client, 'notes__write_note', { name: 'headless.md', content: 'x' }));
        expect(asked).toHaveLength(0);
        expect(outcome.data).toMatchObject({ status: 'pending' });
        expect(approvalJson(gateway, outcome.data!.approvalId!)).toMatchObject({
          channel: 'out-of-band',
          status: 'pending',
        });
        expect(await noteText(client, 'headless.md')).toBeUndefined();
      } finally {
        await client.close();
      }
    },
    SLOW,
  );

  it(
    'one agent cannot flood the reviewers: past 50 waiting approvals, new ones are refused as rate-limited',
    async () => {
      const { client } = await connect(gateway, 'agent:flood');
      try {
        const ids = new Set<string>();
        for (let i = 0; i < 50; i += 1)
          ids.add(
            refused(await callTool(client, 'notes__write_note', { name: `flood-${i}.md`, content: 'x' })).data!
              .approvalId!,
          );
        expect(ids.size).toBe(50);
        const over = refused(await callTool(client, 'notes__write_note', { name: 'flood-50.md', content: 'x' }));
        expect(over.message).toMatch(/Rate limit exceeded; retry in \d+ s/);
        // The identical call of one already waiting still gets its approval id; another agent is unaffected.
        expect(
          refused(await callTool(client, 'notes__write_note', { name: 'flood-7.md', content: 'x' })).data?.approvalId,
        ).toBeDefined();
        const { client: other } = await connect(gateway, 'agent:calm');
        try {
          expect(
            refused(await callTool(other, 'notes__write_note', { name: 'calm.md', content: 'x' })).data?.status,
          ).toBe('pending');
        } finally {
          await other.close();
        }
      } finally {
        await client.close();
      }
    },
    SLOW,
  );
});
