// The node:http fetch for downstream servers (src/downstream/http-fetch.ts), against real local servers
// (node:http, and raw TCP for answers node:http would not write): what is sent and received is what
// fetch would send and receive; a connection's shared abort signal carries one listener however many
// requests use it, and each request leaves it when its body is done (undici left one listener per
// request until GC); aborting still stops a request waiting for headers and a body being read; a
// cancelled body that has fully arrived gives its socket back to the pool; a body being read outlives
// its Response; a refused event stream is released; redirects, upgrades, odd reason phrases and URLs
// with credentials are refused without taking the process down.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type ClientRequest, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { getEventListeners } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFetch, requestsWaitingOn } from '../../src/downstream/http-fetch.js';
import { releaseRefusedStream } from '../../src/downstream/transport.js';
import { waitFor } from '../helpers/process.js';

let server: Server;
let base: string;
let connections = 0;
let lastHeaders: Record<string, string | string[] | undefined> = {};
const held: ServerResponse[] = [];

let raw: TcpServer;
let rawBase: string;
/** What the raw server answers, by request path. */
const RAW: Record<string, string> = {
  '/bad-reason': 'HTTP/1.1 200 O\x01K\r\ncontent-length: 2\r\n\r\nok',
  '/upgrade': 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n',
};

beforeAll(async () => {
  server = createServer((req, res) => {
    lastHeaders = req.headers;
    if (req.url === '/json') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    if (req.url === '/empty') return void res.writeHead(204).end();
    if (req.url === '/accepted') return void res.writeHead(202, { 'content-type': 'text/plain' }).end('accepted');
    if (req.url === '/cookies')
      return void res
        .writeHead(200, [
          ['set-cookie', 'a=1'],
          ['set-cookie', 'b=2'],
        ])
        .end();
    if (req.url === '/stream') {
      // An SSE stream that sends one event and stays open.
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"n":1}\n\n');
      held.push(res);
      return;
    }
    if (req.url === '/slow') return void held.push(res); // never answers
    if (req.url === '/echo') {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (text += chunk));
      req.on('end', () =>
        res
          .writeHead(201, { 'content-type': 'application/json', 'x-seen': String(req.headers['x-call']) })
          .end(JSON.stringify({ method: req.method, body: text })),
      );
      return;
    }
    if (req.url === '/moved') return void res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
    if (req.url === '/moved-nowhere') return void res.writeHead(307).end();
    if (req.url === '/big-refusal') {
      // A refusal with a body far larger than the socket buffers: it cannot all be sent unless read.
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(Buffer.alloc(8 * 1024 * 1024, 120));
      return;
    }
    res.writeHead(404).end();
  });
  server.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  raw = createTcpServer((socket) => {
    socket.once('data', (data) => {
      const path = /^[A-Z]+ (\S+)/.exec(data.toString('latin1'))?.[1] ?? '';
      socket.end(RAW[path] ?? 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n', 'latin1');
    });
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  rawBase = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await new Promise((resolve) => raw.close(resolve));
});

const fetchOver = nodeFetch(() => Promise.reject(new Error('fell back to the global fetch')));

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('downstream fetch on node:http', () => {
  it('keeps one listener on the shared signal however many requests use it, and each request leaves when its body is done', async () => {
    const shared = new AbortController();
    for (let i = 0; i < 200; i++) {
      const response = await fetchOver(`${base}/json`, { method: 'POST', body: '{}', signal: shared.signal });
      expect(await response.json()).toEqual({ ok: true });
    }
    expect(getEventListeners(shared.signal, 'abort').length).toBeLessThanOrEqual(1);
    expect(requestsWaitingOn(shared.signal)).toBe(0);
    const empty = await fetchOver(`${base}/empty`, { signal: shared.signal });
    expect(empty.status).toBe(204);
    const stream = await fetchOver(`${base}/stream`, { signal: shared.signal });
    const reader = stream.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('"n":1');
    expect(requestsWaitingOn(shared.signal)).toBe(1); // the open stream's
    await reader.cancel();
    await waitFor(() => requestsWaitingOn(shared.signal) === 0 || undefined, 'the cancelled stream left the signal');
  });

  it("a connection's long-lived signal keeps none of the requests made with it once their bodies are read", async () => {
    // The signal's one listener once shared a closure context with the first request's aborter, so the
    // signal (a downstream session's, open as long as the session) kept that request (its `initialize`)
    // with its response and socket state.
    const shared = new AbortController();
    const requests: WeakRef<ClientRequest>[] = [];
    const onStart = ({ request }: { request: ClientRequest }): void => void requests.push(new WeakRef(request));
    subscribe('http.client.request.start', onStart as (message: unknown) => void);
    try {
      for (let i = 0; i < 3; i++) {
        const response = await fetchOver(`${base}/json`, { method: 'POST', body: '{}', signal: shared.signal });
        expect(await response.json()).toEqual({ ok: true });
      }
    } finally {
      unsubscribe('http.client.request.start', onStart as (message: unknown) => void);
    }
    expect(requests).toHaveLength(3);
    for (let i = 0; i < 10 && requests.some((ref) => ref.deref() !== undefined); i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    expect(requests.map((ref) => ref.deref() === undefined)).toEqual([true, true, true]);
    expect(shared.signal.aborted).toBe(false); // still alive, as a connection's is
  });

  it('twenty requests in flight on one signal: one listener, no MaxListeners warning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const shared = new AbortController();
      const heldBefore = held.length;
      const pending = Array.from({ length: 20 }, () => fetchOver(`${base}/slow`, { signal: shared.signal }));
      await waitFor(() => held.length - heldBefore === 20 || undefined, 'the server holding twenty requests');
      expect(requestsWaitingOn(shared.signal)).toBe(20);
      expect(getEventListeners(shared.signal, 'abort')).toHaveLength(1);
      shared.abort(new Error('transport closed'));
      const settled = await Promise.allSettled(pending);
      expect(settled.every((result) => result.status === 'rejected')).toBe(true);
      expect(requestsWaitingOn(shared.signal)).toBe(0);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a cancelled body that has fully arrived gives its socket back (the SDK cancels every 202)', async () => {
    const before = connections;
    for (let i = 0; i < 50; i++) {
      const response = await fetchOver(`${base}/accepted`, { method: 'POST', body: '{}' });
      expect(response.status).toBe(202);
      await response.body?.cancel();
    }
    expect(connections - before).toBeLessThanOrEqual(3);
  });

  it('keeps the status and every header of each response, and releases the signal once bodies are read', async () => {
    const shared = new AbortController();
    const response = await fetchOver(`${base}/json`, { signal: shared.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const cookies = await fetchOver(`${base}/cookies`, { signal: shared.signal });
    expect(cookies.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    const missing = await fetchOver(`${base}/nothing`, { signal: shared.signal });
    expect(missing.status).toBe(404);
    await Promise.all([missing.text(), response.text(), cookies.text()]);
    await waitFor(() => requestsWaitingOn(shared.signal) === 0 || undefined, 'every request left the signal');
  });

  it('aborting the shared signal stops a request waiting for its answer', async () => {
    const shared = new AbortController();
    const heldBefore = held.length;
    const pending = fetchOver(`${base}/slow`, { signal: shared.signal });
    // Aborted once the server holds the request, so it is waiting for its answer (not a 50 ms guess).
    await waitFor(() => held.length > heldBefore || undefined, 'the server holding the request');
    shared.abort(new Error('transport closed'));
    await expect(pending).rejects.toThrow('transport closed');
    expect(requestsWaitingOn(shared.signal)).toBe(0);
  });

  it('aborting the shared signal stops a body being read', async () => {
    const shared = new AbortController();
    const stream = await fetchOver(`${base}/stream`, { signal: shared.signal });
    const reader = stream.body!.getReader();
    await reader.read();
    const next = reader.read();
    shared.abort(new Error('transport closed'));
    await expect(next).rejects.toThrow();
  });

  it('works without a signal, and rejects at once with one already aborted', async () => {
    const response = await fetchOver(`${base}/json`);
    expect(await response.json()).toEqual({ ok: true });
    const aborted = new AbortController();
    aborted.abort();
    await expect(fetchOver(`${base}/json`, { signal: aborted.signal })).rejects.toThrow();
  });

  it('sends the method, headers and body, names itself, asks for no compression, and returns status, headers and body', async () => {
    const response = await fetchOver(`${base}/echo`, {
      method: 'POST',
      headers: new Headers({ 'x-call': 'one', 'content-type': 'application/json', 'accept-encoding': 'gzip' }),
      body: '{"é":1}',
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('x-seen')).toBe('one');
    expect(await response.json()).toEqual({ method: 'POST', body: '{"é":1}' });
    expect(lastHeaders['user-agent']).toBe('mcp-warden');
    expect(lastHeaders['accept-encoding']).toBeUndefined();
  });

  it('refuses every redirect status when told to, Location or not, and hands it back otherwise', async () => {
    await expect(fetchOver(`${base}/moved`, { redirect: 'error' })).rejects.toThrow(/redirect/);
    await expect(fetchOver(`${base}/moved-nowhere`, { redirect: 'error' })).rejects.toThrow(/redirect/);
    const manual = await fetchOver(`${base}/moved`, { redirect: 'manual' });
    expect(manual.status).toBe(302);
    expect(manual.headers.get('location')).toBe('http://169.254.169.254/');
  });

  it('refuses an upgrade and a reason phrase a Response cannot carry without crashing, and a URL with credentials', async () => {
    await expect(fetchOver(`${rawBase}/upgrade`)).rejects.toThrow(TypeError);
    const odd = await fetchOver(`${rawBase}/bad-reason`);
    expect(odd.status).toBe(200);
    expect(odd.statusText).toBe('');
    expect(await odd.text()).toBe('ok');
    await expect(fetchOver(`http://user:secret@127.0.0.1:1/`)).rejects.toThrow(/credentials/);
  });

  it('rejects like fetch when nothing listens, and leaves the signal', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const shared = new AbortController();
    await expect(fetchOver(`http://127.0.0.1:${port}/`, { signal: shared.signal })).rejects.toThrow(TypeError);
    expect(requestsWaitingOn(shared.signal)).toBe(0);
  });

  it('hands anything it does not cover (a stream body, another scheme) to the fallback', async () => {
    await expect(fetchOver('data:text/plain,hi')).rejects.toThrow('fell back to the global fetch');
    await expect(fetchOver(`${base}/echo`, { method: 'POST', body: new Blob(['x']) })).rejects.toThrow(
      'fell back to the global fetch',
    );
  });

  it('never quotes an invalid header value in its error (it may be a credential)', async () => {
    const error = await fetchOver(`${base}/json`, { headers: [['authorization', 'Bearer secret-value\nx']] }).catch(
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(String((error as Error).message)).not.toContain('secret-value');
  });

  it('an event stream the server refused is released, not left holding its socket (the SSE client never reads it)', async () => {
    let open = 0;
    const tracked = createServer((req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(Buffer.alloc(8 * 1024 * 1024, 120));
    });
    tracked.on('connection', (socket) => {
      open += 1;
      socket.once('close', () => (open -= 1));
    });
    await new Promise<void>((resolve) => tracked.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(tracked.address() as AddressInfo).port}/`;
      const refused = await releaseRefusedStream(await fetchOver(url));
      expect(refused.status).toBe(404);
      expect(refused.body).toBeNull();
      await waitFor(() => open === 0 || undefined, 'the refused stream released its socket');
      // An accepted event stream goes through as it is.
      const accepted = await releaseRefusedStream(await fetchOver(`${base}/stream`));
      const reader = accepted.body!.pipeThrough(new TextDecoderStream()).getReader();
      expect((await reader.read()).value).toContain('"n":1');
      await reader.cancel();
    } finally {
      tracked.closeAllConnections();
      await new Promise((resolve) => tracked.close(resolve));
    }
  });

  it('a body someone is reading survives its Response being collected (the SDK keeps only the reader of an event stream)', async () => {
    const heldBefore = held.length;
    const reader = await (async () => {
      const response = await fetchOver(`${base}/stream`);
      return response.body!.pipeThrough(new TextDecoderStream()).getReader();
    })();
    expect((await reader.read()).value).toContain('"n":1');
    await waitFor(() => held.length > heldBefore || undefined, 'the server holding the stream');
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    held.at(-1)!.write('data: {"n":2}\n\n');
    expect((await reader.read()).value).toContain('"n":2');
    await reader.cancel();
  });
});
