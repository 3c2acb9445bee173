// `x-mcp-header` arguments and their `Mcp-Param-*` headers (2026-07-28, Streamable HTTP; issue 18):
// the real gateway process (JWT, policy, audit) → the 2026-only modern fixture launched over HTTP, whose
// `regional` tool marks `region` and `count` for mirroring; the SDK v2 server there refuses a call whose
// headers disagree with its body. The gateway mirrors the arguments it forwards (for 2026 and 2025
// agents alike), and checks a 2026 agent's own headers against the body before anything runs.
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, type RunningGateway } from '../helpers/gateway.js';
import { issueTokenAsync } from '../helpers/cli.js';
import { auditRecords } from '../helpers/stores.js';
import { textOf } from '../helpers/agent.js';
import { envelope, post2026, startJwtGateway, type Rpc } from '../helpers/stateless-2026.js';

const MODERN = join(ROOT, 'dist/test/fixtures/modern-server.js');
const SUB = 'agent:regions';
const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: regional, effect: allow, tools: [mh__regional] }
`;
const http = (): Record<string, unknown> => ({
  transport: 'http',
  url: 'http://127.0.0.1:0/mcp',
  launch: { command: 'node', args: [MODERN, '--http'] },
  protocol: '2026-07-28',
});

describe('x-mcp-header arguments mirrored towards a 2026 server and checked on ingress', () => {
  let gw: RunningGateway;
  let token: string;

  beforeAll(async () => {
    // `hid` serves the same tool, which policy hides from this agent.
    gw = await startJwtGateway(POLICY, { servers: { mh: http(), hid: http() } });
    token = await issueTokenAsync(gw.configFile, ['--sub', SUB]);
  });

  afterAll(async () => {
    await gw?.stop();
  });

  /** A 2026 tools/call of `name` with `args`, the standard headers and `headers`. */
  async function call(name: string, args: Record<string, unknown>, headers: Record<string, string>) {
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 11,
      method: 'tools/call',
      params: { name, arguments: args, _meta: envelope() },
    });
    const res = await post2026(gw, token, body, { 'mcp-method': 'tools/call', 'mcp-name': name, ...headers });
    return { status: res.status, rpc: res.messages.at(-1) as Rpc };
  }

  it("mirrors the marked arguments in Mcp-Param-* headers, so the server takes a 2026 agent's call", async () => {
    const plain = await call(
      'mh__regional',
      { region: 'eu-west-1', count: 3 },
      { 'mcp-param-region': 'eu-west-1', 'mcp-param-count': '3' },
    );
    expect(plain.rpc.error).toBeUndefined();
    expect(plain.rpc.result).toMatchObject({ content: [{ type: 'text', text: 'region=eu-west-1 count=3' }] });
    // A value that is not plain ASCII travels base64-encoded, both ways.
    const encoded = `=?base64?${Buffer.from('Zürich', 'utf8').toString('base64')}?=`;
    const zurich = await call('mh__regional', { region: 'Zürich' }, { 'mcp-param-region': encoded });
    expect(zurich.rpc.result).toMatchObject({ content: [{ type: 'text', text: 'region=Zürich count=-' }] });
  });

  it("mirrors them for a 2025 agent's call too (the agent sends no such headers)", async () => {
    const client = new Client({ name: 'agent-2025', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(gw.url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    try {
      const result = await client.callTool({ name: 'mh__regional', arguments: { region: 'ap-south', count: 7 } });
      expect(result.isError).not.toBe(true);
      expect(textOf(result)).toBe('region=ap-south count=7');
    } finally {
      await client.close();
    }
  });

  it('refuses a header that disagrees with the body, is missing or is badly encoded: 400, -32020, recorded as refused', async () => {
    const before = auditRecords(gw.configFile, { agent: SUB, tool: 'mh__regional' }).filter(
      (r) => r.decision === 'deny',
    ).length;
    const cases: [Record<string, unknown>, Record<string, string>][] = [
      [{ region: 'eu-west-1' }, { 'mcp-param-region': 'us-east-1' }],
      [
        { region: 'eu-west-1', count: 3 },
        { 'mcp-param-region': 'eu-west-1', 'mcp-param-count': '4' },
      ],
      [{ region: 'eu-west-1' }, {}],
      [{ region: 'eu-west-1' }, { 'mcp-param-region': '=?base64?not base64?=' }],
    ];
    for (const [args, headers] of cases) {
      const refused = await call('mh__regional', args, headers);
      expect(refused.status, JSON.stringify(headers)).toBe(400);
      expect(refused.rpc.error).toMatchObject({ code: -32020, data: { mismatch: { body: 'params.arguments' } } });
    }
    const denied = auditRecords(gw.configFile, { agent: SUB, tool: 'mh__regional' }).filter(
      (r) => r.decision === 'deny',
    );
    expect(denied.length - before).toBe(cases.length);
    // An integer's header may spell the number another way; the header for an absent argument is not looked at.
    const spelled = await call(
      'mh__regional',
      { region: 'eu-west-1', count: 3 },
      { 'mcp-param-region': 'eu-west-1', 'mcp-param-count': '3.0' },
    );
    expect(spelled.status).toBe(200);
  });

  it('a tool policy hides is refused as unknown whatever its headers say: nothing about it is revealed', async () => {
    const hidden = await call('hid__regional', { region: 'eu-west-1' }, { 'mcp-param-region': 'us-east-1' });
    const missing = await call('nothing__here', { region: 'eu-west-1' }, { 'mcp-param-region': 'us-east-1' });
    expect(hidden.status).toBe(200);
    expect(hidden.rpc.error?.code).toBe(-32602);
    expect(hidden.rpc.error?.message).toBe(missing.rpc.error?.message.replace('nothing__here', 'hid__regional'));
  });
});
