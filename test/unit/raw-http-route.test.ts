// The hot path's downstream requests (src/downstream/raw-forward.ts) are made from options worked out
// once per server, with their headers as name/value pairs, so node:http adds no Host of its own there.
// Against real local servers (IPv4 and IPv6, with a path and a query): a request made that way arrives
// with the same request line and Host header as one node:http makes from the URL itself.
import { readFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRoute, requestHeaders } from '../../src/downstream/raw-forward.js';
import { ROOT } from '../helpers/gateway.js';

interface Seen {
  url: string | undefined;
  method: string | undefined;
  rawHeaders: string[];
}

let v4: Server;
let v6: Server;
const seen: Seen[] = [];

function listen(host: string): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.once('end', () => {
      seen.push({ url: req.url, method: req.method, rawHeaders: req.rawHeaders });
      res.end('ok');
    });
  });
  return new Promise((resolve) => server.listen(0, host, () => resolve(server)));
}

function port(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/** Sends one POST and returns what the server saw of it. */
function exchange(send: (done: (res: IncomingMessage) => void) => ReturnType<typeof request>): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const req = send((res) => {
      res.resume();
      res.once('end', () => resolve(seen.at(-1)!));
    });
    req.once('error', reject);
    req.end('{}');
  });
}

function header(seenBy: Seen, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < seenBy.rawHeaders.length; i += 2)
    if (seenBy.rawHeaders[i]!.toLowerCase() === name) values.push(seenBy.rawHeaders[i + 1]!);
  return values;
}

describe('the hot path reaches a server as node:http does from its URL', () => {
  beforeAll(async () => {
    [v4, v6] = await Promise.all([listen('127.0.0.1'), listen('::1')]);
  });

  afterAll(async () => {
    await Promise.all([v4, v6].map((server) => new Promise((resolve) => server?.close(resolve))));
  });

  it.each([
    ['IPv4, a path', () => `http://127.0.0.1:${port(v4)}/mcp`],
    ['IPv4, a path and a query', () => `http://127.0.0.1:${port(v4)}/a/mcp?tenant=x&y=%20z`],
    ['IPv6', () => `http://[::1]:${port(v6)}/mcp`],
    ['localhost, upper-case host', () => `http://LOCALHOST:${port(v4)}/MCP`],
  ])('%s: same request line and Host', async (_name, address) => {
    const url = new URL(address());
    const route = httpRoute({ url, headers: () => ({}) });
    const viaUrl = await exchange((done) =>
      request(url, { method: 'POST', headers: { 'content-length': '2' }, agent: route.options.agent }, done),
    );
    const viaRoute = await exchange((done) =>
      route.send({ ...route.options, headers: requestHeaders(route, { 'content-length': '2' }) }, done),
    );
    expect(viaRoute.method).toBe('POST');
    expect(viaRoute.url).toBe(viaUrl.url);
    expect(header(viaRoute, 'host')).toEqual(header(viaUrl, 'host'));
    expect(header(viaRoute, 'host')).toHaveLength(1);
    expect(route.refused).toBe(false);
  });

  it('a URL with credentials in it is marked to be refused, never sent', () => {
    expect(httpRoute({ url: new URL('http://user:pw@127.0.0.1:1/mcp'), headers: () => ({}) }).refused).toBe(true);
  });
});

// A configured Host names the TLS server as well (SNI, and the name the certificate is checked against):
// node:https's agent reads it from the request's header store, so the hot path must send it the way the
// SDK path does, or the two paths would reach an https server under different names. The certificate is a
// self-signed test fixture for vhost.example; the handshake fails on it, after the server has read the name.
describe('a configured Host over https', () => {
  const names: string[] = [];
  const tls = join(ROOT, 'test/fixtures/tls');
  const server = createHttpsServer({
    key: readFileSync(join(tls, 'vhost-test-only.key')),
    cert: readFileSync(join(tls, 'vhost-test-only.crt')),
    SNICallback: (name, done) => {
      names.push(name);
      done(null, undefined);
    },
  });

  beforeAll(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('is the TLS server name of a hot request, as of an SDK one', async () => {
    const route = httpRoute({
      url: new URL(`https://localhost:${port(server as unknown as Server)}/mcp`),
      headers: () => ({}),
    });
    const record = { host: 'vhost.example', 'content-length': '2' };
    const outcome = await new Promise<string>((resolve) => {
      const req = route.send({ ...route.options, headers: requestHeaders(route, record) }, (res) => {
        res.resume();
        resolve('answered');
      });
      req.once('error', (error) => resolve(error.message));
      req.end('{}');
    });
    expect(outcome).toMatch(/self.signed|certificate/i);
    expect(names).toEqual(['vhost.example']);
  });

  it("without one, the URL's host is (localhost)", async () => {
    names.length = 0;
    const route = httpRoute({
      url: new URL(`https://localhost:${port(server as unknown as Server)}/mcp`),
      headers: () => ({}),
    });
    await new Promise<void>((resolve) => {
      const req = route.send({ ...route.options, headers: requestHeaders(route, { 'content-length': '2' }) }, () =>
        resolve(),
      );
      req.once('error', () => resolve());
      req.end('{}');
    });
    expect(names).toEqual(['localhost']);
  });
});
