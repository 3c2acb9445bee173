// Tasks on PostgreSQL (issue 19): two replicas, each with its own data folder and its own pool and
// LISTEN connection on one real PostgreSQL, wired as `serve` wires them (sharedGovernance). A 2026 agent
// load-balanced per request begins a task on one replica and presents its handle on the other: found;
// ended on the first, refused on the second at once; revoked by the CLI, refused within 1 s; past its
// expiry, refused; with the store cut (a real TCP proxy), refused (fail closed), and found again after.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedGovernance } from '../../src/cli/shared-store.js';
import { PostgresStoreSchema } from '../../src/config/store-schema.js';
import { Governance } from '../../src/gateway/governance.js';
import type { Principal } from '../../src/model/principal.js';
import { createLogger } from '../../src/observe/logger.js';
import { openPgStore, type PgStore } from '../../src/state/pg/open.js';
import { PgSharedState } from '../../src/state/pg/shared.js';
import type { RevocationCache } from '../../src/state/pg/revocation-cache.js';
import { usePostgres } from '../helpers/postgres.js';
import { makeTempDir, waitFor, type TempDir } from '../helpers/process.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const db = usePostgres();
const logger = createLogger({ level: 'silent' });
const SCHEMA = 'shared_tasks';
const POLICY = `version: 1
agents:
  - id: all
    match: {}
    grants:
      - { id: echo, effect: allow, tools: [fx__echo] }
`;

interface Replica {
  governance: Governance;
  store: PgStore;
  cache: RevocationCache;
}

let dir: TempDir;
let proxy: TcpProxy;
const replicas: Replica[] = [];

beforeAll(async () => {
  dir = await makeTempDir('warden-shared-tasks');
  await writeFile(join(dir.path, 'policy.yaml'), POLICY);
  const target = new URL(db.url);
  proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
});
afterAll(async () => {
  for (const replica of replicas) {
    replica.cache.close();
    replica.governance.close();
    await replica.store.close();
  }
  await proxy?.close();
  await dir?.cleanup();
});

/** A replica as `serve` builds one with `store.kind: postgres`: its own data folder, the shared store at `url`. */
async function replica(name: string, url: string = db.url): Promise<Replica> {
  const governance = Governance.open({
    files: [{ path: join(dir.path, 'policy.yaml'), label: 'policy.yaml' }],
    dataDir: join(dir.path, name),
    watch: false,
    logger,
    events: { event: async () => ({ ok: true, value: undefined }) },
  });
  const config = PostgresStoreSchema.parse({
    kind: 'postgres',
    url,
    schema: SCHEMA,
    connectTimeoutMs: 1_000,
    statementTimeoutMs: 1_000,
  });
  const store = await openPgStore(config, dir.path);
  const { cache } = await sharedGovernance(store, governance, logger);
  governance.start();
  const made = { governance, store, cache };
  replicas.push(made);
  return made;
}

function viaProxy(): string {
  const url = new URL(db.url);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return url.toString();
}

const KEY = '2026:["urn:iss","agent-1",null]';
const agent: Principal = {
  subject: 'agent-1',
  issuer: 'urn:iss',
  delegation: [],
  scopes: [],
  authMethod: 'jwt',
  issuedAt: Date.now() - 60_000,
};

async function begin(on: Replica, ttlMs = 60_000): Promise<string> {
  const now = Date.now();
  const row = await on.governance.registry.begin({
    issuer: agent.issuer,
    subject: agent.subject,
    purpose: 'tidy up',
    grants: ['fx__echo'],
    session: KEY,
    createdAt: now,
    expiresAt: now + ttlMs,
  });
  return row.id;
}

const resolve = (on: Replica, id: string, now = Date.now()) =>
  on.governance.registry.resolveHandle(id, agent, KEY, now);

describe('tasks shared by replicas on PostgreSQL', () => {
  let a: Replica;
  let b: Replica;
  beforeAll(async () => {
    a = await replica('a');
    b = await replica('b');
  });

  it('a task begun on one replica is found by its handle on the other, and refused there once ended', async () => {
    const id = await begin(a);
    expect(await resolve(b, id)).toMatchObject({ ok: true, task: { id, source: 'session', grants: ['fx__echo'] } });
    // Not another principal's: the handle is a name, never a capability.
    expect(
      await b.governance.registry.resolveHandle(id, { ...agent, subject: 'agent-2' }, 'other-key', Date.now()),
    ).toMatchObject({ ok: false });
    expect(
      await a.governance.registry.end({ id, issuer: agent.issuer, subject: agent.subject }, Date.now(), 'ended'),
    ).toBe(true);
    expect(await resolve(b, id)).toEqual({ ok: false, reason: `task ${id} ended (ended)` });
  });

  it('past its expiry the task is refused on every replica', async () => {
    const id = await begin(a, 5_000);
    expect((await resolve(b, id)).ok).toBe(true);
    expect(await resolve(b, id, Date.now() + 5_001)).toEqual({ ok: false, reason: `task ${id} expired` });
  });

  it('a task revoked by the CLI (the shared store) is refused on the other replicas within 1 s', async () => {
    const id = await begin(b);
    expect((await resolve(a, id)).ok).toBe(true);
    const cli = new PgSharedState(a.store.pool);
    const revokedAt = Date.now();
    await cli.revokeTaskId(id, revokedAt);
    for (const replica of [a, b]) {
      // Read from the store at once (the row is ended), and from the cached snapshot once NOTIFY is heard.
      expect(await resolve(replica, id)).toMatchObject({ ok: false });
      await waitFor(() => replica.governance.registry.isTaskRevoked(id), 'the revocation to reach the cache', 1_000);
    }
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    expect((await new PgSharedState(b.store.pool).tasksById(id))[0]).toMatchObject({ endReason: 'revoked' });
  });

  it('a token task first seen on one replica is listed from the shared store', async () => {
    a.governance.registry.noteTokenTask({ ...agent, task: { id: 'tok-seen', grants: ['fx__*'] } }, Date.now());
    const state = new PgSharedState(b.store.pool);
    await waitFor(async () => (await state.tasksById('tok-seen')).length === 1, 'the token task to be recorded');
    expect((await state.listTasks({ all: false, now: Date.now() })).map((t) => t.id)).toContain('tok-seen');
  });

  it('with the store unreachable a handle is refused (fail closed), and found again when it returns', async () => {
    const cut = await replica('c', viaProxy());
    const id = await begin(a);
    expect((await resolve(cut, id)).ok).toBe(true);
    proxy.cut();
    try {
      const refused = await resolve(cut, id);
      expect(refused.ok).toBe(false);
      expect(refused).toMatchObject({ reason: expect.stringMatching(/unavailable|fail closed/) });
      // Beginning a task there fails too: no handle is given that no other replica could find.
      await expect(begin(cut)).rejects.toMatchObject({ code: 'ERR_STATE_UNAVAILABLE' });
    } finally {
      proxy.restore();
    }
    await waitFor(async () => (await resolve(cut, id)).ok, 'the handle to resolve after the store returned', 10_000);
  });
});
