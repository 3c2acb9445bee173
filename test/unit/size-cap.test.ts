// The HTTP downstream size cap (src/downstream/size-cap.ts) on hand-made bodies split at awkward places,
// both ways it is applied: as a stream stage around any fetch, and inside the node:http fetch as each
// body arrives (what the gateway uses: http-fetch.ts `bodyFilter`), from a real local server that writes
// the parts one by one.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFetch } from '../../src/downstream/http-fetch.js';
import { capFor, sizeCappedFetch } from '../../src/downstream/size-cap.js';

const CAP = 64;

/** What the local server answers next: its content type and the parts it writes one at a time. */
let answer: { type: string; parts: string[] } = { type: 'text/plain', parts: [] };
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.once('end', () => {
      const { type, parts } = answer;
      res.writeHead(200, { 'content-type': type });
      const next = (i: number): void => {
        if (i === parts.length) return void res.end();
        res.write(parts[i]!, () => setImmediate(() => next(i + 1)));
      };
      next(0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const ways = {
  'around a fetch': async (parts: string[], type: string, body?: string): Promise<string> => {
    const inner: typeof fetch = async () =>
      new Response(
        new ReadableStream({
          start(c) {
            for (const p of parts) c.enqueue(new TextEncoder().encode(p));
            c.close();
          },
        }),
        { headers: { 'content-type': type } },
      );
    const response = await sizeCappedFetch(inner, CAP)('http://127.0.0.1/mcp', { method: 'POST', body });
    return response.text();
  },
  'inside the node:http fetch': async (parts: string[], type: string, body?: string): Promise<string> => {
    answer = { type, parts };
    const fetchCapped = nodeFetch(() => Promise.reject(new Error('fell back to the global fetch')), {
      bodyFilter: (contentType, init) => capFor(contentType, init, CAP),
    });
    const response = await fetchCapped(url, { method: 'POST', body: body ?? '' });
    return response.text();
  },
};

const big = 'y'.repeat(200);
const sse = 'text/event-stream';

describe.each(Object.entries(ways))('the size cap %s', (_way, through) => {
  it('passes small events through unchanged, whatever the chunking and line endings', async () => {
    const stream =
      'event: message\r\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\r\n\r\nevent: message\ndata: {"jsonrpc":"2.0","method":"x"}\n\n';
    for (const at of [1, 7, 40, 58, 59, 60, stream.length - 1])
      expect(await through([stream.slice(0, at), stream.slice(at)], sse)).toBe(stream);
  });

  it.each([
    ['the request id', '{"jsonrpc":"2.0","id":"r-7","method":"tools/call"}', '"id":"r-7"'],
    ['the id at its end', undefined, '"id":5'],
  ])('replaces an oversized response event by a size error naming %s', async (_what, body, id) => {
    const stream = `event: message\ndata: {"result":{"t":"${big}"},"jsonrpc":"2.0","id":5}\n\nevent: message\ndata: {"jsonrpc":"2.0","method":"after"}\n\n`;
    const out = await through([stream.slice(0, 100), stream.slice(100)], sse, body);
    expect(out).toContain(id);
    expect(out).toMatch(/larger than 64 bytes \(at least \d+\); it was refused/);
    expect(out).not.toContain(big);
    expect(out).toContain('"method":"after"');
  });

  it('drops an oversized notification and keeps the rest of the stream', async () => {
    const stream = `data: {"jsonrpc":"2.0","method":"n","params":{"t":"${big}"}}\n\ndata: {"jsonrpc":"2.0","id":2,"result":{}}\n\n`;
    expect(await through([stream], sse)).toBe('data: {"jsonrpc":"2.0","id":2,"result":{}}\n\n');
  });

  it('leaves a body that is neither JSON nor an event stream as it is', async () => {
    expect(await through([big, big], 'text/plain')).toBe(big + big);
  });

  it('replaces an oversized JSON body and passes a small one', async () => {
    const request = '{"jsonrpc":"2.0","id":3,"method":"tools/call"}';
    const refused = JSON.parse(
      await through([`{"jsonrpc":"2.0","id":3,"result":{"t":"${big}"}}`], 'application/json', request),
    ) as { id: number; error: { code: number } };
    expect(refused).toMatchObject({ id: 3, error: { code: -32603 } });
    expect(await through(['{"jsonrpc":"2.0","id":3,"result":{}}'], 'application/json', request)).toBe(
      '{"jsonrpc":"2.0","id":3,"result":{}}',
    );
  });
});
