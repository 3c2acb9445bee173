// The stdio paths' parse shortcuts (issue 21): the agent's lines (stdio-wire.ts parseMessage) and a stdio
// server's lines (line-framer.ts parseLine) try the one union member a message of that shape can be
// first. They must give exactly what the SDK's own parse gives, accepted or refused, for every shape.
import { deserializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { parseLine } from '../../src/downstream/line-framer.js';
import { parseMessage } from '../../src/ingress/stdio-wire.js';

const values: unknown[] = [
  { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'a', arguments: { x: 1 } } },
  { jsonrpc: '2.0', id: 'r', method: 'tools/call', params: { name: 'a', _meta: { progressToken: 3 } } },
  { jsonrpc: '2.0', id: 2, method: 'tools/list' },
  { jsonrpc: '2.0', id: 2, method: 'tools/list', extra: true }, // strict: refused by every member
  { jsonrpc: '2.0', id: 2.5, method: 'tools/list' }, // id not an integer
  { jsonrpc: '1.0', id: 2, method: 'tools/list' },
  { jsonrpc: '2.0', id: 2, method: 7 },
  { jsonrpc: '2.0', id: null, method: 'x' },
  { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } },
  { jsonrpc: '2.0', id: 3, result: { content: [{ type: 'text', text: 'hi' }] } },
  { jsonrpc: '2.0', id: 'w', result: {}, extra: 1 }, // strict result member
  { jsonrpc: '2.0', id: 3, result: { _meta: { a: 1 }, other: [1, 2] } },
  { jsonrpc: '2.0', id: 3, result: 'not an object' },
  { jsonrpc: '2.0', id: 3, result: null },
  { jsonrpc: '2.0', id: 3, result: {}, method: 'x' },
  { jsonrpc: '2.0', id: 3, result: {}, error: { code: 1, message: 'm' } },
  { jsonrpc: '2.0', id: 4, error: { code: -32601, message: 'no', data: { a: 1 } } },
  { jsonrpc: '2.0', error: { code: -32700, message: 'parse' } },
  { jsonrpc: '2.0', id: 4, error: { code: 'x', message: 'no' } },
  { id: 5, result: {} },
  [],
  [{ jsonrpc: '2.0', id: 1, method: 'x' }],
  'text',
  42,
  null,
];

function sdkLine(line: string): unknown {
  try {
    return { ok: deserializeMessage(line) };
  } catch (error) {
    return { threw: (error as Error).message };
  }
}

function ours(line: string): unknown {
  try {
    return { ok: parseLine(line) };
  } catch (error) {
    return { threw: (error as Error).message };
  }
}

describe('stdio parse shortcuts give the SDK parse', () => {
  it.each(values.map((value) => [JSON.stringify(value), value]))('agent line %s', (_text, value) => {
    const sdk = JSONRPCMessageSchema.safeParse(value);
    const mine = parseMessage(value);
    expect(mine.success).toBe(sdk.success);
    if (sdk.success) expect(mine.data).toStrictEqual(sdk.data);
    else expect(mine.error?.issues).toEqual(sdk.error.issues);
  });

  it.each(values.map((value) => [JSON.stringify(value)]))('server line %s', (line) => {
    expect(ours(line)).toStrictEqual(sdkLine(line));
  });

  it('a line that is not JSON throws the same error', () => {
    expect(ours('{"jsonrpc":')).toStrictEqual(sdkLine('{"jsonrpc":'));
  });
});
