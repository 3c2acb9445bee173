import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Authenticator } from './auth.js';

export const MCP_PATH = '/mcp';
export const MAX_BODY_BYTES = 1024 * 1024;
export const MAX_SESSIONS = 100;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export type Log = (message: string) => void;

interface Session {
  transport: StreamableHTTPServerTransport;
  server: McpServer;
}

export interface McpHttpHandler {
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Closes every session. */
  close(): Promise<void>;
}

/**
 * The HTTP front of the tickets server. Checks run in a fixed order, cheapest and least revealing
 * first: Host and Origin (DNS rebinding, 403), path (404), bearer token (401), body size (413),
 * then the request is handed to the session's Streamable HTTP transport.
 */
export function createMcpHttpHandler(options: {
  port: () => number;
  authenticate: Authenticator;
  newServer: () => McpServer;
  log: Log;
}): McpHttpHandler {
  const sessions = new Map<string, Session>();

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!hostAllowed(req.headers.host, options.port()) || !originAllowed(req.headers.origin)) {
      return plain(res, 403, 'Forbidden: Host or Origin is not a loopback address of this server\n');
    }
    const path = (req.url ?? '').split('?')[0];
    if (path !== MCP_PATH) return plain(res, 404, 'Not found\n');

    const auth = await options.authenticate(req.headers.authorization);
    if (auth === undefined) {
      const challenge =
        req.headers.authorization === undefined
          ? 'Bearer realm="tickets"'
          : 'Bearer realm="tickets", error="invalid_token"';
      res.setHeader('WWW-Authenticate', challenge);
      return plain(res, 401, 'Unauthorized: a valid bearer token is required\n');
    }
    (req as IncomingMessage & { auth?: AuthInfo }).auth = auth;

    let body: unknown;
    if (req.method === 'POST') {
      const raw = await readBody(req, MAX_BODY_BYTES);
      if (raw === undefined) {
        res.setHeader('Connection', 'close');
        return plain(res, 413, `Payload too large: the limit is ${MAX_BODY_BYTES} bytes\n`);
      }
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return jsonRpcError(res, 400, -32700, 'Parse error: the body is not valid JSON');
      }
    }

    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const session = sessions.get(sessionId);
      if (session === undefined) return jsonRpcError(res, 404, -32001, 'Session not found');
      return session.transport.handleRequest(req, res, body);
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      return jsonRpcError(res, 400, -32000, 'Bad Request: no valid session id; start with an initialize request');
    }
    if (sessions.size >= MAX_SESSIONS) {
      return jsonRpcError(res, 503, -32000, 'Too many sessions; close one and retry');
    }

    const server = options.newServer();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomBytes(32).toString('base64url'),
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server });
      },
    });
    transport.onclose = () => {
      const id = transport.sessionId;
      if (id !== undefined) sessions.delete(id);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  return {
    handle(req, res) {
      route(req, res).catch((error: unknown) => {
        options.log(`request failed: ${error instanceof Error ? error.message : String(error)}`);
        if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal error');
        else res.end();
      });
    },
    async close() {
      const all = [...sessions.values()];
      sessions.clear();
      await Promise.allSettled(all.map((s) => s.server.close()));
    },
  };
}

/** Host must name a loopback address together with the port this server listens on. */
export function hostAllowed(host: string | undefined, port: number): boolean {
  if (host === undefined) return false;
  const match = /^(\[::1\]|[^:]+):(\d+)$/.exec(host.toLowerCase());
  if (match === null) return false;
  return LOOPBACK_HOSTS.has(match[1] ?? '') && Number(match[2]) === port;
}

/** Origin may be absent (non-browser clients); if present it must be a loopback http(s) origin. */
export function originAllowed(origin: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && LOOPBACK_HOSTS.has(url.hostname);
  } catch {
    return false;
  }
}

/** Reads the whole body, or returns undefined as soon as it exceeds `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(text);
}

function jsonRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  res
    .writeHead(status, { 'Content-Type': 'application/json' })
    .end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}
