// Servers that speak only MCP 2026-07-28 (test/fixtures/modern-server.ts, which refuses `initialize`),
// registered with `protocol: "2026-07-28"`, over stdio and over HTTP (launched by the gateway), reached
// through the real gateway process (JWT, policy, audit, pins) by a 2025 agent (v1 client, a session)
// and by a 2026 agent (v2 client, stateless).
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpV2 } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';
import { auditRecords, issueTokenInProcess, storedPins } from '../helpers/stores.js';
import { textOf } from '../helpers/agent.js';

const MODERN = join(ROOT, 'dist/test/fixtures/modern-server.js');
const RESOURCE = 'http://gateway.test/mcp';
const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: modern-some, effect: allow, tools: [m__echo, m__add, m__ask, mh__echo, mh__add, ms__echo, ms__env_value] }
`;
const VISIBLE = ['m__add', 'm__ask', 'm__echo', 'mh__add', 'mh__echo', 'ms__echo', 'ms__env_value'];
const CANARY = 'canary-2026-downstream-7f3a9c1e5b';

interface PinJson {
  server: string;
  kind: string;
  exposed: string;
  status: string;
}

async function refusal(promise: Promise<unknown>): Promise<{ code?: number; message?: string } | undefined> {
  return promise.then(
    () => undefined,
    (error: { code?: number; message?: string }) => error,
  );
}

describe('2026-only downstream servers through the gateway', () => {
  let gw: RunningGateway;
  let policyDir: TempDir;
  let token: string;
  /** What `audit list --agent SUB --tool TOOL --json` prints, read in this process. */
  const records = async (sub: string, tool: string) => auditRecords(gw.configFile, { agent: sub, tool });

  beforeAll(async () => {
    policyDir = await makeTempDir('warden-down2026');
    const policyFile = join(policyDir.path, 'policy.yaml');
    await writeFile(policyFile, POLICY);
    gw = await startGateway(
      {
        auth: { mode: 'jwt', resource: RESOURCE, builtin: {}, maxTokenLifetimeSeconds: 3600 },
        policy: { files: [policyFile] },
        secrets: { canary: { source: 'env', name: 'WARDEN_TEST_2026_CANARY' } },
        servers: {
          // secrets by argument (hidden from the agent) and by environment, on a 2026 server
          ms: {
            transport: 'stdio',
            command: 'node',
            args: [MODERN, '--stdio'],
            protocol: '2026-07-28',
            secrets: { env: { CANARY_ENV: 'canary' }, tools: { echo: { arguments: { text: 'canary' } } } },
          },
          m: { transport: 'stdio', command: 'node', args: [MODERN, '--stdio'], protocol: '2026-07-28' },
          mh: {
            transport: 'http',
            url: 'http://127.0.0.1:0/mcp',
            launch: { command: 'node', args: [MODERN, '--http'] },
            protocol: '2026-07-28',
          },
        },
      },
      [],
      { WARDEN_TEST_2026_CANARY: CANARY },
    );
    token = await issueTokenInProcess(gw.configFile, { subject: 'agent:down2026' });
  });

  afterAll(async () => {
    await gw?.stop();
    await policyDir?.cleanup();
  });

  async function legacyAgent(): Promise<Client> {
    const client = new Client(
      { name: 'agent-2025', version: '1.0.0' },
      { capabilities: { sampling: {}, elicitation: {}, roots: {} } },
    );
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({
      model: 'test-model',
      role: 'assistant',
      content: { type: 'text', text: 'sampled by the 2025 agent' },
    }));
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { ok: true } }));
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///work/agent-root' }] }));
    await client.connect(
      new StreamableHTTPClientTransport(new URL(gw.url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    return client;
  }

  it('a 2025 agent lists what policy allows and calls tools on both servers; a refused tool reads as unknown; the audit records both', async () => {
    const client = await legacyAgent();
    try {
      const listed = (await client.listTools()).tools.map((t) => t.name).sort();
      expect(listed).toEqual([...VISIBLE, 'warden__begin_task', 'warden__end_task']); // a session has task tools
      expect(textOf(await client.callTool({ name: 'm__echo', arguments: { text: 'over stdio' } }))).toBe('over stdio');
      expect(textOf(await client.callTool({ name: 'mh__add', arguments: { a: 2, b: 3 } }))).toBe('5');
      const hidden = await refusal(client.callTool({ name: 'm__delete_note', arguments: { id: 'n1' } }));
      expect(hidden?.code).toBe(-32602);
      expect(hidden?.message).toContain('Unknown tool');
    } finally {
      await client.close();
    }
    expect(await records('agent:down2026', 'm__echo')).toMatchObject([{ decision: 'allow', outcome: 'ok' }]);
    expect(await records('agent:down2026', 'mh__add')).toMatchObject([{ decision: 'allow', outcome: 'ok' }]);
    expect(await records('agent:down2026', 'm__delete_note')).toMatchObject([{ decision: 'deny', outcome: 'denied' }]);
  });

  it("bridges a 2026 server's input_required to a 2025 agent: sampling, elicitation and roots are asked on its session and the call is retried", async () => {
    const client = await legacyAgent();
    try {
      const answer = JSON.parse(textOf(await client.callTool({ name: 'm__ask', arguments: {} }))) as Record<
        string,
        Record<string, unknown>
      >;
      expect(answer.sample).toMatchObject({
        kind: 'sampling',
        result: { content: { text: 'sampled by the 2025 agent' } },
      });
      expect(answer.confirm).toMatchObject({ kind: 'elicit', action: 'accept', content: { ok: true } });
      expect(answer.roots).toMatchObject({ kind: 'roots', roots: [{ uri: 'file:///work/agent-root' }] });
    } finally {
      await client.close();
    }
  });

  it('a 2026 agent lists and calls the same tools; a refused tool reads as unknown and is audited', async () => {
    const client = new ClientV2(
      { name: 'agent-2026', version: '2.4.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await client.connect(
      new HttpV2(new URL(gw.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
    );
    try {
      // 2026 agents are offered the task tools too (task handles)
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual([
        ...VISIBLE,
        'warden__begin_task',
        'warden__end_task',
      ]);
      const echoed = await client.callTool({ name: 'mh__echo', arguments: { text: 'over http' } });
      expect(echoed.content).toEqual([{ type: 'text', text: 'over http' }]);
      const added = await client.callTool({ name: 'm__add', arguments: { a: 40, b: 2 } });
      expect(added.content).toEqual([{ type: 'text', text: '42' }]);
      const hidden = await refusal(client.callTool({ name: 'mh__delete_note', arguments: { id: 'n1' } }));
      expect(hidden?.code).toBe(-32602);
    } finally {
      await client.close();
    }
    expect(await records('agent:down2026', 'mh__echo')).toMatchObject([{ decision: 'allow', outcome: 'ok' }]);
    expect(await records('agent:down2026', 'mh__delete_note')).toMatchObject([{ decision: 'deny', outcome: 'denied' }]);
  });

  it('injects secrets into a 2026 server by argument and environment, and scrubs them from its results', async () => {
    const client = await legacyAgent();
    try {
      const tools = (await client.listTools()).tools;
      // the secret argument is removed from the schema the agent sees
      expect(JSON.stringify(tools.find((t) => t.name === 'ms__echo')?.inputSchema)).not.toContain('text');
      const echoed = textOf(await client.callTool({ name: 'ms__echo', arguments: {} }));
      const fromEnv = textOf(await client.callTool({ name: 'ms__env_value', arguments: { name: 'CANARY_ENV' } }));
      expect(echoed).toBe('[REDACTED]');
      expect(fromEnv).toBe('[REDACTED]');
    } finally {
      await client.close();
    }
  });

  it("pins every tool of both 2026 servers on first sight, as for a 2025 server's", async () => {
    // what `tools list --json` prints, read in this process
    const pinned = (storedPins(gw.configFile) as unknown as PinJson[]).filter((pin) => pin.kind === 'tool');
    for (const exposed of ['m__echo', 'm__ask', 'm__delete_note', 'mh__echo', 'mh__env_value'])
      expect(pinned.find((pin) => pin.exposed === exposed)).toMatchObject({ status: 'pinned' });
  });
});
