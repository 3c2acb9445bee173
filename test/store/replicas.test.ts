// Replicas on one PostgreSQL (issue 19): real `serve` processes sharing one store. A revocation made
// with the CLI (same config) or in one replica's console is refused on every replica within 1 s; a console
// sign-in link printed with one replica's config signs in on another, and the session holds and ends on
// every replica; a rate limit of N is N in total
// across replicas; a 2026 listen stream on one replica ends when its agent is revoked through another; an
// approval waiting for a person through one replica is counted by the other's /metrics gauge
// `mcp_warden_approvals_waiting` (pending approvals live in the store; it read the replica's own
// state.db before, where nothing waits); a replica whose store link is cut (a real TCP proxy in front of
// the real server) refuses calls with a clear error recorded in its audit, says so at /healthz, and
// recovers by itself.
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway } from '../helpers/gateway.js';
import { readFileSync } from 'node:fs';
import { runCliAsync } from '../helpers/cli.js';
import { consoleRequest, loginCode, signIn } from '../console/helpers.js';
import { usePostgres } from '../helpers/postgres.js';
import { waitFor } from '../helpers/process.js';
import { replicaSet, type ReplicaSet } from '../helpers/replicas.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { openListen } from '../helpers/listen-2026.js';
import { parseMetrics, valueOf } from '../observe/prometheus.js';

const db = usePostgres();
const METRICS_TOKEN_ENV = 'WARDEN_TEST_REPLICAS_METRICS_TOKEN';
const METRICS_TOKEN = 'replicas-metrics-token-0123456789';

const POLICY = `version: 1
agents:
  - id: verified
    match: { authMethod: jwt }
    grants:
      - { id: echo, effect: allow, tools: [fx__test_simple_text] }
      - { id: limited, effect: allow, tools: [fx__fixture_pid], rateLimit: { calls: 4, perSeconds: 600 } }
      - { id: fx-approved, effect: allow, tools: [fx__test_image_content], approval: required }
reviewers:
  - { subject: alice }
  - { subject: bob }
`;

let set: ReplicaSet;

beforeAll(async () => {
  set = await replicaSet({
    name: 'replicas',
    policy: POLICY,
    issuer: 'https://idp.replicas.test',
    resource: 'http://replicas.test/mcp',
    store: { kind: 'postgres', url: db.url, schema: 'replicas', connectTimeoutMs: 1_000, statementTimeoutMs: 1_000 },
  });
});
afterAll(async () => {
  await set?.close();
});

const connect = (gateway: RunningGateway, token: string): Promise<Client> => set.connect(gateway, token);
const token = (claims: Record<string, unknown>) => set.token(claims);

type Called = { ok: true } | { ok: false; code: number | undefined; message: string };

function call(client: Client, name: string): Promise<Called> {
  return client.callTool({ name, arguments: {} }).then(
    () => ({ ok: true }),
    (error: { code?: number; message?: string }) => ({ ok: false, code: error.code, message: String(error.message) }),
  );
}

/** Calls until the first refusal; returns it and how long after `since` it came. */
async function refusedWithin(client: Client, since: number): Promise<{ refusal: Called; ms: number }> {
  const refusal = await waitFor(async () => {
    const result = await call(client, 'fx__test_simple_text');
    return result.ok ? undefined : result;
  }, 'the revocation to reach the replica');
  return { refusal, ms: Date.now() - since };
}

describe('replicas on one PostgreSQL', () => {
  // Two replicas, each with its reviewer console and its /metrics listener, shared by every test here:
  // each test has agents, ids and a reviewer of its own.
  let a: RunningGateway;
  let b: RunningGateway;
  beforeAll(async () => {
    const extra = {
      console: { enabled: true, port: 0 },
      metrics: { enabled: true, port: 0, bearerTokenEnv: METRICS_TOKEN_ENV },
    };
    const env = { [METRICS_TOKEN_ENV]: METRICS_TOKEN };
    [a, b] = await Promise.all([set.start(extra, env), set.start(extra, env)]);
  });
  /** The origin of a replica's reviewer console. */
  const consoleOf = (gateway: RunningGateway) =>
    new URL((JSON.parse(readFileSync(join(gateway.dir.path, 'data', 'console.json'), 'utf8')) as { url: string }).url)
      .origin;

  it('a token, an agent and a task revoked with the CLI are refused on the other replica within 1 s', async () => {
    const byToken = await token({ sub: 'agent:one', jti: 'jti-one' });
    const byAgent = await token({ sub: 'agent:two' });
    const byTask = await token({ sub: 'agent:three', task: { id: 'task-three', purpose: 'triage' } });
    const bystander = await token({ sub: 'agent:four' });
    const onB = await Promise.all([byToken, byAgent, byTask, bystander].map((t) => connect(b, t)));
    for (const client of onB) expect(await call(client, 'fx__test_simple_text')).toEqual({ ok: true });

    const revocations: [string[], Client][] = [
      [['token', 'revoke', 'jti-one'], onB[0]!],
      [['agent', 'revoke', 'agent:two'], onB[1]!],
      [['task', 'revoke', 'task-three'], onB[2]!],
    ];
    for (const [args, client] of revocations) {
      // Made with replica A's config: the store is all they share.
      const cli = await runCliAsync(a.configFile, args);
      expect(cli.stderr).toBe('');
      expect(cli.code).toBe(0);
      const { refusal, ms } = await refusedWithin(client, Date.now());
      expect(refusal).toMatchObject({ ok: false, message: expect.stringMatching(/Authentication required/) });
      expect(ms).toBeLessThan(1_000);
    }
    expect(await call(onB[3]!, 'fx__test_simple_text')).toEqual({ ok: true });
  });

  it("a 2026 listen stream on one replica ends when its agent is revoked with the other's config", async () => {
    const stream = await openListen(b, await token({ sub: 'agent:listener' }), { toolsListChanged: true });
    await stream.next(() => true, 'the ack');
    expect((await runCliAsync(a.configFile, ['agent', 'revoke', 'agent:listener'])).code).toBe(0);
    const end = await stream.next((m) => m.error !== undefined, 'the error that ends the stream');
    expect(end).toMatchObject({
      id: 'listen-1',
      error: { code: -32000, message: 'Forbidden: the credential, its agent or its task was revoked' },
    });
    await stream.ended;
  });

  it("an agent revoked in one replica's console is refused on the other within 1 s", async () => {
    const client = await connect(b, await token({ sub: 'agent:five' }));
    expect(await call(client, 'fx__test_simple_text')).toEqual({ ok: true });
    const origin = consoleOf(a);
    const session = await signIn(origin, loginCode(a.configFile, 'alice'));
    const revoked = await consoleRequest(origin, {
      path: '/api/agents/revoke',
      body: { subject: 'agent:five' },
      cookie: session.cookie,
      csrf: session.csrf,
    });
    expect(revoked.status, revoked.text).toBe(200);
    const { refusal, ms } = await refusedWithin(client, Date.now());
    expect(refusal).toMatchObject({ ok: false, message: expect.stringMatching(/Authentication required/) });
    expect(ms).toBeLessThan(1_000);
  });

  it('a console sign-in link from one replica signs in on another; the session holds on both and ends on both', async () => {
    const [onA, onB] = [consoleOf(a), consoleOf(b)];
    // The link is printed with A's config; the code is redeemed by B (as behind a load balancer). Bob is
    // this test's reviewer: no other test signs him in.
    const code = loginCode(a.configFile, 'bob');
    const session = await signIn(onB, code);
    // Once only, on any replica.
    const replayed = await consoleRequest(onA, { path: '/api/login', body: { code } });
    expect(replayed.status).toBe(401);
    for (const at of [onA, onB]) {
      const status = await consoleRequest(at, { path: '/api/session', cookie: session.cookie });
      expect(status.status, status.text).toBe(200);
      expect(status.json).toMatchObject({ subject: 'bob' });
    }
    // What A's console shows is the shared log: B's sign-in is on it, once.
    const events = await consoleRequest(onA, { path: '/api/events?type=console.login', cookie: session.cookie });
    expect((events.json.rows as { subject: string }[]).filter((row) => row.subject === 'bob')).toHaveLength(1);
    // Signed out through A, refused by B.
    const out = await consoleRequest(onA, {
      path: '/api/logout',
      body: {},
      cookie: session.cookie,
      csrf: session.csrf,
    });
    expect(out.status).toBe(200);
    expect((await consoleRequest(onB, { path: '/api/session', cookie: session.cookie })).status).toBe(401);
  });

  it("an approval waiting through replica A is counted in replica B's approvals-waiting gauge", async () => {
    const metricsUrl = (gateway: RunningGateway) =>
      waitFor(() => /mcp-warden metrics on (\S+)/.exec(gateway.process.stderr())?.[1], 'the metrics URL on stderr');
    const approvalsWaiting = async (url: string): Promise<number | undefined> => {
      const response = await fetch(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(response.status).toBe(200);
      return valueOf(parseMetrics(await response.text()), 'mcp_warden_approvals_waiting');
    };
    const [onA, onB] = await Promise.all([metricsUrl(a), metricsUrl(b)]);
    // No other test here asks for an approval: none waits yet.
    expect(await approvalsWaiting(onB)).toBe(0);
    // A headless agent (no elicitation) on replica A: the call waits for a person, out-of-band.
    const client = await connect(a, await token({ sub: 'agent:headless' }));
    const outcome = await client.callTool({ name: 'fx__test_image_content', arguments: {} }).then(
      (result) => (result.isError ? 'refused' : 'ok'),
      () => 'refused',
    );
    expect(outcome).toBe('refused');
    expect(await approvalsWaiting(onA)).toBe(1);
    expect(await approvalsWaiting(onB)).toBe(1);
  });

  it('a rate limit of N per window is N in total across replicas', async () => {
    const t = await token({ sub: 'agent:busy' });
    const [onA, onB] = await Promise.all([connect(a, t), connect(b, t)]);
    const results: Called[] = [];
    for (let i = 0; i < 10; i += 1) results.push(await call(i % 2 === 0 ? onA : onB, 'fx__fixture_pid'));
    expect(results.filter((r) => r.ok)).toHaveLength(4);
    for (const refused of results.filter((r) => !r.ok))
      expect(refused).toMatchObject({ message: expect.stringMatching(/Rate limit exceeded/) });
  });
});

describe('a replica that loses its store', () => {
  let proxy: TcpProxy;
  beforeAll(async () => {
    const target = new URL(db.url);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it('refuses calls with a clear error recorded in its audit, says so at /healthz, and recovers by itself', async () => {
    const url = new URL(db.url);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    // A second server that is down (nothing listens on port 1): the replica is degraded, but serves.
    // A replica of its own (its store is behind the proxy), in a schema of its own: its audit is this test's.
    const gateway = await set.start({
      servers: { fx: set.fx, gone: { transport: 'http', url: 'http://127.0.0.1:1/mcp' } },
      store: {
        kind: 'postgres',
        url: url.href,
        schema: 'outage',
        connectTimeoutMs: 1_000,
        statementTimeoutMs: 1_000,
      },
    });
    const client = await connect(gateway, await token({ sub: 'agent:outage' }));
    expect(await call(client, 'fx__test_simple_text')).toEqual({ ok: true });
    const healthz = async () =>
      (await (await fetch(`${gateway.origin}/healthz`)).json()) as {
        status: string;
        storeReachable: boolean;
        store: { status: string; error?: string };
      };
    // What a load balancer checks: the store's reachability in a field of its own, not the overall status
    // (degraded by the downstream that is down, as on every other replica).
    expect(await healthz()).toMatchObject({
      status: 'degraded',
      storeReachable: true,
      store: { kind: 'postgres', status: 'up' },
    });

    proxy.cut();
    const down = await waitFor(async () => {
      const h = await healthz();
      return h.store.status === 'down' ? h : undefined;
    }, '/healthz to report the store down');
    expect(down.status).toBe('degraded');
    expect(down.storeReachable).toBe(false);
    expect(down.store.error).toMatch(/database|connection/);
    // The audit log lives in the same database (store.kind postgres): the refusal is the store's, or the
    // audit's when the denial itself cannot be recorded; either way nothing is forwarded.
    const refused = await call(client, 'fx__test_simple_text');
    expect(refused).toMatchObject({
      ok: false,
      code: -32603,
      message: expect.stringMatching(
        /(Shared state store|Audit log) unavailable: the call was refused and nothing was forwarded/,
      ),
    });

    proxy.restore();
    await waitFor(async () => (await healthz()).storeReachable, '/healthz to report the store reachable');
    expect((await healthz()).store.status).toBe('up');
    const back = await waitFor(async () => {
      const result = await call(client, 'fx__test_simple_text');
      return result.ok ? result : undefined;
    }, 'calls to resume');
    expect(back).toEqual({ ok: true });

    // Refusals the audit could record (once the database answered again, while the replica re-read its
    // revocations) are denied intents naming the store; nothing for the tool ran while it was down.
    const listed = await runCliAsync(gateway.configFile, ['audit', 'list', '--json', '--outcome', 'rejected']);
    expect(listed.code).toBe(0);
    const records = JSON.parse(listed.stdout) as { id: string; decision: string; target: string }[];
    for (const record of records) expect(record).toMatchObject({ decision: 'deny', target: 'fx__test_simple_text' });
    if (records.length > 0) {
      const shown = await runCliAsync(gateway.configFile, ['audit', 'show', records.at(-1)!.id, '--json']);
      expect(shown.stdout).toMatch(/"rule": ?"store"/);
      expect(shown.stdout).toMatch(/"reason": ?"shared store [^"]*\(fail closed\)/);
    }
    const ok = await runCliAsync(gateway.configFile, ['audit', 'list', '--json', '--outcome', 'ok', '-n', '100']);
    expect((JSON.parse(ok.stdout) as unknown[]).length).toBe(2); // the call before the cut, the one after
  });
});
