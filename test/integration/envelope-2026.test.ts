// What a 2026-07-28 agent declares in one request's `_meta` reaches a 2026 server again (issue 18): raw
// 2026 requests → the real gateway process (JWT, policy, audit) → 2026-only servers over stdio: the
// modern fixture (`echo_meta` answers the `_meta` it was called with) and the conformance fixture
// (`test_tool_with_logging` logs only at the request's `logLevel`). The server hears exactly the
// capabilities the agent declared, cut to what the gateway can relay, never the pool connection's own
// set, and the agent's log level, so its log messages travel on the request's own stream.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, type RunningGateway } from '../helpers/gateway.js';
import { issueTokenAsync } from '../helpers/cli.js';
import { V, post2026, startJwtGateway, type Rpc } from '../helpers/stateless-2026.js';

const MODERN = join(ROOT, 'dist/test/fixtures/modern-server.js');
const CONFORMANCE = join(ROOT, 'dist/test/fixtures/conformance-2026-server.js');
const CAPS = 'io.modelcontextprotocol/clientCapabilities';
const LEVEL = 'io.modelcontextprotocol/logLevel';
const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: envelope, effect: allow, tools: [m__echo_meta, c__test_tool_with_logging] }
`;

describe("a 2026 agent's own _meta declarations reach a 2026 server", () => {
  let gw: RunningGateway;
  let token: string;

  beforeAll(async () => {
    gw = await startJwtGateway(POLICY, {
      servers: {
        m: { transport: 'stdio', command: 'node', args: [MODERN, '--stdio'], protocol: '2026-07-28' },
        c: { transport: 'stdio', command: 'node', args: [CONFORMANCE, '--stdio'], protocol: '2026-07-28' },
      },
    });
    token = await issueTokenAsync(gw.configFile, ['--sub', 'agent:envelope']);
  });

  afterAll(async () => {
    await gw?.stop();
  });

  /** One tools/call with this `_meta` envelope; every message of the answer (the result last). */
  async function call(
    name: string,
    capabilities: Record<string, unknown>,
    logLevel?: string,
  ): Promise<{ messages: Rpc[]; result: Record<string, unknown> }> {
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: {
        name,
        arguments: {},
        _meta: {
          'io.modelcontextprotocol/protocolVersion': V,
          [CAPS]: capabilities,
          'io.modelcontextprotocol/clientInfo': { name: 'raw-2026', version: '1' },
          ...(logLevel !== undefined && { [LEVEL]: logLevel }),
        },
      },
    });
    const res = await post2026(gw, token, body, { 'mcp-method': 'tools/call', 'mcp-name': name });
    expect(res.status).toBe(200);
    const messages = res.messages as Rpc[];
    const last = messages.at(-1)!;
    expect(last.error).toBeUndefined();
    expect(last.result).toMatchObject({ resultType: 'complete' });
    return { messages, result: last.result! };
  }

  /** The `_meta` the modern fixture was called with. */
  async function metaSeen(capabilities: Record<string, unknown>, logLevel?: string) {
    const { result } = await call('m__echo_meta', capabilities, logLevel);
    const content = result.content as { text: string }[];
    return JSON.parse(content[0]!.text) as Record<string, unknown>;
  }

  it('declares to the server exactly the capabilities the agent declared, cut to what the gateway relays', async () => {
    // Sampling's sub-features, URL elicitation and experimental capabilities are not relayed: cut away.
    const some = await metaSeen({
      sampling: { tools: {} },
      roots: {},
      elicitation: { url: {} },
      experimental: { x: {} },
    });
    expect(some[CAPS]).toEqual({ sampling: {}, roots: {} });
    // An empty elicitation is form mode, which the gateway relays.
    expect((await metaSeen({ elicitation: {} }))[CAPS]).toEqual({ elicitation: { form: {} } });
    // An agent that declared nothing is declared as nothing: the server will not ask it anything.
    expect((await metaSeen({}))[CAPS]).toEqual({});
  });

  it("passes the request's logLevel on, and none when the request set none", async () => {
    expect((await metaSeen({}, 'warning'))[LEVEL]).toBe('warning');
    expect((await metaSeen({}))[LEVEL]).toBeUndefined();
  });

  it("the server's log messages then travel on the request's own stream, at and above its level only", async () => {
    const logs = async (level?: string) =>
      (await call('c__test_tool_with_logging', {}, level)).messages.filter(
        (m) => (m as { method?: string }).method === 'notifications/message',
      );
    const info = await logs('info');
    expect(info).toHaveLength(3);
    expect(info[0]).toMatchObject({ params: { level: 'info' } });
    expect(await logs('error')).toHaveLength(0);
    expect(await logs()).toHaveLength(0);
  });
});
