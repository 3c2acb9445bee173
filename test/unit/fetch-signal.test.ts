// Downstream HTTP requests get their own abort signal (src/downstream/fetch-signal.ts), against a real
// local HTTP server: a connection's shared signal keeps no listener once a request and its body are
// done, and aborting that shared signal still stops a request waiting for headers and a body being read.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolateSignals } from '../../src/downstream/fetch-signal.js';

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

const isolated = isolateSignals(globalThis.fetch);

describe('downstream fetch: one abort signal per request', () => {
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
    expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);
  });

  it('keeps the status and headers of the response it wraps', async () => {
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

  it('passes a request without a signal, or with one already aborted, straight through', async () => {
    const response = await isolated(`${base}/json`);
    expect(await response.json()).toEqual({ ok: true });
    const aborted = new AbortController();
    aborted.abort();
    await expect(isolated(`${base}/json`, { signal: aborted.signal })).rejects.toThrow();
  });
});
