// The node:http fetch for downstream servers (src/downstream/http-fetch.ts), against a real local HTTP
// server: what is sent and received is what fetch would send and receive; a connection's shared abort
// signal keeps no listener once a request and its body are done (undici's fetch left one per request
// until GC); aborting that signal still stops a request waiting for headers and a body being read;
// redirects are refused and connection failures reject like fetch's.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFetch } from '../../src/downstream/http-fetch.js';
import { waitFor } from '../helpers/process.js';

let server: Server;
let base: string;
const held: ServerResponse[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/json') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    if (req.url === '/empty') return void res.writeHead(204).end();
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
      req.on('end', () => res.writeHead(201, { 'content-type': 'application/json', 'x-seen': String(req.headers['x-call']) }).end(JSON.stringify({ method: req.method, body: text })));
      return;
    }
    if (req.url === '/moved') return void res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const isolated = nodeFetch(() => Promise.reject(new Error('fell back to the global fetch')));

describe('downstream fetch on node:http', () => {
  it('leaves no listener on the shared signal after many requests, whether the body is read, empty or cancelled', async () => {
    const shared = new AbortController();
    for (let i = 0; i < 200; i++) {
      const response = await isolated(`${base}/json`, { method: 'POST', body: '{}', signal: shared.signal });
      expect(await response.json()).toEqual({ ok: true });
    }
    const empty = await isolated(`${base}/empty`, { signal: shared.signal });
    expect(empty.status).toBe(204);
    const stream = await isolated(`${base}/stream`, { signal: shared.signal });
    const reader = stream.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('"n":1');
    expect(getEventListeners(shared.signal, 'abort')).toHaveLength(1); // the open stream's
    await reader.cancel();
    // A cancelled body tears its socket down asynchronously; the listener goes with the socket's close.
    await waitFor(() => getEventListeners(shared.signal, 'abort').length === 0 || undefined, 'the cancelled body released the signal');
  });

  it('keeps the status and headers of each response, and releases the signal once bodies are read', async () => {
    const shared = new AbortController();
    const response = await isolated(`${base}/json`, { signal: shared.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const missing = await isolated(`${base}/nothing`, { signal: shared.signal });
    expect(missing.status).toBe(404);
    await missing.text();
    await response.text();
    expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);
  });

  it('aborting the shared signal stops a request waiting for its answer', async () => {
    const shared = new AbortController();
    const pending = isolated(`${base}/slow`, { signal: shared.signal });
    await new Promise((resolve) => setTimeout(resolve, 50));
    shared.abort(new Error('transport closed'));
    await expect(pending).rejects.toThrow();
    expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);
  });

  it('aborting the shared signal stops a body being read', async () => {
    const shared = new AbortController();
    const stream = await isolated(`${base}/stream`, { signal: shared.signal });
    const reader = stream.body!.getReader();
    await reader.read();
    const next = reader.read();
    shared.abort(new Error('transport closed'));
    await expect(next).rejects.toThrow();
  });

  it('works without a signal, and rejects at once with one already aborted', async () => {
    const response = await isolated(`${base}/json`);
    expect(await response.json()).toEqual({ ok: true });
    const aborted = new AbortController();
    aborted.abort();
    await expect(isolated(`${base}/json`, { signal: aborted.signal })).rejects.toThrow();
  });

  it('sends the method, headers and body, and returns status, headers and body', async () => {
    const response = await isolated(`${base}/echo`, { method: 'POST', headers: new Headers({ 'x-call': 'one', 'content-type': 'application/json' }), body: '{"é":1}' });
    expect(response.status).toBe(201);
    expect(response.headers.get('x-seen')).toBe('one');
    expect(await response.json()).toEqual({ method: 'POST', body: '{"é":1}' });
  });

  it('refuses a redirect when told to, and hands it back otherwise', async () => {
    await expect(isolated(`${base}/moved`, { redirect: 'error' })).rejects.toThrow(/redirect/);
    const manual = await isolated(`${base}/moved`, { redirect: 'manual' });
    expect(manual.status).toBe(302);
    expect(manual.headers.get('location')).toBe('http://169.254.169.254/');
  });

  it('rejects like fetch when nothing listens, and leaves no listener behind', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const shared = new AbortController();
    await expect(isolated(`http://127.0.0.1:${port}/`, { signal: shared.signal })).rejects.toThrow(TypeError);
    expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);
  });

  it('hands anything it does not cover (a stream body, another scheme) to the fallback', async () => {
    await expect(isolated('data:text/plain,hi')).rejects.toThrow('fell back to the global fetch');
    await expect(isolated(`${base}/echo`, { method: 'POST', body: new Blob(['x']) })).rejects.toThrow('fell back to the global fetch');
  });
});
