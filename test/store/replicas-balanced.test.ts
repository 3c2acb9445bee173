// Three `serve` replicas on one PostgreSQL behind a round-robin load balancer (issue 19): real MCP
// 2026-07-28 (stateless) agents spread over them through it, and one downstream that records what reaches
// it from which replica. PostgreSQL is a throwaway embedded server of this file's own, whatever
// MCP_WARDEN_PG_URL says, so that the test can stop and start it. Shown: a revocation made with the CLI is
// refused on every replica within 1 s; an approval granted through one replica is used through another,
// once; with PostgreSQL stopped mid-load, calls are refused with a clear error, nothing reaches the
// downstream without its audited intent, and service resumes by itself; a replica SIGKILLed under load
// leaves every answered call in the audit with its outcome, its open intents become unknown_outcome, and
// `audit verify` passes.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Client, ProtocolError, SdkHttpError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliAsync } from '../helpers/cli.js';
import { startCountingServer, type CountingServer } from '../helpers/counting-server.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeKey, signToken, type TestKey } from '../helpers/jwks-server.js';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../helpers/postgres.js';
import { makeTempDir, waitFor, type TempDir } from '../helpers/process.js';
import { startRoundRobinProxy, type RoundRobinProxy } from '../helpers/round-robin-proxy.js';

const V = '2026-07-28';
const ISSUER = 'https://idp.balanced.test';
const RESOURCE = 'http://balanced.test/mcp';
const SCHEMA = 'replicas';
const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: work, effect: allow, tools: [dn__work] }
      - { id: gated, effect: allow, tools: [dn__gated], approval: required }
`;

let database: EmbeddedPostgresServer;
let admin: pg.Pool;
let files: TempDir;
let key: TestKey;
let downstream: CountingServer;
let replicas: RunningGateway[] = [];
let balancer: RoundRobinProxy;
const clients: Client[] = [];
/** Every replica process started, even by a beforeAll that failed half way: afterAll stops them all. */
const started: RunningGateway[] = [];

beforeAll(async () => {
  database = await startEmbeddedPostgres();
  admin = new pg.Pool({ connectionString: database.adminUrl, max: 2 });
  admin.on('error', () => undefined); // its idle connections die when the test stops the server
  [downstream, files, key] = await Promise.all([
    startCountingServer(),
    makeTempDir('warden-balanced'),
    makeKey('balanced-key', 'EdDSA'),
  ]);
  await writeFile(join(files.path, 'jwks.json'), JSON.stringify({ keys: [key.publicJwk] }));
  await writeFile(join(files.path, 'policy.yaml'), POLICY);
  replicas = await Promise.all(['r0', 'r1', 'r2'].map((name) => replica(name)));
  balancer = await startRoundRobinProxy(replicas.map((gateway) => gateway.origin));
});

afterAll(async () => {
  // Each step runs whatever the one before did: the embedded server and its data must always go.
  await Promise.allSettled(clients.map((client) => client.close()));
  await Promise.allSettled(started.map((gateway) => gateway.stop()));
  await Promise.allSettled([balancer?.close(), downstream?.close(), admin?.end()]);
  await Promise.allSettled([database?.remove(), files?.cleanup()]);
});

/** A replica: its own data folder, the shared store, the downstream under its own path, one trusted issuer. */
async function replica(name: string): Promise<RunningGateway> {
  const gateway = await startGateway({
    servers: { dn: { transport: 'http', url: downstream.urlFor(name) } },
    auth: { mode: 'jwt', resource: RESOURCE, issuers: [{ issuer: ISSUER, jwksFile: join(files.path, 'jwks.json') }] },
    policy: { files: [join(files.path, 'policy.yaml')] },
    store: {
      kind: 'postgres',
      url: database.adminUrl,
      schema: SCHEMA,
      connectTimeoutMs: 1_000,
      statementTimeoutMs: 2_000,
    },
  });
  started.push(gateway);
  return gateway;
}

const token = (claims: Record<string, unknown>) => signToken({ iss: ISSUER, aud: RESOURCE }, { key, claims });

/** A 2026-07-28 agent on `url` (the balancer's, or one replica's). */
async function agent(url: string, bearer: string): Promise<Client> {
  const client = new Client({ name: 'balanced-agent', version: '1.0.0' }, { versionNegotiation: { mode: { pin: V } } });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${bearer}` } },
    }),
  );
  clients.push(client);
  return client;
}

/** ok: a result; refused: an error answered by a gateway; lost: no answer (the replica died under it). */
type Called =
  { n: string; kind: 'ok' } | { n: string; kind: 'refused' | 'lost'; message: string; data?: { approvalId?: string } };

async function work(client: Client, n: string, args: Record<string, unknown> = {}, tool = 'dn__work'): Promise<Called> {
  try {
    const result = await client.callTool({ name: tool, arguments: { n, ...args } });
    return result.isError ? { n, kind: 'refused', message: JSON.stringify(result.content) } : { n, kind: 'ok' };
  } catch (error) {
    if (error instanceof ProtocolError)
      return { n, kind: 'refused', message: String(error), data: error.data as { approvalId?: string } };
    // An HTTP refusal from a gateway (401 once revoked); a 502 from the balancer is no gateway's answer.
    if (error instanceof SdkHttpError && error.status < 500)
      return { n, kind: 'refused', message: `HTTP ${error.status}: ${error.message}` };
    return { n, kind: 'lost', message: String(error) };
  }
}

/** Agents calling `dn__work` in a loop (each call a new `n`) until stopped. */
function load(agents: Client[], prefix: string) {
  const results: Called[] = [];
  let running = true;
  let seq = 0;
  const loops = agents.map(async (client) => {
    while (running) {
      const called = await work(client, `${prefix}-${seq++}`, { ms: 5 });
      results.push(called);
      // A refused call comes back at once: do not spin on a replica that is refusing everything.
      if (called.kind !== 'ok') await delay(20);
    }
  });
  return {
    results,
    /** Resolves once `count` more calls matching `kind` have come back. */
    until: (kind: Called['kind'], count: number) => {
      const from = results.length;
      return waitFor(
        () => results.slice(from).filter((r) => r.kind === kind).length >= count,
        `${count} ${kind} calls`,
      );
    },
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return results;
    },
  };
}

interface AuditCall {
  n: string;
  instance: string;
  decision: string;
  outcome: string | null;
}

/** Every audited intent of the downstream's tools with its outcome (null while it has none). */
async function auditedRows(): Promise<AuditCall[]> {
  const rows = await admin.query<AuditCall>(
    `SELECT i.body::jsonb #>> '{arguments,n}' AS n, i.instance, i.decision, o.outcome
     FROM ${SCHEMA}.audit_entries i
     LEFT JOIN ${SCHEMA}.audit_entries o ON o.id = i.id AND o.kind = 'outcome'
     WHERE i.kind = 'intent' AND i.target IN ('dn__work', 'dn__gated')`,
  );
  return rows.rows;
}

/** The audited calls by their argument `n` (for calls made once each). */
async function audited(): Promise<Map<string, AuditCall>> {
  return new Map((await auditedRows()).map((row) => [row.n, row]));
}

/** What reached the downstream had its intent committed first: nothing was forwarded unaudited. */
async function expectNothingUnaudited(): Promise<void> {
  const allowed = new Map<string, number>();
  for (const row of await auditedRows())
    if (row.decision === 'allow') allowed.set(row.n, (allowed.get(row.n) ?? 0) + 1);
  const received = new Map<string, number>();
  for (const { n } of downstream.received) received.set(n, (received.get(n) ?? 0) + 1);
  const unaudited = [...received].filter(([n, count]) => count > (allowed.get(n) ?? 0));
  expect(unaudited).toEqual([]);
}

/** Waits until every answered ok call has its `ok` outcome in the audit (outcomes kept while the store was away are written when it is back). */
async function expectAnsweredInAudit(results: Called[]): Promise<void> {
  const ok = results.filter((r) => r.kind === 'ok').map((r) => r.n);
  let missing: string[] = [];
  await waitFor(async () => {
    const intents = await audited();
    missing = ok.filter((n) => intents.get(n)?.outcome !== 'ok');
    return missing.length === 0;
  }, 'every answered call to have its outcome in the audit').catch((error: Error) => {
    throw new Error(`${error.message}; missing: ${missing.slice(0, 10).join(', ')} (${missing.length})`);
  });
}

/** /healthz as text: a load balancer's check matches `"storeReachable":true` in it (README). */
const healthz = async (gateway: RunningGateway) => (await fetch(`${gateway.origin}/healthz`)).text();
const STORE_UP = '"storeReachable":true';

describe('three replicas on one PostgreSQL behind a round-robin balancer', () => {
  it('spreads stateless agents over every replica, and an agent revoked with the CLI is refused on each within 1 s', async () => {
    const [revokedToken, bystanderToken] = await Promise.all([
      token({ sub: 'agent:revoked' }),
      token({ sub: 'agent:bystander' }),
    ]);
    const viaBalancer = await agent(balancer.url, revokedToken);
    const bystander = await agent(balancer.url, bystanderToken);
    const direct = await Promise.all(replicas.map((gateway) => agent(gateway.url, revokedToken)));
    const before = new Map(downstream.received.map((r) => [r.replica, 0]));
    for (let i = 0; i < 6; i += 1)
      expect(await work(viaBalancer, `spread-${i}`)).toEqual({ n: `spread-${i}`, kind: 'ok' });
    // Round robin: the six calls (and the agent's other requests) reached all three replicas.
    for (const r of downstream.received)
      if (r.n.startsWith('spread-')) before.set(r.replica, (before.get(r.replica) ?? 0) + 1);
    expect([...before.keys()].sort()).toEqual(['r0', 'r1', 'r2']);

    const cli = await runCliAsync(replicas[0]!.configFile, ['agent', 'revoke', 'agent:revoked']);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const revokedAt = Date.now();
    const delays = await Promise.all(
      direct.map(async (client, i) => {
        const refusal = await waitFor(async () => {
          const called = await work(client, `after-revoke-r${i}-${Date.now()}`);
          return called.kind === 'ok' ? undefined : called;
        }, `the revocation to reach r${i}`);
        expect(refusal).toMatchObject({ kind: 'refused', message: 'ProtocolError: Authentication required' });
        return Date.now() - revokedAt;
      }),
    );
    for (const ms of delays) expect(ms).toBeLessThan(1_000);
    for (let i = 0; i < 3; i += 1) expect((await work(viaBalancer, `revoked-${i}`)).kind).not.toBe('ok');
    for (let i = 0; i < 3; i += 1) expect((await work(bystander, `bystander-${i}`)).kind).toBe('ok');
    await expectNothingUnaudited();
  });

  it('an approval granted through one replica is used through another, once', async () => {
    const bearer = await token({ sub: 'agent:gated' });
    const on = await Promise.all(replicas.map((gateway) => agent(gateway.url, bearer)));
    const gated = (i: number) => work(on[i]!, 'gated-1', {}, 'dn__gated');
    const approve = async (refused: Called, through: RunningGateway) => {
      const id = refused.kind === 'ok' ? undefined : refused.data?.approvalId;
      expect(refused).toMatchObject({ kind: 'refused', message: expect.stringMatching(/Approval required/) });
      const cli = await runCliAsync(through.configFile, ['approvals', 'approve', id!]);
      expect(cli.stderr).toBe('');
      expect(cli.code).toBe(0);
    };
    // Asked on r0, granted with r1's config, used on r2; then spent: r1 asks again.
    await approve(await gated(0), replicas[1]!);
    expect(await gated(2)).toMatchObject({ kind: 'ok' });
    const again = await gated(1);
    expect(again).toMatchObject({ kind: 'refused', message: expect.stringMatching(/Approval required/) });
    // Granted once more, two replicas race for it: one call runs.
    await approve(again, replicas[2]!);
    const race = await Promise.all([gated(0), gated(1)]);
    expect(race.filter((r) => r.kind === 'ok')).toHaveLength(1);
    expect(downstream.received.filter((r) => r.n === 'gated-1')).toHaveLength(2);
    await expectNothingUnaudited();
  });

  it('with PostgreSQL stopped mid-load, refuses calls with a clear error, forwards none unaudited, and resumes by itself', async () => {
    const agents = await Promise.all(
      [1, 2, 3, 4].map(async (i) => agent(balancer.url, await token({ sub: `agent:outage-${i}` }))),
    );
    const running = load(agents, 'outage');
    for (const gateway of replicas) expect(await healthz(gateway)).toContain(STORE_UP);
    await running.until('ok', 30);
    await database.stop();
    for (const gateway of replicas) {
      const down = await waitFor(async () => {
        const text = await healthz(gateway);
        return text.includes(STORE_UP) ? undefined : (JSON.parse(text) as { status: string; store: object });
      }, '/healthz to report the store down');
      expect(down).toMatchObject({
        status: 'degraded',
        storeReachable: false,
        store: { kind: 'postgres', status: 'down' },
      });
    }
    await running.until('refused', 12);
    const downAt = running.results.length;
    await database.start();
    for (const gateway of replicas)
      await waitFor(async () => (await healthz(gateway)).includes(STORE_UP), '/healthz to report the store up');
    const received = downstream.received.length;
    await running.until('ok', 30);
    const results = await running.stop();

    const refused = results.filter((r) => r.kind === 'refused');
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused)
      expect(r).toMatchObject({
        message: expect.stringMatching(
          /^ProtocolError: (Shared state store|Audit log) unavailable: the call was refused and nothing was forwarded/,
        ),
      });
    expect(results.filter((r) => r.kind === 'lost')).toEqual([]);
    // No refused call reached the downstream; every replica serves again on its own.
    const reached = new Set(downstream.received.map((r) => r.n));
    expect(refused.filter((r) => reached.has(r.n))).toEqual([]);
    expect(new Set(downstream.received.slice(received).map((r) => r.replica))).toEqual(new Set(['r0', 'r1', 'r2']));
    expect(results.slice(downAt).some((r) => r.kind === 'ok')).toBe(true);
    await expectAnsweredInAudit(results);
    await expectNothingUnaudited();
    // No call is left looking forwarded: every intent of the run has its outcome (ok, or the refusal).
    const open = [...(await audited()).values()].filter((c) => c.n.startsWith('outage') && c.outcome === null);
    expect(open).toEqual([]);
  });

  it('a replica SIGKILLed under load: every answered call audited with its outcome, its open intents unknown_outcome, the chain verifies', async () => {
    const victim = replicas[1]!;
    const agents = await Promise.all(
      [1, 2, 3, 4].map(async (i) => agent(balancer.url, await token({ sub: `agent:kill-${i}` }))),
    );
    // One call certainly open on the victim when it dies: held by the downstream until the end.
    const holder = await agent(victim.url, await token({ sub: 'agent:held' }));
    const held = work(holder, 'held-on-victim', { hold: true });
    await waitFor(() => (downstream.holding.get('r1') ?? 0) > 0, 'the held call to reach the downstream');
    const running = load(agents, 'kill');
    await running.until('ok', 30);

    const pid = victim.process.child.pid!;
    victim.process.child.kill('SIGKILL');
    await victim.process.exited;
    await running.until('ok', 30);
    const results = await running.stop();
    expect(await held).toMatchObject({ kind: 'lost' });

    // Nothing was refused; calls the victim took with it are lost to their agent, not answered.
    expect(results.filter((r) => r.kind === 'refused')).toEqual([]);
    await expectAnsweredInAudit(results);
    await expectNothingUnaudited();

    // A live replica marks the dead one's open intents unknown_outcome (at its next heartbeat).
    const dead = await admin.query<{ id: string }>(`SELECT id FROM ${SCHEMA}.audit_instances WHERE pid = $1`, [pid]);
    expect(dead.rows).toHaveLength(1);
    const instance = dead.rows[0]!.id;
    await waitFor(
      async () => (await audited()).get('held-on-victim')?.outcome === 'unknown_outcome',
      'the dead replica’s held intent to become unknown_outcome',
    );
    const open = await admin.query(`SELECT id FROM ${SCHEMA}.audit_open_intents WHERE instance = $1`, [instance]);
    expect(open.rows).toEqual([]);
    const fromVictim = [...(await audited()).values()].filter(
      (call) => call.instance === instance && /^(kill-|held-)/.test(call.n),
    );
    for (const call of fromVictim) expect(['ok', 'unknown_outcome']).toContain(call.outcome);
    // Lost calls that reached the victim are unknown_outcome, unless it answered before it died.
    const lost = new Set(results.filter((r) => r.kind === 'lost').map((r) => r.n));
    for (const call of fromVictim) if (lost.has(call.n)) expect(call.outcome).not.toBeNull();

    const verified = await runCliAsync(replicas[0]!.configFile, ['audit', 'verify', '--json']);
    expect(verified.stderr).toBe('');
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, problems: [] });
    expect(verified.code).toBe(0);
  });
});
