// A downstream's MCP tasks through the gateway (issue 16): the real server-everything over stdio, whose
// `simulate-research-query` only runs as a task, behind a real gateway with two principals (built-in
// tokens, a real policy), compared with a direct connection; the audit is read from the real SQLite file.
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { issueTokenAsync } from '../helpers/cli.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const require = createRequire(import.meta.url);
const EVERYTHING = join(
  dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')),
  'dist/index.js',
);
const TOOL = 'simulate-research-query';

const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: everything, effect: allow, tools: ["srv__*"] }
`;

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'tasks-test', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
  );
  return client;
}

function createTask(client: Client, name: string, topic: string) {
  return client.request(
    { method: 'tools/call', params: { name, arguments: { topic }, task: { ttl: 120_000 } } },
    CreateTaskResultSchema,
  );
}

/** The error a promise rejects with, as the agent sees it. */
async function failure(promise: Promise<unknown>): Promise<{ code?: number; message: string }> {
  const error = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as { code?: number; message: string } | undefined;
  if (!error) throw new Error('expected the request to fail');
  return { code: error.code, message: error.message };
}

interface Row {
  id: string;
  kind: string;
  type: string;
  subject: string | null;
  target: string | null;
  outcome: string | null;
  body: string;
}

describe('a server’s MCP tasks through the gateway (server-everything over stdio)', () => {
  let policyDir: TempDir;
  let gateway: RunningGateway;
  let alice: Client;
  let bob: Client;
  let direct: Client;

  beforeAll(async () => {
    policyDir = await makeTempDir('tasks-policy');
    const policyFile = join(policyDir.path, 'policy.yaml');
    await mkdir(policyDir.path, { recursive: true });
    await writeFile(policyFile, POLICY);
    gateway = await startGateway({
      auth: { mode: 'jwt', resource: 'http://gateway.test/mcp', builtin: {}, maxTokenLifetimeSeconds: 3600 },
      policy: { files: [policyFile] },
      servers: { srv: { transport: 'stdio', command: 'node', args: [EVERYTHING, 'stdio'] } },
    });
    alice = await connect(gateway.url, await issueTokenAsync(gateway.configFile, ['--sub', 'agent:alice']));
    bob = await connect(gateway.url, await issueTokenAsync(gateway.configFile, ['--sub', 'agent:bob']));
    direct = new Client({ name: 'tasks-test', version: '1' });
    await direct.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [EVERYTHING, 'stdio'],
        env: { PATH: process.env.PATH ?? '' },
        stderr: 'pipe',
      }),
    );
  });

  afterAll(async () => {
    await alice?.close();
    await bob?.close();
    await direct?.close();
    await gateway?.stop();
    await policyDir?.cleanup();
  });

  it('declares tasks, runs a task-required tool as a task, and answers its result as a direct connection does', async () => {
    expect(direct.getServerCapabilities()?.tasks?.requests?.tools?.call).toBeDefined();
    expect(alice.getServerCapabilities()?.tasks?.requests?.tools?.call).toBeDefined();
    const listed = (await alice.listTools()).tools.find((t) => t.name === `srv__${TOOL}`);
    expect(listed?.execution?.taskSupport).toBe('required');

    const created = await createTask(alice, `srv__${TOOL}`, 'gateways');
    const taskId = created.task.taskId;
    expect(['working', 'completed']).toContain(created.task.status);
    const polled = await alice.experimental.tasks.getTask(taskId);
    expect(polled.taskId).toBe(taskId);
    expect(['working', 'completed']).toContain(polled.status);
    expect((await alice.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toEqual([taskId]);

    // Another principal: the same answer as for an id that does not exist, for every follow-up.
    const unknown = await failure(alice.experimental.tasks.getTask('no-such-task'));
    expect(unknown.message).toMatch(/Task not found/);
    expect(await failure(bob.experimental.tasks.getTask(taskId))).toEqual(unknown);
    expect(await failure(bob.experimental.tasks.cancelTask(taskId))).toEqual(unknown);
    expect(await failure(bob.experimental.tasks.getTaskResult(taskId, CallToolResultSchema))).toEqual(unknown);
    expect((await bob.experimental.tasks.listTasks()).tasks).toEqual([]);

    // tasks/result waits for the task to end; the same tool run directly gives the same result.
    const through = await alice.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
    const own = await direct.experimental.tasks.getTaskResult(
      (await createTask(direct, TOOL, 'gateways')).task.taskId,
      CallToolResultSchema,
    );
    expect(through.content).toEqual(own.content);
    expect(JSON.stringify(through.content)).toContain('gateways');
    expect((await alice.experimental.tasks.getTask(taskId)).status).toBe('completed');

    // The audit: the governed call's intent and outcome, and the result fetch as a record of its own,
    // pointing at the call, with the result it answered.
    const db = new Database(join(gateway.dir.path, 'data', 'audit.db'), { readonly: true });
    try {
      const rows = db
        .prepare('SELECT id, kind, type, subject, target, outcome, body FROM entries ORDER BY seq')
        .all() as Row[];
      const call = rows.find((r) => r.kind === 'intent' && r.type === 'tools/call' && r.target === `srv__${TOOL}`);
      expect(call?.subject).toBe('agent:alice');
      expect(JSON.parse(call!.body).decision.effect).toBe('allow');
      const callOutcome = rows.find((r) => r.kind === 'outcome' && r.id === call!.id);
      expect(callOutcome?.outcome).toBe('ok');
      const fetches = rows.filter((r) => r.kind === 'intent' && r.type === 'tasks/result');
      expect(fetches).toHaveLength(1);
      const fetch = JSON.parse(fetches[0]!.body) as {
        parent?: string;
        arguments?: unknown;
        decision: { rule: string };
      };
      expect(fetch.parent).toBe(call!.id);
      expect(fetch.arguments).toEqual({ taskId });
      expect(fetch.decision.rule).toBe('task-owner');
      expect(fetches[0]!.subject).toBe('agent:alice');
      const fetchOutcome = rows.find((r) => r.kind === 'outcome' && r.id === fetches[0]!.id);
      expect(fetchOutcome?.outcome).toBe('ok');
      expect((JSON.parse(fetchOutcome!.body) as { result?: { digest?: string } }).result?.digest).toBeDefined();
      // Bob's attempts reached no server and left no follow-up record.
      expect(rows.filter((r) => r.type.startsWith('tasks/') && r.subject === 'agent:bob')).toEqual([]);
    } finally {
      db.close();
    }
  });

  it('cancels a task for its creator only', async () => {
    const created = await createTask(alice, `srv__${TOOL}`, 'cancelled research');
    const taskId = created.task.taskId;
    expect((await failure(bob.experimental.tasks.cancelTask(taskId))).message).toMatch(/Task not found/);
    const cancelled = await alice.experimental.tasks.cancelTask(taskId);
    expect(cancelled.status).toBe('cancelled');
    expect((await alice.experimental.tasks.getTask(taskId)).status).toBe('cancelled');
  });
});
