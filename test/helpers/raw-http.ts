// Raw HTTP requests for ingress tests: node:http, so Host, Origin, Content-Length and chunked bodies are
// exactly what the test says (fetch would fill in or forbid some of them).
import { request, type IncomingHttpHeaders } from 'node:http';
import { HANG_GUARD_MS } from './process.js';

export interface RawRequest {
  method?: string;
  /** Path and query, e.g. `/mcp?x=1` (default `/mcp`). */
  path?: string;
  headers?: Record<string, string>;
  /** Sent with a Content-Length header. */
  body?: string;
  /** Sent with `Transfer-Encoding: chunked`, one write per chunk; writing stops once a response arrives. */
  chunks?: string[];
  /** Send headers (with this declared Content-Length) and no body at all. */
  declaredLength?: number;
  timeoutMs?: number;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** JSON-RPC messages in the body: a JSON body, or the `data:` lines of an SSE stream. */
  messages: unknown[];
}

export const MCP_ACCEPT = 'application/json, text/event-stream';

/** Headers a well-behaved MCP client sends on a POST. */
export function mcpHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { 'content-type': 'application/json', accept: MCP_ACCEPT, ...extra };
}

/** One request to `origin` (http://127.0.0.1:PORT) on a fresh connection; resolves with the whole response. */
export function rawRequest(origin: string, input: RawRequest): Promise<RawResponse> {
  const target = new URL(origin);
  const headers: Record<string, string> = { ...input.headers };
  if (input.body !== undefined) headers['content-length'] = String(Buffer.byteLength(input.body));
  if (input.chunks !== undefined) headers['transfer-encoding'] = 'chunked';
  if (input.declaredLength !== undefined) headers['content-length'] = String(input.declaredLength);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        method: input.method ?? 'POST',
        path: input.path ?? '/mcp',
        headers,
        agent: false,
      },
      (res) => {
        answered = true;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          clearTimeout(timer);
          req.destroy();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            messages: parseMessages(res.headers['content-type'], text),
          });
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no response within ${input.timeoutMs ?? HANG_GUARD_MS} ms`));
    }, input.timeoutMs ?? HANG_GUARD_MS);
    // The server may close the connection before the client has finished sending (413); what counts is
    // the response, so a write error after it arrived is not a failure.
    req.on('error', (error) => {
      if (!answered) {
        clearTimeout(timer);
        reject(error);
      }
    });
    if (input.declaredLength !== undefined) {
      req.flushHeaders();
      return;
    }
    if (input.chunks !== undefined) {
      const chunks = [...input.chunks];
      const writeNext = (): void => {
        if (answered || req.destroyed) return;
        const chunk = chunks.shift();
        if (chunk === undefined) {
          req.end();
          return;
        }
        req.write(chunk, () => setImmediate(writeNext));
      };
      writeNext();
      return;
    }
    req.end(input.body);
  });
}

function parseMessages(contentType: string | undefined, text: string): unknown[] {
  if (contentType?.includes('text/event-stream')) {
    return text
      .split('\n')
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).trim())
      .filter((data) => data.length > 0)
      .map((data) => JSON.parse(data) as unknown);
  }
  if (contentType?.includes('application/json') && text.length > 0) return [JSON.parse(text) as unknown];
  return [];
}

/** The JSON-RPC error object of the only message in a response. */
export function rpcError(res: RawResponse): { code: number; message: string } | undefined {
  const first = res.messages[0] as { error?: { code: number; message: string } } | undefined;
  return first?.error;
}

let nextId = 1;

export function initializeBody(protocolVersion = '2025-11-25'): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id: nextId++,
    method: 'initialize',
    params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw-test', version: '1.0.0' } },
  });
}

export function requestBody(method: string, params?: Record<string, unknown>): string {
  return JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, ...(params !== undefined && { params }) });
}

export interface RawSession {
  id: string;
  protocolVersion: string;
  /** POSTs one message on this session (with its id and protocol version headers). */
  post(body: string, extraHeaders?: Record<string, string>): Promise<RawResponse>;
}

/** Opens a session the way a client does (initialize, then notifications/initialized), with raw requests. */
export async function openRawSession(origin: string, protocolVersion = '2025-11-25'): Promise<RawSession> {
  const init = await rawRequest(origin, { headers: mcpHeaders(), body: initializeBody(protocolVersion) });
  const id = init.headers['mcp-session-id'];
  if (init.status !== 200 || typeof id !== 'string') throw new Error(`initialize failed: ${init.status} ${init.text}`);
  const negotiated =
    (init.messages[0] as { result?: { protocolVersion?: string } }).result?.protocolVersion ?? protocolVersion;
  const post = (body: string, extraHeaders: Record<string, string> = {}): Promise<RawResponse> =>
    rawRequest(origin, {
      headers: mcpHeaders({ 'mcp-session-id': id, 'mcp-protocol-version': negotiated, ...extraHeaders }),
      body,
    });
  const initialized = await post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  if (initialized.status !== 202)
    throw new Error(`notifications/initialized: ${initialized.status} ${initialized.text}`);
  return { id, protocolVersion: negotiated, post };
}
