import type { IncomingMessage, ServerResponse } from 'node:http';
import { isLoopbackHost } from '../config/schema.js';

/** Writes a JSON-RPC error as an HTTP response; used for every refusal before the MCP transport. */
export function sendRpcError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
  id: string | number | null = null,
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id });
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(body);
}

export interface OriginPolicy {
  /** Accepted Host header values (lower-case, with port). */
  hosts: Set<string>;
  /** Accepted Origin values besides loopback origins. */
  origins: Set<string>;
}

/** Host values this listener answers to: the bind address, loopback names when bound to loopback, and extras. */
export function buildOriginPolicy(
  bindHost: string,
  port: number,
  extraHosts: readonly string[],
  extraOrigins: readonly string[],
): OriginPolicy {
  const hosts = new Set<string>();
  const bracket = bindHost.includes(':') && !bindHost.startsWith('[') ? `[${bindHost}]` : bindHost;
  hosts.add(`${bracket}:${port}`.toLowerCase());
  if (isLoopbackHost(bindHost)) for (const name of ['localhost', '127.0.0.1', '[::1]']) hosts.add(`${name}:${port}`);
  for (const extra of extraHosts) hosts.add(extra.toLowerCase());
  return { hosts, origins: new Set(extraOrigins.map((o) => o.toLowerCase())) };
}

/**
 * DNS-rebinding and cross-site protection for every route: the Host must be one of ours, and a browser
 * Origin, when present, must be loopback or configured.
 */
export function checkHostAndOrigin(req: IncomingMessage, policy: OriginPolicy): string | undefined {
  const host = req.headers.host?.toLowerCase();
  if (!host || !policy.hosts.has(host)) return 'Host header not allowed';
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  if (policy.origins.has(origin.toLowerCase())) return undefined;
  try {
    const url = new URL(origin);
    if ((url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHost(url.hostname)) return undefined;
  } catch {
    // fall through
  }
  return 'Origin not allowed';
}

export class BodyTooLarge extends Error {}
export class BodyTimeout extends Error {}

/** How long a client may take to send a request body once its headers arrived (slow-body attacks). */
export const BODY_DEADLINE_MS = 30_000;

/** Reads a request body up to `limit` bytes within `deadlineMs`; past either it stops reading and rejects. */
export function readBody(req: IncomingMessage, limit: number, deadlineMs = BODY_DEADLINE_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const timer = setTimeout(() => {
      reject(new BodyTimeout());
      req.destroy();
    }, deadlineMs);
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        clearTimeout(timer);
        req.removeListener('data', onData);
        req.pause();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** How long, at most, a refused body is still read and thrown away so that the client gets its answer. */
export const LINGER_MS = 5_000;
/** How much of a refused body is read and thrown away, at most, before the connection is closed anyway. */
export const LINGER_MAX_BYTES = 16 * 1024 * 1024;

/**
 * Refuses a request whose body the gateway will not read (413), without losing the answer. Closing the
 * socket while the client is still sending makes the kernel reset the connection, and a reset can discard
 * the 413 before the client has read it (the client then sees EPIPE or ECONNRESET instead). So the answer
 * is written whole (with its length) at once, the rest of the body is read and discarded, and the
 * response is ended, which closes the connection, only when the body has ended, the client went away,
 * `LINGER_MS` passed or `LINGER_MAX_BYTES` were discarded.
 */
export function refuseUnreadBody(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
): void {
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  });
  res.write(body);
  let discarded = 0;
  const finish = (): void => {
    clearTimeout(timer);
    req.removeListener('data', onData);
    req.removeListener('end', finish);
    req.removeListener('close', finish);
    if (!res.writableEnded) res.end();
  };
  const onData = (chunk: Buffer): void => {
    discarded += chunk.length;
    if (discarded > LINGER_MAX_BYTES) finish();
  };
  const timer = setTimeout(finish, LINGER_MS);
  timer.unref();
  req.on('data', onData);
  req.once('end', finish);
  req.once('close', finish);
  req.resume();
}
