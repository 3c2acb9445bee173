// A downstream MCP server in the test's own process (Streamable HTTP, stateless, tools `work` and `gated`) that
// records every call it receives: which gateway sent it (the first path segment: /<replica>/mcp) and
// its argument `n`. Tests compare what reached the server with what the audit log says was forwarded.
import { createServer, type IncomingMessage } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export interface Received {
  replica: string;
  n: string;
}

export interface CountingServer {
  /** The endpoint one gateway replica is configured with: http://127.0.0.1:PORT/<replica>/mcp */
  urlFor(replica: string): string;
  /** Every call received, in arrival order. */
  readonly received: Received[];
  /** Calls made with `hold: true` now waiting, by replica (they wait until close()). */
  readonly holding: Map<string, number>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

export async function startCountingServer(): Promise<CountingServer> {
  const received: Received[] = [];
  const holding = new Map<string, number>();
  const releases = new Set<() => void>();

  const serverFor = (replica: string): McpServer => {
    const server = new McpServer({ name: 'counting', version: '1.0.0' });
    // Two tools that do the same, so that a policy can treat them apart (`gated`: approval required).
    for (const name of ['work', 'gated'])
      server.registerTool(
        name,
        {
          description: 'Records the call; waits `ms` (or, with hold, until the server closes).',
          inputSchema: {
            n: z.string(),
            ms: z.number().int().min(0).max(5_000).optional(),
            hold: z.boolean().optional(),
          },
        },
        async ({ n, ms, hold }) => {
          received.push({ replica, n });
          if (hold) {
            holding.set(replica, (holding.get(replica) ?? 0) + 1);
            await new Promise<void>((resolve) => releases.add(resolve));
          } else if (ms) await new Promise((resolve) => setTimeout(resolve, ms));
          return { content: [{ type: 'text', text: `worked ${n}` }] };
        },
      );
    return server;
  };

  const http = createServer((req, res) => {
    const match = /^\/([a-z0-9-]+)\/mcp$/.exec(req.url ?? '');
    if (!match || req.method !== 'POST') {
      // Stateless: no standalone SSE stream (GET) and no session to end (DELETE).
      res.writeHead(match ? 405 : 404).end();
      return;
    }
    void (async () => {
      const server = serverFor(match[1]!);
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => void transport.close().then(() => server.close()));
      await server.connect(transport);
      await transport.handleRequest(req, res, await readBody(req));
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as { port: number };
  return {
    urlFor: (replica) => `http://127.0.0.1:${port}/${replica}/mcp`,
    received,
    holding,
    close: () =>
      new Promise<void>((resolve) => {
        for (const release of releases) release();
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}
