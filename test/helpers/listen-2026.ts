// A raw `subscriptions/listen` stream (MCP 2026-07-28) for tests: one POST whose SSE answer is read
// message by message as it arrives, so a test waits on the notification it expects (never a sleep),
// sees exactly what the stream carried, and how it ended.
import { request, type IncomingMessage } from 'node:http';
import type { RunningGateway } from './gateway.js';
import { HANG_GUARD_MS } from './process.js';
import { mcpHeaders } from './raw-http.js';
import { V, envelope, type Rpc } from './stateless-2026.js';

export interface ListenMessage extends Rpc {
  method?: string;
  params?: Record<string, unknown> & { _meta?: Record<string, unknown> };
}

export interface ListenStream {
  status: number;
  contentType: string | undefined;
  /** Every message received so far, in order. */
  readonly messages: ListenMessage[];
  /** The first message (from `from` on) that `match` accepts, waiting for it up to HANG_GUARD_MS. */
  next(match: (message: ListenMessage) => boolean, what: string, from?: number): Promise<ListenMessage>;
  /** Resolves when the gateway ends the stream. */
  ended: Promise<void>;
  /** Closes the stream from the agent's side. */
  close(): void;
}

/** Opens a listen stream with `notifications` as its filter; `meta` adds `_meta` keys (a task handle). */
export function openListen(
  gw: RunningGateway,
  token: string,
  notifications: unknown,
  options: { id?: string | number; meta?: Record<string, unknown> } = {},
): Promise<ListenStream> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: options.id ?? 'listen-1',
    method: 'subscriptions/listen',
    params: { notifications, _meta: envelope(V, options.meta) },
  });
  const target = new URL(gw.origin);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        method: 'POST',
        path: '/mcp',
        agent: false,
        headers: mcpHeaders({
          authorization: `Bearer ${token}`,
          'mcp-protocol-version': V,
          'mcp-method': 'subscriptions/listen',
          'content-length': String(Buffer.byteLength(body)),
        }),
      },
      (res) => resolve(stream(res, () => req.destroy())),
    );
    req.on('error', reject);
    req.end(body);
  });
}

function stream(res: IncomingMessage, destroy: () => void): ListenStream {
  const messages: ListenMessage[] = [];
  const wake = new Set<() => void>();
  let done = false;
  let buffer = '';
  const contentType = res.headers['content-type'];
  const sse = contentType?.startsWith('text/event-stream') === true;
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffer += chunk;
    if (!sse) return;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      if (data !== '') messages.push(JSON.parse(data) as ListenMessage);
    }
    for (const fn of wake) fn();
  });
  const ended = new Promise<void>((resolve) => {
    const finish = () => {
      if (done) return;
      done = true;
      if (!sse && buffer.trim() !== '') messages.push(JSON.parse(buffer) as ListenMessage);
      for (const fn of wake) fn();
      resolve();
    };
    res.on('end', finish);
    res.on('close', finish);
    res.on('error', finish);
  });
  return {
    status: res.statusCode ?? 0,
    contentType,
    messages,
    ended,
    close: destroy,
    next(match, what, from = 0) {
      return new Promise((resolve, reject) => {
        const look = () => {
          const found = messages.slice(from).find(match);
          if (found) {
            cleanup();
            resolve(found);
          } else if (done) {
            cleanup();
            reject(new Error(`the listen stream ended without ${what}: ${JSON.stringify(messages)}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${HANG_GUARD_MS} ms waiting for ${what}: ${JSON.stringify(messages)}`));
        }, HANG_GUARD_MS);
        const cleanup = () => {
          clearTimeout(timer);
          wake.delete(look);
        };
        wake.add(look);
        look();
      });
    },
  };
}

/** A notification of `method` (on a listen stream). */
export const isNotification =
  (method: string) =>
  (message: ListenMessage): boolean =>
    message.method === method;
