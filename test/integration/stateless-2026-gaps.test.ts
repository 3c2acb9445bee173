// The 2026-07-28 scenarios that once passed against the 2026 conformance fixture directly but not
// through the gateway (issue 18): raw 2026 requests → the real gateway (policy, audit) → the SDK v2
// conformance fixture over stdio, spoken to at 2026-07-28. Each test names the behaviour the suite checks.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { mcpHeaders, rawRequest, type RawResponse } from '../helpers/raw-http.js';

const V = '2026-07-28';
const FIXTURE_2026 = join(ROOT, 'dist/test/fixtures/conformance-2026-server.js');
const POLICY = join(ROOT, 'test/fixtures/conformance.policy.yaml');

interface Rpc {
  id?: unknown;
  result?: Record<string, unknown> & {
    resultType?: string;
    inputRequests?: Record<string, { method: string; params?: Record<string, unknown> }>;
    requestState?: string;
  };
  error?: { code: number; message: string; data?: Record<string, unknown> };
}

function envelope(capabilities: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': V,
    'io.modelcontextprotocol/clientCapabilities': capabilities,
    'io.modelcontextprotocol/clientInfo': { name: 'raw-2026', version: '1.0' },
  };
}

describe('2026-07-28 agents → the gateway → a 2026 server: what the conformance suite checks', () => {
  let gw: RunningGateway;

  /** One 2026 request with its headers (Mcp-Name for the methods that name a target). */
  const send = async (
    method: string,
    params: Record<string, unknown>,
    id: string | number = 1,
  ): Promise<{ res: RawResponse; rpc: Rpc }> => {
    const name = method === 'resources/read' ? params.uri : params.name;
    const res = await rawRequest(gw.origin, {
      body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
      headers: mcpHeaders({
        'mcp-protocol-version': V,
        'mcp-method': method,
        ...(typeof name === 'string' && ['tools/call', 'prompts/get'].includes(method) && { 'mcp-name': name }),
      }),
    });
    const rpc = res.messages.find((m) => (m as Rpc).id === id) as Rpc;
    return { res, rpc };
  };

  beforeAll(async () => {
    gw = await startGateway({
      // The conformance policy's principal (the runs' JWT subject), here as the local development one.
      auth: { mode: 'unauthenticated-local', subject: 'conformance-suite' },
      policy: { files: [POLICY] },
      servers: {
        fixture: {
          transport: 'stdio',
          command: 'node',
          args: [FIXTURE_2026, '--stdio'],
          protocol: '2026-07-28',
          prefix: false,
          pinning: 'off',
        },
      },
    });
  });

  afterAll(async () => {
    await gw?.stop();
  });

  it('answers a 2026 initialize (the _meta envelope) as a removed method: HTTP 404 and -32601, its id kept', async () => {
    const { res, rpc } = await send('initialize', { _meta: envelope() }, 500);
    expect(res.status).toBe(404);
    expect(rpc).toMatchObject({ id: 500, error: { code: -32601 } });
  });

  it('a call needing sampling that the agent did not declare: -32021 with requiredCapabilities and HTTP 400', async () => {
    const { res, rpc } = await send(
      'tools/call',
      { name: 'test_missing_capability', arguments: {}, _meta: envelope() },
      401,
    );
    expect(rpc).toMatchObject({ id: 401, error: { code: -32021, data: { requiredCapabilities: { sampling: {} } } } });
    expect(res.status).toBe(400);
    // declared, the same call asks for it as an input_required round under the server's key
    const declared = await send(
      'tools/call',
      { name: 'test_missing_capability', arguments: {}, _meta: envelope({ sampling: {} }) },
      402,
    );
    expect(declared.res.status).toBe(200);
    expect(declared.rpc.result).toMatchObject({ resultType: 'input_required' });
  });

  it("asks the agent under a 2026 server's own inputRequests keys, with the gateway's sealed requestState; the retry completes", async () => {
    const params = { name: 'test_input_required_result_elicitation', arguments: {} };
    const first = await send('tools/call', { ...params, _meta: envelope({ elicitation: {} }) }, 'e1');
    expect(first.rpc.result).toMatchObject({
      resultType: 'input_required',
      inputRequests: { user_name: { method: 'elicitation/create' } },
    });
    expect(Object.keys(first.rpc.result!.inputRequests!)).toEqual(['user_name']);
    const done = await send(
      'tools/call',
      {
        ...params,
        _meta: envelope({ elicitation: {} }),
        inputResponses: { user_name: { action: 'accept', content: { name: 'Ada' } } },
        requestState: first.rpc.result!.requestState,
      },
      'e2',
    );
    expect(done.rpc.result).toMatchObject({ resultType: 'complete', content: [{ type: 'text', text: 'Hello, Ada!' }] });
    // the state is the gateway's, bound to this call: another call cannot use it
    const other = await send(
      'tools/call',
      {
        name: 'test_input_required_result_sampling',
        arguments: {},
        _meta: envelope({ elicitation: {} }),
        inputResponses: { user_name: { action: 'accept', content: { name: 'Ada' } } },
        requestState: first.rpc.result!.requestState,
      },
      'e3',
    );
    expect(other.rpc.error).toMatchObject({ code: -32602 });
  });

  it('relays input_required on prompts/get: the server asks, the retry with the answer gets the prompt', async () => {
    const params = { name: 'test_input_required_result_prompt', arguments: {} };
    const first = await send('prompts/get', { ...params, _meta: envelope({ elicitation: {} }) }, 'p1');
    expect(first.res.status).toBe(200);
    expect(first.rpc.result).toMatchObject({
      resultType: 'input_required',
      inputRequests: { user_context: { method: 'elicitation/create' } },
    });
    const done = await send(
      'prompts/get',
      {
        ...params,
        _meta: envelope({ elicitation: {} }),
        inputResponses: { user_context: { action: 'accept', content: { context: 'tides' } } },
        requestState: first.rpc.result!.requestState,
      },
      'p2',
    );
    expect(done.rpc.result).toMatchObject({
      resultType: 'complete',
      messages: [{ role: 'user', content: { type: 'text', text: 'Use this context: tides' } }],
    });
    // the same state again is a replay, refused like a tool call's
    const replayed = await send(
      'prompts/get',
      {
        ...params,
        _meta: envelope({ elicitation: {} }),
        inputResponses: { user_context: { action: 'accept', content: { context: 'tides' } } },
        requestState: first.rpc.result!.requestState,
      },
      'p3',
    );
    expect(replayed.rpc.error).toMatchObject({ code: -32602 });
    expect(replayed.rpc.error?.message).toContain('already used');
  });

  it("lists the servers' tools first and the gateway's own task tools after them; the first tool runs without arguments", async () => {
    const { rpc } = await send('tools/list', { _meta: envelope() }, 'l1');
    const names = (rpc.result!.tools as { name: string }[]).map((t) => t.name);
    expect(names.slice(-2)).toEqual(['warden__begin_task', 'warden__end_task']);
    expect(names[0]).not.toMatch(/^warden__/);
    // what http-header-validation does: the first listed tool, no arguments, Mcp-Name padded with spaces
    const res = await rawRequest(gw.origin, {
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'w',
        method: 'tools/call',
        params: { name: names[0], arguments: {}, _meta: envelope() },
      }),
      headers: mcpHeaders({ 'mcp-protocol-version': V, 'mcp-method': 'tools/call', 'mcp-name': `  ${names[0]}  ` }),
    });
    expect(res.status).toBe(200);
    expect((res.messages[0] as Rpc).error).toBeUndefined();
  });
});

describe('2026-07-28 agents → the gateway → a 2025 server that logs during a call', () => {
  let gw: RunningGateway;

  beforeAll(async () => {
    gw = await startGateway({
      auth: { mode: 'unauthenticated-local', subject: 'conformance-suite' },
      policy: { files: [POLICY] },
      servers: { fx: fixtureServer({ prefix: false }) },
    });
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
  });

  /** The log messages on the call's own stream, for a request that set `logLevel` (or none). */
  const logs = async (logLevel?: string): Promise<unknown[]> => {
    const res = await rawRequest(gw.origin, {
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: {
          name: 'test_tool_with_logging',
          arguments: {},
          _meta: { ...envelope(), ...(logLevel !== undefined && { 'io.modelcontextprotocol/logLevel': logLevel }) },
        },
      }),
      headers: mcpHeaders({
        'mcp-protocol-version': V,
        'mcp-method': 'tools/call',
        'mcp-name': 'test_tool_with_logging',
      }),
    });
    expect(res.status).toBe(200);
    expect((res.messages.at(-1) as Rpc).result).toMatchObject({ resultType: 'complete' });
    return res.messages.filter((m) => (m as { method?: string }).method === 'notifications/message');
  };

  it("relays log messages only at or above the request's _meta logLevel, and none without one", async () => {
    const info = await logs('info');
    expect(info).toHaveLength(3);
    expect(info[0]).toMatchObject({ params: { level: 'info' } });
    expect(await logs('error')).toHaveLength(0);
    expect(await logs()).toHaveLength(0);
  });
});
