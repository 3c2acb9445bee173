// Over 300 lines: the console listener with its sign-in, session cookie and static-asset handling in one place, kept together for review.
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { recordAdminEvents } from '../audit/admin.js';
import type { AuditConfig, ConsoleConfig } from '../config/schema.js';
import type { PostgresStoreConfig } from '../config/store-schema.js';
import { BodyTimeout, BodyTooLarge, readBody } from '../ingress/http-guards.js';
import type { Logger } from 'pino';
import { METRICS_PATH, type MetricsEndpoint } from '../observe/metrics-http.js';
import type { AuditEvent } from '../pipeline/stages.js';
import { ApiError, ConsoleApi, type ApiDeps } from './api.js';
import { loadAssets } from './assets.js';
import {
  COOKIE_NAME,
  SECURITY_HEADERS,
  clearedCookie,
  cookieValue,
  hasOwnOrigin,
  headerValue,
  hostAndOriginRefusal,
  listenerPolicy,
  sendError,
  sendJson,
  sessionCookie,
  type ListenerPolicy,
} from './http-util.js';
import { LiveFeed } from './live.js';
import { csrfMatches, digest, isReviewer, type ConsoleSession, type Reviewer } from './sessions.js';
import { consoleInfoFile, readConsoleInfo } from './info.js';
import { openConsoleStores } from './stores.js';

const MAX_BODY = 16 * 1024;
/** The live feed's WebSocket subprotocol; the page offers it with `csrf.<token>` beside it. */
export const LIVE_PROTOCOL = 'warden-console';
const CSRF_PROTOCOL_PREFIX = 'csrf.';

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A store the caller can retry: SQLite's "busy"/"locked", or the PostgreSQL store unreachable
 * (ERR_STATE_UNAVAILABLE, ERR_AUDIT_UNAVAILABLE), answered 503 rather than 500.
 */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return (
    typeof code === 'string' &&
    (code.startsWith('SQLITE_BUSY') ||
      code.startsWith('SQLITE_LOCKED') ||
      code === 'ERR_STATE_UNAVAILABLE' ||
      code === 'ERR_AUDIT_UNAVAILABLE')
  );
}

/** The CSRF token a WebSocket handshake offers as the subprotocol `csrf.<token>`. */
function csrfFromProtocols(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header.join(',') : header;
  for (const part of (value ?? '').split(',')) {
    const protocol = part.trim();
    if (protocol.startsWith(CSRF_PROTOCOL_PREFIX)) return protocol.slice(CSRF_PROTOCOL_PREFIX.length);
  }
  return undefined;
}

export interface ConsoleServerOptions {
  dataDir: string;
  settings: ConsoleConfig;
  host: string;
  port: number;
  /** The reviewers the policy in force names (re-read on every request: a reload can remove one). */
  reviewers: () => readonly Reviewer[];
  /** Inside `serve`: each server's health and circuit breaker for the Servers page (through the egress stage). */
  servers?: ApiDeps['servers'];
  /**
   * `store.kind: postgres`: the console reads the audit log and the shared state (tasks, revocations,
   * approvals, sign-in codes, sessions) in the store every replica shares, and writes its decisions there.
   * Unset: the data folder's audit.db and state.db.
   */
  store?: { config: PostgresStoreConfig; baseDir: string };
  /** Inside `serve`: records reviewers' decisions in the audit log. Absent: read-only, actions refused. */
  record?: (event: AuditEvent) => Promise<{ ok: boolean }>;
  /**
   * Records sign-ins and sign-outs (default: `record`). The read-only console passes one that appends to
   * the shared chain as its own short-lived instance. A sign-in that cannot be recorded is refused.
   */
  recordAccess?: (event: AuditEvent) => Promise<{ ok: boolean }>;
  /**
   * The data folder's audit settings. Given, reviewers' decisions, sign-ins and sign-outs are appended at
   * once as this console's own short-lived instance (as `approvals approve` does), each written or
   * refused right then: never queued for a retry that could record a decision after the reviewer was
   * told it was not made.
   */
  auditSettings?: AuditConfig;
  logger: Logger;
  now?: () => number;
  /** Serves Prometheus metrics at `/metrics` (their own access rule: loopback or bearer token, no sign-in). */
  metrics?: MetricsEndpoint;
}

export interface ConsoleServer {
  url: string;
  readOnly: boolean;
  close(): Promise<void>;
}

/**
 * The reviewer console: static UI, JSON API and live feed on its own listener. Every route checks Host
 * (and a browser Origin) first; every API route needs a signed-in reviewer; every state-changing request
 * needs the console's own Origin and the session's CSRF token; the WebSocket upgrade needs both the cookie
 * and the Origin.
 */
export async function startConsole(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const now = options.now ?? Date.now;
  const logger = options.logger;
  const readOnly = options.record === undefined;
  const auditSettings = options.auditSettings;
  const strict =
    auditSettings &&
    (async (event: AuditEvent): Promise<{ ok: boolean }> => {
      try {
        const by = event.data?.by;
        const actor = typeof by === 'string' ? by : 'console';
        if (options.store) {
          const { recordPgAdminEvents } = await import('../audit/pg/admin.js');
          await recordPgAdminEvents(
            { store: options.store.config, baseDir: options.store.baseDir, settings: auditSettings, actor },
            [event],
          );
        } else await recordAdminEvents({ dataDir: options.dataDir, settings: auditSettings, actor }, [event]);
        return { ok: true };
      } catch (error) {
        logger.error({ err: errorText(error), type: event.type }, 'console: audit event could not be written');
        return { ok: false };
      }
    });
  const recordDecision = options.record && (strict ?? options.record);
  const recordAccess = options.recordAccess ?? strict ?? options.record;
  const assets = loadAssets();
  const stores = await openConsoleStores(
    options.store
      ? {
          kind: 'postgres',
          dataDir: options.dataDir,
          readonly: readOnly,
          store: options.store.config,
          baseDir: options.store.baseDir,
        }
      : { kind: 'sqlite', dataDir: options.dataDir, readonly: readOnly },
  );
  const { sessions, integrity } = stores;
  const api = new ConsoleApi({
    dataDir: options.dataDir,
    audit: stores.audit,
    tasks: stores.tasks,
    integrity,
    sharedStore: stores.kind === 'postgres',
    record: recordDecision,
    now,
    ...(options.settings.traceUrl !== undefined && { traceUrl: options.settings.traceUrl }),
    ...(options.servers && { servers: options.servers }),
  });
  const live = new LiveFeed(stores.audit.query, logger);
  const sockets = new WebSocketServer({
    noServer: true,
    maxPayload: 1024,
    // Answer with the fixed protocol, never echo the token.
    handleProtocols: (protocols) => (protocols.has(LIVE_PROTOCOL) ? LIVE_PROTOCOL : false),
  });
  sockets.on('error', (error) => logger.warn({ err: errorText(error) }, 'console live feed: WebSocket server error'));
  let policy: ListenerPolicy = listenerPolicy(
    options.host,
    options.port,
    options.settings.allowedHosts,
    options.settings.allowedOrigins,
  );

  const signedIn = async (req: IncomingMessage): Promise<{ token: string; session: ConsoleSession } | undefined> => {
    const token = cookieValue(req, COOKIE_NAME);
    const session = await sessions.session(token, now());
    if (!token || !session) return undefined;
    // Removing someone from the policy's reviewers ends their access at once.
    if (!isReviewer(options.reviewers(), session.subject, session.issuer)) return undefined;
    return { token, session };
  };

  const server: HttpServer = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      try {
        if (error instanceof ApiError) {
          sendError(res, error.status, error.message);
          return;
        }
        if (isBusy(error)) {
          logger.warn({ err: errorText(error) }, 'console: database busy');
          sendError(res, 503, 'the database is busy; try again');
          return;
        }
        logger.error({ err: errorText(error) }, 'console: unhandled error');
        sendError(res, 500, 'internal error');
      } catch (sendFailure) {
        logger.warn({ err: errorText(sendFailure) }, 'console: could not send an error response');
        res.destroy();
      }
    });
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.headersTimeout = 20_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (
      options.metrics &&
      req.url !== undefined &&
      new URL(req.url, 'http://console.invalid').pathname === METRICS_PATH
    )
      return options.metrics(req, res);
    const refusal = hostAndOriginRefusal(req, policy);
    if (refusal) {
      logger.warn({ host: req.headers.host, origin: req.headers.origin }, `console: ${refusal}`);
      sendError(res, 403, `Forbidden: ${refusal}`);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    if (!url.pathname.startsWith('/api/')) {
      const asset = req.method === 'GET' || req.method === 'HEAD' ? assets.get(url.pathname) : undefined;
      if (!asset) {
        sendError(res, url.pathname.startsWith('/') && assets.has(url.pathname) ? 405 : 404, 'not found');
        return;
      }
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': asset.type,
        'cache-control': 'no-cache',
        'content-length': String(asset.body.length),
      });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return;
    }
    let path: string[];
    try {
      path = url.pathname
        .slice('/api/'.length)
        .split('/')
        .filter((p) => p !== '')
        .map((p) => decodeURIComponent(p));
    } catch {
      throw new ApiError(400, 'malformed %-escape in the path');
    }
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'POST') {
      sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET, POST' });
      return;
    }
    if (method === 'POST' && !hasOwnOrigin(req, policy)) {
      // Browsers send Origin on every POST; without ours it is another site's form or script.
      sendError(res, 403, 'Forbidden: a state-changing request must come from the console page (Origin)');
      return;
    }
    const body = method === 'POST' ? await jsonBody(req) : {};
    if (path[0] === 'login' && method === 'POST') return login(req, res, body);

    const auth = await signedIn(req);
    if (path[0] === 'status' && path.length === 1 && method === 'GET') {
      // Whether this browser is signed in, asked before signing in: an answer, not a 401 the browser
      // logs as an error on a first visit.
      sendJson(res, 200, auth ? { signedIn: true, subject: auth.session.subject } : { signedIn: false });
      return;
    }
    if (!auth) {
      sendError(res, 401, 'sign in with a link from "mcp-warden console login"');
      return;
    }
    if (method === 'POST' && !csrfMatches(auth.session, headerValue(req.headers['x-csrf-token']))) {
      logger.warn({ reviewer: auth.session.subject, path: url.pathname }, 'console: CSRF token missing or wrong');
      sendError(res, 403, 'Forbidden: CSRF token missing or wrong');
      return;
    }
    if (path[0] === 'session' && method === 'GET') {
      // Never the CSRF token: that is given once, in the login response.
      const { subject, issuer, expiresAt } = auth.session;
      sendJson(res, 200, { subject, issuer, expiresAt, readOnly, integrity: integrity !== undefined });
      return;
    }
    if (path[0] === 'logout' && method === 'POST') {
      await sessions.endSession(auth.token, now());
      // Ending access is never held back; its record is written when it can be.
      const written = await recordAccessEvent({
        type: 'console.logout',
        subject: auth.session.subject,
        data: { subject: auth.session.subject, issuer: auth.session.issuer, by: auth.session.subject, via: 'console' },
      });
      if (!written)
        logger.error({ reviewer: auth.session.subject }, 'console: sign-out could not be written to the audit log');
      sendJson(res, 200, { ok: true }, { 'set-cookie': clearedCookie(secureOrigin(req)) });
      return;
    }
    const result = await api.handle({ method, path, query: url.searchParams, body, session: auth.session });
    sendJson(res, 200, result);
  }

  async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
    let text: string;
    try {
      text = await readBody(req, MAX_BODY, 10_000);
    } catch (error) {
      if (error instanceof BodyTooLarge) throw new ApiError(413, `request body over ${MAX_BODY} bytes`);
      if (error instanceof BodyTimeout) throw new ApiError(408, 'request body too slow');
      throw error;
    }
    if (text.trim() === '') return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ApiError(400, 'request body is not JSON');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new ApiError(400, 'request body must be a JSON object');
    return parsed as Record<string, unknown>;
  }

  async function recordAccessEvent(event: AuditEvent): Promise<boolean> {
    if (!recordAccess) return false;
    try {
      return (await recordAccess(event)).ok;
    } catch (error) {
      logger.warn({ err: errorText(error) }, 'console: audit write failed');
      return false;
    }
  }

  /** Behind a TLS proxy the page's origin is https: the cookie then gets `Secure`. */
  function secureOrigin(req: IncomingMessage): boolean {
    return headerValue(req.headers.origin)?.toLowerCase().startsWith('https://') === true;
  }

  async function login(req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): Promise<void> {
    const code = typeof body.code === 'string' ? body.code : '';
    const at = now();
    // A new code replaces whatever session this browser had: the old one ends on the server too.
    const previous = cookieValue(req, COOKIE_NAME);
    if (previous !== undefined) await sessions.endSession(previous, at);
    const redeemed = await sessions.redeemLoginCode(code, at);
    if ('refused' in redeemed) {
      logger.warn({ reason: redeemed.refused }, 'console: sign-in code refused');
      sendError(
        res,
        401,
        'this sign-in link is invalid, expired or already used; run "mcp-warden console login" for a new one',
      );
      return;
    }
    if (!isReviewer(options.reviewers(), redeemed.subject, redeemed.issuer)) {
      logger.warn({ subject: redeemed.subject }, 'console: sign-in refused, not a reviewer in the policy in force');
      sendError(res, 403, `${redeemed.subject} is not a reviewer in the policy in force`);
      return;
    }
    // No record, no session.
    const recorded = await recordAccessEvent({
      type: 'console.login',
      subject: redeemed.subject,
      data: { subject: redeemed.subject, issuer: redeemed.issuer, by: redeemed.subject, via: 'console', readOnly },
    });
    if (!recorded) {
      logger.error({ subject: redeemed.subject }, 'console: sign-in refused, it could not be written to the audit log');
      sendError(
        res,
        503,
        'sign-in refused: it could not be written to the audit log; fix the audit database and ask for a new link',
      );
      return;
    }
    const ttlMs = options.settings.sessionTtlSeconds * 1000;
    const { token, csrf, session } = await sessions.createSession(redeemed, at, ttlMs);
    logger.info({ reviewer: session.subject }, 'console: reviewer signed in');
    sendJson(
      res,
      200,
      { subject: session.subject, csrf, readOnly, expiresAt: session.expiresAt },
      { 'set-cookie': sessionCookie(token, ttlMs / 1000, secureOrigin(req)) },
    );
  }

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (error) => logger.debug({ err: errorText(error) }, 'console: upgrade socket error'));
    const refuse = (status: number, text: string) => {
      if (socket.writable) socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      else socket.destroy();
    };
    const upgrade = async (): Promise<void> => {
      const path = new URL(req.url ?? '/', 'http://console.invalid').pathname;
      if (path !== '/api/live') return refuse(404, 'Not Found');
      if (hostAndOriginRefusal(req, policy) || !hasOwnOrigin(req, policy)) return refuse(403, 'Forbidden');
      const auth = await signedIn(req);
      if (!auth) return refuse(401, 'Unauthorized');
      // The cookie alone is not enough: the page offers its CSRF token as a subprotocol.
      if (!csrfMatches(auth.session, csrfFromProtocols(req.headers['sec-websocket-protocol'])))
        return refuse(403, 'Forbidden');
      const sessionId = digest(auth.token);
      if (!live.hasRoom(sessionId)) return refuse(429, 'Too Many Requests');
      sockets.handleUpgrade(req, socket, head, (ws) => {
        void live.add(
          ws,
          sessionId,
          async () =>
            (await sessions.session(auth.token, now())) !== undefined &&
            isReviewer(options.reviewers(), auth.session.subject, auth.session.issuer),
        );
      });
    };
    upgrade().catch((error: unknown) => {
      // A check that cannot be made (state.db busy, the store unreachable, the policy unreadable) refuses the upgrade.
      logger.warn({ err: errorText(error) }, 'console: live feed upgrade failed');
      refuse(503, 'Service Unavailable');
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (error: unknown) => {
    live.close();
    await stores.close();
    throw error;
  });
  server.on('error', (error) => logger.error({ err: errorText(error) }, 'console: listener error'));
  const address = server.address() as AddressInfo;
  policy = listenerPolicy(options.host, address.port, options.settings.allowedHosts, options.settings.allowedOrigins);
  const hostPart = options.host.includes(':') && !options.host.startsWith('[') ? `[${options.host}]` : options.host;
  const url = `http://${hostPart}:${address.port}/`;
  const infoFile = consoleInfoFile(options.dataDir);
  writeFileSync(infoFile, `${JSON.stringify({ url, pid: process.pid, readOnly, startedAt: now() })}\n`, {
    mode: 0o600,
  });
  logger.info({ url, readOnly }, 'reviewer console listening');

  return {
    url,
    readOnly,
    async close() {
      live.close();
      sockets.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (readConsoleInfo(options.dataDir)?.pid === process.pid) rmSync(infoFile, { force: true });
      await stores.close();
    },
  };
}
