// The bridged conformance run in small (issue 18): a 2026-07-28 agent → the real gateway (the
// conformance policy, audit) → the 2025 conformance fixture with the tools of the 2026 scenarios
// (FIXTURE_2026_TOOLS=1), over stdio. A 2025 server's requests sent together reach the agent as one
// input_required round, under the keys the server named with `_meta.warden.inputKey`; the policy's
// default deny hides what the scenarios do not need.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { mcpHeaders, rawRequest } from '../helpers/raw-http.js';

const V = '2026-07-28';
const POLICY = join(ROOT, 'test/fixtures/conformance.policy.yaml');

interface Rpc {
  id?: unknown;
  result?: Record<string, unknown> & {
    resultType?: string;
    inputRequests?: Record<string, { method: string; params?: Record<string, unknown> }>;
    requestState?: string;
    content?: { type: string; text?: string }[];
  };
  error?: { code: number; message: string };
}

const CAPABILITIES = { elicitation: {}, sampling: {}, roots: {} };

describe('2026-07-28 agents → the gateway → the 2025 conformance fixture (bridged)', () => {
  let gw: RunningGateway;

  const call = async (name: string, extra: Record<string, unknown> = {}): Promise<Rpc> => {
    const res = await rawRequest(gw.origin, {
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: {
          name,
          arguments: {},
          ...extra,
          _meta: {
            'io.modelcontextprotocol/protocolVersion': V,
            'io.modelcontextprotocol/clientCapabilities': CAPABILITIES,
          },
        },
      }),
      headers: mcpHeaders({ 'mcp-protocol-version': V, 'mcp-method': 'tools/call', 'mcp-name': name }),
    });
    return res.messages.find((m) => (m as Rpc).id === 7) as Rpc;
  };

  beforeAll(async () => {
    gw = await startGateway({
      // The conformance policy's principal (the runs' JWT subject), here as the local development one.
      auth: { mode: 'unauthenticated-local', subject: 'conformance-suite' },
      policy: { files: [POLICY] },
      servers: { fixture: fixtureServer({ prefix: false, pinning: 'off', env: { FIXTURE_2026_TOOLS: '1' } }) },
    });
  });

  afterAll(async () => {
    await gw?.stop();
  });

  it("asks the three requests a 2025 server sends together in one round, under the server's keys; the retry completes", async () => {
    const first = await call('test_input_required_result_multiple_inputs');
    expect(first.result?.resultType).toBe('input_required');
    const asked = first.result?.inputRequests ?? {};
    expect(Object.fromEntries(Object.entries(asked).map(([key, request]) => [key, request.method]))).toEqual({
      user_name: 'elicitation/create',
      greeting: 'sampling/createMessage',
      client_roots: 'roots/list',
    });
    // The gateway's own key is taken off before the agent sees the request.
    expect(JSON.stringify(asked)).not.toContain('inputKey');

    const retry = await call('test_input_required_result_multiple_inputs', {
      requestState: first.result?.requestState,
      inputResponses: {
        user_name: { action: 'accept', content: { name: 'Alice' } },
        greeting: {
          role: 'assistant',
          content: { type: 'text', text: 'Hello there!' },
          model: 'test-model',
          stopReason: 'endTurn',
        },
        client_roots: { roots: [{ uri: 'file:///test/root', name: 'Test Root' }] },
      },
    });
    expect(retry.error).toBeUndefined();
    expect(retry.result?.resultType).toBe('complete');
    expect(retry.result?.content?.[0]?.text).toBe('name=Alice, greeting=Hello there!, roots=1');
  });

  it("refuses a tool the conformance policy does not allow as it refuses one that does not exist (the fixture's test aids)", async () => {
    const hidden = await call('fixture_pid');
    const missing = await call('no_such_tool');
    expect(hidden.error?.code).toBe(-32602);
    expect(hidden.error?.message).toBe(missing.error?.message.replace('no_such_tool', 'fixture_pid'));
  });
});
