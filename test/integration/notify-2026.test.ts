// Progress and log messages of a 2026-07-28 agent's requests beyond tools/call: raw 2026 requests → the
// real gateway (policy, audit) → the 2025 conformance fixture over stdio, whose prompts/get and
// resources/read send one progress notification when asked for progress, and whose completion/complete
// logs at debug, info and error for the argument value `log`. Each notification travels on the event
// stream of the request it belongs to, under that request's own progress token, logs only at or above
// its `_meta` logLevel.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, fixtureServer, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { mcpHeaders, rawRequest } from '../helpers/raw-http.js';

const V = '2026-07-28';
const POLICY = join(ROOT, 'test/fixtures/conformance.policy.yaml');

interface Message {
  id?: unknown;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

describe('2026-07-28 agents: progress and log messages of prompts/get, resources/read and completion/complete', () => {
  let gw: RunningGateway;

  /** One 2026 request; every message of its answer (notifications first, the response last). */
  const send = async (
    method: string,
    params: Record<string, unknown>,
    meta: Record<string, unknown> = {},
  ): Promise<{ notes: Message[]; answer: Message }> => {
    const id = Math.floor(Math.random() * 1e9);
    const name = method === 'resources/read' ? params.uri : params.name;
    const res = await rawRequest(gw.origin, {
      body: JSON.stringify({
        jsonrpc: '2.0',
        id,
        method,
        params: {
          ...params,
          _meta: {
            'io.modelcontextprotocol/protocolVersion': V,
            'io.modelcontextprotocol/clientCapabilities': {},
            ...meta,
          },
        },
      }),
      headers: mcpHeaders({
        'mcp-protocol-version': V,
        'mcp-method': method,
        ...(typeof name === 'string' && { 'mcp-name': name }),
      }),
    });
    expect(res.status).toBe(200);
    const messages = res.messages as Message[];
    const answer = messages.find((m) => m.id === id)!;
    expect(answer.error).toBeUndefined();
    return { notes: messages.filter((m) => m.id === undefined), answer };
  };

  beforeAll(async () => {
    gw = await startGateway({
      auth: { mode: 'unauthenticated-local', subject: 'conformance-suite' },
      policy: { files: [POLICY] },
      servers: { fixture: fixtureServer({ prefix: false, pinning: 'off' }) },
    });
  });

  afterAll(async () => {
    await gw?.stop();
  });

  it('prompts/get: the server’s progress reaches the agent under the agent’s own token', async () => {
    const { notes, answer } = await send('prompts/get', { name: 'test_simple_prompt' }, { progressToken: 'p-1' });
    expect(answer.result).toMatchObject({ resultType: 'complete' });
    expect(notes).toEqual([
      {
        jsonrpc: '2.0',
        method: 'notifications/progress',
        params: { progressToken: 'p-1', progress: 1, total: 1, message: 'rendering test_simple_prompt' },
      },
    ]);
  });

  it('resources/read: the server’s progress reaches the agent under the agent’s own (numeric) token', async () => {
    const { notes, answer } = await send('resources/read', { uri: 'test://static-text' }, { progressToken: 7 });
    expect(answer.result).toMatchObject({ resultType: 'complete' });
    expect(notes.map((n) => [n.method, n.params?.progressToken, n.params?.message])).toEqual([
      ['notifications/progress', 7, 'reading test://static-text'],
    ]);
  });

  it('without a progress token, no progress: the answer is the response alone', async () => {
    expect((await send('prompts/get', { name: 'test_simple_prompt' })).notes).toEqual([]);
    expect((await send('resources/read', { uri: 'test://static-text' })).notes).toEqual([]);
  });

  it('completion/complete: log messages reach the agent at and above the request’s logLevel, none without one', async () => {
    const params = {
      ref: { type: 'ref/prompt', name: 'test_prompt_with_arguments' },
      argument: { name: 'arg1', value: 'log' },
    };
    const levels = async (meta: Record<string, unknown>) =>
      (await send('completion/complete', params, meta)).notes.map((n) => [n.method, n.params?.level]);
    expect(await levels({ 'io.modelcontextprotocol/logLevel': 'info' })).toEqual([
      ['notifications/message', 'info'],
      ['notifications/message', 'error'],
    ]);
    expect(await levels({ 'io.modelcontextprotocol/logLevel': 'debug' })).toEqual([
      ['notifications/message', 'debug'],
      ['notifications/message', 'info'],
      ['notifications/message', 'error'],
    ]);
    expect(await levels({})).toEqual([]);
  });
});
