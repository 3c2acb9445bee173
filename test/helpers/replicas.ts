// Replicas of one gateway on one PostgreSQL store, as the replica tests start them: real `serve`
// processes, each with its own data folder, one policy file and one trusted issuer (its jwks.json) for all.
// A test file starts its replicas once (in beforeAll) and every test that can share them does: each test
// uses agents, tasks and ids of its own, so no test sees another's rows. A test that stops or kills a
// replica on purpose, or needs another config, starts its own with `start`. The downstream `fx` is one
// conformance fixture over HTTP that every replica of the set reaches (one process, not one per replica).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startFixtureHttp, startGateway, type GatewayConfigInput, type RunningGateway } from './gateway.js';
import { makeKey, signToken, type TestKey } from './jwks-server.js';
import { makeTempDir, type TempDir } from './process.js';

export interface ReplicaSetOptions {
  /** Names the temp dir and the issuer's key. */
  name: string;
  /** The policy every replica loads (policy.yaml in the shared dir). */
  policy: string;
  /** The `store` section every replica gets unless `start` is given another. */
  store: Record<string, unknown>;
  issuer: string;
  resource: string;
}

export interface ReplicaSet {
  /** The shared dir: jwks.json, policy.yaml, and whatever else a test puts there. */
  readonly dir: TempDir;
  readonly key: TestKey;
  /** The server entry of the set's conformance fixture (HTTP, started once): `servers.fx` by default. */
  readonly fx: Record<string, unknown>;
  /**
   * Starts one replica: `servers` defaults to `{ fx }`; `extra` is merged over the common config (JWT auth
   * with the shared issuer, the policy file, the store).
   */
  start(extra?: Partial<GatewayConfigInput>, env?: Record<string, string>): Promise<RunningGateway>;
  /** A token of the shared issuer for the replicas' resource. */
  token(claims: Record<string, unknown>): Promise<string>;
  /** An SDK client on `gateway` with the bearer `token`, closed by `close`. */
  connect(gateway: RunningGateway, token: string): Promise<Client>;
  /** Closes every client, stops every replica started and the fixture, removes the shared dir. */
  close(): Promise<void>;
}

/** The shared files of a set of replicas (nothing started yet). */
export async function replicaSet(options: ReplicaSetOptions): Promise<ReplicaSet> {
  const fixture = await startFixtureHttp();
  const fx = { transport: 'http', url: fixture.url };
  const dir = await makeTempDir(`warden-${options.name}`);
  const key = await makeKey(`${options.name}-key`, 'EdDSA');
  const jwksFile = join(dir.path, 'jwks.json');
  const policyFile = join(dir.path, 'policy.yaml');
  await writeFile(jwksFile, JSON.stringify({ keys: [key.publicJwk] }));
  await writeFile(policyFile, options.policy);
  const running: RunningGateway[] = [];
  const clients: Client[] = [];
  return {
    dir,
    key,
    fx,
    async start(extra = {}, env = {}) {
      const gateway = await startGateway(
        {
          servers: { fx },
          auth: { mode: 'jwt', resource: options.resource, issuers: [{ issuer: options.issuer, jwksFile }] },
          policy: { files: [policyFile] },
          store: options.store,
          ...extra,
        },
        [],
        env,
      );
      running.push(gateway);
      return gateway;
    },
    token: (claims) => signToken({ iss: options.issuer, aud: options.resource }, { key, claims }),
    async connect(gateway, token) {
      const client = new Client({ name: `${options.name}-test`, version: '1' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(gateway.url), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.allSettled(clients.map((client) => client.close()));
      await Promise.allSettled(running.map((gateway) => gateway.stop()));
      await fixture.stop();
      await dir.cleanup();
    },
  };
}
