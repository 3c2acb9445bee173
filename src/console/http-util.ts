import type { IncomingMessage, ServerResponse } from 'node:http';
import { isLoopbackHost } from '../config/schema.js';

/** Every console response: nothing from elsewhere, no inline code, no framing, no referrer. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export const COOKIE_NAME = 'warden_console';

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(JSON.stringify(body));
}

export function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: message });
}

/** The console's listener policy: its Host values and the one browser Origin it belongs to (plus extras). */
export interface ListenerPolicy {
  hosts: Set<string>;
  origins: Set<string>;
}

export function listenerPolicy(
  bindHost: string,
  port: number,
  extraHosts: readonly string[],
  extraOrigins: readonly string[],
): ListenerPolicy {
  const hosts = new Set<string>();
  const bracket = bindHost.includes(':') && !bindHost.startsWith('[') ? `[${bindHost}]` : bindHost;
  hosts.add(`${bracket}:${port}`.toLowerCase());
  if (isLoopbackHost(bindHost)) for (const name of ['localhost', '127.0.0.1', '[::1]']) hosts.add(`${name}:${port}`);
  for (const extra of extraHosts) hosts.add(extra.toLowerCase());
  const origins = new Set([...hosts].map((h) => `http://${h}`));
  for (const extra of extraOrigins) origins.add(extra.toLowerCase());
  return { hosts, origins };
}

/** DNS rebinding: the Host must be one of ours. A browser Origin, when sent, must be the console's own. */
export function hostAndOriginRefusal(req: IncomingMessage, policy: ListenerPolicy): string | undefined {
  const host = req.headers.host?.toLowerCase();
  if (!host || !policy.hosts.has(host)) return 'Host header not allowed';
  const origin = req.headers.origin;
  if (origin !== undefined && !policy.origins.has(origin.toLowerCase())) return 'Origin not allowed';
  return undefined;
}

/** State-changing requests and WebSocket upgrades must name the console's own Origin (browsers always send it). */
export function hasOwnOrigin(req: IncomingMessage, policy: ListenerPolicy): boolean {
  const origin = req.headers.origin;
  return origin !== undefined && policy.origins.has(origin.toLowerCase());
}

export function cookieValue(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The session cookie; `Secure` when the page's origin is https (the console behind a TLS proxy). */
export function sessionCookie(token: string, maxAgeSeconds: number, secure = false): string {
  return `${COOKIE_NAME}=${token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.max(0, Math.trunc(maxAgeSeconds))}${secure ? '; Secure' : ''}`;
}

export function clearedCookie(secure = false): string {
  return `${COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure ? '; Secure' : ''}`;
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
