// Replicas on one PostgreSQL (issue 19), the rest of governance state: real `serve` processes, each with
// its own data folder, sharing one store. A definition pin approved or rejected with the CLI (replica A's
// config) applies on replica B from its next call; a 2026 requestState spent through one replica is a
// replay on the other (the replicas share the sealing key, as the README asks); a credential minted by
// one replica verifies against the other replica's published keys (its /.well-known/jwks.json and its
// <dataDir>/keys/jwks.json, what a downstream trusts).
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TICKETS, fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { runCliAsync } from '../helpers/cli.js';
import { makeKey, signToken, type TestKey } from '../helpers/jwks-server.js';
import { usePostgres } from '../helpers/postgres.js';
import { makeTempDir, spawnReady, waitFor, type TempDir } from '../helpers/process.js';
import { spendThenReplay } from '../helpers/stateless-2026.js';

const db = usePostgres();
const ISSUER = 'https://idp.replicas.test';
const RESOURCE = 'http://replicas.test/mcp';
const AUDIENCE = 'urn:mcp-warden:tickets';

const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: fx, effect: allow, tools: [fx__test_simple_text, fx__fixture_interview, tickets__create_ticket] }
`;

let shared: TempDir;
let key: TestKey;
const running: RunningGateway[] = [];
const clients: Client[] = [];
const stoppers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  shared = await makeTempDir('warden-replicas-state');
  key = await makeKey('replica-state-key', 'EdDSA');
  await writeFile(join(shared.path, 'jwks.json'), JSON.stringify({ keys: [key.publicJwk] }));
  await writeFile(join(shared.path, 'policy.yaml'), POLICY);
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await Promise.all(running.map((gateway) => gateway.stop()));
  await Promise.all(stoppers.map((stop) => stop()));
  await shared?.cleanup();
});

/** A replica: its own data folder (`dataDir`, when given), the shared store, one issuer every replica trusts. */
async function replica(schema: string, extra: Record<string, unknown> = {}): Promise<RunningGateway> {
  const gateway = await startGateway({
    servers: { fx: fixtureServer() },
    auth: { mode: 'jwt', resource: RESOURCE, issuers: [{ issuer: ISSUER, jwksFile: join(shared.path, 'jwks.json') }] },
    policy: { files: [join(shared.path, 'policy.yaml')] },
    store: { kind: 'postgres', url: db.url, schema },
    ...extra,
  });
  running.push(gateway);
  return gateway;
}

const token = (sub: string) => signToken({ iss: ISSUER, aud: RESOURCE }, { key, claims: { sub } });

async function connect(gateway: RunningGateway, bearer: string): Promise<Client> {
  const client = new Client({ name: 'replica-state-test', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { authorization: `Bearer ${bearer}` } },
    }),
  );
  clients.push(client);
  return client;
}

type Called = { ok: true } | { ok: false; message: string };

function call(client: Client, name: string): Promise<Called> {
  return client.callTool({ name, arguments: {} }).then(
    (result) => (result.isError ? { ok: false, message: JSON.stringify(result.content) } : ({ ok: true } as const)),
    (error: { message?: string }) => ({ ok: false, message: String(error.message) }),
  );
}

describe('replicas on one PostgreSQL: pins, spent requestStates and minted credentials', () => {
  it('a definition approved, then rejected, with the CLI against replica A is offered, then refused, on replica B', async () => {
    const pending = { servers: { fx: fixtureServer({ pinning: 'require-approval' }) } };
    const [a, b] = await Promise.all([replica('pins', pending), replica('pins', pending)]);
    const onB = await connect(b, await token('agent:pins'));
    // Never approved: hidden and refused on both.
    expect(await call(onB, 'fx__test_simple_text')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/approv/),
    });

    // The definitions B saw are the ones A's config lists: one table for every replica and the CLI.
    const listed = await runCliAsync(a.configFile, ['tools', 'list', '--status', 'pending', '--json']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { exposed: string }[]).map((row) => row.exposed)).toContain(
      'fx__test_simple_text',
    );

    const approved = await runCliAsync(a.configFile, ['tools', 'approve', 'fx__test_simple_text']);
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    await waitFor(
      async () => ((await call(onB, 'fx__test_simple_text')).ok ? true : undefined),
      'the approval to reach replica B',
    );
    expect(approved.stdout).toMatch(/every gateway on the shared store offers it/);
    const names = (await onB.listTools()).tools.map((tool) => tool.name);
    expect(names).toContain('fx__test_simple_text');

    const rejected = await runCliAsync(a.configFile, ['tools', 'reject', 'fx__test_simple_text']);
    expect(rejected.code).toBe(0);
    const refusal = await waitFor(async () => {
      const result = await call(onB, 'fx__test_simple_text');
      return result.ok ? undefined : result;
    }, 'the rejection to reach replica B');
    expect(refusal.message).toMatch(/rejected/);
  });

  it('a requestState spent through replica A is refused as a replay on replica B', async () => {
    // The replicas share the sealing key (README: copy <dataDir>/keys/request-state.key to every replica).
    const sealing = randomBytes(32).toString('base64');
    const dataDirs = await Promise.all(
      ['a', 'b'].map(async (name) => {
        const dir = join(shared.path, `data-${name}`);
        await mkdir(join(dir, 'keys'), { recursive: true, mode: 0o700 });
        await writeFile(join(dir, 'keys', 'request-state.key'), sealing, { mode: 0o600 });
        return dir;
      }),
    );
    const [a, b] = (await Promise.all(dataDirs.map((dataDir) => replica('spends', { dataDir })))) as [
      RunningGateway,
      RunningGateway,
    ];
    const bearer = await token('agent:mrtr');
    // The first round and its retry through a; the same retry (its state now spent) again through b.
    const { first, second, replayed } = await spendThenReplay(a, b, bearer);
    expect(first.result?.resultType).toBe('input_required');
    expect(second.result?.resultType).toBe('input_required');
    // The same state again, through the other replica: one store says it was spent.
    expect(replayed.error).toMatchObject({ code: -32602 });
    expect(replayed.error?.message).toContain('already used');
  });

  it("a credential minted by replica A is accepted by a server that trusts only replica B's jwks.json", async () => {
    const [dataA, dataB] = [join(shared.path, 'minted-a'), join(shared.path, 'minted-b')];
    // The tickets demo server verifying minted credentials with the file replica B publishes on its machine.
    const tickets = await spawnReady(
      process.execPath,
      [TICKETS, '--port', '0', '--data', join(shared.path, 'tickets.json')],
      {
        env: {
          TICKETS_TOKEN: undefined,
          MCP_WARDEN_DOWNSTREAM_TOKEN: undefined,
          TICKETS_JWKS_URL: undefined,
          TICKETS_JWKS_FILE: join(dataB, 'keys', 'jwks.json'),
          TICKETS_AUDIENCE: AUDIENCE,
          TICKETS_ISSUER: 'urn:mcp-warden:gateway',
          MCP_WARDEN_SUPERVISED: undefined,
          PORT: undefined,
        },
        readyPattern: /^tickets listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)$/,
      },
    );
    stoppers.push(() => tickets.stop());
    const config = (dataDir: string) => ({
      dataDir,
      secrets: { tickets: { source: 'minted', audience: AUDIENCE, ttlSeconds: 60 } },
      servers: {
        tickets: {
          transport: 'http',
          url: tickets.url,
          secrets: { headers: { Authorization: 'Bearer {{secret:tickets}}' } },
        },
      },
    });
    await replica('minted', config(dataB));
    const a = await replica('minted', config(dataA));
    const bearer = await token('agent:minted');
    // Each attempt a new session (a session that found the server unavailable keeps its view).
    const created = await waitFor(async () => {
      const client = await connect(a, bearer);
      try {
        const result = await client
          .callTool({ name: 'tickets__create_ticket', arguments: { title: 'minted on A', body: '', priority: 'low' } })
          .catch(() => undefined);
        return result && !result.isError ? result : undefined;
      } finally {
        await client.close();
      }
    }, "the tickets server to accept replica A's credential");
    expect((created.structuredContent as { ticket: { createdBy: string } }).ticket.createdBy).toBe('agent:minted');
    // B's file holds A's key beside its own: the key the credential was signed with.
    const published = JSON.parse(await readFile(join(dataB, 'keys', 'jwks.json'), 'utf8')) as {
      keys: { kid: string }[];
    };
    const ownA = JSON.parse(await readFile(join(dataA, 'keys', 'jwks.json'), 'utf8')) as { keys: { kid: string }[] };
    expect(published.keys.map((k) => k.kid)).toEqual(expect.arrayContaining(ownA.keys.map((k) => k.kid)));
  });
});
