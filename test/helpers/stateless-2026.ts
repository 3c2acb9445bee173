// The set-up of the tests of MCP 2026-07-28 (stateless) agents through the gateway: the revision, the
// `_meta` envelope, raw requests with the 2026 headers, the real gateway with JWT auth (the built-in
// issuer) and a policy, and the SDK v2 client pinned to the revision.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpV2 } from '@modelcontextprotocol/client';
import { startGateway, type GatewayConfigInput, type RunningGateway } from './gateway.js';
import { makeTempDir } from './process.js';
import { mcpHeaders, rawRequest, type RawResponse } from './raw-http.js';

export const V = '2026-07-28';

/** A JSON-RPC answer as a raw test reads it. */
export interface Rpc {
  id?: unknown;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

/** The first JSON-RPC message of a raw response. */
export function rpcOf(res: RawResponse): Rpc {
  return res.messages[0] as Rpc;
}

/** The `_meta` envelope of a 2026 request from a raw client (empty capabilities), with `extra` keys. */
export function envelope(version = V, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': version,
    'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/clientInfo': { name: 'raw-2026', version: '1' },
    ...extra,
  };
}

/** POSTs `body` as given, with the 2026 version header, the bearer `token` (if any) and `headers`. */
export function post2026(
  gw: RunningGateway,
  token: string | undefined,
  body: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return rawRequest(gw.origin, {
    body,
    headers: mcpHeaders({
      ...(token !== undefined && { authorization: `Bearer ${token}` }),
      'mcp-protocol-version': V,
      ...headers,
    }),
  });
}

/** One well-formed 2026 request: `params` with the envelope, Mcp-Method, and Mcp-Name when `name` is given. */
export function request2026(
  gw: RunningGateway,
  token: string | undefined,
  method: string,
  params: Record<string, unknown>,
  name?: string,
): Promise<RawResponse> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 5, method, params: { ...params, _meta: envelope() } });
  return post2026(gw, token, body, { 'mcp-method': method, ...(name !== undefined && { 'mcp-name': name }) });
}

/**
 * The fixture's interview (a sampling round) through `a`, its first round answered and retried through `a`,
 * then that same retry (the now-spent requestState) replayed through `b`: the three answers, for a test
 * of whether two gateways share the record of spent states.
 */
export async function spendThenReplay(
  a: RunningGateway,
  b: RunningGateway,
  token: string,
): Promise<{ first: Rpc; second: Rpc; replayed: Rpc }> {
  const interview = async (gw: RunningGateway, retry: Record<string, unknown> = {}): Promise<Rpc> => {
    const params = {
      name: 'fx__fixture_interview',
      arguments: { topic: 'tides' },
      _meta: {
        'io.modelcontextprotocol/protocolVersion': V,
        'io.modelcontextprotocol/clientCapabilities': { sampling: {}, elicitation: { form: {} }, roots: {} },
      },
      ...retry,
    };
    const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params });
    return rpcOf(await post2026(gw, token, body, { 'mcp-method': 'tools/call', 'mcp-name': 'fx__fixture_interview' }));
  };
  const first = await interview(a);
  const inputRequests = (first.result?.inputRequests ?? {}) as Record<string, unknown>;
  const askedKey = Object.keys(inputRequests)[0] ?? '';
  const retry = {
    inputResponses: { [askedKey]: { role: 'assistant', content: { type: 'text', text: 'the moon' }, model: 'm' } },
    requestState: first.result?.requestState,
  };
  return { first, second: await interview(a, retry), replayed: await interview(b, retry) };
}

/**
 * The gateway with JWT auth (the built-in issuer), `policy` (YAML) as its one policy file and `config`
 * besides; `stop()` also removes the policy's folder.
 */
export async function startJwtGateway(policy: string, config: GatewayConfigInput): Promise<RunningGateway> {
  const policyDir = await makeTempDir('warden-2026-policy');
  try {
    const policyFile = join(policyDir.path, 'policy.yaml');
    await writeFile(policyFile, policy);
    const gw = await startGateway({
      auth: { mode: 'jwt', resource: 'http://gateway.test/mcp', builtin: {}, maxTokenLifetimeSeconds: 3600 },
      policy: { files: [policyFile] },
      ...config,
    });
    return {
      ...gw,
      async stop() {
        await gw.stop();
        await policyDir.cleanup();
      },
    };
  } catch (error) {
    await policyDir.cleanup();
    throw error;
  }
}

/** The SDK v2 client, pinned to 2026-07-28, connected to the gateway with `token`. */
export async function connectV2(gw: RunningGateway, token: string, name: string): Promise<ClientV2> {
  const client = new ClientV2({ name, version: '2.4.0' }, { versionNegotiation: { mode: { pin: V } } });
  await client.connect(new HttpV2(new URL(gw.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}
