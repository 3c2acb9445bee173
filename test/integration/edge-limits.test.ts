// The same JSON limits at both agent-facing edges (Streamable HTTP and stdio), checked on the raw text
// before anything parses, walks, digests or authorizes the message: depth, keys per object, values.
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectHttp,
  connectStdio,
  fixtureServer,
  startGateway,
  writeConfig,
  type RunningGateway,
} from '../helpers/gateway.js';
import { mcpHeaders, openRawSession, rawRequest, rpcError, type RawSession } from '../helpers/raw-http.js';
import type { TempDir } from '../helpers/process.js';

const MAX_DEPTH = 16;
const LIMITS = { maxJsonDepth: MAX_DEPTH, maxJsonKeys: 1000, maxJsonNodes: 20_000 };
const TOOL = 'fixture__test_simple_text';

function nestedArgs(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let i = 1; i < depth; i += 1) value = { a: value };
  return value;
}
const manyKeys = (n: number): Record<string, number> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
/** Many small objects: under the key limit each, over the value limit together. */
const manyValues = (): Record<string, unknown> => ({
  rows: Array.from({ length: 2000 }, (_, i) => manyKeys(10 + (i % 2))),
});

/** The JSON-RPC error a call is refused with, or undefined when it was not refused. */
async function refusal(
  client: Client,
  args: Record<string, unknown>,
): Promise<{ code: number; message: string } | undefined> {
  try {
    await client.callTool({ name: TOOL, arguments: args }, undefined, { timeout: 60_000 });
    return undefined;
  } catch (error) {
    if (error instanceof McpError) return { code: error.code, message: error.message };
    throw error;
  }
}

const CASES = [
  // arguments sit 3 levels below the message (message → params → arguments)
  {
    name: 'arguments nested past maxJsonDepth',
    args: () => nestedArgs(MAX_DEPTH),
    code: -32600,
    message: new RegExp(`nested deeper than ${MAX_DEPTH} levels`),
  },
  {
    name: 'an argument object with more keys than maxJsonKeys',
    args: () => manyKeys(1001),
    code: -32602,
    message: /more than 1000 keys/,
  },
  {
    name: 'arguments with more values than maxJsonNodes',
    args: manyValues,
    code: -32602,
    message: /more than 20000 values/,
  },
] as const;

describe('edge JSON limits over HTTP', () => {
  let gw: RunningGateway;
  let client: Client;
  let raw: RawSession;

  beforeAll(async () => {
    gw = await startGateway({ gateway: LIMITS, servers: { fixture: fixtureServer() } });
    ({ client } = await connectHttp(gw.url));
    raw = await openRawSession(gw.origin);
  });
  afterAll(async () => {
    await client?.close();
    await gw?.stop();
  });

  it.each(CASES)('$name: 400 with the JSON-RPC error, answering the request id', async ({ args, code, message }) => {
    const res = await raw.post(
      JSON.stringify({ jsonrpc: '2.0', id: 4242, method: 'tools/call', params: { name: TOOL, arguments: args() } }),
    );
    expect(res.status).toBe(400);
    expect(rpcError(res)).toMatchObject({ code, message: expect.stringMatching(message) as unknown });
    expect((res.messages[0] as { id?: unknown }).id).toBe(4242);
    // the gateway and the session stay usable
    expect(await refusal(client, { ok: true })).toBeUndefined();
  });

  it('200,000 keys (2.3 MB) are refused at the edge, not walked', async () => {
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 9,
      method: 'tools/call',
      params: { name: TOOL, arguments: manyKeys(200_000) },
    });
    const res = await rawRequest(gw.origin, {
      headers: mcpHeaders({ 'mcp-session-id': raw.id, 'mcp-protocol-version': raw.protocolVersion }),
      body,
    });
    expect(res.status).toBe(400);
    expect(rpcError(res)?.code).toBe(-32602);
  });
});

describe('edge JSON limits over stdio (the same limits as HTTP)', () => {
  let config: { dir: TempDir; file: string };
  let client: Client;

  beforeAll(async () => {
    config = await writeConfig({ gateway: LIMITS, servers: { fixture: fixtureServer() } });
    ({ client } = await connectStdio(config.file));
  });
  afterAll(async () => {
    await client?.close();
    await config?.dir.cleanup();
  });

  it.each(CASES)('$name: refused with the JSON-RPC error', async ({ args, code, message }) => {
    expect(await refusal(client, args())).toMatchObject({ code, message: expect.stringMatching(message) as unknown });
    expect(await refusal(client, { ok: true })).toBeUndefined();
  });

  it('a message under every limit goes through', async () => {
    expect(await refusal(client, nestedArgs(MAX_DEPTH - 4))).toBeUndefined();
    expect(await refusal(client, manyKeys(1000))).toBeUndefined();
  });
});
