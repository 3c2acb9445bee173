// `mcp-warden stdio` serves one agent per process: each stdio server is started once, by the start-up
// probe, and the agent's session uses that connection instead of starting the server a second time.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, FIXTURE, writeConfig } from '../helpers/gateway.js';
import { makeSpawnCounter, type SpawnCounter, type TempDir } from '../helpers/process.js';

/** A stdio gateway over the fixture as servers `a` and `b`, each counting its starts; `client` is connected to it. */
async function stdioGateway(client: Client): Promise<{ dir: TempDir; a: SpawnCounter; b: SpawnCounter }> {
  const a = await makeSpawnCounter();
  const b = await makeSpawnCounter();
  const { dir, file } = await writeConfig({
    servers: {
      a: { transport: 'stdio', command: 'node', args: ['--import', a.importArg, FIXTURE, '--stdio'] },
      b: { transport: 'stdio', command: 'node', args: ['--import', b.importArg, FIXTURE, '--stdio'] },
    },
  });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'stdio', '--config', file],
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
      stderr: 'ignore',
    }),
  );
  return { dir, a, b };
}

describe('stdio: each stdio server starts once per gateway process', () => {
  let dir: TempDir;
  let spawnsA: SpawnCounter;
  let spawnsB: SpawnCounter;
  let client: Client;

  beforeAll(async () => {
    // An agent that declares no client features (sampling, elicitation, roots).
    client = new Client({ name: 'stdio-once', version: '1' });
    ({ dir, a: spawnsA, b: spawnsB } = await stdioGateway(client));
  });

  afterAll(async () => {
    await client?.close();
    await dir?.cleanup();
    await spawnsA?.cleanup();
    await spawnsB?.cleanup();
  });

  it('answers initialize, a list and a call on each server with one start of each', async () => {
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toContain('a__test_simple_text');
    expect(names).toContain('b__test_simple_text');
    for (const name of ['a__test_simple_text', 'b__test_simple_text']) {
      const result = await client.callTool({ name, arguments: {} });
      expect(result.isError).not.toBe(true);
      expect(result.content).toEqual([expect.objectContaining({ type: 'text' })]);
    }
    expect(spawnsA.count()).toBe(1);
    expect(spawnsB.count()).toBe(1);
  });
});

describe('stdio: an agent that declares roots still gets a server that knows it', () => {
  let dir: TempDir;
  let spawnsA: SpawnCounter;
  let spawnsB: SpawnCounter;
  let client: Client;

  beforeAll(async () => {
    client = new Client({ name: 'stdio-roots', version: '1' }, { capabilities: { roots: { listChanged: true } } });
    client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [{ uri: 'file:///agent/root', name: 'root' }] }));
    ({ dir, a: spawnsA, b: spawnsB } = await stdioGateway(client));
  });

  afterAll(async () => {
    await client?.close();
    await dir?.cleanup();
    await spawnsA?.cleanup();
    await spawnsB?.cleanup();
  });

  it("relays the server's roots/list to the agent: the session's own connection declared roots", async () => {
    expect((await client.listTools()).tools.map((tool) => tool.name)).toContain('b__fixture_roots');
    const result = await client.callTool({ name: 'a__fixture_roots', arguments: {} });
    expect(result.isError).not.toBe(true);
    expect(result.structuredContent).toEqual({ roots: [{ uri: 'file:///agent/root', name: 'root' }] });
    // The probes declared no client features, so they could not be the session's: a second start of each, as before.
    expect(spawnsA.count()).toBe(2);
    expect(spawnsB.count()).toBe(2);
  });
});
