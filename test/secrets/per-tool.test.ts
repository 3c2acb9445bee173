// Secrets for one tool only: injected into that tool's calls, hidden from its schema, absent elsewhere.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectHttp, fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const CANARY = 'per-tool-canary-5e0c1d7a9b';
let gateway: RunningGateway;
let client: Client;
let side: TempDir;
let leakFile: string;

beforeAll(async () => {
  side = await makeTempDir('warden-per-tool');
  leakFile = join(side.path, 'received.jsonl');
  process.env.WARDEN_TEST_PER_TOOL = CANARY;
  gateway = await startGateway({
    secrets: { pertool: { source: 'env', name: 'WARDEN_TEST_PER_TOOL' } },
    servers: {
      fx: fixtureServer({
        env: { FIXTURE_LEAK_FILE: leakFile },
        secrets: { tools: { fixture_leak: { arguments: { token: 'pertool' } } } },
      }),
    },
  });
  ({ client } = await connectHttp(gateway.url));
});

afterAll(async () => {
  delete process.env.WARDEN_TEST_PER_TOOL;
  await client?.close();
  await gateway?.stop();
  await side?.cleanup();
});

it('hides the argument from that tool only, and fills it on its calls', async () => {
  const { tools } = await client.listTools();
  const leak = tools.find((t) => t.name === 'fx__fixture_leak')!;
  expect(Object.keys(leak.inputSchema.properties ?? {})).toEqual(['fail']);
  await client.callTool({ name: 'fx__fixture_leak', arguments: {} });
  const received = (await readFile(leakFile, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { args: { token?: string } });
  expect(received.map((r) => r.args.token)).toEqual([CANARY]);
});

it('refuses an agent-supplied value for that argument, and leaves other tools alone', async () => {
  const refused = await client
    .callTool({ name: 'fx__fixture_leak', arguments: { token: 'mine' } })
    .catch((e: Error & { code?: number }) => e);
  expect((refused as { code?: number }).code).toBe(-32602);
  expect(String(refused)).toContain('set by the gateway');
  const other = await client.callTool({ name: 'fx__test_simple_text', arguments: {} });
  expect(JSON.stringify(other)).not.toContain(CANARY);
  expect((await readFile(leakFile, 'utf8')).trim().split('\n')).toHaveLength(1);
});
