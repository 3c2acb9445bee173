// Metrics of a stdio gateway (`mcp-warden stdio`, spawned the way an agent host does, on a real SDK
// client) on its own listener (`metrics.port`): every refused token is counted by reason, like HTTP's,
// and calls carry the ingress and the protocol era. The token file is rewritten between requests (the
// gateway re-reads it), with tokens from a real local JWKS server: expired, not a JWT, from an issuer
// whose keys cannot be fetched, none, then a good one.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { BIN, fixtureServer, writeConfig } from '../helpers/gateway.js';
import { makeKey, signToken, startJwksServer, type JwksServer } from '../helpers/jwks-server.js';
import { waitFor, type TempDir } from '../helpers/process.js';
import { parseMetrics, sumOf, valueOf, type Sample } from './prometheus.js';

const RESOURCE = 'http://gateway.test/mcp';
const IDP = 'https://idp.test';
const DOWN = 'https://down.test';

let idp: JwksServer;
let down: JwksServer;
let dir: TempDir;
let client: Client;
let samples: Sample[];
const refusals: string[] = [];

beforeAll(async () => {
  const key = await makeKey('stdio-1', 'ES256');
  idp = await startJwksServer([key]);
  down = await startJwksServer([key]);
  down.mode = 'down';
  const issuer = (name: string, server: JwksServer) => ({
    issuer: name,
    jwksUri: `${server.url}/jwks.json`,
    algorithms: ['ES256'],
    jwksCooldownSeconds: 0,
    jwksTimeoutMs: 2_000,
  });
  const config = await writeConfig({
    auth: {
      mode: 'jwt',
      resource: RESOURCE,
      maxTokenLifetimeSeconds: 3600,
      issuers: [issuer(IDP, idp), issuer(DOWN, down)],
    },
    metrics: { enabled: true, port: 0 },
    servers: { fx: fixtureServer() },
  });
  dir = config.dir;
  const tokenFile = join(dir.path, 'agent.token');
  const now = Math.floor(Date.now() / 1000);
  await writeFile(
    tokenFile,
    await signToken({ iss: IDP, aud: RESOURCE }, { key, claims: { iat: now - 600, exp: now - 300 } }),
  );

  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'stdio', '--config', config.file, '--token-file', tokenFile],
    stderr: 'pipe',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MCP_WARDEN_LOG_LEVEL: 'info' },
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  client = new Client({ name: 'metrics-stdio-test', version: '1' });
  await client.connect(transport);
  const metricsUrl = await waitFor(
    () => /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"metrics listener ready"/.exec(stderr)?.[1],
    'the metrics URL on stderr',
  );

  const refused = async (): Promise<void> => {
    const error = await client.listTools().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    refusals.push(error!.message);
  };
  await refused(); // expired
  await writeFile(tokenFile, 'not-a-jwt');
  await refused();
  await writeFile(tokenFile, await signToken({ iss: DOWN, aud: RESOURCE }, { key })); // keys unavailable
  await refused();
  await writeFile(tokenFile, '');
  await refused(); // no token
  await writeFile(tokenFile, await signToken({ iss: IDP, aud: RESOURCE }, { key }));
  expect((await client.listTools()).tools.map((tool) => tool.name)).toContain('fx__test_simple_text');
  await client.callTool({ name: 'fx__test_simple_text', arguments: {} });

  const response = await fetch(metricsUrl);
  expect(response.status).toBe(200);
  samples = parseMetrics(await response.text());
});

afterAll(async () => {
  await client?.close();
  await idp?.close();
  await down?.close();
  await dir?.cleanup();
});

describe("a stdio gateway's metrics (metrics.port)", () => {
  it('refused each bad token with the reason the agent can act on', () => {
    expect(refusals).toHaveLength(4);
    expect(refusals[0]).toContain('the token is invalid or expired');
    expect(refusals[1]).toContain('the token is invalid or expired');
    expect(refusals[2]).toContain('the token keys are unavailable right now');
    expect(refusals[3]).toContain('no token available');
  });

  it('counts every refused token by reason', () => {
    expect(valueOf(samples, 'mcp_warden_auth_failures_total', { reason: 'invalid' })).toBe(2);
    expect(valueOf(samples, 'mcp_warden_auth_failures_total', { reason: 'unavailable' })).toBe(1);
    expect(valueOf(samples, 'mcp_warden_auth_failures_total', { reason: 'no_credential' })).toBe(1);
    expect(sumOf(samples, 'mcp_warden_auth_failures_total')).toBe(4);
  });

  it('counts the call and the list with the stdio ingress and the 2025 protocol era', () => {
    expect(
      valueOf(samples, 'mcp_warden_calls_total', {
        ingress: 'stdio',
        era: '2025',
        server: 'fx',
        tool: 'fx__test_simple_text',
        decision: 'allow',
        outcome: 'ok',
      }),
    ).toBe(1);
    expect(sumOf(samples, 'mcp_warden_calls_total')).toBe(1);
    // Refused lists never reached the pipeline (no principal); the one with a good token did.
    expect(
      valueOf(samples, 'mcp_warden_list_requests_total', {
        ingress: 'stdio',
        era: '2025',
        method: 'tools/list',
        refused: 'false',
      }),
    ).toBe(1);
    expect(valueOf(samples, 'mcp_warden_sessions_open')).toBe(1);
  });
});
