// The HTTP downstream size cap (src/downstream/size-cap.ts) on hand-made bodies split at awkward places.
import { describe, expect, it } from 'vitest';
import { sizeCappedFetch } from '../../src/downstream/size-cap.js';

const CAP = 64;

async function through(parts: string[], type: string, body?: string): Promise<string> {
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
}

const big = 'y'.repeat(200);
const sse = 'text/event-stream';

describe('sizeCappedFetch', () => {
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
