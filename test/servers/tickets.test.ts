// The bundled tickets server, run as a real process from dist/ and driven by a real SDK client
// over Streamable HTTP, plus raw HTTP requests for the checks a client library would not make.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, makeTempDir, spawnReady, waitForExit, type ReadyProcess, type TempDir } from '../helpers/process.js';

const TICKETS_MAIN = fileURLToPath(new URL('../../dist/servers/tickets/main.js', import.meta.url));
const READY = /^tickets listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)$/;
const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
});

function startTickets(env: Record<string, string | undefined>, extraArgs: string[] = []): Promise<ReadyProcess> {
  if (!existsSync(TICKETS_MAIN)) throw new Error(`${TICKETS_MAIN} missing: run npx tsc -p tsconfig.build.json first`);
  return spawnReady(process.execPath, [TICKETS_MAIN, '--port', '0', ...extraArgs], {
    env: {
      TICKETS_TOKEN: undefined,
      MCP_WARDEN_DOWNSTREAM_TOKEN: undefined,
      TICKETS_JWKS_URL: undefined,
      TICKETS_AUDIENCE: undefined,
      TICKETS_ISSUER: undefined,
      MCP_WARDEN_SUPERVISED: undefined,
      PORT: undefined,
      ...env,
    },
    readyPattern: READY,
  });
}

async function connect(
  url: string,
  token: string,
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'tickets-test', version: '0.0.0' });
  await client.connect(transport);
  return { client, transport };
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request with exactly the headers given (node:http lets a test set Host). */
function raw(
  url: string,
  options: { method?: string; headers?: Record<string, string | number>; body?: string | Buffer },
): Promise<RawResponse> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: options.method ?? 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...options.headers,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function structured<T>(result: unknown): T {
  const r = result as CallToolResult;
  expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
  return r.structuredContent as T;
}

interface Ticket {
  id: number;
  title: string;
  status: string;
  priority: string;
  createdBy: string;
  comments: { author: string; text: string }[];
}

describe('tickets server (Streamable HTTP, static token)', () => {
  const token = randomBytes(24).toString('base64url');
  let tmp: TempDir;
  let dataFile: string;
  let proc: ReadyProcess;
  let url: string;
  let port: number;
  let client: Client;
  let transport: StreamableHTTPClientTransport;

  beforeAll(async () => {
    tmp = await makeTempDir('warden-tickets');
    dataFile = join(tmp.path, 'tickets.json');
    proc = await startTickets({ TICKETS_TOKEN: token }, ['--data', dataFile]);
    url = proc.url as string;
    port = Number(new URL(url).port);
    ({ client, transport } = await connect(url, token));
  });

  afterAll(async () => {
    await client?.close();
    await proc?.stop();
    expect(proc.stderr()).not.toContain(token);
    await tmp?.cleanup();
  });

  it('prints one ready line with the port it picked', () => {
    expect(port).toBeGreaterThan(0);
    expect(proc.match[0]).toBe(`tickets listening on http://127.0.0.1:${port}/mcp`);
  });

  it('lists four tools with honest annotations', async () => {
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect([...byName.keys()].sort()).toEqual(['close_ticket', 'comment_ticket', 'create_ticket', 'list_tickets']);
    expect(byName.get('list_tickets')?.annotations).toMatchObject({ readOnlyHint: true });
    for (const name of ['create_ticket', 'comment_ticket', 'close_ticket']) {
      expect(byName.get(name)?.annotations).toMatchObject({ readOnlyHint: false, openWorldHint: false });
    }
    expect(byName.get('close_ticket')?.annotations).toMatchObject({ idempotentHint: true });
    expect(byName.get('create_ticket')?.annotations).toMatchObject({ idempotentHint: false });
    for (const tool of tools) expect(tool.title && tool.description).toBeTruthy();
  });

  it('uses long random session ids', () => {
    expect(transport.sessionId).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('creates, lists, comments on and closes tickets, and persists them', async () => {
    const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args });

    const { ticket: first } = structured<{ ticket: Ticket }>(
      await call('create_ticket', { title: 'Gateway drops progress', body: 'Seen on long calls', priority: 'high' }),
    );
    expect(first).toMatchObject({ id: 1, status: 'open', priority: 'high', createdBy: 'static-token' });
    const { ticket: second } = structured<{ ticket: Ticket }>(
      await call('create_ticket', { title: 'Docs typo', body: '', priority: 'low' }),
    );
    expect(second.id).toBe(2);

    const commented = structured<{ ticket: Ticket }>(await call('comment_ticket', { id: 1, comment: 'Reproduced.' }));
    expect(commented.ticket.comments).toEqual([
      expect.objectContaining({ author: 'static-token', text: 'Reproduced.' }),
    ]);

    const closed = structured<{ ticket: Ticket; alreadyClosed: boolean }>(await call('close_ticket', { id: 2 }));
    expect(closed).toMatchObject({ ticket: { id: 2, status: 'closed' }, alreadyClosed: false });
    const closedAgain = structured<{ alreadyClosed: boolean }>(await call('close_ticket', { id: 2 }));
    expect(closedAgain.alreadyClosed).toBe(true);

    const ids = (status?: string) =>
      call('list_tickets', status === undefined ? {} : { status }).then((r) =>
        structured<{ tickets: Ticket[] }>(r).tickets.map((t) => t.id),
      );
    expect(await ids()).toEqual([1, 2]);
    expect(await ids('open')).toEqual([1]);
    expect(await ids('closed')).toEqual([2]);

    const missing = (await call('comment_ticket', { id: 99, comment: 'hello' })) as CallToolResult;
    expect(missing.isError).toBe(true);
    expect(missing.content).toEqual([{ type: 'text', text: 'ticket 99 not found' }]);
    const badPriority = (await call('create_ticket', { title: 't', body: '', priority: 'whenever' })) as CallToolResult;
    expect(badPriority.isError).toBe(true);

    const saved = JSON.parse(await readFile(dataFile, 'utf8')) as { tickets: Ticket[] };
    expect(saved.tickets.map((t) => [t.id, t.status])).toEqual([
      [1, 'open'],
      [2, 'closed'],
    ]);
  });

  it('answers 401 with a Bearer challenge without a token, with a wrong token or another scheme', async () => {
    const cases: (Record<string, string> | undefined)[] = [
      undefined,
      { authorization: `Bearer ${token}x` },
      { authorization: 'Bearer ' },
      { authorization: `Basic ${Buffer.from(`user:${token}`).toString('base64')}` },
      { authorization: token },
    ];
    for (const headers of cases) {
      const res = await raw(url, { headers: headers ?? {}, body: INITIALIZE });
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(String(res.headers['www-authenticate'])).toMatch(/^Bearer\b/);
    }
    const get = await raw(url, { method: 'GET', headers: {} });
    expect(get.status).toBe(401);
    await expect(connect(url, 'wrong-token')).rejects.toThrow();
  });

  it('answers 403 to a Host or Origin that is not this loopback server', async () => {
    const auth = { authorization: `Bearer ${token}` };
    for (const host of [
      'evil.example',
      `evil.example:${port}`,
      `127.0.0.1:${port + 1}`,
      `0.0.0.0:${port}`,
      `127.0.0.1`,
    ]) {
      const res = await raw(url, { headers: { ...auth, host }, body: INITIALIZE });
      expect(res.status, host).toBe(403);
    }
    for (const origin of ['http://evil.example', 'null', `http://127.0.0.1.evil.example:${port}`]) {
      const res = await raw(url, { headers: { ...auth, origin }, body: INITIALIZE });
      expect(res.status, origin).toBe(403);
    }
    // Loopback Host spellings and a loopback Origin are accepted.
    const loopback: Record<string, string>[] = [
      { host: `localhost:${port}` },
      { host: `[::1]:${port}`, origin: 'http://localhost:5173' },
    ];
    for (const headers of loopback) {
      const res = await raw(url, { headers: { ...auth, ...headers }, body: INITIALIZE });
      expect(res.status, JSON.stringify(headers)).toBe(200);
    }
  });

  it('refuses bodies over 1 MiB with 413, bad JSON with 400 and unknown sessions with 404', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const big = await raw(url, { headers: auth, body: Buffer.alloc(1024 * 1024 + 1, 0x20) });
    expect(big.status).toBe(413);
    // Without a Content-Length the cap is enforced while the body streams in.
    const chunked = await raw(url, {
      headers: { ...auth, 'transfer-encoding': 'chunked' },
      body: Buffer.alloc(2 * 1024 * 1024, 0x20),
    });
    expect(chunked.status).toBe(413);
    const bad = await raw(url, { headers: auth, body: '{"jsonrpc":' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ error: { code: -32700 } });
    const unknown = await raw(url, { headers: { ...auth, 'mcp-session-id': 'no-such-session' }, body: INITIALIZE });
    expect(unknown.status).toBe(404);
    const noSession = await raw(url, {
      headers: auth,
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
    });
    expect(noSession.status).toBe(400);
    const elsewhere = await raw(url.replace('/mcp', '/other'), { headers: auth, body: INITIALIZE });
    expect(elsewhere.status).toBe(404);
  });

  it('keeps tickets across a restart when --data is given', async () => {
    const again = await startTickets({ TICKETS_TOKEN: token }, ['--data', dataFile]);
    try {
      const other = await connect(again.url as string, token);
      const listed = structured<{ tickets: Ticket[] }>(
        await other.client.callTool({ name: 'list_tickets', arguments: {} }),
      );
      expect(listed.tickets.map((t) => t.id)).toEqual([1, 2]);
      await other.client.close();
    } finally {
      await again.stop();
    }
  });
});

describe('tickets server lifecycle', () => {
  it('exits when its stdin reaches EOF under MCP_WARDEN_SUPERVISED=1', async () => {
    const proc = await startTickets({ MCP_WARDEN_DOWNSTREAM_TOKEN: 'supervised-token', MCP_WARDEN_SUPERVISED: '1' });
    const pid = proc.child.pid as number;
    const { client } = await connect(proc.url as string, 'supervised-token');
    expect(isAlive(pid)).toBe(true);
    proc.child.stdin.end();
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    await waitForExit(pid);
    expect(proc.stderr()).toContain('supervisor gone');
    await client.close().catch(() => undefined);
  });

  it('closes cleanly with exit code 0 on SIGTERM', async () => {
    const proc = await startTickets({ TICKETS_TOKEN: 'term-token' });
    const { client } = await connect(proc.url as string, 'term-token');
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(proc.stderr()).toContain('SIGTERM');
    await client.close().catch(() => undefined);
  });

  it('refuses to start (exit 2) without any credential configured', async () => {
    await expect(startTickets({})).rejects.toThrow(/code 2[\s\S]*no credentials configured/);
  });

  it('refuses a JWKS URL that is plain http to a remote host', async () => {
    await expect(startTickets({ TICKETS_JWKS_URL: 'http://jwks.example/keys' })).rejects.toThrow(/code 2[\s\S]*https/);
  });
});

describe('tickets server with JWTs verified against a JWKS', () => {
  let jwks: Server;
  let proc: ReadyProcess;
  let privateKey: CryptoKey;
  const issuer = 'https://warden.test';

  const mint = (
    claims: { aud?: string; exp?: number | string; sub?: string },
    alg = 'ES256',
    key: CryptoKey | Uint8Array = privateKey,
  ) => {
    let jwt = new SignJWT({}).setProtectedHeader({ alg, kid: 'k1' }).setIssuer(issuer).setIssuedAt();
    if (claims.sub !== undefined) jwt = jwt.setSubject(claims.sub);
    jwt = jwt.setAudience(claims.aud ?? 'tickets').setExpirationTime(claims.exp ?? '2m');
    return jwt.sign(key);
  };

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    jwks = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    proc = await startTickets({ TICKETS_JWKS_URL: jwksUrl, TICKETS_ISSUER: issuer });
  });

  afterAll(async () => {
    await proc?.stop();
    await new Promise((resolve) => jwks?.close(resolve));
  });

  it('accepts a valid JWT and records its subject as the author', async () => {
    const { client } = await connect(proc.url as string, await mint({ sub: 'agent-7' }));
    const { ticket } = structured<{ ticket: Ticket }>(
      await client.callTool({ name: 'create_ticket', arguments: { title: 'minted', body: '', priority: 'low' } }),
    );
    expect(ticket.createdBy).toBe('agent-7');
    await client.close();
  });

  it('refuses a wrong audience, an expired token, a missing subject, HS256 and alg none', async () => {
    const past = Math.floor(Date.now() / 1000) - 600;
    const unsignedHeader = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const unsignedBody = Buffer.from(
      JSON.stringify({ sub: 'x', aud: 'tickets', iss: issuer, exp: past + 3600 }),
    ).toString('base64url');
    const tokens = [
      await mint({ sub: 'agent-7', aud: 'someone-else' }),
      await mint({ sub: 'agent-7', exp: past }),
      await mint({}),
      await mint({ sub: 'agent-7' }, 'HS256', new TextEncoder().encode('a-shared-secret-of-32-bytes-long!')),
      `${unsignedHeader}.${unsignedBody}.`,
    ];
    for (const token of tokens) {
      const res = await raw(proc.url as string, { headers: { authorization: `Bearer ${token}` }, body: INITIALIZE });
      expect(res.status).toBe(401);
      expect(String(res.headers['www-authenticate'])).toContain('invalid_token');
    }
  });
});

describe('two tickets servers on one data file (two gateways on one data folder each launch one)', () => {
  it('lose no ticket when both write at once, and each lists what the other wrote', async () => {
    const token = randomBytes(24).toString('base64url');
    const tmp = await makeTempDir('warden-tickets-shared');
    const dataFile = join(tmp.path, 'tickets.json');
    const [one, two] = await Promise.all([
      startTickets({ TICKETS_TOKEN: token }, ['--data', dataFile]),
      startTickets({ TICKETS_TOKEN: token }, ['--data', dataFile]),
    ]);
    try {
      const a = await connect(one.url as string, token);
      const b = await connect(two.url as string, token);
      const create = (client: Client, title: string) =>
        client.callTool({ name: 'create_ticket', arguments: { title, body: 'concurrent', priority: 'low' } });
      await Promise.all(
        Array.from({ length: 15 }, (_, i) => [create(a.client, `a${i}`), create(b.client, `b${i}`)]).flat(),
      );
      for (const side of [a, b]) {
        const listed = structured<{ tickets: Ticket[] }>(
          await side.client.callTool({ name: 'list_tickets', arguments: {} }),
        );
        expect(listed.tickets.map((t) => t.id).sort((x, y) => x - y)).toEqual(
          Array.from({ length: 30 }, (_, i) => i + 1),
        );
        expect(new Set(listed.tickets.map((t) => t.title)).size).toBe(30);
      }
      // A change made through one is seen (and kept) by a change through the other.
      await a.client.callTool({ name: 'comment_ticket', arguments: { id: 1, comment: 'from a' } });
      await b.client.callTool({ name: 'comment_ticket', arguments: { id: 1, comment: 'from b' } });
      const onDisk = JSON.parse(readFileSync(dataFile, 'utf8')) as { tickets: Ticket[] };
      expect(onDisk.tickets.find((t) => t.id === 1)?.comments.map((c) => c.text)).toEqual(['from a', 'from b']);
      await Promise.all([a.client.close(), b.client.close()]);
    } finally {
      await Promise.all([one.stop(), two.stop()]);
      await tmp.cleanup();
    }
  });
});
