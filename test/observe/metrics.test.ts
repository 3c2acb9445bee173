// Prometheus metrics through the real gateway: `serve` with a policy (allow, deny, approval, rate limit),
// the real bundled notes server and the conformance fixture over stdio, real SDK clients over Streamable
// HTTP (one answering elicitation, one not), and /metrics scraped over real HTTP.
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { ConfigSchema } from '../../src/config/schema.js';
import { fixtureServer, NOTES, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { recordNotifications } from '../helpers/agent.js';
import { runCliAsync } from '../helpers/cli.js';
import { makeTempDir, waitFor, type TempDir } from '../helpers/process.js';
import { parseMetrics, sumOf, valueOf, type Sample } from './prometheus.js';

const SLOW = 120_000;
const POLICY = join(import.meta.dirname, 'fixtures', 'metrics.policy.yaml');
const TOKEN_ENV = 'WARDEN_TEST_METRICS_TOKEN';
const METRICS_TOKEN = 'metrics-test-token-0123456789';
const AUDIT_QUOTA = 64 * 1024 * 1024;

let gateway: RunningGateway;
let notes: TempDir;
let policyDir: TempDir;
let metricsUrl: string;
const clients: Client[] = [];

async function connect(subject: string, acceptElicitation: boolean): Promise<Client> {
  const issued = await runCliAsync(gateway.configFile, ['token', 'issue', '--sub', subject]);
  expect(issued.code).toBe(0);
  const client = new Client(
    { name: 'metrics-test', version: '1' },
    acceptElicitation ? { capabilities: { elicitation: {}, roots: {} } } : {},
  );
  if (acceptElicitation) client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: {} }));
  if (acceptElicitation)
    client.setRequestHandler(ListRootsRequestSchema, async () => ({
      roots: [{ uri: 'file:///metrics-root', name: 'root' }],
    }));
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { authorization: `Bearer ${issued.stdout.trim()}` } },
    }),
  );
  clients.push(client);
  return client;
}

/** Calls a tool; a refusal is an answer too (the metrics count both). */
async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<'ok' | 'refused'> {
  return client.callTool({ name, arguments: args }).then(
    () => 'ok' as const,
    () => 'refused' as const,
  );
}

async function scrape(headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const response = await fetch(metricsUrl, { headers });
  return { status: response.status, text: await response.text() };
}

describe('GET /metrics after a scripted mix of calls', () => {
  let samples: Sample[];

  beforeAll(async () => {
    process.env[TOKEN_ENV] = METRICS_TOKEN;
    notes = await makeTempDir('warden-metrics-notes');
    // A copy the test breaks at the end, so a failed reload is counted.
    policyDir = await makeTempDir('warden-metrics-policy');
    const policy = join(policyDir.path, 'policy.yaml');
    await copyFile(POLICY, policy);
    gateway = await startGateway({
      auth: { mode: 'jwt', resource: 'http://gateway.test/mcp', builtin: {} },
      policy: { files: [policy], watch: true },
      audit: { maxDatabaseBytes: AUDIT_QUOTA },
      metrics: { enabled: true, port: 0, bearerTokenEnv: TOKEN_ENV },
      servers: {
        notes: { transport: 'stdio', command: 'node', args: [NOTES, '--dir', notes.path] },
        fx: fixtureServer(),
      },
    });
    metricsUrl = await waitFor(
      () => /mcp-warden metrics on (\S+)/.exec(gateway.process.stderr())?.[1],
      'the metrics URL on stderr',
    );

    const person = await connect('agent:with-a-person', true);
    const headless = await connect('agent:headless', false);
    const headlessSaw = recordNotifications(headless);
    expect((await person.listTools()).tools.length).toBeGreaterThan(0);
    expect(await call(person, 'notes__list_notes')).toBe('ok');
    expect(await call(person, 'notes__list_notes')).toBe('ok');
    expect(await call(person, 'fx__fixture_roots')).toBe('ok'); // the server asks the agent for its roots mid-call
    expect(await call(person, 'notes__delete_note', { name: 'x' })).toBe('refused'); // denied by policy
    expect(await call(person, 'nope__no_such_tool')).toBe('refused'); // no such tool
    expect(await call(person, 'fx__fixture_crash')).toBe('refused'); // the downstream dies mid-call
    expect(await call(person, 'notes__write_note', { name: 'a', content: 'approved in-band' })).toBe('ok'); // approved
    expect(await call(headless, 'notes__write_note', { name: 'b', content: 'waits for a person' })).toBe('refused'); // approval waiting
    expect(await call(person, 'notes__search_notes', { query: 'approved' })).toBe('ok');
    expect(await call(person, 'notes__search_notes', { query: 'approved' })).toBe('refused'); // rate limit
    expect((await fetch(gateway.url, { method: 'POST', headers: { authorization: 'Bearer not.a.jwt' } })).status).toBe(
      401,
    );
    expect((await fetch(gateway.url, { method: 'POST' })).status).toBe(401);
    // A rug pull: the fixture changes fixture_rug's description in the headless session and says so; the
    // next list sees the change, and the definition is quarantined.
    expect(await call(headless, 'fx__fixture_mutate', { variant: 'description' })).toBe('ok');
    await waitFor(
      () => headlessSaw.some((n) => n.method === 'notifications/tools/list_changed'),
      'tools/list_changed after the rug pull',
    );
    expect((await headless.listTools()).tools.map((tool) => tool.name)).not.toContain('fx__fixture_rug');
    // A policy edit that does not load: the last good policy stays, and the failure is counted.
    await writeFile(policy, 'version: 1\ngrants:\n  - { id: broken, effect: forbid, tools: ["*"] }\n');
    await waitFor(() => gateway.process.stderr().includes('policy reload failed'), 'the failed reload in the log');

    const scraped = await scrape();
    expect(scraped.status).toBe(200);
    samples = parseMetrics(scraped.text);
  }, SLOW);

  afterAll(async () => {
    for (const client of clients) await client.close().catch(() => undefined);
    delete process.env[TOKEN_ENV];
    await gateway?.stop();
    await notes?.cleanup();
    await policyDir?.cleanup();
  });

  it('counts calls by server, registered tool, decision and outcome, in the 2025 protocol era', () => {
    const calls = (labels: Record<string, string>) =>
      valueOf(samples, 'mcp_warden_calls_total', { ingress: 'http', era: '2025', method: 'tools/call', ...labels });
    expect(calls({ server: 'notes', tool: 'notes__list_notes', decision: 'allow', outcome: 'ok' })).toBe(2);
    expect(calls({ server: 'notes', tool: 'notes__delete_note', decision: 'deny', outcome: 'denied' })).toBe(1);
    // A name nothing answers to is counted without a server or tool label: agents cannot mint series.
    expect(calls({ server: '', tool: '', decision: 'deny', outcome: 'denied' })).toBe(1);
    expect(calls({ server: 'fx', tool: 'fx__fixture_crash', decision: 'allow', outcome: 'downstream_failed' })).toBe(1);
    expect(calls({ server: 'notes', tool: 'notes__write_note', decision: 'approval', outcome: 'ok' })).toBe(1);
    expect(calls({ server: 'notes', tool: 'notes__write_note', decision: 'approval', outcome: 'rejected' })).toBe(1);
    expect(calls({ server: 'notes', tool: 'notes__search_notes', decision: 'allow', outcome: 'ok' })).toBe(1);
    expect(calls({ server: 'notes', tool: 'notes__search_notes', decision: 'deny', outcome: 'rejected' })).toBe(1);
    expect(calls({ server: 'fx', tool: 'fx__fixture_mutate', decision: 'allow', outcome: 'ok' })).toBe(1);
    expect(calls({ server: 'fx', tool: 'fx__fixture_roots', decision: 'allow', outcome: 'ok' })).toBe(1);
    expect(sumOf(samples, 'mcp_warden_calls_total')).toBe(11);
    // Both sessions negotiated 2025-11-25: every call is in the 2025 era, none without one.
    expect(sumOf(samples, 'mcp_warden_calls_total', { era: '2025' })).toBe(11);
    expect(sumOf(samples, 'mcp_warden_call_duration_seconds_count')).toBe(11);
    expect(valueOf(samples, 'mcp_warden_call_duration_seconds_count', { method: 'tools/call', outcome: 'ok' })).toBe(6);
    expect(
      valueOf(samples, 'mcp_warden_call_duration_seconds_sum', { method: 'tools/call', outcome: 'ok' }),
    ).toBeGreaterThan(0);
  });

  it('times each pipeline stage, the downstream per server, and counts downstream errors and rate-limit refusals', () => {
    const stage = (name: string) => valueOf(samples, 'mcp_warden_stage_duration_seconds_count', { stage: name });
    // Ten calls reached the pipeline (the unknown name was refused before it); all were authorized and recorded.
    for (const name of ['authenticate', 'authorize', 'audit_intent', 'audit_outcome']) expect(stage(name)).toBe(10);
    expect(stage('approval')).toBe(1);
    // Forwarded: two lists, the roots call, the crash, the approved write, one search, the rug pull.
    for (const name of ['inject', 'forward']) expect(stage(name)).toBe(7);
    expect(stage('scrub')).toBe(6);
    expect(valueOf(samples, 'mcp_warden_downstream_duration_seconds_count', { server: 'notes' })).toBe(4);
    expect(valueOf(samples, 'mcp_warden_downstream_duration_seconds_count', { server: 'fx' })).toBe(3);
    expect(valueOf(samples, 'mcp_warden_downstream_errors_total', { server: 'fx', outcome: 'downstream_failed' })).toBe(
      1,
    );
    expect(sumOf(samples, 'mcp_warden_downstream_errors_total', { server: 'notes' })).toBe(0);
    expect(valueOf(samples, 'mcp_warden_rate_limit_refusals_total', { server: 'notes' })).toBe(1);
    // The roots request fx sent the agent during its call; nothing else was relayed.
    expect(
      valueOf(samples, 'mcp_warden_relayed_requests_total', {
        ingress: 'http',
        era: '2025',
        method: 'roots/list',
        server: 'fx',
        outcome: 'ok',
      }),
    ).toBe(1);
    expect(sumOf(samples, 'mcp_warden_relayed_requests_total')).toBe(1);
    expect(valueOf(samples, 'mcp_warden_stage_duration_seconds_sum', { stage: 'forward' })).toBeGreaterThan(0);
  });

  it('reports sessions, approvals waiting, held definitions, token failures, the policy and the audit log', () => {
    expect(valueOf(samples, 'mcp_warden_sessions_open')).toBe(2);
    expect(valueOf(samples, 'mcp_warden_approvals_waiting')).toBe(1);
    expect(valueOf(samples, 'mcp_warden_definitions_held', { status: 'quarantined' })).toBe(1);
    expect(valueOf(samples, 'mcp_warden_definitions_held', { status: 'pending' })).toBe(0);
    expect(valueOf(samples, 'mcp_warden_auth_failures_total', { reason: 'invalid' })).toBe(1);
    expect(valueOf(samples, 'mcp_warden_auth_failures_total', { reason: 'no_credential' })).toBe(1);
    expect(valueOf(samples, 'mcp_warden_policy_reload_failures_total')).toBe(1);
    expect(
      valueOf(samples, 'mcp_warden_list_requests_total', {
        ingress: 'http',
        era: '2025',
        method: 'tools/list',
        refused: 'false',
      }),
    ).toBe(2);
    expect(valueOf(samples, 'mcp_warden_circuit_breaker_state', { server: 'notes', state: 'closed' })).toBe(1);
    expect(valueOf(samples, 'mcp_warden_circuit_breaker_state', { server: 'notes', state: 'open' })).toBe(0);
    expect(sumOf(samples, 'mcp_warden_circuit_breaker_state', { server: 'fx' })).toBe(1);
    const policy = samples.filter((s) => s.name === 'mcp_warden_policy_info');
    expect(policy).toHaveLength(1);
    expect(policy[0]!.labels.version).toMatch(/\S/);
    expect(policy[0]!.value).toBe(1);
    // Every call wrote an intent and an outcome, so at least 18 entries went through group commits.
    expect(valueOf(samples, 'mcp_warden_audit_commit_duration_seconds_count')).toBeGreaterThan(0);
    expect(valueOf(samples, 'mcp_warden_audit_commit_entries_sum')).toBeGreaterThanOrEqual(18);
    expect(valueOf(samples, 'mcp_warden_audit_queue_depth')).toBe(0);
    const bytes = valueOf(samples, 'mcp_warden_audit_database_bytes')!;
    expect(bytes).toBeGreaterThan(0);
    expect(valueOf(samples, 'mcp_warden_audit_quota_headroom_bytes')).toBe(AUDIT_QUOTA - bytes);
    expect(valueOf(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });

  it('never labels a subject, task id or argument', () => {
    const text = JSON.stringify(samples);
    for (const secretish of ['agent:with-a-person', 'agent:headless', 'approved in-band', 'waits for a person'])
      expect(text).not.toContain(secretish);
    const labelNames = new Set(
      samples.filter((s) => s.name.startsWith('mcp_warden_')).flatMap((s) => Object.keys(s.labels)),
    );
    expect([...labelNames].sort()).toEqual([
      'decision',
      'era',
      'ingress',
      'le',
      'method',
      'outcome',
      'reason',
      'refused',
      'server',
      'stage',
      'state',
      'status',
      'tool',
      'version',
    ]);
  });

  it('answers loopback peers naming a loopback Host, or the bearer token; nobody else', async () => {
    const raw = async (host: string, authorization?: string) => {
      const { request } = await import('node:http');
      const url = new URL(metricsUrl);
      return new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            headers: { host, ...(authorization && { authorization }) },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
    };
    // A page that rebound its DNS name to 127.0.0.1 sends its own Host: refused without the token.
    expect(await raw('attacker.example')).toBe(401);
    expect(await raw('attacker.example', 'Bearer wrong-token')).toBe(401);
    expect(await raw('attacker.example', `Bearer ${METRICS_TOKEN}`)).toBe(200);
    expect(await raw(new URL(metricsUrl).host)).toBe(200);
    // Not on the agents' listener unless configured.
    expect((await fetch(`${gateway.origin}/metrics`)).status).toBe(404);
  });
});

describe('where /metrics is served', () => {
  it(
    "on the console's listener by default, and on the agents' listener only when configured",
    async () => {
      const served = await startGateway({
        console: { enabled: true, port: 0 },
        metrics: { enabled: true, agentListener: true },
        servers: { fx: fixtureServer() },
      });
      try {
        const consoleUrl = await waitFor(
          () => /reviewer console on (\S+)/.exec(served.process.stderr())?.[1],
          'the console URL on stderr',
        );
        const onConsole = await fetch(new URL('/metrics', consoleUrl));
        expect(onConsole.status).toBe(200);
        expect(onConsole.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
        const text = await onConsole.text();
        expect(text).toContain('# TYPE mcp_warden_calls_total counter');
        // No audit quota configured: no headroom figure rather than a misleading 0.
        expect(text).toContain('# TYPE mcp_warden_audit_database_bytes gauge');
        expect(parseMetrics(text).some((s) => s.name === 'mcp_warden_audit_quota_headroom_bytes')).toBe(false);
        expect((await fetch(`${served.origin}/metrics`)).status).toBe(200);
      } finally {
        await served.stop();
      }
    },
    SLOW,
  );

  it('refuses a config that enables metrics with no listener to serve them', () => {
    const parsed = ConfigSchema.safeParse({ version: 1, metrics: { enabled: true }, servers: {} });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain('needs a listener');
    expect(ConfigSchema.safeParse({ version: 1, metrics: { enabled: true, port: 0 }, servers: {} }).success).toBe(true);
  });
});
