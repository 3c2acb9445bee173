// Found by the benchmark's open-sessions section: every closed session stayed in memory (about 1 MB
// each with a 1,000-tool server) because forwarding combined the agent's cancellation and the deadline
// with AbortSignal.any(), which Node 20 keeps referenced, with its listeners, until it aborts.
// A real SDK client and server (in-memory transport) forward real calls; once the test drops them,
// garbage collection must be able to reclaim the client. And an open HTTP session (the real ingress and
// gateway in this process, a real SDK client) must not keep the initialize request that opened it.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { prepare } from '../../src/cli/runtime.js';
import { loadConfig } from '../../src/config/load.js';
import { forwardRequest } from '../../src/downstream/forward.js';
import { startHttpIngress } from '../../src/ingress/http.js';
import { connectHttp, writeConfig } from '../helpers/gateway.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function forwardSomeCalls(agentSignal: AbortSignal): Promise<WeakRef<Client>> {
  const server = new Server({ name: 'echo', version: '1' }, { capabilities: { tools: {} } });
  server.setRequestHandler(CallToolRequestSchema, async (request) => ({
    content: [{ type: 'text', text: String(request.params.arguments?.['text']) }],
  }));
  const client = new Client({ name: 'gateway', version: '1' });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(serverSide), client.connect(clientSide)]);
  for (let i = 0; i < 3; i++) {
    const outcome = await forwardRequest({
      client,
      serverId: 'echo',
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: `t${i}` } },
      resultSchema: CallToolResultSchema,
      signal: agentSignal,
      timeoutMs: 10_000,
    });
    expect(outcome).toMatchObject({ ok: true, value: { content: [{ type: 'text', text: `t${i}` }] } });
  }
  await client.close();
  await server.close();
  return new WeakRef(client);
}

describe('forwarding', () => {
  it('leaves nothing that keeps a closed downstream client alive', async () => {
    const agent = new AbortController(); // outlives the client, as a long agent request would
    const ref = await forwardSomeCalls(agent.signal);
    for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      gc();
    }
    expect(ref.deref()).toBeUndefined();
  });

  it('still cancels downstream when the agent cancels, and reports a deadline as a timeout', async () => {
    const server = new Server({ name: 'slow', version: '1' }, { capabilities: { tools: {} } });
    server.setRequestHandler(
      CallToolRequestSchema,
      (_request, extra) =>
        new Promise((resolve) => extra.signal.addEventListener('abort', () => resolve({ content: [] }))),
    );
    const client = new Client({ name: 'gateway', version: '1' });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await Promise.all([server.connect(serverSide), client.connect(clientSide)]);
    try {
      const timedOut = await forwardRequest({
        client,
        serverId: 'slow',
        method: 'tools/call',
        params: { name: 'x' },
        resultSchema: CallToolResultSchema,
        signal: new AbortController().signal,
        timeoutMs: 50,
      });
      expect(timedOut).toMatchObject({ ok: false, denial: { kind: 'timeout', timeoutMs: 50 } });
      const agent = new AbortController();
      const pending = forwardRequest({
        client,
        serverId: 'slow',
        method: 'tools/call',
        params: { name: 'x' },
        resultSchema: CallToolResultSchema,
        signal: agent.signal,
        timeoutMs: 10_000,
      });
      agent.abort(new Error('agent cancelled'));
      await expect(pending).rejects.toThrow(/agent cancelled/);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe('HTTP sessions', () => {
  it('an open session keeps nothing of the initialize request that opened it', async () => {
    // The session's callbacks (principalOf, owner, the transport's) were made beside the initialize
    // request's `req`, `res` and body, shared their closure context, and kept all three (with the
    // response's socket state) for as long as the session stayed open.
    const { dir, file } = await writeConfig({ servers: {}, logging: { level: 'silent' } });
    const loaded = loadConfig(file);
    const runtime = await prepare(loaded);
    const initializes: WeakRef<IncomingMessage>[] = [];
    const onStart = ({ request }: { request: IncomingMessage }): void => {
      if (request.method === 'POST' && request.headers['mcp-session-id'] === undefined)
        initializes.push(new WeakRef(request));
    };
    let ingress: Awaited<ReturnType<typeof startHttpIngress>> | undefined;
    try {
      await runtime.gateway.start();
      ingress = await startHttpIngress({
        gateway: runtime.gateway,
        settings: loaded.config.gateway,
        host: '127.0.0.1',
        port: 0,
        authenticator: runtime.authenticator,
        logger: runtime.logger,
      });
      subscribe('http.server.request.start', onStart as (message: unknown) => void);
      const { client } = await connectHttp(ingress.url);
      unsubscribe('http.server.request.start', onStart as (message: unknown) => void);
      expect((await client.listTools()).tools).toEqual([]); // no servers: the session answers all the same
      expect(initializes).toHaveLength(1);
      for (let i = 0; i < 10 && initializes[0]!.deref() !== undefined; i++) {
        await new Promise((resolve) => setImmediate(resolve));
        gc();
      }
      expect(initializes[0]!.deref()).toBeUndefined();
      await client.close();
    } finally {
      unsubscribe('http.server.request.start', onStart as (message: unknown) => void);
      await ingress?.close();
      await runtime.gateway.stop();
      await runtime.audit.close();
      await runtime.observe.close();
      await dir.cleanup();
    }
  });
});
