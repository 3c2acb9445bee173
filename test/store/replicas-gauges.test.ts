// /metrics on replicas of one PostgreSQL store: pending approvals live in the store, so an approval
// waiting for a person through replica A is counted by replica B's `mcp_warden_approvals_waiting` gauge
// (it read B's own state.db before, where nothing waits).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeKey, signToken, type TestKey } from '../helpers/jwks-server.js';
import { usePostgres } from '../helpers/postgres.js';
import { makeTempDir, waitFor, type TempDir } from '../helpers/process.js';
import { parseMetrics, valueOf } from '../observe/prometheus.js';

const db = usePostgres();
const ISSUER = 'https://idp.replica-gauges.test';
const RESOURCE = 'http://replica-gauges.test/mcp';
const TOKEN_ENV = 'WARDEN_TEST_REPLICA_GAUGES_TOKEN';
const METRICS_TOKEN = 'replica-gauges-token-0123456789';

const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: fx-approved, effect: allow, tools: [fx__test_simple_text], approval: required }
`;

let shared: TempDir;
let key: TestKey;
const running: RunningGateway[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  shared = await makeTempDir('warden-replica-gauges');
  key = await makeKey('replica-gauges-key', 'EdDSA');
  await writeFile(join(shared.path, 'jwks.json'), JSON.stringify({ keys: [key.publicJwk] }));
  await writeFile(join(shared.path, 'policy.yaml'), POLICY);
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await Promise.all(running.map((gateway) => gateway.stop()));
  await shared?.cleanup();
});

/** A replica with its own data folder, the shared store and its own /metrics listener; its metrics URL. */
async function replica(): Promise<{ gateway: RunningGateway; metricsUrl: string }> {
  const gateway = await startGateway(
    {
      servers: { fx: fixtureServer() },
      auth: {
        mode: 'jwt',
        resource: RESOURCE,
        issuers: [{ issuer: ISSUER, jwksFile: join(shared.path, 'jwks.json') }],
      },
      policy: { files: [join(shared.path, 'policy.yaml')] },
      store: { kind: 'postgres', url: db.url, schema: 'replica_gauges' },
      metrics: { enabled: true, port: 0, bearerTokenEnv: TOKEN_ENV },
    },
    [],
    { [TOKEN_ENV]: METRICS_TOKEN },
  );
  running.push(gateway);
  const metricsUrl = await waitFor(
    () => /mcp-warden metrics on (\S+)/.exec(gateway.process.stderr())?.[1],
    'the metrics URL on stderr',
  );
  return { gateway, metricsUrl };
}

async function approvalsWaiting(metricsUrl: string): Promise<number | undefined> {
  const response = await fetch(metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(response.status).toBe(200);
  return valueOf(parseMetrics(await response.text()), 'mcp_warden_approvals_waiting');
}

describe('/metrics on replicas of one PostgreSQL store', () => {
  it("an approval waiting through replica A is counted in replica B's approvals-waiting gauge", async () => {
    const a = await replica();
    const b = await replica();
    expect(await approvalsWaiting(b.metricsUrl)).toBe(0);
    // A headless agent (no elicitation) on replica A: the call waits for a person, out-of-band.
    const bearer = await signToken({ iss: ISSUER, aud: RESOURCE }, { key, claims: { sub: 'agent:headless' } });
    const client = new Client({ name: 'replica-gauges-test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(a.gateway.url), {
        requestInit: { headers: { authorization: `Bearer ${bearer}` } },
      }),
    );
    clients.push(client);
    const outcome = await client.callTool({ name: 'fx__test_simple_text', arguments: {} }).then(
      (result) => (result.isError ? 'refused' : 'ok'),
      () => 'refused',
    );
    expect(outcome).toBe('refused');
    expect(await approvalsWaiting(a.metricsUrl)).toBe(1);
    expect(await approvalsWaiting(b.metricsUrl)).toBe(1);
  });
});
