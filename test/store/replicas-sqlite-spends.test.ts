// Two `serve` processes on one data folder (SQLite, no store configured) share the sealing key, so each
// accepts the other's 2026 requestStates: a state spent through one must be a replay on the other, which
// holds only when the spend is recorded in state.db, not in one process's memory.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureHttp, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeKey, signToken, type TestKey } from '../helpers/jwks-server.js';
import { makeTempDir, type ReadyProcess, type TempDir } from '../helpers/process.js';
import { spendThenReplay } from '../helpers/stateless-2026.js';

const ISSUER = 'https://idp.sqlite-spends.test';
const RESOURCE = 'http://sqlite-spends.test/mcp';

const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: fx, effect: allow, tools: [fx__fixture_interview] }
`;

let shared: TempDir;
let key: TestKey;
/** The conformance fixture over HTTP: one process that both gateways reach. */
let fixture: ReadyProcess;
const running: RunningGateway[] = [];

beforeAll(async () => {
  fixture = await startFixtureHttp();
  shared = await makeTempDir('warden-sqlite-spends');
  key = await makeKey('sqlite-spends-key', 'EdDSA');
  await writeFile(join(shared.path, 'jwks.json'), JSON.stringify({ keys: [key.publicJwk] }));
  await writeFile(join(shared.path, 'policy.yaml'), POLICY);
});
afterAll(async () => {
  await Promise.all(running.map((gateway) => gateway.stop()));
  await fixture?.stop();
  await shared?.cleanup();
});

async function gatewayOn(dataDir: string): Promise<RunningGateway> {
  const gateway = await startGateway({
    servers: { fx: { transport: 'http', url: fixture.url } },
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
    // The first round and its retry through a; the same retry (its state now spent) again through b.
    const { first, second, replayed } = await spendThenReplay(a, b, bearer);
    expect(first.result?.resultType).toBe('input_required');
    expect(second.result?.resultType).toBe('input_required');
    // The same state again, through the other process: state.db says it was spent.
    expect(replayed.error).toMatchObject({ code: -32602 });
    expect(replayed.error?.message).toContain('already used');
  });
});
