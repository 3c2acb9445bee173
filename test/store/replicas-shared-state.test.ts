// Replicas on one PostgreSQL (issue 19), the rest of governance state: real `serve` processes, each with
// its own data folder, sharing one store. A definition pin approved or rejected with the CLI (replica A's
// config) applies on replica B from its next call; a 2026 requestState spent through one replica is a
// replay on the other (the replicas share the sealing key, as the README asks); a credential minted by
// one replica verifies against the other replica's published keys (its /.well-known/jwks.json and its
// <dataDir>/keys/jwks.json, what a downstream trusts).
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TICKETS, type RunningGateway } from '../helpers/gateway.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { runCliAsync } from '../helpers/cli.js';
import { usePostgres } from '../helpers/postgres.js';
import { spawnReady, waitFor, type ReadyProcess } from '../helpers/process.js';
import { replicaSet, type ReplicaSet } from '../helpers/replicas.js';
import { spendThenReplay } from '../helpers/stateless-2026.js';

const db = usePostgres();
const AUDIENCE = 'urn:mcp-warden:tickets';

const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: fx, effect: allow, tools: [fx__fixture_interview, pinned__test_simple_text, tickets__create_ticket] }
`;

let set: ReplicaSet;
/** The tickets demo server, verifying minted credentials with the jwks.json replica B publishes. */
let tickets: ReadyProcess | undefined;
/** Two replicas, shared by every test here: each with its own data folder, sharing the sealing key. */
let a: RunningGateway;
let b: RunningGateway;
let dataA: string;
let dataB: string;

beforeAll(async () => {
  set = await replicaSet({
    name: 'replicas-state',
    policy: POLICY,
    issuer: 'https://idp.replicas.test',
    resource: 'http://replicas.test/mcp',
    store: { kind: 'postgres', url: db.url, schema: 'replicas_state' },
  });
  // The replicas share the sealing key (README: copy <dataDir>/keys/request-state.key to every replica).
  const sealing = randomBytes(32).toString('base64');
  [dataA, dataB] = (await Promise.all(
    ['a', 'b'].map(async (name) => {
      const dir = join(set.dir.path, `data-${name}`);
      await mkdir(join(dir, 'keys'), { recursive: true, mode: 0o700 });
      await writeFile(join(dir, 'keys', 'request-state.key'), sealing, { mode: 0o600 });
      return dir;
    }),
  )) as [string, string];
  tickets = await spawnReady(process.execPath, [TICKETS, '--port', '0', '--data', join(set.dir.path, 'tickets.json')], {
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
  });
  const config = (dataDir: string) => ({
    dataDir,
    secrets: { tickets: { source: 'minted', audience: AUDIENCE, ttlSeconds: 60 } },
    servers: {
      fx: set.fx,
      // The same fixture process under a second name, its definitions held until approved.
      pinned: { ...set.fx, pinning: 'require-approval' },
      tickets: {
        transport: 'http',
        url: tickets!.url,
        secrets: { headers: { Authorization: 'Bearer {{secret:tickets}}' } },
      },
    },
  });
  [a, b] = await Promise.all([set.start(config(dataA)), set.start(config(dataB))]);
});
afterAll(async () => {
  await set?.close();
  await tickets?.stop();
});

const token = (sub: string) => set.token({ sub });
const connect = (gateway: RunningGateway, bearer: string): Promise<Client> => set.connect(gateway, bearer);

type Called = { ok: true } | { ok: false; message: string };

function call(client: Client, name: string): Promise<Called> {
  return client.callTool({ name, arguments: {} }).then(
    (result) => (result.isError ? { ok: false, message: JSON.stringify(result.content) } : ({ ok: true } as const)),
    (error: { message?: string }) => ({ ok: false, message: String(error.message) }),
  );
}

describe('replicas on one PostgreSQL: pins, spent requestStates and minted credentials', () => {
  it('a definition approved, then rejected, with the CLI against replica A is offered, then refused, on replica B', async () => {
    const onB = await connect(b, await token('agent:pins'));
    // Never approved: hidden and refused on both.
    expect(await call(onB, 'pinned__test_simple_text')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/approv/),
    });

    // The definitions B saw are the ones A's config lists: one table for every replica and the CLI.
    const listed = await runCliAsync(a.configFile, ['tools', 'list', '--status', 'pending', '--json']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { exposed: string }[]).map((row) => row.exposed)).toContain(
      'pinned__test_simple_text',
    );

    const approved = await runCliAsync(a.configFile, ['tools', 'approve', 'pinned__test_simple_text']);
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    await waitFor(
      async () => ((await call(onB, 'pinned__test_simple_text')).ok ? true : undefined),
      'the approval to reach replica B',
    );
    expect(approved.stdout).toMatch(/every gateway on the shared store offers it/);
    const names = (await onB.listTools()).tools.map((tool) => tool.name);
    expect(names).toContain('pinned__test_simple_text');

    const rejected = await runCliAsync(a.configFile, ['tools', 'reject', 'pinned__test_simple_text']);
    expect(rejected.code).toBe(0);
    const refusal = await waitFor(async () => {
      const result = await call(onB, 'pinned__test_simple_text');
      return result.ok ? undefined : result;
    }, 'the rejection to reach replica B');
    expect(refusal.message).toMatch(/rejected/);
  });

  it('a requestState spent through replica A is refused as a replay on replica B', async () => {
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
