// `mcp-warden stdio` serves one agent per process: each stdio server is started once, by the start-up
// probe, and the agent's session uses that connection instead of starting the server a second time.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, FIXTURE, writeConfig } from '../helpers/gateway.js';
import { makeSpawnCounter, type SpawnCounter, type TempDir } from '../helpers/process.js';

interface StdioGateway {
  client: () => Client;
  a: () => SpawnCounter;
  b: () => SpawnCounter;
}

/**
 * For the enclosing describe: a stdio gateway over the fixture as servers `a` and `b`, each counting its
 * starts, with the agent `makeClient()` connected to it; all of it ended after the describe's tests.
 */
function useStdioGateway(makeClient: () => Client): StdioGateway {
  let client: Client | undefined;
  let dir: TempDir | undefined;
  let a: SpawnCounter | undefined;
  let b: SpawnCounter | undefined;
  beforeAll(async () => {
    client = makeClient();
    a = await makeSpawnCounter();
    b = await makeSpawnCounter();
    let file: string;
    ({ dir, file } = await writeConfig({
      servers: {
        a: { transport: 'stdio', command: 'node', args: ['--import', a.importArg, FIXTURE, '--stdio'] },
        b: { transport: 'stdio', command: 'node', args: ['--import', b.importArg, FIXTURE, '--stdio'] },
      },
    }));
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [BIN, 'stdio', '--config', file],
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
        stderr: 'ignore',
      }),
    );
  });
  afterAll(async () => {
    await client?.close();
    await dir?.cleanup();
    await a?.cleanup();
    await b?.cleanup();
  });
  return { client: () => client!, a: () => a!, b: () => b! };
}

describe('stdio: each stdio server starts once per gateway process', () => {
  // An agent that declares no client features (sampling, elicitation, roots).
  const gateway = useStdioGateway(() => new Client({ name: 'stdio-once', version: '1' }));

  it('answers initialize, a list and a call on each server with one start of each', async () => {
    const names = (await gateway.client().listTools()).tools.map((tool) => tool.name);
    expect(names).toContain('a__test_simple_text');
    expect(names).toContain('b__test_simple_text');
    for (const name of ['a__test_simple_text', 'b__test_simple_text']) {
      const result = await gateway.client().callTool({ name, arguments: {} });
      expect(result.isError).not.toBe(true);
      expect(result.content).toEqual([expect.objectContaining({ type: 'text' })]);
    }
    expect(gateway.a().count()).toBe(1);
    expect(gateway.b().count()).toBe(1);
  });
});

describe('stdio: an agent that declares roots still gets a server that knows it', () => {
  const gateway = useStdioGateway(() => {
    const client = new Client(
      { name: 'stdio-roots', version: '1' },
      { capabilities: { roots: { listChanged: true } } },
    );
    client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [{ uri: 'file:///agent/root', name: 'root' }] }));
    return client;
  });

  it("relays the server's roots/list to the agent: the session's own connection declared roots", async () => {
    expect((await gateway.client().listTools()).tools.map((tool) => tool.name)).toContain('b__fixture_roots');
    const result = await gateway.client().callTool({ name: 'a__fixture_roots', arguments: {} });
    expect(result.isError).not.toBe(true);
    expect(result.structuredContent).toEqual({ roots: [{ uri: 'file:///agent/root', name: 'root' }] });
    // The probes declared no client features, so they could not be the session's: a second start of each, as before.
    expect(gateway.a().count()).toBe(2);
    expect(gateway.b().count()).toBe(2);
  });
});
