// The reviewer console's access control and API, against the real gateway: sign-in codes (forged,
// replayed, expired, non-reviewer), cookie flags, CSP, CSRF, Host/Origin checks, the WebSocket upgrade,
// pagination over real audit rows, and the read-only `mcp-warden console`.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { auditFile, openAuditDb } from '../../src/audit/store.js';
import { series, sqliteQuery } from '../../src/console/queries.js';
import { ConsoleSessions } from '../../src/console/sessions.js';
import { ApprovalStore } from '../../src/integrity/approvals.js';
import { stateFile } from '../../src/state/db.js';
import { TaskStore } from '../../src/tasks/store.js';
import { runCli } from '../helpers/cli.js';
import { BIN, connectHttp } from '../helpers/gateway.js';
import { spawnReady, waitFor, type ReadyProcess } from '../helpers/process.js';
import {
  consoleRequest,
  loginCode,
  signIn,
  startConsoleGateway,
  type ConsoleGateway,
  type SignedIn,
} from './helpers.js';

/** Sends bytes as they are on a fresh connection and returns everything the server answers. */
function rawLine(origin: string, text: string): Promise<string> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(text));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function auditEvents(
  dataDir: string,
  type: string,
): { subject: string | null; task_id: string | null; body: string }[] {
  const db = openAuditDb(auditFile(dataDir), { readonly: true });
  try {
    return db
      .prepare("SELECT subject, task_id, body FROM entries WHERE kind = 'event' AND type = ? ORDER BY seq")
      .all(type) as { subject: string | null; task_id: string | null; body: string }[];
  } finally {
    db.close();
  }
}

/** Opens the live feed with these headers (and the CSRF token as a subprotocol, as the page does); resolves with the first message, or the HTTP status it was refused with. */
function openLive(
  origin: string,
  headers: Record<string, string>,
  csrf?: string,
): Promise<{ socket?: WebSocket; status?: number; first?: unknown }> {
  return new Promise((resolve, reject) => {
    const protocols = csrf === undefined ? [] : ['warden-console', `csrf.${csrf}`];
    const socket = new WebSocket(`${origin.replace('http', 'ws')}/api/live`, protocols, { headers });
    socket.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode });
      socket.terminate();
    });
    socket.once('message', (data) => resolve({ socket, first: JSON.parse(String(data)) }));
    socket.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

describe('reviewer console: access and API', () => {
  let warden: ConsoleGateway;
  let agent: Client;
  let alice: SignedIn;

  beforeAll(async () => {
    warden = await startConsoleGateway();
    ({ client: agent } = await connectHttp(warden.gateway.url));
    alice = await signIn(warden.origin, loginCode(warden.gateway.configFile, 'alice'));
  });

  afterAll(async () => {
    await agent?.close();
    await warden?.stop();
  });

  it('serves the page with a strict CSP, nosniff, no referrer, and no inline script or style', async () => {
    const page = await consoleRequest(warden.origin, { path: '/' });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toBe(CSP);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(page.text).not.toMatch(/\sstyle=|<style/i);
    expect(page.text).not.toMatch(/https?:\/\//);
    const script = await consoleRequest(warden.origin, { path: '/app.js' });
    expect(script.headers['content-type']).toMatch(/^text\/javascript/);
    expect(script.text).not.toMatch(
      /\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|\beval\(|new Function/,
    );
  });

  it('serves no file outside its fixed set, whatever the raw request line says', async () => {
    // Raw request lines over a socket: no client-side URL parser normalises them first.
    for (const target of [
      '/../package.json',
      '/..%2fpackage.json',
      '/%2e%2e/%2e%2e/package.json',
      '/web/../../../../package.json',
      '/app.js/../../package.json',
    ]) {
      const reply = await rawLine(
        warden.origin,
        `GET ${target} HTTP/1.1\r\nHost: ${new URL(warden.origin).host}\r\nConnection: close\r\n\r\n`,
      );
      expect(reply, target).toMatch(/^HTTP\/1\.1 404 /);
      expect(reply, target).not.toContain('"name": "mcp-warden"');
    }
  });

  it('sets an HttpOnly, SameSite=Strict session cookie for a valid one-time code', async () => {
    expect(alice.setCookie).toMatch(/^warden_console=[A-Za-z0-9_-]{43}; /);
    expect(alice.setCookie).toMatch(/; HttpOnly/);
    expect(alice.setCookie).toMatch(/; SameSite=Strict/);
    expect(alice.setCookie).toMatch(/; Path=\//);
    const session = await consoleRequest(warden.origin, { path: '/api/session', cookie: alice.cookie });
    expect(session.status).toBe(200);
    expect(session.json).toMatchObject({ subject: 'alice', readOnly: false });
    // The CSRF token is given once, at sign-in: the cookie alone (which browsers send to every port of
    // this host) does not get it back.
    expect(alice.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.text).not.toContain(alice.csrf);
  });

  it('records every sign-in as console.login, before the session exists', async () => {
    const events = auditEvents(warden.dataDir, 'console.login');
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(events[0]!.body).data).toMatchObject({ subject: 'alice', by: 'alice', via: 'console' });
    expect(events[0]!.subject).toBe('alice');
  });

  it('a new code exchanged on a request carrying an old session cookie ends the old session', async () => {
    const old = await signIn(warden.origin, loginCode(warden.gateway.configFile, 'alice'));
    const swapped = await consoleRequest(warden.origin, {
      path: '/api/login',
      cookie: old.cookie,
      body: { code: loginCode(warden.gateway.configFile, 'alice') },
    });
    expect(swapped.status, swapped.text).toBe(200);
    expect((await consoleRequest(warden.origin, { path: '/api/session', cookie: old.cookie })).status).toBe(401);
    const fresh = String(swapped.headers['set-cookie']?.[0] ?? '').split(';')[0]!;
    expect((await consoleRequest(warden.origin, { path: '/api/session', cookie: fresh })).status).toBe(200);
  });

  it('answers a malformed %-escape with 400 and an unknown chart window with 400', async () => {
    const bad = await consoleRequest(warden.origin, { path: '/api/calls/%E0%A4%A', cookie: alice.cookie });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/%-escape/);
    expect((await consoleRequest(warden.origin, { path: '/api/charts?hours=5', cookie: alice.cookie })).status).toBe(
      400,
    );
    expect((await consoleRequest(warden.origin, { path: '/api/charts?hours=168', cookie: alice.cookie })).status).toBe(
      200,
    );
  });

  it('refuses a replayed code, a forged code and an expired code', async () => {
    const code = loginCode(warden.gateway.configFile, 'alice');
    await signIn(warden.origin, code);
    const replay = await consoleRequest(warden.origin, { path: '/api/login', body: { code } });
    expect(replay.status).toBe(401);
    expect(replay.headers['set-cookie']).toBeUndefined();
    const forged = await consoleRequest(warden.origin, {
      path: '/api/login',
      body: { code: randomBytes(32).toString('base64url') },
    });
    expect(forged.status).toBe(401);
    const junk = await consoleRequest(warden.origin, { path: '/api/login', body: { code: "' OR 1=1 --" } });
    expect(junk.status).toBe(401);
    // A code created ten minutes ago with a two-minute lifetime: expired, without waiting for it.
    const sessions = ConsoleSessions.open(stateFile(warden.dataDir));
    const old = await sessions.createLoginCode({ subject: 'alice' }, Date.now() - 600_000, 120_000);
    await sessions.close();
    const expired = await consoleRequest(warden.origin, { path: '/api/login', body: { code: old.code } });
    expect(expired.status).toBe(401);
    expect(expired.json.error).toMatch(/invalid, expired or already used/);
  });

  it('refuses a non-reviewer: no link from the CLI, and a code minted for one anyway gets no session', async () => {
    const cli = runCli(warden.gateway.configFile, ['console', 'login', '--sub', 'mallory']);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/mallory is not a reviewer/);
    expect(cli.stdout).toBe('');
    const sessions = ConsoleSessions.open(stateFile(warden.dataDir));
    const minted = await sessions.createLoginCode({ subject: 'mallory' }, Date.now(), 120_000);
    await sessions.close();
    const response = await consoleRequest(warden.origin, { path: '/api/login', body: { code: minted.code } });
    expect(response.status).toBe(403);
    expect(response.headers['set-cookie']).toBeUndefined();
  });

  it('refuses the API without a session, and with a forged cookie', async () => {
    expect((await consoleRequest(warden.origin, { path: '/api/calls' })).status).toBe(401);
    const forged = `warden_console=${randomBytes(32).toString('base64url')}`;
    expect((await consoleRequest(warden.origin, { path: '/api/calls', cookie: forged })).status).toBe(401);
  });

  it('refuses a foreign Host (DNS rebinding) and a foreign Origin on every route', async () => {
    expect((await consoleRequest(warden.origin, { path: '/', host: 'evil.example:80' })).status).toBe(403);
    const foreign = await consoleRequest(warden.origin, {
      path: '/api/session',
      cookie: alice.cookie,
      origin: 'https://evil.example',
    });
    expect(foreign.status).toBe(403);
  });

  it('refuses state-changing requests without the CSRF token, with a wrong one, or from another Origin', async () => {
    const store = TaskStore.open(stateFile(warden.dataDir));
    store.insert({
      id: 'task-csrf',
      issuer: 'urn:test',
      subject: 'test-agent',
      source: 'session',
      gateway: 'test',
      createdAt: Date.now(),
      expiresAt: Date.now() + 3_600_000,
    });
    store.close();
    const path = '/api/tasks/task-csrf/revoke';
    const attempts = [
      { cookie: alice.cookie, body: {} },
      { cookie: alice.cookie, body: {}, csrf: 'not-the-token' },
      { cookie: alice.cookie, body: {}, csrf: alice.csrf, origin: 'https://evil.example' },
      { cookie: alice.cookie, body: {}, csrf: alice.csrf, origin: null },
    ];
    for (const attempt of attempts)
      expect((await consoleRequest(warden.origin, { path, ...attempt })).status).toBe(403);
    const open = TaskStore.open(stateFile(warden.dataDir), { readonly: true });
    expect(open.list({ all: false, now: Date.now() }).map((t) => t.id)).toContain('task-csrf');
    open.close();

    // With the token: the task is revoked and the decision is in the audit log with the reviewer as actor.
    const done = await consoleRequest(warden.origin, { path, cookie: alice.cookie, csrf: alice.csrf, body: {} });
    expect(done.status, done.text).toBe(200);
    const after = TaskStore.open(stateFile(warden.dataDir), { readonly: true });
    expect(after.list({ all: true, now: Date.now() }).find((t) => t.id === 'task-csrf')?.endReason).toBe('revoked');
    after.close();
    const events = await waitFor(
      () => auditEvents(warden.dataDir, 'task.revoke').filter((e) => e.task_id === 'task-csrf'),
      'the task.revoke event',
    );
    expect(JSON.parse(events[0]!.body).data).toMatchObject({ by: 'alice', via: 'console' });
  });

  it('revokes an agent and denies an approval, each recorded with the reviewer; a second decision is refused', async () => {
    const revoked = await consoleRequest(warden.origin, {
      path: '/api/agents/revoke',
      cookie: alice.cookie,
      csrf: alice.csrf,
      body: { subject: 'agent:gone', reason: 'left the team' },
    });
    expect(revoked.status, revoked.text).toBe(200);
    const store = TaskStore.open(stateFile(warden.dataDir), { readonly: true });
    expect(store.revocations()).toContainEqual(
      expect.objectContaining({ subject: 'agent:gone', issuer: '*', reason: 'left the team' }),
    );
    store.close();
    const agentEvents = await waitFor(
      () => auditEvents(warden.dataDir, 'agent.revoke').filter((e) => e.subject === 'agent:gone'),
      'the agent.revoke event',
    );
    expect(JSON.parse(agentEvents[0]!.body).data).toMatchObject({ by: 'alice', via: 'console', subject: 'agent:gone' });

    const approvals = ApprovalStore.open(stateFile(warden.dataDir));
    const binding = {
      issuer: 'urn:test',
      subject: 'test-agent',
      server: 'fx',
      tool: 'fx__fixture_pid',
      definitionHash: 'sha256:0',
      argumentsDigest: 'sha256:1',
    };
    const { row } = approvals.request({
      binding,
      channel: 'out-of-band',
      summary: { tool: 'fx__fixture_pid', server: 'fx', arguments: {} },
      now: Date.now(),
      ttlMs: 300_000,
    });
    approvals.close();
    const listed = await consoleRequest(warden.origin, { path: '/api/approvals?status=pending', cookie: alice.cookie });
    expect((listed.json.rows as { id: string }[]).map((r) => r.id)).toContain(row.id);
    const denied = await consoleRequest(warden.origin, {
      path: `/api/approvals/${row.id}/deny`,
      cookie: alice.cookie,
      csrf: alice.csrf,
      body: { reason: 'not today' },
    });
    expect(denied.status, denied.text).toBe(200);
    expect(denied.json).toMatchObject({ status: 'denied', decidedBy: 'alice', reason: 'not today' });
    const again = await consoleRequest(warden.origin, {
      path: `/api/approvals/${row.id}/approve`,
      cookie: alice.cookie,
      csrf: alice.csrf,
      body: {},
    });
    expect(again.status).toBe(409);
    const events = await waitFor(
      () => auditEvents(warden.dataDir, 'approval.deny').filter((e) => JSON.parse(e.body).data.approvalId === row.id),
      'the approval.deny event',
    );
    expect(JSON.parse(events[0]!.body).data).toMatchObject({ by: 'alice', via: 'console' });
  });

  it('refuses to approve a tool definition other than the one the reviewer looked at', async () => {
    const tools = await consoleRequest(warden.origin, { path: '/api/tools?status=pinned', cookie: alice.cookie });
    const pin = (tools.json.rows as { server: string; kind: string; name: string; currentHash: string }[]).find(
      (p) => p.name === 'test_simple_text',
    )!;
    expect(pin).toBeDefined();
    const stale = await consoleRequest(warden.origin, {
      path: '/api/tools/reject',
      cookie: alice.cookie,
      csrf: alice.csrf,
      body: { server: pin.server, kind: pin.kind, name: pin.name, expectedHash: 'sha256:not-what-it-is-now' },
    });
    expect(stale.status).toBe(409);
    expect(stale.json.error).toMatch(/changed again/);
    const unknown = await consoleRequest(warden.origin, {
      path: '/api/tools/approve',
      cookie: alice.cookie,
      csrf: alice.csrf,
      body: { server: 'fx', kind: 'tool', name: 'nope', expectedHash: 'sha256:x' },
    });
    expect(unknown.status).toBe(409);
    expect(auditEvents(warden.dataDir, 'tool.reject')).toEqual([]);
  });

  it('answers bad input with a clear error and stays up', async () => {
    const notJson = await consoleRequest(warden.origin, {
      path: '/api/agents/revoke',
      cookie: alice.cookie,
      csrf: alice.csrf,
      body: '{not json',
    });
    expect(notJson.status).toBe(400);
    expect(notJson.json.error).toMatch(/not JSON/);
    const missing = await consoleRequest(warden.origin, {
      path: '/api/agents/revoke',
      cookie: alice.cookie,
      csrf: alice.csrf,
      body: {},
    });
    expect(missing.status).toBe(400);
    expect(missing.json.error).toMatch(/subject is required/);
    const badLimit = await consoleRequest(warden.origin, { path: '/api/calls?limit=-4', cookie: alice.cookie });
    expect(badLimit.status).toBe(400);
    const big = await consoleRequest(warden.origin, {
      path: '/api/agents/revoke',
      cookie: alice.cookie,
      csrf: alice.csrf,
      body: JSON.stringify({ subject: 'x'.repeat(20_000) }),
    });
    expect(big.status).toBe(413);
    expect((await consoleRequest(warden.origin, { path: '/api/session', cookie: alice.cookie })).status).toBe(200);
  });

  it('opens the live feed only with the session cookie, its CSRF token and the console Origin, and pushes new calls', async () => {
    expect((await openLive(warden.origin, { origin: warden.origin }, alice.csrf)).status).toBe(401);
    expect(
      (await openLive(warden.origin, { origin: 'https://evil.example', cookie: alice.cookie }, alice.csrf)).status,
    ).toBe(403);
    expect((await openLive(warden.origin, { cookie: alice.cookie }, alice.csrf)).status).toBe(403);
    // The cookie and Origin without the token (what another local port that received the cookie could send).
    expect((await openLive(warden.origin, { origin: warden.origin, cookie: alice.cookie })).status).toBe(403);
    expect(
      (
        await openLive(
          warden.origin,
          { origin: warden.origin, cookie: alice.cookie },
          randomBytes(32).toString('base64url'),
        )
      ).status,
    ).toBe(403);
    const live = await openLive(warden.origin, { origin: warden.origin, cookie: alice.cookie }, alice.csrf);
    expect(live.first).toMatchObject({ type: 'hello' });
    const seen: { kind: string; target: string | null; outcome: string | null }[] = [];
    live.socket!.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; entries?: typeof seen };
      if (message.type === 'entries') seen.push(...message.entries!);
    });
    await agent.callTool({ name: 'fx__test_simple_text', arguments: {} });
    await waitFor(
      () => seen.some((e) => e.kind === 'outcome' && e.target === 'fx__test_simple_text' && e.outcome === 'ok'),
      'the call on the live feed',
    );
    expect(seen.some((e) => e.kind === 'intent' && e.target === 'fx__test_simple_text')).toBe(true);
    live.socket!.close();
  });

  it('pages through calls by keyset, filters by outcome and finds a call by its trace id', async () => {
    for (let i = 0; i < 5; i += 1) await agent.callTool({ name: 'fx__test_simple_text', arguments: {} });
    await agent.callTool({ name: 'fx__fixture_pid', arguments: {} }).catch(() => undefined);
    const ids: string[] = [];
    let before: string | undefined;
    for (let page = 0; page < 20; page += 1) {
      const response = await consoleRequest(warden.origin, {
        path: `/api/calls?tool=fx__*&limit=2${before ? `&before=${before}` : ''}`,
        cookie: alice.cookie,
      });
      expect(response.status).toBe(200);
      const rows = response.json.rows as { id: string }[];
      expect(rows.length).toBeLessThanOrEqual(2);
      ids.push(...rows.map((r) => r.id));
      before = response.json.next as string | undefined;
      if (!before) break;
    }
    expect(ids.length).toBeGreaterThanOrEqual(7);
    expect(new Set(ids).size).toBe(ids.length);
    // Outcome alone drives the query from the outcomes' index: its cursor pages just as well.
    const okIds: string[] = [];
    before = undefined;
    for (let page = 0; page < 20; page += 1) {
      const response = await consoleRequest(warden.origin, {
        path: `/api/calls?outcome=ok&limit=2${before ? `&before=${before}` : ''}`,
        cookie: alice.cookie,
      });
      okIds.push(
        ...(response.json.rows as { id: string; outcome: string }[]).map((r) => (expect(r.outcome).toBe('ok'), r.id)),
      );
      before = response.json.next as string | undefined;
      if (!before) break;
    }
    expect(okIds.length).toBeGreaterThanOrEqual(6);
    expect(new Set(okIds).size).toBe(okIds.length);
    const denied = await consoleRequest(warden.origin, { path: '/api/calls?outcome=denied', cookie: alice.cookie });
    const deniedRows = denied.json.rows as {
      target: string;
      outcome: string;
      rule: string | null;
      traceId: string;
      id: string;
    }[];
    expect(deniedRows.map((r) => r.target)).toEqual(['fx__fixture_pid']);
    const byTrace = await consoleRequest(warden.origin, {
      path: `/api/search?q=${encodeURIComponent(deniedRows[0]!.traceId)}`,
      cookie: alice.cookie,
    });
    expect(byTrace.json).toMatchObject({ by: 'trace', ids: [deniedRows[0]!.id] });
    const detail = await consoleRequest(warden.origin, {
      path: `/api/calls/${deniedRows[0]!.id}`,
      cookie: alice.cookie,
    });
    expect((detail.json.intent as { body: { decision: { effect: string } } }).body.decision.effect).toBe('deny');
  });

  it('charts only the busiest agents or tools, with totals over all of them', async () => {
    const charts = await consoleRequest(warden.origin, { path: '/api/charts?hours=1', cookie: alice.cookie });
    expect(charts.status).toBe(200);
    const byTool = charts.json.byTool as { key: string; calls: number }[];
    const total = (charts.json.total as { calls: number }[]).reduce((sum, p) => sum + p.calls, 0);
    expect(total).toBe(byTool.reduce((sum, p) => sum + p.calls, 0));
    expect(new Set(byTool.map((p) => p.key)).size).toBeGreaterThanOrEqual(2);
    // Limited to the busiest one: the simple-text tool, called most above.
    const db = openAuditDb(auditFile(warden.dataDir), { readonly: true });
    try {
      const top = await series(sqliteQuery(db), 'tool', charts.json.since as number, charts.json.bucketMs as number, 1);
      expect(new Set(top.map((p) => p.key))).toEqual(new Set(['fx__test_simple_text']));
    } finally {
      db.close();
    }
  });

  it('shows the chain verification result and the latest signed checkpoint', async () => {
    const integrity = await consoleRequest(warden.origin, { path: '/api/integrity?refresh=1', cookie: alice.cookie });
    expect(integrity.status).toBe(200);
    expect(integrity.json.report).toMatchObject({ ok: true, problems: [] });
    expect(integrity.json.checkpoint).toMatchObject({ signature: { ok: true } });
  });

  it('runs at most one full chain verification a minute: a refresh right after gets the cached result, saying so', async () => {
    const first = await consoleRequest(warden.origin, { path: '/api/integrity?refresh=1', cookie: alice.cookie });
    const entries = (first.json.report as { entries: number }).entries;
    // New entries: a verification that ran again would count them.
    await agent.callTool({ name: 'fx__test_simple_text', arguments: {} });
    const again = await consoleRequest(warden.origin, { path: '/api/integrity?refresh=1', cookie: alice.cookie });
    expect(again.status).toBe(200);
    expect((again.json.report as { entries: number }).entries).toBe(entries);
    expect(again.json).toMatchObject({
      cached: true,
      verifiedAt: first.json.verifiedAt,
      nextVerificationAt: (first.json.verifiedAt as number) + 60_000,
    });
  });

  it('a 2 KiB frame from a signed-in client closes that socket only: the gateway answers MCP and the console', async () => {
    const live = await openLive(warden.origin, { origin: warden.origin, cookie: alice.cookie }, alice.csrf);
    expect(live.first).toMatchObject({ type: 'hello' });
    const closed = new Promise<number>((resolve) => live.socket!.once('close', (code) => resolve(code)));
    live.socket!.on('error', () => undefined);
    live.socket!.send(Buffer.alloc(2048, 0x41));
    expect(await closed).toBe(1009);
    expect(warden.gateway.process.child.exitCode).toBeNull();
    const result = (await agent.callTool({ name: 'fx__test_simple_text', arguments: {} })) as { isError?: boolean };
    expect(result.isError).not.toBe(true);
    expect((await consoleRequest(warden.origin, { path: '/api/session', cookie: alice.cookie })).status).toBe(200);
    const again = await openLive(warden.origin, { origin: warden.origin, cookie: alice.cookie }, alice.csrf);
    expect(again.first).toMatchObject({ type: 'hello' });
    again.socket!.close();
  });

  it('filters tasks by status before the page limit', async () => {
    const store = TaskStore.open(stateFile(warden.dataDir));
    // Newer than the task revoked above, and still open.
    store.insert({
      id: 'task-newer',
      issuer: 'urn:test',
      subject: 'test-agent',
      source: 'session',
      gateway: 'test',
      createdAt: Date.now() + 1_000,
      expiresAt: Date.now() + 3_600_000,
    });
    store.close();
    const revoked = await consoleRequest(warden.origin, {
      path: '/api/tasks?status=revoked&limit=1',
      cookie: alice.cookie,
    });
    expect(revoked.status).toBe(200);
    expect((revoked.json.rows as { status: string }[]).map((t) => t.status)).toEqual(['revoked']);
    const active = await consoleRequest(warden.origin, {
      path: '/api/tasks?status=active&limit=1',
      cookie: alice.cookie,
    });
    expect((active.json.rows as { id: string }[]).map((t) => t.id)).toEqual(['task-newer']);
    expect(
      (await consoleRequest(warden.origin, { path: '/api/tasks?status=bogus', cookie: alice.cookie })).status,
    ).toBe(400);
  });

  it('signing out ends the session on the server and is recorded', async () => {
    const before = auditEvents(warden.dataDir, 'console.logout').length;
    const bob = await signIn(warden.origin, loginCode(warden.gateway.configFile, 'alice'));
    expect(
      (await consoleRequest(warden.origin, { path: '/api/logout', cookie: bob.cookie, csrf: bob.csrf, body: {} }))
        .status,
    ).toBe(200);
    expect((await consoleRequest(warden.origin, { path: '/api/session', cookie: bob.cookie })).status).toBe(401);
    const events = auditEvents(warden.dataDir, 'console.logout');
    expect(events.length).toBe(before + 1);
    expect(JSON.parse(events.at(-1)!.body).data).toMatchObject({ subject: 'alice', by: 'alice', via: 'console' });
  });

  describe('read-only `mcp-warden console`', () => {
    let readOnly: ReadyProcess;
    let origin: string;

    beforeAll(async () => {
      readOnly = await spawnReady(
        process.execPath,
        [BIN, 'console', '--config', warden.gateway.configFile, '--port', '0'],
        { readyPattern: /^mcp-warden console listening on (http:\/\/\S+)$/ },
      );
      origin = new URL(readOnly.url!).origin;
    });

    afterAll(async () => {
      await readOnly?.stop();
    });

    it('accepts codes from `console login`, shows the log, and refuses every action server-side', async () => {
      const reviewer = await signIn(origin, loginCode(warden.gateway.configFile, 'alice'));
      const session = await consoleRequest(origin, { path: '/api/session', cookie: reviewer.cookie });
      expect(session.json).toMatchObject({ subject: 'alice', readOnly: true });
      const calls = await consoleRequest(origin, { path: '/api/calls', cookie: reviewer.cookie });
      expect((calls.json.rows as unknown[]).length).toBeGreaterThan(0);
      const store = TaskStore.open(stateFile(warden.dataDir));
      store.insert({
        id: 'task-ro',
        issuer: 'urn:test',
        subject: 'test-agent',
        source: 'session',
        gateway: 'test',
        createdAt: Date.now(),
        expiresAt: Date.now() + 3_600_000,
      });
      store.close();
      for (const [path, body] of [
        ['/api/tasks/task-ro/revoke', {}],
        ['/api/agents/revoke', { subject: 'test-agent' }],
        ['/api/approvals/01ABC/approve', {}],
        ['/api/tools/approve', { server: 'fx', kind: 'tool', name: 'x', expectedHash: 'sha256:x' }],
      ] as const) {
        const refused = await consoleRequest(origin, { path, cookie: reviewer.cookie, csrf: reviewer.csrf, body });
        expect(refused.status, path).toBe(403);
        expect(refused.json.error).toMatch(/read-only/);
      }
      const after = TaskStore.open(stateFile(warden.dataDir), { readonly: true });
      expect(after.list({ all: false, now: Date.now() }).map((t) => t.id)).toContain('task-ro');
      expect(after.revocations().map((r) => r.subject)).not.toContain('test-agent');
      after.close();
    });

    it('records sign-in and sign-out in the shared audit log', async () => {
      const logins = auditEvents(warden.dataDir, 'console.login').length;
      const logouts = auditEvents(warden.dataDir, 'console.logout').length;
      const reviewer = await signIn(origin, loginCode(warden.gateway.configFile, 'alice'));
      const login = auditEvents(warden.dataDir, 'console.login');
      expect(login.length).toBe(logins + 1);
      expect(JSON.parse(login.at(-1)!.body).data).toMatchObject({
        subject: 'alice',
        by: 'alice',
        via: 'console',
        readOnly: true,
      });
      expect(
        (await consoleRequest(origin, { path: '/api/logout', cookie: reviewer.cookie, csrf: reviewer.csrf, body: {} }))
          .status,
      ).toBe(200);
      expect(auditEvents(warden.dataDir, 'console.logout').length).toBe(logouts + 1);
    });

    it('re-reads the policy: removing a reviewer ends their access at the next request, live feed included', async () => {
      const reviewer = await signIn(origin, loginCode(warden.gateway.configFile, 'alice'));
      const live = await openLive(origin, { origin, cookie: reviewer.cookie }, reviewer.csrf);
      expect(live.first).toMatchObject({ type: 'hello' });
      const closed = new Promise<number>((resolve) => live.socket!.once('close', (code) => resolve(code)));
      const policy = readFileSync(warden.policyFile, 'utf8');
      try {
        writeFileSync(warden.policyFile, policy.replace(/reviewers:[\s\S]*$/, 'reviewers:\n  - { subject: carol }\n'));
        expect((await consoleRequest(origin, { path: '/api/calls', cookie: reviewer.cookie })).status).toBe(401);
        // The next push re-checks the session: a new call makes one.
        await agent.callTool({ name: 'fx__test_simple_text', arguments: {} });
        expect(await closed).toBe(4401);
        expect((await openLive(origin, { origin, cookie: reviewer.cookie }, reviewer.csrf)).status).toBe(401);
      } finally {
        writeFileSync(warden.policyFile, policy);
      }
      // Back in the policy: the same session works again (access follows the policy, not a restart).
      expect((await consoleRequest(origin, { path: '/api/calls', cookie: reviewer.cookie })).status).toBe(200);
    });
  });
});
