// MCP 2026-07-28 (stateless) agents on the gateway's `/mcp` endpoint: the SDK v2 client pinned to the
// 2026 revision → the real gateway process (JWT, policy, audit) → the 2025 conformance fixture over stdio.
// Raw requests check what the client hides (resultType, cache hints) and every refusal of the envelope.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureServer, type RunningGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw-http.js';
import { runCliAsync } from '../helpers/cli.js';
import { auditRecords, auditShow, issueTokenInProcess } from '../helpers/stores.js';
import { V, connectV2, envelope, post2026, rpcOf, startJwtGateway } from '../helpers/stateless-2026.js';

const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: fx-some, effect: allow, tools: [fx__test_simple_text, fx__test_error_handling] }
`;
const VISIBLE = ['fx__test_error_handling', 'fx__test_simple_text'];

function callBody(name: string, meta: Record<string, unknown> | null = envelope()): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id: 7,
    method: 'tools/call',
    params: { name, arguments: {}, ...(meta && { _meta: meta }) },
  });
}

describe('MCP 2026-07-28 agents (stateless) through the gateway', () => {
  let gw: RunningGateway;
  let token: string;
  const post = (body: string, extra: Record<string, string>) => post2026(gw, token, body, extra);
  /** What `audit list --agent SUB --tool TOOL --json` prints, read in this process. */
  const records = async (sub: string, tool: string) => auditRecords(gw.configFile, { agent: sub, tool });

  beforeAll(async () => {
    gw = await startJwtGateway(POLICY, {
      metrics: { enabled: true, agentListener: true },
      servers: { fx: fixtureServer() },
    });
    token = await issueTokenInProcess(gw.configFile, { subject: 'agent:modern' });
  });

  afterAll(async () => {
    await gw?.stop();
  });

  it('the v2 client discovers, lists what policy allows and calls through the pipeline; the audit records the call', async () => {
    const client = await connectV2(gw, token, 'v2-agent');
    try {
      const tools = (await client.listTools()).tools.map((t) => t.name).sort();
      expect(tools).toEqual([...VISIBLE, 'warden__begin_task', 'warden__end_task']); // filtered by policy; task handles come from begin_task
      const result = await client.callTool({ name: 'fx__test_simple_text', arguments: {} });
      expect(result.content).toEqual([{ type: 'text', text: 'This is a simple text response for testing.' }]);
      // a hidden tool reads exactly like one that does not exist
      const hidden = await client.callTool({ name: 'fx__fixture_pid', arguments: {} }).then(
        () => undefined,
        (e: { code?: number; message?: string }) => e,
      );
      const missing = await client.callTool({ name: 'fx__no_such_tool', arguments: {} }).then(
        () => undefined,
        (e: { code?: number; message?: string }) => e,
      );
      expect(hidden?.code).toBe(-32602);
      expect(missing?.code).toBe(-32602);
      expect(hidden?.message?.replace('fx__fixture_pid', 'X')).toBe(missing?.message?.replace('fx__no_such_tool', 'X'));
    } finally {
      await client.close();
    }
    const [row] = await records('agent:modern', 'fx__test_simple_text');
    expect(row).toMatchObject({ decision: 'allow', outcome: 'ok' });
    const shown = auditShow(gw.configFile, row!.id) as { intent: { body: { client?: unknown; session?: unknown } } };
    // self-reported client info is recorded as the client gave it; there is no session in the 2026 era
    expect(JSON.stringify(shown.intent)).toContain('v2-agent');
    // metrics and traces carry the request's era
    const metrics = await (await fetch(`${gw.origin}/metrics`)).text();
    expect(metrics).toMatch(
      /mcp_warden_calls_total\{[^}]*era="2026"[^}]*tool="fx__test_simple_text"[^}]*outcome="ok"[^}]*\} 1/,
    );
  });

  it('answers server/discover with the supported versions, capabilities and server info; lists carry resultType and private, zero-TTL cache hints', async () => {
    const discover = rpcOf(
      await post(
        JSON.stringify({ jsonrpc: '2.0', id: 'd', method: 'server/discover', params: { _meta: envelope() } }),
        { 'mcp-method': 'server/discover' },
      ),
    );
    expect(discover.id).toBe('d');
    expect(discover.result).toMatchObject({
      resultType: 'complete',
      supportedVersions: [V],
      capabilities: { tools: {} },
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'mcp-warden' } },
    });
    const listed = rpcOf(
      await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: envelope() } }), {
        'mcp-method': 'tools/list',
      }),
    );
    expect(listed.result).toMatchObject({ resultType: 'complete', ttlMs: 0, cacheScope: 'private' });
    expect((listed.result!.tools as { name: string }[]).map((t) => t.name).sort()).toEqual([
      ...VISIBLE,
      'warden__begin_task',
      'warden__end_task',
    ]);
    const called = await post(callBody('fx__test_simple_text'), {
      'mcp-method': 'tools/call',
      'mcp-name': `=?base64?${Buffer.from('fx__test_simple_text').toString('base64')}?=`,
    });
    expect(called.status).toBe(200);
    expect(rpcOf(called).result).toMatchObject({ resultType: 'complete', content: [{ type: 'text' }] });
  });

  it('refuses an Mcp-Name that names another tool than the body calls with 400/-32020, and records the refusal under the body tool', async () => {
    const res = await post(callBody('fx__test_error_handling'), {
      'mcp-method': 'tools/call',
      'mcp-name': 'fx__test_simple_text',
    });
    expect(res.status).toBe(400);
    expect(rpcOf(res)).toMatchObject({
      id: 7,
      error: { code: -32020, data: { mismatch: { header: 'Mcp-Name', body: 'params.name' } } },
    });
    const rows = await records('agent:modern', 'fx__test_error_handling');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ decision: 'deny', outcome: 'denied' });
  });

  it.each([
    [
      'Mcp-Method disagrees with the body',
      -32020,
      callBody('fx__test_simple_text'),
      { 'mcp-method': 'tools/list', 'mcp-name': 'fx__test_simple_text' },
    ],
    ['Mcp-Method missing', -32020, callBody('fx__test_simple_text'), { 'mcp-name': 'fx__test_simple_text' }],
    ['Mcp-Name missing on tools/call', -32020, callBody('fx__test_simple_text'), { 'mcp-method': 'tools/call' }],
    [
      'Mcp-Name sentinel that is not base64',
      -32020,
      callBody('fx__test_simple_text'),
      { 'mcp-method': 'tools/call', 'mcp-name': '=?base64?%%%?=' },
    ],
    [
      'MCP-Protocol-Version disagrees with _meta',
      -32020,
      callBody('fx__test_simple_text'),
      { 'mcp-method': 'tools/call', 'mcp-name': 'fx__test_simple_text', 'mcp-protocol-version': '2026-08-01' },
    ],
    [
      'no _meta at all',
      -32602,
      callBody('fx__test_simple_text', null),
      { 'mcp-method': 'tools/call', 'mcp-name': 'fx__test_simple_text' },
    ],
    [
      '_meta without clientCapabilities',
      -32602,
      callBody('fx__test_simple_text', { 'io.modelcontextprotocol/protocolVersion': V }),
      { 'mcp-method': 'tools/call', 'mcp-name': 'fx__test_simple_text' },
    ],
  ])('%s → 400 with %i', async (_name, code, body, extra) => {
    const res = await post(body, extra as Record<string, string>);
    expect(res.status).toBe(400);
    expect(rpcOf(res).error?.code).toBe(code);
  });

  it('refuses an unsupported version with -32022 naming supported and requested', async () => {
    const res = await post(callBody('fx__test_simple_text', envelope('2099-01-01')), {
      'mcp-method': 'tools/call',
      'mcp-name': 'fx__test_simple_text',
      'mcp-protocol-version': '2099-01-01',
    });
    expect(res.status).toBe(400);
    expect(rpcOf(res).error).toMatchObject({ code: -32022, data: { supported: [V], requested: '2099-01-01' } });
  });

  it('answers a method it does not serve (removed in 2026-07-28, or unknown) with HTTP 404 and -32601', async () => {
    for (const method of ['ping', 'logging/setLevel', 'resources/subscribe', 'no/such/method']) {
      const body = JSON.stringify({ jsonrpc: '2.0', id: 9, method, params: { _meta: envelope() } });
      const res = await post(body, { 'mcp-method': method });
      expect({ method, status: res.status }).toEqual({ method, status: 404 });
      expect(rpcOf(res)).toMatchObject({ id: 9, error: { code: -32601 } });
    }
  });

  it('is POST only (GET and DELETE → 405) and verifies the bearer token on every request', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await rawRequest(gw.origin, {
        method,
        headers: { authorization: `Bearer ${token}`, 'mcp-protocol-version': V, accept: 'text/event-stream' },
      });
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe('POST');
    }
    const anonymous = await post2026(gw, undefined, callBody('fx__test_simple_text'), {
      'mcp-method': 'tools/call',
      'mcp-name': 'fx__test_simple_text',
    });
    expect(anonymous.status).toBe(401);
  });

  it('re-authorizes every request of a pooled principal: an agent revocation refuses its next call and empties its list', async () => {
    const own = await issueTokenInProcess(gw.configFile, { subject: 'agent:revoked-2026' });
    const send = (method: string, body: string, name?: string) =>
      post2026(gw, own, body, { 'mcp-method': method, ...(name && { 'mcp-name': name }) });
    const list = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: envelope() } });
    expect(
      rpcOf(await send('tools/call', callBody('fx__test_simple_text'), 'fx__test_simple_text')).result,
    ).toMatchObject({ resultType: 'complete' });
    expect((await runCliAsync(gw.configFile, ['agent', 'revoke', 'agent:revoked-2026', '--reason', 'test'])).code).toBe(
      0,
    );
    const refused = await send('tools/call', callBody('fx__test_simple_text'), 'fx__test_simple_text');
    expect(rpcOf(refused).error).toMatchObject({ code: -32600, message: 'Authentication required' });
    expect(rpcOf(await send('tools/list', list)).result).toMatchObject({ tools: [] });
    const [row] = await records('agent:revoked-2026', 'fx__test_simple_text');
    expect(row).toMatchObject({ decision: 'deny', outcome: 'denied' });
  });

  it('a 2025 client on the same endpoint still gets its session, with the task meta-tools', async () => {
    const client = new Client({ name: 'v1-agent', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(gw.url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    try {
      const names = (await client.listTools()).tools.map((t) => t.name).sort();
      expect(names).toEqual([...VISIBLE, 'warden__begin_task', 'warden__end_task']);
      expect(await client.callTool({ name: 'fx__test_simple_text', arguments: {} })).toMatchObject({
        content: [{ type: 'text' }],
      });
    } finally {
      await client.close();
    }
  });
});
