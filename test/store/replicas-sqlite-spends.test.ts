// Two `serve` processes on one data folder (SQLite, no store configured) share the sealing key, so each
// accepts the other's 2026 requestStates: a state spent through one must be a replay on the other, which
// holds only when the spend is recorded in state.db, not in one process's memory.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeKey, signToken, type TestKey } from '../helpers/jwks-server.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';
import { mcpHeaders, rawRequest } from '../helpers/raw-http.js';

const ISSUER = 'https://idp.sqlite-spends.test';
const RESOURCE = 'http://sqlite-spends.test/mcp';
const V = '2026-07-28';

const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: fx, effect: allow, tools: [fx__fixture_interview] }
`;

let shared: TempDir;
let key: TestKey;
const running: RunningGateway[] = [];

beforeAll(async () => {
  shared = await makeTempDir('warden-sqlite-spends');
  key = await makeKey('sqlite-spends-key', 'EdDSA');
  await writeFile(join(shared.path, 'jwks.json'), JSON.stringify({ keys: [key.publicJwk] }));
  await writeFile(join(shared.path, 'policy.yaml'), POLICY);
});
afterAll(async () => {
  await Promise.all(running.map((gateway) => gateway.stop()));
  await shared?.cleanup();
});

async function gatewayOn(dataDir: string): Promise<RunningGateway> {
  const gateway = await startGateway({
    servers: { fx: fixtureServer() },
    auth: { mode: 'jwt', resource: RESOURCE, issuers: [{ issuer: ISSUER, jwksFile: join(shared.path, 'jwks.json') }] },
    policy: { files: [join(shared.path, 'policy.yaml')] },
    dataDir,
  });
  running.push(gateway);
  return gateway;
}

describe('two gateways on one SQLite data folder', () => {
  it('a requestState spent through one gateway is refused as a replay on the other', async () => {
    const dataDir = join(shared.path, 'data');
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    // One after the other: the first creates the data folder's sealing key, the second reads it.
    const a = await gatewayOn(dataDir);
    const b = await gatewayOn(dataDir);
    const bearer = await signToken({ iss: ISSUER, aud: RESOURCE }, { key, claims: { sub: 'agent:mrtr' } });
    const interview = async (gateway: RunningGateway, retry: Record<string, unknown> = {}) => {
      const res = await rawRequest(gateway.origin, {
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 7,
          method: 'tools/call',
          params: {
            name: 'fx__fixture_interview',
            arguments: { topic: 'tides' },
            _meta: {
              'io.modelcontextprotocol/protocolVersion': V,
              'io.modelcontextprotocol/clientCapabilities': { sampling: {}, elicitation: { form: {} }, roots: {} },
            },
            ...retry,
          },
        }),
        headers: mcpHeaders({
          authorization: `Bearer ${bearer}`,
          'mcp-protocol-version': V,
          'mcp-method': 'tools/call',
          'mcp-name': 'fx__fixture_interview',
        }),
      });
      return res.messages[0] as {
        result?: { resultType?: string; inputRequests?: Record<string, unknown>; requestState?: string };
        error?: { code: number; message: string };
      };
    };
    const first = await interview(a);
    expect(first.result?.resultType).toBe('input_required');
    const askedKey = Object.keys(first.result!.inputRequests!)[0]!;
    const retry = {
      inputResponses: { [askedKey]: { role: 'assistant', content: { type: 'text', text: 'the moon' }, model: 'm' } },
      requestState: first.result!.requestState!,
    };
    const second = await interview(a, retry);
    expect(second.result?.resultType).toBe('input_required');
    // The same state again, through the other process: state.db says it was spent.
    const replayed = await interview(b, retry);
    expect(replayed.error).toMatchObject({ code: -32602 });
    expect(replayed.error?.message).toContain('already used');
  });
});
