// Real tool servers nobody here wrote (pinned devDependencies), over stdio: each behind the gateway and
// directly, with the same calls; every list and result must match, the gateway's name prefix aside.
// The servers' entry files are run with `node` directly, never through npx.
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const require = createRequire(import.meta.url);
function entry(pkg: string): string {
  return join(dirname(require.resolve(`${pkg}/package.json`)), 'dist/index.js');
}

interface Case {
  name: string;
  args: (dir: string) => string[];
  env: (dir: string) => Record<string, string>;
  calls: (dir: string) => { tool: string; arguments: Record<string, unknown> }[];
}

/**
 * server-everything writes the time of day, to the second, into its generated resources ("… created at
 * 5:12:03 PM", also inside base64 blobs): the gateway's call and the direct one can fall in different
 * seconds, so the time is masked (blobs are compared decoded) and everything else compared exactly.
 */
const mask = (text: string): string => text.replace(/created at \d{1,2}:\d{2}:\d{2}(\s?[AP]M)?/g, 'created at <time>');

/** A blob that decodes to such a text is compared decoded and masked; any other blob byte for byte. */
function untimedBlob(blob: string): string {
  const text = Buffer.from(blob, 'base64').toString('utf8');
  return /created at \d/.test(text) ? mask(text) : blob;
}

function untimed(value: unknown): unknown {
  if (typeof value === 'string') return mask(value);
  if (Array.isArray(value)) return value.map(untimed);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      key === 'blob' && typeof inner === 'string' ? untimedBlob(inner) : untimed(inner),
    ]),
  );
}

const CASES: Case[] = [
  {
    name: '@modelcontextprotocol/server-everything',
    args: () => ['stdio'],
    env: () => ({}),
    calls: () => [
      { tool: 'echo', arguments: { message: 'hello through the gateway' } },
      { tool: 'get-sum', arguments: { a: 2, b: 40 } },
      { tool: 'get-tiny-image', arguments: {} },
      { tool: 'get-structured-content', arguments: { location: 'New York' } },
      { tool: 'get-annotated-message', arguments: { messageType: 'error', includeImage: true } },
      { tool: 'get-resource-links', arguments: { count: 4 } },
      { tool: 'get-resource-reference', arguments: { resourceType: 'Blob', resourceId: 2 } },
      { tool: 'echo', arguments: {} },
    ],
  },
  {
    name: '@modelcontextprotocol/server-filesystem',
    args: (dir) => [join(dir, 'files')],
    env: () => ({}),
    calls: (dir) => [
      { tool: 'list_directory', arguments: { path: join(dir, 'files') } },
      { tool: 'read_text_file', arguments: { path: join(dir, 'files', 'a.txt') } },
      { tool: 'get_file_info', arguments: { path: join(dir, 'files', 'missing.txt') } },
      { tool: 'list_allowed_directories', arguments: {} },
      { tool: 'create_directory', arguments: { path: join(dir, 'files', 'sub') } },
      { tool: 'write_file', arguments: { path: join(dir, 'files', 'sub', 'b.txt'), content: 'one\ntwo\n' } },
      {
        tool: 'edit_file',
        arguments: { path: join(dir, 'files', 'sub', 'b.txt'), edits: [{ oldText: 'two', newText: 'three' }] },
      },
      {
        tool: 'read_multiple_files',
        arguments: { paths: [join(dir, 'files', 'a.txt'), join(dir, 'files', 'sub', 'b.txt')] },
      },
      {
        tool: 'move_file',
        arguments: { source: join(dir, 'files', 'sub', 'b.txt'), destination: join(dir, 'files', 'c.txt') },
      },
      { tool: 'search_files', arguments: { path: join(dir, 'files'), pattern: '**/*.txt' } },
      { tool: 'directory_tree', arguments: { path: join(dir, 'files') } },
      { tool: 'read_text_file', arguments: { path: '/etc/hostname' } },
    ],
  },
  {
    name: '@modelcontextprotocol/server-memory',
    args: () => [],
    env: (dir) => ({ MEMORY_FILE_PATH: join(dir, 'memory.jsonl') }),
    calls: () => [
      {
        tool: 'create_entities',
        arguments: { entities: [{ name: 'warden', entityType: 'gateway', observations: ['governs calls'] }] },
      },
      { tool: 'read_graph', arguments: {} },
      { tool: 'search_nodes', arguments: { query: 'warden' } },
      { tool: 'create_entities', arguments: { entities: [{ name: 'agent', entityType: 'client', observations: [] }] } },
      {
        tool: 'create_relations',
        arguments: { relations: [{ from: 'agent', to: 'warden', relationType: 'calls through' }] },
      },
      {
        tool: 'add_observations',
        arguments: { observations: [{ entityName: 'warden', contents: ['audits every call'] }] },
      },
      { tool: 'open_nodes', arguments: { names: ['warden', 'agent'] } },
      {
        tool: 'delete_relations',
        arguments: { relations: [{ from: 'agent', to: 'warden', relationType: 'calls through' }] },
      },
      { tool: 'delete_entities', arguments: { entityNames: ['agent'] } },
      { tool: 'read_graph', arguments: {} },
    ],
  },
];

describe.each(CASES)('$name over stdio: behind the gateway as directly', (kase) => {
  let gatewayDir: TempDir;
  let directDir: TempDir;
  let gateway: RunningGateway;
  let viaGateway: Client;
  let direct: Client;

  beforeAll(async () => {
    gatewayDir = await makeTempDir('interop-gw');
    directDir = await makeTempDir('interop-direct');
    for (const dir of [gatewayDir.path, directDir.path]) {
      await mkdir(join(dir, 'files'));
      await writeFile(join(dir, 'files', 'a.txt'), 'first file\n');
    }
    // Paths differ between the two copies; each side's results are compared with the path replaced.
    gateway = await startGateway({
      servers: {
        srv: {
          transport: 'stdio',
          command: 'node',
          args: [entry(kase.name), ...kase.args(gatewayDir.path)],
          env: kase.env(gatewayDir.path),
        },
      },
    });
    viaGateway = (await connectHttp(gateway.url)).client;
    direct = new Client({ name: 'warden-test', version: '1.0.0' });
    await direct.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [entry(kase.name), ...kase.args(directDir.path)],
        env: { PATH: process.env.PATH ?? '', ...kase.env(directDir.path) },
        stderr: 'pipe',
      }),
    );
  });

  afterAll(async () => {
    await viaGateway?.close();
    await direct?.close();
    await gateway?.stop();
    await gatewayDir?.cleanup();
    await directDir?.cleanup();
  });

  const normal = (value: unknown, dir: string): unknown =>
    untimed(JSON.parse(JSON.stringify(value).split(dir).join('<dir>')));

  it('lists the same tools, prefixed', async () => {
    const through = (await viaGateway.listTools()).tools;
    const own = (await direct.listTools()).tools;
    expect(through.map((t) => t.name)).toEqual(own.map((t) => `srv__${t.name}`));
    expect(through.map((t) => t.description)).toEqual(own.map((t) => t.description));
  });

  it('answers every call with the same result', async () => {
    const gatewayCalls = kase.calls(gatewayDir.path);
    const directCalls = kase.calls(directDir.path);
    for (const [index, call] of directCalls.entries()) {
      const mine = gatewayCalls[index]!;
      const through = await viaGateway.callTool({ name: `srv__${mine.tool}`, arguments: mine.arguments });
      const own = await direct.callTool({ name: call.tool, arguments: call.arguments });
      expect(normal(through, gatewayDir.path), call.tool).toEqual(normal(own, directDir.path));
    }
  });

  it('lists the same resources and prompts', async () => {
    const caps = direct.getServerCapabilities() ?? {};
    if (caps.resources) {
      const own = (await direct.listResources()).resources;
      expect((await viaGateway.listResources()).resources.map((r) => r.uri)).toEqual(own.map((r) => r.uri));
      // And the same contents for each of the first few.
      for (const { uri } of own.slice(0, 5))
        expect(untimed(await viaGateway.readResource({ uri })), uri).toEqual(
          untimed(await direct.readResource({ uri })),
        );
    }
    if (caps.prompts) {
      expect((await viaGateway.listPrompts()).prompts.map((p) => p.name)).toEqual(
        (await direct.listPrompts()).prompts.map((p) => `srv__${p.name}`),
      );
    }
  });
});
