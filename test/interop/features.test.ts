// server-everything (pinned devDependency) behind the gateway and directly, over stdio, Streamable
// HTTP and HTTP+SSE: the features beyond plain calls must match a direct connection too. Progress
// (the notifications an agent gets for one call), sampling and elicitation (the request the agent is
// asked, and the tool's result with the agent's answer) and resource subscriptions (the update for a
// subscribed URI). Each side is a real SDK client declaring sampling and elicitation.
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ResourceUpdatedNotificationSchema,
  type Progress,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/process.js';

const require = createRequire(import.meta.url);
const EVERYTHING = join(
  dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')),
  'dist/index.js',
);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** An agent that answers sampling and elicitation the same way on both sides, and records what it was asked and told. */
class Agent {
  readonly client = new Client(
    { name: 'warden-test', version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: { form: {} } } },
  );
  readonly asked: { method: string; params: unknown }[] = [];
  readonly updated: string[] = [];

  constructor() {
    this.client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      this.asked.push({ method: request.method, params: request.params });
      return { role: 'assistant', model: 'test-model', content: { type: 'text', text: 'a sampled answer' } };
    });
    this.client.setRequestHandler(ElicitRequestSchema, async (request) => {
      this.asked.push({ method: request.method, params: request.params });
      return { action: 'accept', content: { name: 'Ada', check: true } };
    });
    this.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void this.updated.push(n.params.uri));
  }

  async connect(transport: Transport): Promise<this> {
    await this.client.connect(transport);
    return this;
  }
}

/** What the agent asked for, without the request's own _meta (the gateway's relayed request carries none of the direct one's). */
const asked = (agent: Agent) =>
  agent.asked.map(({ method, params }) => ({
    method,
    params: { ...(params as Record<string, unknown>), _meta: undefined },
  }));

const TRANSPORTS = [
  { transport: 'stdio' as const, mode: 'stdio', path: '' },
  { transport: 'http' as const, mode: 'streamableHttp', path: '/mcp' },
  { transport: 'sse' as const, mode: 'sse', path: '/sse' },
];

describe.each(TRANSPORTS)(
  'server-everything over $transport: progress, sampling, elicitation and subscriptions as directly',
  ({ transport, mode, path }) => {
    let child: ChildProcess | undefined;
    let gateway: RunningGateway;
    let through: Agent;
    let direct: Agent;

    beforeAll(async () => {
      if (transport === 'stdio') {
        direct = await new Agent().connect(
          new StdioClientTransport({
            command: process.execPath,
            args: [EVERYTHING, 'stdio'],
            env: { PATH: process.env.PATH ?? '' },
            stderr: 'pipe',
          }),
        );
        gateway = await startGateway({
          servers: { srv: { transport: 'stdio', command: 'node', args: [EVERYTHING, 'stdio'] } },
        });
      } else {
        const port = await freePort();
        child = spawn(process.execPath, [EVERYTHING, mode], {
          env: { PATH: process.env.PATH ?? '', PORT: String(port) },
          stdio: 'ignore',
        });
        const url = `http://127.0.0.1:${port}${path}`;
        direct = await waitFor(
          async () => {
            const agent = new Agent();
            return agent
              .connect(
                transport === 'http'
                  ? new StreamableHTTPClientTransport(new URL(url))
                  : new SSEClientTransport(new URL(url)),
              )
              .then(
                () => agent,
                () => undefined,
              );
          },
          'server-everything to listen',
          30_000,
        );
        gateway = await startGateway({ servers: { srv: { transport, url } } });
      }
      through = await new Agent().connect(new StreamableHTTPClientTransport(new URL(gateway.url)));
    });

    afterAll(async () => {
      await through?.client.close();
      await direct?.client.close();
      await gateway?.stop();
      if (child && child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((resolve) => child!.once('exit', resolve));
        child.kill('SIGKILL');
        await gone;
      }
    });

    /** Calls `tool` on both sides: through the gateway (prefixed) and directly. */
    async function both(
      tool: string,
      args: Record<string, unknown>,
      onprogress?: [(p: Progress) => void, (p: Progress) => void],
    ) {
      const via = await through.client.callTool(
        { name: `srv__${tool}`, arguments: args },
        undefined,
        onprogress && { onprogress: onprogress[0] },
      );
      const own = await direct.client.callTool(
        { name: tool, arguments: args },
        undefined,
        onprogress && { onprogress: onprogress[1] },
      );
      return { via, own };
    }

    it('progress: the same notifications for a long-running operation, and the same result', async () => {
      const seen: [Progress[], Progress[]] = [[], []];
      const { via, own } = await both('trigger-long-running-operation', { duration: 0.3, steps: 3 }, [
        (p) => seen[0].push(p),
        (p) => seen[1].push(p),
      ]);
      expect(via).toEqual(own);
      // Through the gateway every notification arrives before the result. A direct SDK client can lose
      // the last one when it arrives with the response (the SDK's own onprogress handling; seen directly
      // over SSE): what the direct client got must be the same notifications, in order, up to there.
      expect(seen[0].map((p) => [p.progress, p.total])).toEqual([
        [1, 3],
        [2, 3],
        [3, 3],
      ]);
      expect(seen[1].length).toBeGreaterThanOrEqual(2);
      expect(seen[1]).toEqual(seen[0].slice(0, seen[1].length));
    });

    it('sampling: the agent is asked the same request and the tool answers the same result', async () => {
      through.asked.length = 0;
      direct.asked.length = 0;
      const { via, own } = await both('trigger-sampling-request', { prompt: 'say hi', maxTokens: 20 });
      expect(via).toEqual(own);
      expect(asked(direct)).toHaveLength(1);
      expect(asked(through)).toEqual(asked(direct));
    });

    it('elicitation: the agent is asked the same form and the tool answers the same result', async () => {
      through.asked.length = 0;
      direct.asked.length = 0;
      const { via, own } = await both('trigger-elicitation-request', {});
      expect(via).toEqual(own);
      expect(asked(direct).map((a) => a.method)).toEqual(['elicitation/create']);
      expect(asked(through)).toEqual(asked(direct));
    });

    it('subscriptions: an update for a subscribed resource reaches the agent as directly', async () => {
      const uri = (await direct.client.listResources()).resources[0]!.uri;
      expect((await through.client.listResources()).resources.map((r) => r.uri)).toContain(uri);
      for (const agent of [through, direct]) await agent.client.subscribeResource({ uri });
      const { via, own } = await both('toggle-subscriber-updates', {});
      // The answer names the server's session, which differs between the two connections.
      const session = (value: unknown) => JSON.stringify(value).replace(/session [0-9a-f-]{36} /g, 'session <id> ');
      expect(session(via)).toEqual(session(own));
      try {
        await waitFor(() => direct.updated.includes(uri), `resources/updated for ${uri} directly`);
        await waitFor(() => through.updated.includes(uri), `resources/updated for ${uri} through the gateway`);
      } finally {
        await both('toggle-subscriber-updates', {});
      }
      expect(new Set(through.updated)).toEqual(new Set(direct.updated));
    });
  },
);
