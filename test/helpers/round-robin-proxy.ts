// A round-robin HTTP load balancer for tests, as a plain one in front of gateway replicas: each request
// goes to the next backend in turn (stateless MCP 2026-07-28 agents need no stickiness). A backend that
// refuses the connection is skipped and the request tried on the next (nothing reached it); one that
// fails after the request was sent answers 502, as a load balancer must not replay a tool call.
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';

export interface RoundRobinProxy {
  /** http://127.0.0.1:PORT/mcp */
  readonly url: string;
  /** Requests each backend (by origin) answered. */
  readonly served: Map<string, number>;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

function forwardable(headers: IncomingMessage['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

/** Starts the balancer on a free loopback port; `backends` are origins (http://127.0.0.1:P). */
export async function startRoundRobinProxy(backends: readonly string[]): Promise<RoundRobinProxy> {
  const served = new Map(backends.map((origin) => [origin, 0]));
  let next = 0;

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer, tried: number): void => {
    const origin = backends[next++ % backends.length]!;
    const target = new URL(origin);
    // A new connection per request: a reused one that the backend has just closed would fail a request
    // the backend never saw, and that failure (ambiguous to a balancer) is not what the tests look at.
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        agent: false,
        headers: { ...forwardable(req.headers), host: target.host, 'content-length': String(body.length) },
      },
      (answer) => {
        served.set(origin, (served.get(origin) ?? 0) + 1);
        res.writeHead(answer.statusCode ?? 502, forwardable(answer.headers));
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (res.headersSent) res.destroy();
      else if (error.code === 'ECONNREFUSED' && tried + 1 < backends.length) forward(req, res, body, tried + 1);
      else {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`bad gateway: ${error.code ?? error.message}`);
      }
    });
    // The agent gave up (or went away): so does the request to the backend.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.end(body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => forward(req, res, Buffer.concat(chunks), 0));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    served,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
