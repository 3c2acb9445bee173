// The tools/list hot path (issue 21): a 2025 session's tools/list POST is answered from the session's
// remembered, serialised page instead of through the SDK transport. Two real gateway processes with one
// config, the hot path on and off, must answer every page byte for byte the same, and keep answering
// the same after each change that alters what an agent may see: a policy reload, a task begun (task-only
// tools and the task meta-tools), and the task revoked from the CLI.
// Pages are small (3), so pages cut across the task meta-tools (decided on every list) and the catalog
// (remembered). The hot path writes each answer whole (with a Content-Length) where the SDK transport
// streams it (chunked), so the test also proves which path served them.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueTokenAsync, runCliAsync } from '../helpers/cli.js';
import { fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeTempDir, waitFor, type TempDir } from '../helpers/process.js';
import { mcpHeaders, rawRequest } from '../helpers/raw-http.js';

const RESOURCE = 'http://gateway.test/mcp';
const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: simple, effect: allow, tools: ["fx__test_*"] }
      - { id: in-task, effect: allow, tools: ["fx__fixture_*"], task: required }
grants:
  - { id: no-big, effect: deny, tools: ["*__fixture_big"] }
`;

interface Side {
  gateway: RunningGateway;
  token: string;
  client: Client;
  transport: StreamableHTTPClientTransport;
}

/** Every page of tools/list on the side's session, as raw JSON-RPC answers and the header that names the path. */
async function pages(s: Side): Promise<{ answers: unknown[]; framing: string[] }> {
  const answers: unknown[] = [];
  const framing: string[] = [];
  let cursor: string | undefined;
  for (let n = 0; n < 50; n += 1) {
    const response = await rawRequest(s.gateway.origin, {
      headers: mcpHeaders({
        authorization: `Bearer ${s.token}`,
        'mcp-session-id': s.transport.sessionId!,
        'mcp-protocol-version': s.transport.protocolVersion ?? '2025-11-25',
      }),
      body: JSON.stringify({ jsonrpc: '2.0', id: `list-${n}`, method: 'tools/list', params: cursor ? { cursor } : {} }),
    });
    expect(response.status).toBe(200);
    // The hot path writes its answer at once (a Content-Length); the SDK transport streams it (chunked).
    framing.push(
      response.headers['content-length'] !== undefined ? 'whole' : String(response.headers['transfer-encoding']),
    );
    const [answer] = response.messages as { result?: { nextCursor?: string } }[];
    answers.push(answer);
    cursor = answer?.result?.nextCursor;
    if (cursor === undefined) break;
  }
  return { answers, framing };
}

describe('the tools/list hot path answers what the SDK path answers, through every change', () => {
  let dir: TempDir;
  let hot: Side;
  let sdk: Side;

  async function side(hotPath: boolean): Promise<Side> {
    const gateway = await startGateway({
      auth: { mode: 'jwt', resource: RESOURCE, builtin: {}, maxTokenLifetimeSeconds: 3600 },
      policy: { files: [join(dir.path, 'policy.yaml')] },
      gateway: { hotPath, listPageSize: 3 },
      servers: { fx: fixtureServer() },
    });
    const token = await issueTokenAsync(gateway.configFile, ['--sub', 'agent:lister']);
    const client = new Client({ name: 'hot-list-test', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    await client.connect(transport);
    return { gateway, token, client, transport };
  }

  async function same(step: string): Promise<unknown[]> {
    // Twice on each side: the second hot answer comes from the remembered page.
    const [h1, h2, s1, s2] = [await pages(hot), await pages(hot), await pages(sdk), await pages(sdk)];
    expect(h1.answers, step).toEqual(s1.answers);
    expect(h2.answers, step).toEqual(s1.answers);
    expect(s2.answers, step).toEqual(s1.answers);
    // Which path answered: the hot gateway's pages were written whole, the SDK's streamed.
    expect(new Set([...h1.framing, ...h2.framing]), step).toEqual(new Set(['whole']));
    expect(new Set(s1.framing), step).toEqual(new Set(['chunked']));
    return h1.answers;
  }

  const names = (answers: unknown[]) =>
    answers.flatMap((a) => ((a as { result?: { tools?: { name: string }[] } }).result?.tools ?? []).map((t) => t.name));

  beforeAll(async () => {
    dir = await makeTempDir('warden-hot-list');
    await writeFile(join(dir.path, 'policy.yaml'), POLICY);
    hot = await side(true);
    sdk = await side(false);
  });

  afterAll(async () => {
    await hot?.client.close();
    await sdk?.client.close();
    await Promise.all([hot?.gateway.stop(), sdk?.gateway.stop()]);
    await dir?.cleanup();
  });

  it('same pages before and after a reload, in a task, and after the task is revoked', async () => {
    const before = names(await same('no task'));
    expect(before).toContain('warden__begin_task');
    expect(before.some((n) => n.startsWith('fx__fixture_'))).toBe(false);
    const catalog = before.filter((n) => !n.startsWith('warden__'));
    expect(catalog.length).toBeGreaterThan(3);

    // A reload that hides the first tool of the catalog: every page boundary stays where it was, only
    // the entries shown change, so a page remembered by its place alone would be stale here.
    await writeFile(
      join(dir.path, 'policy.yaml'),
      `${POLICY}  - { id: hide-one, effect: deny, tools: ["${catalog[0]}"] }\n`,
    );
    for (const s of [hot, sdk])
      await waitFor(() => s.gateway.process.stderr().includes('policy reloaded'), 'the reload log line');
    const reloaded = names(await same('after a reload'));
    expect(reloaded).toEqual(before.filter((n) => n !== catalog[0]));

    // A task: its tools (one only allowed in a task) and the task meta-tools change.
    for (const s of [hot, sdk]) {
      const begun = await s.client.callTool({
        name: 'warden__begin_task',
        arguments: { purpose: 'list test', tools: ['fx__fixture_pid', catalog[1]!, catalog[2]!] },
      });
      expect(begun.isError, JSON.stringify(begun)).not.toBe(true);
    }
    const inTask = names(await same('in a task'));
    expect(inTask.filter((n) => !n.startsWith('warden__')).sort()).toEqual(
      ['fx__fixture_pid', catalog[1]!, catalog[2]!].sort(),
    );

    // The task revoked from the CLI (each gateway has its own data folder): its tools go on the next list.
    for (const s of [hot, sdk]) {
      const listed = JSON.parse((await runCliAsync(s.gateway.configFile, ['task', 'list', '--json'])).stdout) as {
        id: string;
      }[];
      expect(listed.length).toBeGreaterThan(0);
      for (const task of listed) await runCliAsync(s.gateway.configFile, ['task', 'revoke', task.id]);
    }
    const revoked = names(await same('after the task is revoked'));
    expect(revoked).toEqual(reloaded);
  });
});
