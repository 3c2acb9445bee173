import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WardenError } from '../errors.js';
import type { Logger } from './logger.js';
import type { GatewayMetrics } from './metrics.js';

export const METRICS_PATH = '/metrics';

/** Answers one `GET /metrics` request on whichever listener it arrived; the listener routes the path here. */
export type MetricsEndpoint = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

const LOOPBACK_PEER = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;
const LOOPBACK_HOST = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(:\d{1,5})?$/i;

/**
 * Access: a scraper that presents the configured bearer token, or a peer on this machine. A loopback
 * peer without the token must also name a loopback Host, so a web page that rebinds a DNS name to
 * 127.0.0.1 cannot read the figures through a browser.
 */
export function metricsEndpoint(
  metrics: GatewayMetrics,
  bearerToken: string | undefined,
  logger: Logger,
): MetricsEndpoint {
  const expected = bearerToken === undefined ? undefined : digest(bearerToken);
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    const presented = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
    const tokenOk = expected !== undefined && presented !== undefined && timingSafeEqual(digest(presented), expected);
    const local = LOOPBACK_PEER.test(req.socket.remoteAddress ?? '') && LOOPBACK_HOST.test(req.headers.host ?? '');
    if (!tokenOk && !local) {
      logger.warn(
        { peer: req.socket.remoteAddress, token: presented === undefined ? 'none' : 'wrong' },
        'metrics: scrape refused',
      );
      send(res, 401, 'metrics: loopback peers or a bearer token only\n', {
        'www-authenticate': 'Bearer realm="mcp-warden metrics"',
      });
      return;
    }
    try {
      const { contentType, body } = await metrics.render();
      send(res, 200, req.method === 'HEAD' ? '' : body, { 'content-type': contentType });
    } catch (error) {
      logger.error({ err: error instanceof Error ? error.message : String(error) }, 'metrics: collection failed');
      send(res, 500, 'metrics collection failed\n');
    }
  };
}

/** A listener for `/metrics` alone (`metrics.port`). */
export async function startMetricsListener(options: {
  endpoint: MetricsEndpoint;
  host: string;
  port: number;
  logger: Logger;
}): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://metrics.invalid').pathname;
    if (path !== METRICS_PATH) {
      send(res, 404, 'not found\n');
      return;
    }
    options.endpoint(req, res).catch(() => send(res, 500, 'metrics collection failed\n'));
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new WardenError(
          'ERR_UNSAFE_STARTUP',
          `metrics listener ${options.host}:${options.port}: ${error.code ?? error.message}`,
          { cause: error },
        ),
      ),
    );
    server.listen(options.port, options.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}${METRICS_PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The bearer token named by `metrics.bearerTokenEnv`; a configured name with no value stops the start. */
export function metricsToken(envName: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (envName === undefined) return undefined;
  const value = env[envName];
  if (!value)
    throw new WardenError(
      'ERR_CONFIG_INVALID',
      `metrics.bearerTokenEnv: environment variable ${envName} is not set (or empty)`,
    );
  return value;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(body);
}
