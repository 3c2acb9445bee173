// Policy and tasks through the real gateway: `serve` and `stdio` processes, the real CLI for tasks,
// revocation and policy (tokens are signed in this process by the modules `token issue` runs), real downstream servers (the bundled notes server and the conformance fixture),
// a real SQLite file shared by two gateway processes, and the real policy file watched on disk.
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { recordNotifications, type Recorded } from '../helpers/agent.js';
import { BIN, NOTES, ROOT, fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeTempDir, waitFor, type TempDir } from '../helpers/process.js';
import { mcpHeaders, rawRequest } from '../helpers/raw-http.js';
import { runCli } from '../helpers/cli.js';
import { auditRecords, issueTokenInProcess } from '../helpers/stores.js';
import { makeTestClock, type TestClock } from '../helpers/clock.js';

const RESOURCE = 'http://gateway.test/mcp';
const auth = { mode: 'jwt', resource: RESOURCE, builtin: {}, maxTokenLifetimeSeconds: 3600 };

const POLICY = `version: 1
tasks: { defaultTtlSeconds: 60, maxTtlSeconds: 600 }
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: notes-read, effect: allow, tools: [notes__list_notes, notes__read_note, notes__search_notes] }
      - { id: notes-write-in-task, effect: allow, tools: [notes__write_note], task: required }
      - { id: limited, effect: allow, tools: [fx__test_simple_text], rateLimit: { calls: 2, perSeconds: 60 } }
      - { id: needs-approval, effect: allow, tools: [fx__fixture_pid], approval: required }
grants:
  - { id: no-deletes, effect: deny, tools: ["*__delete*"] }
`;

const BASE_TOOLS = [
  'fx__fixture_pid',
  'fx__test_simple_text',
  'notes__list_notes',
  'notes__read_note',
  'notes__search_notes',
  'warden__begin_task',
  'warden__end_task',
];

const cli = runCli;
/** A token of the built-in issuer, signed in this process as `token issue --sub SUBJECT` signs it. */
const issue = (configFile: string, subject: string, extra: { taskPurpose?: string; grants?: string[] } = {}) =>
  issueTokenInProcess(configFile, { subject, ...extra });

async function connect(url: string, token: string): Promise<{ client: Client; seen: Recorded[] }> {
  const client = new Client({ name: 'policy-test', version: '1' });
  const seen = recordNotifications(client);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
  );
  return { client, seen };
}

async function toolNames(client: Client): Promise<string[]> {
  return (await client.listTools()).tools.map((t) => t.name).sort();
}

async function callTool(client: Client, name: string, args: Record<string, unknown> = {}) {
  return client.callTool({ name, arguments: args }).then(
    (result) => ({
      ok: true as const,
      result: result as { structuredContent?: Record<string, unknown>; isError?: boolean },
    }),
    (error: { code?: number; message?: string; data?: unknown }) => ({
      ok: false as const,
      code: error.code,
      message: String(error.message),
      data: error.data,
    }),
  );
}

const listChanges = (seen: readonly Recorded[]) =>
  seen.filter((n) => n.method === 'notifications/tools/list_changed').length;

async function startPolicyGateway(
  policyText: string,
  env: Record<string, string> = {},
): Promise<{ gateway: RunningGateway; policyDir: TempDir; policyFile: string }> {
  const policyDir = await makeTempDir('warden-policy');
  const policyFile = join(policyDir.path, 'policy.yaml');
  await writeFile(policyFile, policyText);
  await mkdir(join(policyDir.path, 'notes'));
  const gateway = await startGateway(
    {
      auth,
      policy: { files: [policyFile] },
      // One process per server for the file (`shared`), not one per agent session: no test here is about
      // a session's own downstream connection, and each session would otherwise start both servers.
      servers: {
        notes: {
          transport: 'stdio',
          command: 'node',
          args: [NOTES, '--dir', join(policyDir.path, 'notes')],
          shared: true,
        },
        fx: fixtureServer({ shared: true }),
      },
    },
    [],
    env,
  );
  return { gateway, policyDir, policyFile };
}

// One gateway for the whole file; the hot-reload test runs last, since it changes the policy file.
describe('policy through the gateway', () => {
  let gateway: RunningGateway;
  let policyDir: TempDir;
  let policyFile: string;
  let config: string;
  let clock: TestClock;

  beforeAll(async () => {
    clock = await makeTestClock();
    ({ gateway, policyDir, policyFile } = await startPolicyGateway(POLICY, clock.env));
    config = gateway.configFile;
  });
  afterAll(async () => {
    await gateway?.stop();
    await policyDir?.cleanup();
    await clock?.cleanup();
  });

  it('lists only what the policy allows, with the task meta-tools', async () => {
    const { client } = await connect(gateway.url, await issue(config, 'agent:lister'));
    try {
      expect(await toolNames(client)).toEqual(BASE_TOOLS);
      // warden__begin_task names what a task could grant this agent, and nothing no task could grant
      const begin = (await client.listTools()).tools.find((t) => t.name === 'warden__begin_task')!;
      expect(begin.description).toMatch(/Tools a task could grant you: .*notes__write_note/);
      expect(begin.description).not.toContain('notes__delete_note'); // denied to everyone
      expect(begin.description).not.toContain('fx__test_error_handling'); // no grant at all
      // initialize explains tasks in two sentences, before any server's own instructions
      expect(client.getInstructions()).toMatch(
        /^Some tools are granted only inside a task: call warden__begin_task .*warden__end_task when you are done\. A call refused with a message naming warden__begin_task can be asked for that way; a tool answered as unknown cannot\./,
      );
    } finally {
      await client.close();
    }
  });

  it('a hidden tool and a missing tool get byte-identical JSON-RPC errors', async () => {
    const token = await issue(config, 'agent:prober');
    const headers = mcpHeaders({ authorization: `Bearer ${token}`, host: new URL(gateway.url).host });
    const init = await rawRequest(gateway.origin, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    });
    const session = String(init.headers['mcp-session-id']);
    const withSession = { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
    await rawRequest(gateway.origin, {
      method: 'POST',
      headers: withSession,
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    });
    const answer = async (name: string) => {
      const response = await rawRequest(gateway.origin, {
        method: 'POST',
        headers: withSession,
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 7,
          method: 'tools/call',
          params: { name, arguments: { name: 'x' } },
        }),
      });
      return JSON.stringify(response.messages[0]).replaceAll(name, 'NAME');
    };
    const unknown = await answer('notes__no_such_tool');
    expect(JSON.parse(unknown)).toEqual({
      jsonrpc: '2.0',
      id: 7,
      error: { code: -32602, message: 'Unknown tool: NAME' },
    });
    expect(await answer('notes__delete_note')).toBe(unknown); // denied by a deny rule
    // allowed by this agent's own policy inside a task: not a secret from it (see the next test)
    expect(JSON.parse(await answer('notes__write_note'))).toMatchObject({
      error: { code: -32600, message: expect.stringContaining('warden__begin_task') as unknown },
    });
    expect(await answer('fx__test_error_handling')).toBe(unknown); // default deny
  });

  it('outside a task, a tool the policy grants inside one is refused naming warden__begin_task; the audit records the reason policy explain gives', async () => {
    const { client } = await connect(gateway.url, await issue(config, 'agent:outside'));
    try {
      expect(await toolNames(client)).not.toContain('notes__write_note'); // still not listed outside a task
      const refused = await callTool(client, 'notes__write_note', { name: 'a', content: 'b' });
      expect(refused).toMatchObject({ ok: false, code: -32600, data: { needsTask: true, grant: 'notes__write_note' } });
      expect(refused.ok === false && refused.message).toBe(
        'MCP error -32600: notes__write_note is available only inside a task: call warden__begin_task with {"purpose": "<why>", "tools": ["notes__write_note"]} first',
      );
      // a tool no task could grant stays unknown
      expect(await callTool(client, 'fx__test_error_handling')).toMatchObject({
        ok: false,
        code: -32602,
        message: expect.stringContaining('Unknown tool'),
      });

      // The record's id read in this process; `audit show` and `policy explain` are the CLI under test.
      const [row] = auditRecords(config, { agent: 'agent:outside', tool: 'notes__write_note', limit: 1 });
      const shown = (
        JSON.parse(cli(config, ['audit', 'show', row!.id, '--json']).stdout) as {
          intent: { decision: { rule: string; reason: string } };
        }
      ).intent;
      const explained = cli(config, [
        'policy',
        'explain',
        '--sub',
        'agent:outside',
        '--tool',
        'notes__write_note',
      ]).stdout;
      const line = (name: string) =>
        explained
          .split('\n')
          .find((l) => l.startsWith(name))!
          .slice(10);
      expect(shown.decision).toMatchObject({ rule: line('rule'), reason: line('reason') });
      expect(shown.decision.reason).toMatch(/allow grant notes-write-in-task .* only inside a task/);
    } finally {
      await client.close();
    }
  });

  it('begin and end a task: the list narrows and widens with list_changed; task-only tools work inside it', async () => {
    const { client, seen } = await connect(gateway.url, await issue(config, 'agent:worker'));
    try {
      expect(await toolNames(client)).toEqual(BASE_TOOLS);
      const begun = await callTool(client, 'warden__begin_task', {
        purpose: 'write the plan',
        tools: ['notes__write_note', 'notes__read_note', 'notes__delete_note', 'nope__x'],
      });
      expect(begun.ok && begun.result.structuredContent).toMatchObject({
        status: 'granted',
        granted: ['notes__write_note', 'notes__read_note'],
        refused: [{ tool: 'notes__delete_note' }, { tool: 'nope__x' }],
        task: { purpose: 'write the plan' },
      });
      await waitFor(() => listChanges(seen) >= 1, 'list_changed after begin_task');
      expect(await toolNames(client)).toEqual([
        'notes__read_note',
        'notes__write_note',
        'warden__begin_task',
        'warden__end_task',
      ]);
      expect((await callTool(client, 'notes__write_note', { name: 'plan', content: 'ship it' })).ok).toBe(true);
      expect(await callTool(client, 'notes__search_notes', { query: 'x' })).toMatchObject({
        ok: false,
        code: -32602,
        message: expect.stringContaining('Unknown tool: notes__search_notes'),
      });

      const taskId = (begun.ok && (begun.result.structuredContent?.task as { id: string }).id) as string;
      const listed = cli(config, ['task', 'list', '--json']);
      expect(JSON.parse(listed.stdout)).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ id: taskId, subject: 'agent:worker', source: 'session', status: 'active' }),
        ]),
      );

      expect((await callTool(client, 'warden__end_task')).ok).toBe(true);
      await waitFor(() => listChanges(seen) >= 2, 'list_changed after end_task');
      expect(await toolNames(client)).toEqual(BASE_TOOLS);
      expect((await callTool(client, 'notes__write_note', { name: 'plan', content: 'again' })).ok).toBe(false);
    } finally {
      await client.close();
    }
  });

  it('a task expires: its tools are removed at once and the agent is told', async () => {
    const { client, seen } = await connect(gateway.url, await issue(config, 'agent:brief'));
    try {
      await toolNames(client);
      // A minute on the gateway's test clock: the test moves the clock, it does not wait.
      await callTool(client, 'warden__begin_task', { purpose: 'quick', tools: ['notes__write_note'], ttlSeconds: 60 });
      await waitFor(() => listChanges(seen) >= 1, 'list_changed after begin_task');
      expect(await toolNames(client)).toContain('notes__write_note');
      await clock.advance(59_000);
      expect(await toolNames(client)).toContain('notes__write_note'); // a second before its expiry
      expect(listChanges(seen)).toBe(1);
      await clock.advance(1_000);
      // No request from the agent: the gateway notices the expiry on its own and says so.
      await waitFor(() => listChanges(seen) >= 2, 'list_changed at expiry');
      expect(await toolNames(client)).toEqual(BASE_TOOLS);
    } finally {
      await client.close();
    }
  });

  it('a token task narrows like a declared one', async () => {
    const { client } = await connect(
      gateway.url,
      await issue(config, 'agent:scoped', { taskPurpose: 'notes only', grants: ['notes__*'] }),
    );
    try {
      expect(await toolNames(client)).toEqual([
        'notes__list_notes',
        'notes__read_note',
        'notes__search_notes',
        'notes__write_note',
        'warden__begin_task',
        'warden__end_task',
      ]);
    } finally {
      await client.close();
    }
  });

  it('rate limits per principal and tool, with a retry hint', async () => {
    const { client } = await connect(gateway.url, await issue(config, 'agent:hasty'));
    const other = await connect(gateway.url, await issue(config, 'agent:patient'));
    try {
      expect((await callTool(client, 'fx__test_simple_text')).ok).toBe(true);
      expect((await callTool(client, 'fx__test_simple_text')).ok).toBe(true);
      const refused = await callTool(client, 'fx__test_simple_text');
      expect(refused).toMatchObject({
        ok: false,
        code: -32600,
        message: expect.stringMatching(/Rate limit exceeded; retry in (29|30) s/),
        data: { retryAfterSeconds: expect.any(Number) },
      });
      expect((await callTool(other.client, 'fx__test_simple_text')).ok).toBe(true);
    } finally {
      await client.close();
      await other.client.close();
    }
  });

  it('approval required: visible, and a call without an approval refused with the id of the approval it waits for', async () => {
    const { client } = await connect(gateway.url, await issue(config, 'agent:careful'));
    try {
      expect(await toolNames(client)).toContain('fx__fixture_pid');
      expect(await callTool(client, 'fx__fixture_pid')).toMatchObject({
        ok: false,
        code: -32600,
        message: expect.stringContaining('Approval required'),
        data: { approvalId: expect.any(String), status: 'pending' },
      });
    } finally {
      await client.close();
    }
  });

  it('task revoke takes effect on the next call; a second revoke of the same task says it is not open', async () => {
    const { client, seen } = await connect(gateway.url, await issue(config, 'agent:suspect-task'));
    try {
      const begun = await callTool(client, 'warden__begin_task', { purpose: 'p', tools: ['notes__write_note'] });
      const taskId = (begun.ok && (begun.result.structuredContent?.task as { id: string }).id) as string;
      expect(await toolNames(client)).toContain('notes__write_note');
      const before = listChanges(seen);

      const revoked = cli(config, ['task', 'revoke', taskId]);
      expect(revoked.code).toBe(0);
      // the task is gone: outside a task again, where the refusal says how to ask for one
      expect(await callTool(client, 'notes__write_note', { name: 'a', content: 'b' })).toMatchObject({
        ok: false,
        code: -32600,
        message: expect.stringContaining('warden__begin_task'),
      });
      expect(await toolNames(client)).toEqual(BASE_TOOLS);
      await waitFor(() => listChanges(seen) > before, 'list_changed after task revoke');
      expect(cli(config, ['task', 'revoke', taskId]).code).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('agent revoke takes effect on the next call, in this gateway and in a second process on the same data folder', async () => {
    const token = await issue(config, 'agent:suspect');
    const { client } = await connect(gateway.url, token);
    const stdio = new Client({ name: 'policy-test-stdio', version: '1' });
    await stdio.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [BIN, 'stdio', '--config', config],
        stderr: 'pipe',
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MCP_WARDEN_TOKEN: token },
      }),
    );
    try {
      expect((await callTool(client, 'notes__list_notes')).ok).toBe(true);
      expect((await callTool(stdio, 'notes__list_notes')).ok).toBe(true);
      expect(cli(config, ['agent', 'revoke', 'agent:suspect', '--reason', 'test']).code).toBe(0);
      const revokedBy = Date.now();
      for (const agentClient of [client, stdio]) {
        expect(await callTool(agentClient, 'notes__list_notes')).toMatchObject({
          ok: false,
          code: -32600,
          message: expect.stringContaining('Authentication required'),
        });
        expect((await agentClient.listTools()).tools).toEqual([]);
      }
      // A token issued after the revocation works. Tokens carry iat in whole seconds, so "after" means a
      // later second than the revocation's: wait for the clock to reach it (no fixed sleep).
      await waitFor(
        () => Math.floor(Date.now() / 1000) > Math.floor(revokedBy / 1000),
        'the second after the revocation',
        5_000,
      );
      const fresh = await connect(gateway.url, await issue(config, 'agent:suspect'));
      expect((await callTool(fresh.client, 'notes__list_notes')).ok).toBe(true);
      await fresh.client.close();
    } finally {
      await client.close();
      await stdio.close();
    }
  });

  it('policy check, explain and test run against the config', () => {
    const checked = cli(config, ['policy', 'check']);
    expect(checked.code).toBe(0);
    expect(checked.stdout).toMatch(/policy [0-9a-f]{12}: 5 rules/);
    const explained = cli(config, [
      'policy',
      'explain',
      '--sub',
      'agent:x',
      '--tool',
      'notes__delete_note',
      '--task',
      '*',
    ]);
    expect(explained.stdout).toMatch(/decision {2}deny\nrule {6}no-deletes/);
    expect(cli(config, ['policy', 'test']).code).toBe(2); // no test files beside this policy
    // The shipped policies' tests, as CI runs them from the repository.
    const shipped = spawnSync(process.execPath, [BIN, 'policy', 'test'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(shipped.stdout).toContain('policies/default.test.yaml');
    expect(shipped.stdout).toContain('policies/example-team.test.yaml');
    expect(shipped.stdout).toMatch(/\d+ passed, 0 failed/);
    expect(shipped.status).toBe(0);
  });

  // Last: it changes the shared gateway's policy.
  it('a good file is swapped in and sessions whose tools changed get list_changed; a bad file keeps the last good policy and says where', async () => {
    const { client, seen } = await connect(gateway.url, await issue(gateway.configFile, 'agent:reader'));
    try {
      expect(await toolNames(client)).toEqual(BASE_TOOLS);
      await writeFile(
        policyFile,
        POLICY.replace('notes__search_notes]', 'notes__search_notes, fx__test_image_content]'),
      );
      await waitFor(() => listChanges(seen) >= 1, 'list_changed after a reload');
      expect(await toolNames(client)).toContain('fx__test_image_content');
      await waitFor(() => gateway.process.stderr().includes('policy reloaded'), 'the reload log line');

      await writeFile(policyFile, POLICY.replace('effect: deny', 'effect: forbid'));
      await waitFor(() => gateway.process.stderr().includes('policy reload failed'), 'the reload error');
      expect(gateway.process.stderr()).toMatch(/policy\.yaml: grants\[0\]\.effect:/);
      expect(await toolNames(client)).toContain('fx__test_image_content');
      expect((await callTool(client, 'fx__test_image_content')).ok).toBe(true);
      expect((await callTool(client, 'notes__delete_note', { name: 'x' })).ok).toBe(false);
      expect(listChanges(seen)).toBe(1);
    } finally {
      await client.close();
    }
  });
});
