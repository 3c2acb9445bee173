// The stdio framing: messages split across chunks, CRLF, blank and invalid lines, and lines over the
// cap, which are skipped (never buffered whole) and answered with an error for their request id.
import { describe, expect, it } from 'vitest';
import { LineFramer } from '../../src/downstream/line-framer.js';

function run(chunks: string[], max = 64): { messages: unknown[]; invalid: string[] } {
  const messages: unknown[] = [];
  const invalid: string[] = [];
  const framer = new LineFramer({ message: (m) => messages.push(m), invalid: (e) => invalid.push(e.message) }, max);
  for (const chunk of chunks) framer.push(Buffer.from(chunk));
  return { messages, invalid };
}

const big = 'x'.repeat(200);

describe('LineFramer', () => {
  it.each([
    ['one message', ['{"jsonrpc":"2.0","id":1,"result":{}}\n'], [{ jsonrpc: '2.0', id: 1, result: {} }]],
    [
      'split across chunks, CRLF',
      ['{"jsonrpc":"2.0",', '"id":2,"result":{}}\r', '\n'],
      [{ jsonrpc: '2.0', id: 2, result: {} }],
    ],
    [
      'blank lines ignored',
      ['\n\n{"jsonrpc":"2.0","method":"notifications/x"}\n'],
      [{ jsonrpc: '2.0', method: 'notifications/x' }],
    ],
  ])('%s', (_name, chunks, expected) => {
    expect(run(chunks, 1024).messages).toEqual(expected);
  });

  it('reports an invalid line and goes on', () => {
    const { messages, invalid } = run(['not json\n{"jsonrpc":"2.0","id":3,"result":{}}\n'], 1024);
    expect(invalid).toHaveLength(1);
    expect(messages).toEqual([{ jsonrpc: '2.0', id: 3, result: {} }]);
  });

  it.each([
    ['id at the end (TypeScript SDK order)', [`{"result":{"t":"${big}`, `${big}"},"jsonrpc":"2.0","id":7}\n`], 7],
    ['id at the start', [`{"jsonrpc":"2.0","id":"a-1","result":{"t":"${big}${big}"}}\n`], 'a-1'],
  ])('an over-long response (%s) becomes an error for its id; the next message still arrives', (_name, chunks, id) => {
    const { messages, invalid } = run([...chunks, '{"jsonrpc":"2.0","id":8,"result":{}}\n']);
    expect(invalid).toEqual([]);
    expect(messages).toEqual([
      {
        jsonrpc: '2.0',
        id,
        error: {
          code: -32603,
          message: expect.stringMatching(/^The result is larger than 64 bytes \(at least \d+\); it was refused$/),
        },
      },
      { jsonrpc: '2.0', id: 8, result: {} },
    ]);
  });

  it('an over-long request or notification is dropped, not answered', () => {
    const { messages, invalid } = run([`{"method":"x","params":{"t":"${big}"},"jsonrpc":"2.0","id":9}\n`]);
    expect(messages).toEqual([]);
    expect(invalid).toEqual([expect.stringMatching(/that is no response/)]);
  });
});
