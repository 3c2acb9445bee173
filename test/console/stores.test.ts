// Every view of the reviewer console and every action it takes, on both stores (issue 19): a real `serve`
// with its console on the data folder's SQLite files, and on a real PostgreSQL store. The same requests
// get the same answers: the feed and its filters, a call's page, search by id and trace id, events, tasks,
// agents, charts, the chain's verification, tools, approvals (decided in the console, then used by the
// agent), revocations, the live feed and sign-out. On PostgreSQL what the console reads and writes is the
// store's (checked there directly), not the data folder's. With the store cut (a real TCP proxy) the
// console answers 503 and refuses sign-in, and answers again by itself when the store is back.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { BIN, connectHttp, useFixtureHttp } from '../helpers/gateway.js';
import { usePostgres } from '../helpers/postgres.js';
import { spawnReady, waitFor } from '../helpers/process.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import {
  consoleRequest,
  loginCode,
  loginCodeAsync,
  signIn,
  startConsoleGateway,
  type ConsoleGateway,
  type SignedIn,
} from './helpers.js';

const pgDb = usePostgres();

// One downstream for the file's three gateways: the fixture over HTTP, which each gateway connects to.
const fixture = useFixtureHttp();
const servers = () => ({ fx: { transport: 'http', url: fixture.url() } });

const POLICY = `version: 1
agents:
  - id: everyone
    match: {}
    grants:
      - { id: fx-text, effect: allow, tools: [fx__test_simple_text] }
      - { id: fx-pid-approved, effect: allow, tools: [fx__fixture_pid], approval: required }
reviewers:
  - { subject: alice }
`;

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

interface Row {
  id: string;
  target: string | null;
  decision: string;
  outcome: string;
  startedAt: number;
  durationMs: number | null;
  traceId: string | null;
  approval: string | null;
}

type Kind = 'sqlite' | 'postgres';

function callTool(client: Client, name: string, meta?: Record<string, unknown>) {
  return client.callTool({ name, arguments: {}, ...(meta && { _meta: meta }) }).then(
    (result) => ({ ok: true as const, result }),
    (error: { message?: string }) => ({ ok: false as const, message: String(error.message) }),
  );
}

describe.each<Kind>(['sqlite', 'postgres'])('the reviewer console on %s', (kind) => {
  let warden: ConsoleGateway;
  let agent: Client;
  let alice: SignedIn;
  const get = async (path: string) => {
    const response = await consoleRequest(warden.origin, { path, cookie: alice.cookie });
    expect(response.status, `${path}: ${response.text}`).toBe(200);
    return response.json;
  };
  const post = (path: string, body: unknown) =>
    consoleRequest(warden.origin, { path, body, cookie: alice.cookie, csrf: alice.csrf });

  beforeAll(async () => {
    warden = await startConsoleGateway({
      policy: POLICY,
      servers: servers(),
      config: {
        gateway: { approvals: { ttlSeconds: 3_600 } },
        ...(kind === 'postgres' && { store: { kind: 'postgres', url: pgDb.url, schema: 'console_views' } }),
      },
    });
    ({ client: agent } = await connectHttp(warden.gateway.url));
    alice = await signIn(warden.origin, loginCode(warden.gateway.configFile, 'alice'));
    expect(
      (await callTool(agent, 'fx__test_simple_text', { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` })).ok,
    ).toBe(true);
    expect((await callTool(agent, 'fx__test_simple_text')).ok).toBe(true);
    // Not granted: refused, recorded as a denial.
    expect((await callTool(agent, 'fx__test_error')).ok).toBe(false);
  });

  afterAll(async () => {
    await agent?.close();
    await warden?.stop();
  });

  it('keeps nothing of the audit log in the data folder on PostgreSQL', () => {
    expect(existsSync(join(warden.dataDir, 'audit.db'))).toBe(kind === 'sqlite');
  });

  it('lists calls newest first, filtered by tool glob, decision and outcome, and pages by keyset', async () => {
    const all = (await get('/api/calls?limit=50')).rows as Row[];
    expect(all.map((r) => r.target)).toEqual(['fx__test_error', 'fx__test_simple_text', 'fx__test_simple_text']);
    expect(all[1]).toMatchObject({
      decision: 'allow',
      outcome: 'ok',
      traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    expect(typeof all[1]!.startedAt).toBe('number');
    expect(typeof all[1]!.durationMs).toBe('number');
    expect(all[2]!.traceId).toBe(TRACE_ID);
    const denied = (await get('/api/calls?decision=deny')).rows as Row[];
    expect(denied.map((r) => r.target)).toEqual(['fx__test_error']);
    expect((await get('/api/calls?outcome=denied')).rows).toEqual(denied);
    expect(((await get('/api/calls?tool=fx__test_s*')).rows as Row[]).map((r) => r.id)).toEqual(
      all.slice(1).map((r) => r.id),
    );
    const first = await get('/api/calls?limit=1');
    expect((first.rows as Row[]).map((r) => r.id)).toEqual([all[0]!.id]);
    const second = await get(`/api/calls?limit=2&before=${String(first.next)}`);
    expect((second.rows as Row[]).map((r) => r.id)).toEqual(all.slice(1).map((r) => r.id));
    expect(second.next).toBeUndefined();
  });

  it("shows a call's page, and finds a call by its id and by its trace id", async () => {
    const [, , traced] = (await get('/api/calls?limit=50')).rows as Row[];
    const page = await get(`/api/calls/${traced!.id}`);
    expect(page).toMatchObject({
      id: traced!.id,
      intent: { body: { traceId: TRACE_ID, decision: { effect: 'allow' } } },
      outcome: { outcome: 'ok' },
    });
    expect(await get(`/api/search?q=${traced!.id}`)).toEqual({ ids: [traced!.id], by: 'id' });
    expect(await get(`/api/search?q=${TRACE_ID}`)).toEqual({ ids: [traced!.id], by: 'trace' });
    const missing = await consoleRequest(warden.origin, { path: '/api/calls/NOSUCHRECORD', cookie: alice.cookie });
    expect(missing.status).toBe(404);
  });

  it('lists events, by type glob', async () => {
    const events = (await get('/api/events?type=console.*&limit=50')).rows as { type: string; seq: number }[];
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['console.login', 'console.link']));
    expect(events.every((e) => typeof e.seq === 'number')).toBe(true);
  });

  it('charts calls, denials and errors per agent and tool, and counts them per agent', async () => {
    const charts = await get('/api/charts?hours=1');
    const total = (charts.total as { calls: number; denied: number }[]).reduce(
      (sum, p) => ({ calls: sum.calls + p.calls, denied: sum.denied + p.denied }),
      { calls: 0, denied: 0 },
    );
    expect(total).toEqual({ calls: 3, denied: 1 });
    expect(charts.byTool).toEqual(
      expect.arrayContaining([expect.objectContaining({ key: 'fx__test_simple_text', calls: 2, denied: 0 })]),
    );
    const agents = await get('/api/agents');
    expect(agents.rows).toEqual([expect.objectContaining({ subject: 'test-agent', calls: 3, denied: 1 })]);
    expect(typeof (agents.rows as { last: unknown }[])[0]!.last).toBe('number');
  });

  it('verifies the chain', async () => {
    const integrity = await get('/api/integrity?refresh=1');
    expect(integrity.report).toMatchObject({ ok: true, problems: [] });
  });

  it('lists the tools seen, and their pins', async () => {
    const tools = await get('/api/tools');
    expect(tools.available).toBe(true);
    expect((tools.rows as { name: string }[]).map((r) => r.name)).toContain('test_simple_text');
  });

  it('shows an approval the agent asked for; approved in the console, the call goes through once', async () => {
    const held = await callTool(agent, 'fx__fixture_pid');
    expect(held).toMatchObject({ ok: false, message: expect.stringMatching(/Approval/) });
    const pending = (await get('/api/approvals?status=pending')).rows as { id: string; tool: string }[];
    expect(pending).toEqual([expect.objectContaining({ tool: 'fx__fixture_pid', status: 'pending' })]);
    const [row] = (await get('/api/calls?tool=fx__fixture_pid&limit=1')).rows as Row[];
    expect(row).toMatchObject({ outcome: 'rejected', approval: 'pending' });
    expect((await get(`/api/calls/${row!.id}`)).approvals).toEqual([
      expect.objectContaining({ id: pending[0]!.id, status: 'pending' }),
    ]);
    const approved = await post(`/api/approvals/${pending[0]!.id}/approve`, {});
    expect(approved.status, approved.text).toBe(200);
    expect((await callTool(agent, 'fx__fixture_pid')).ok).toBe(true);
    expect(((await get('/api/approvals?status=used')).rows as { id: string }[]).map((r) => r.id)).toEqual([
      pending[0]!.id,
    ]);
    const again = await post(`/api/approvals/${pending[0]!.id}/approve`, {});
    expect(again.status).toBe(409);
    if (kind === 'postgres') {
      const client = new pg.Client({ connectionString: pgDb.url });
      await client.connect();
      try {
        const stored = await client.query('SELECT status, decided_by FROM console_views.approvals WHERE id = $1', [
          pending[0]!.id,
        ]);
        expect(stored.rows).toEqual([{ status: 'used', decided_by: 'alice' }]);
      } finally {
        await client.end();
      }
    }
  });

  it('lists a task begun by an agent; revoked in the console, it reads as revoked', async () => {
    const { client } = await connectHttp(warden.gateway.url);
    try {
      const begun = await client.callTool({
        name: 'warden__begin_task',
        arguments: { purpose: 'triage', tools: ['fx__test_simple_text'] },
      });
      const id = (begun.structuredContent as { task?: { id?: string } } | undefined)?.task?.id;
      expect(id, JSON.stringify(begun)).toEqual(expect.any(String));
      const active = (await get('/api/tasks?status=active')).rows as { id: string; purpose: string; status: string }[];
      expect(active).toEqual([expect.objectContaining({ id, purpose: 'triage', status: 'active' })]);
      const revoked = await post(`/api/tasks/${id}/revoke`, {});
      expect(revoked.status, revoked.text).toBe(200);
      expect(revoked.json).toEqual({ revoked: 1 });
      expect((await get('/api/tasks?status=revoked')).rows).toEqual([
        expect.objectContaining({ id, status: 'revoked' }),
      ]);
      expect((await get('/api/tasks?status=active')).rows).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('pushes new calls on the live feed', async () => {
    const socket = new WebSocket(
      `${warden.origin.replace('http', 'ws')}/api/live`,
      ['warden-console', `csrf.${alice.csrf}`],
      { headers: { origin: warden.origin, cookie: alice.cookie } },
    );
    const seen: { kind: string; target: string | null; outcome: string | null; seq: number }[] = [];
    const hello = new Promise<unknown>((resolve, reject) => {
      socket.once('error', reject);
      socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { type: string; entries?: typeof seen };
        if (message.type === 'hello') resolve(message);
        else seen.push(...(message.entries ?? []));
      });
    });
    try {
      expect(await hello).toMatchObject({ type: 'hello', seq: expect.any(Number) });
      await callTool(agent, 'fx__test_simple_text');
      await waitFor(
        () => seen.some((e) => e.kind === 'outcome' && e.target === 'fx__test_simple_text' && e.outcome === 'ok'),
        'the call on the live feed',
      );
      expect(seen.every((e) => typeof e.seq === 'number')).toBe(true);
    } finally {
      socket.close();
    }
  });

  it('revokes an agent: it is refused from its next call, and the Agents page lists the revocation', async () => {
    const revoked = await post('/api/agents/revoke', { subject: 'test-agent', reason: 'leaked' });
    expect(revoked.status, revoked.text).toBe(200);
    const agents = await get('/api/agents');
    expect(agents.revocations).toEqual([expect.objectContaining({ subject: 'test-agent', reason: 'leaked' })]);
    // The revocation is seen from the agent's next call (PostgreSQL: once the store's NOTIFY is in).
    await waitFor(async () => !(await callTool(agent, 'fx__test_simple_text')).ok, 'the revocation to take effect');
  });

  it('the read-only console (mcp-warden console) shows the same log and refuses every action', async () => {
    const readOnly = await spawnReady(
      process.execPath,
      [BIN, 'console', '--config', warden.gateway.configFile, '--port', '0'],
      { readyPattern: /^mcp-warden console listening on (http:\/\/\S+)$/ },
    );
    try {
      const origin = new URL(readOnly.url!).origin;
      const bob = await signIn(origin, loginCode(warden.gateway.configFile, 'alice'));
      const there = await consoleRequest(origin, { path: '/api/calls?limit=500', cookie: bob.cookie });
      expect(there.status).toBe(200);
      const here = await get('/api/calls?limit=500');
      expect((there.json.rows as Row[]).map((r) => r.id)).toEqual((here.rows as Row[]).map((r) => r.id));
      const refused = await consoleRequest(origin, {
        path: '/api/agents/revoke',
        body: { subject: 'someone' },
        cookie: bob.cookie,
        csrf: bob.csrf,
      });
      expect(refused.status).toBe(403);
    } finally {
      await readOnly.stop();
    }
  });

  it('signs out: the session ends and its cookie is refused', async () => {
    const out = await post('/api/logout', {});
    expect(out.status).toBe(200);
    const after = await consoleRequest(warden.origin, { path: '/api/calls', cookie: alice.cookie });
    expect(after.status).toBe(401);
  });
});

describe('the reviewer console while its PostgreSQL store is unreachable', () => {
  let proxy: TcpProxy;
  let warden: ConsoleGateway;

  beforeAll(async () => {
    const target = new URL(pgDb.url);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const url = new URL(pgDb.url);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    warden = await startConsoleGateway({
      policy: POLICY,
      servers: servers(),
      config: {
        store: {
          kind: 'postgres',
          url: url.href,
          schema: 'console_outage',
          connectTimeoutMs: 2_000,
          statementTimeoutMs: 2_000,
        },
      },
    });
  });

  afterAll(async () => {
    await warden?.stop();
    await proxy?.close();
  });

  it('answers 503 and refuses sign-in, then answers again by itself when the store is back', async () => {
    // The CLI reaches the store through this process's proxy: run without blocking it.
    const alice = await signIn(warden.origin, await loginCodeAsync(warden.gateway.configFile, 'alice'));
    const later = await loginCodeAsync(warden.gateway.configFile, 'alice');
    proxy.cut();
    const down = await consoleRequest(warden.origin, { path: '/api/calls', cookie: alice.cookie });
    expect(down.status, down.text).toBe(503);
    expect(down.json.error).toMatch(/try again/);
    const refused = await consoleRequest(warden.origin, { path: '/api/login', body: { code: later } });
    expect(refused.status).toBe(503);
    expect(refused.headers['set-cookie']).toBeUndefined();
    proxy.restore();
    await waitFor(
      async () => (await consoleRequest(warden.origin, { path: '/api/calls', cookie: alice.cookie })).status === 200,
      'the console to answer again',
    );
    // The code refused while the store was away was not spent: it signs in now.
    await signIn(warden.origin, later);
  });
});
