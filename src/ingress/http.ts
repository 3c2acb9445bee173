// Over 300 lines: the HTTP ingress order (docs/architecture.md, HTTP ingress order) reads top to bottom in one file.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import {
  ErrorCode,
  isInitializeRequest,
  JSONRPCMessageSchema,
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js';
import type { GatewayConfig } from '../config/schema.js';
import type { AgentSession } from '../gateway/agent-session.js';
import type { Gateway } from '../gateway/gateway.js';
import type { RequestAuthenticator } from '../identity/authenticator.js';
import { principalKey, type Principal } from '../model/principal.js';
import type { Logger } from 'pino';
import { METRICS_PATH, type MetricsEndpoint } from '../observe/metrics-http.js';
import {
  BodyTimeout,
  BodyTooLarge,
  buildOriginPolicy,
  checkHostAndOrigin,
  readBody,
  refuseUnreadBody,
  sendRpcError,
  type OriginPolicy,
} from './http-guards.js';
import { allowsBatch, checkJsonLimits, jsonLimitError, topLevelRequestId } from './json-limits.js';
import { isStatelessVersion, routeEra } from './stateless-envelope.js';
import { createStatelessIngress } from './stateless-http.js';
import { serveHot } from './hot-call.js';
import { toAuthInfo } from './auth-info.js';

export const MCP_PATH = '/mcp';
const METADATA_PATH = '/.well-known/oauth-protected-resource';
const JWKS_PATH = '/.well-known/jwks.json';

interface HttpSession {
  session: AgentSession;
  transport: StreamableHTTPServerTransport;
  owner: string;
  lastSeen: number;
  active: number;
  /** The version initialize negotiated; a later header cannot claim an older one to get batching back. */
  protocolVersion: string;
}

export interface HttpIngress {
  url: string;
  close(): Promise<void>;
}

export interface HttpIngressOptions {
  gateway: Gateway;
  settings: GatewayConfig;
  host: string;
  port: number;
  authenticator: RequestAuthenticator;
  logger: Logger;
  /** Prometheus metrics on this listener too (`metrics.agentListener`); their own access rule applies. */
  metrics?: MetricsEndpoint;
  /** With token verification: what the metadata endpoints publish. */
  identity?: {
    resource: string;
    issuers: readonly string[];
    scopes: readonly string[];
    /** The built-in issuer's public keys, served at /.well-known/jwks.json. */
    jwks?: () => unknown;
  };
}

/** Query parameters that would carry a credential; such requests are refused outright. */
const TOKEN_QUERY_PARAMS = ['access_token', 'token', 'id_token', 'api_key'];

/**
 * Streamable HTTP for agents. Every request passes, in order: Host/Origin check, credential check, body
 * cap, depth cap, JSON parse, batch rule, session lookup and ownership, then the SDK transport.
 */
export async function startHttpIngress(options: HttpIngressOptions): Promise<HttpIngress> {
  const { gateway, settings, authenticator, logger } = options;
  const sessions = new Map<string, HttpSession>();
  let policy: OriginPolicy = buildOriginPolicy(
    options.host,
    options.port,
    settings.allowedHosts,
    settings.allowedOrigins,
  );
  // 2026-07-28 requests (no session; `_meta` envelope) on the same endpoint, same authentication.
  const stateless = createStatelessIngress({ gateway, settings, logger, authInfo: toAuthInfo });

  const server: HttpServer = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error({ err: error instanceof Error ? error.message : String(error) }, 'unhandled HTTP ingress error');
      sendRpcError(res, 500, ErrorCode.InternalError, 'Internal error');
    });
  });
  server.headersTimeout = 30_000;
  // Idle keep-alive connections stay 65 s (Node's default is 5 s), announced as `Keep-Alive: timeout=65`.
  // Clients retire a socket just before the announced time; with 5 s a loaded agent sent on a socket at
  // the instant the gateway closed it, and the request failed ("other side closed").
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0; // SSE streams stay open; idle sessions are reaped below instead

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refusal = checkHostAndOrigin(req, policy);
    if (refusal) {
      logger.warn({ host: req.headers.host, origin: req.headers.origin }, refusal);
      sendRpcError(res, 403, -32000, `Forbidden: ${refusal}`);
      return;
    }
    // The MCP endpoint as agents send it (every call) needs no URL parse: its path, and no query string.
    const url = req.url === MCP_PATH ? undefined : new URL(req.url ?? '/', 'http://gateway.invalid');
    const pathname = url ? url.pathname : MCP_PATH;
    if (pathname === '/healthz' && req.method === 'GET') {
      const health = gateway.health();
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(health));
      return;
    }
    if (pathname === METRICS_PATH && options.metrics) return options.metrics(req, res);
    if (req.method === 'GET' && serveWellKnown(pathname, req, res)) return;
    if (pathname !== MCP_PATH) {
      sendRpcError(res, 404, -32000, 'Not found');
      return;
    }
    if (url && TOKEN_QUERY_PARAMS.some((name) => url.searchParams.has(name))) {
      sendRpcError(
        res,
        400,
        ErrorCode.InvalidRequest,
        'Credentials in the query string are refused; send an Authorization header',
      );
      return;
    }
    const auth = await authenticator.authenticate({
      authorization: req.headers.authorization,
      metadataUrl: `http://${req.headers.host}${METADATA_PATH}${MCP_PATH}`,
    });
    if (!auth.ok) {
      sendRpcError(res, auth.status, -32000, auth.message, auth.headers);
      return;
    }
    (req as IncomingMessage & { auth?: AuthInfo }).auth = toAuthInfo(auth.principal);

    const sessionId = headerValue(req.headers['mcp-session-id']);
    if (req.method === 'POST') return post(req, res, auth.principal, sessionId);
    if (req.method === 'GET' || req.method === 'DELETE') {
      if (sessionId === undefined && isStatelessVersion(headerValue(req.headers['mcp-protocol-version']))) {
        sendRpcError(res, 405, -32000, 'Method not allowed: 2026-07-28 requests are POST only', { allow: 'POST' });
        return;
      }
      const entry = sessionFor(res, sessionId, auth.principal);
      if (entry) await track(entry, res, () => entry.transport.handleRequest(req, res));
      return;
    }
    sendRpcError(res, 405, -32000, 'Method not allowed', { allow: 'GET, POST, DELETE' });
  }

  /** RFC 9728 metadata (plain and path-suffixed) and the built-in issuer's JWKS; no credential needed. */
  function serveWellKnown(path: string, req: IncomingMessage, res: ServerResponse): boolean {
    const identity = options.identity;
    if (!identity) return false;
    let body: unknown;
    if (path === METADATA_PATH || path === `${METADATA_PATH}${MCP_PATH}`) {
      body = {
        resource: identity.resource,
        authorization_servers: identity.issuers,
        bearer_methods_supported: ['header'],
        ...(identity.scopes.length > 0 && { scopes_supported: identity.scopes }),
        ...(identity.jwks && { jwks_uri: `http://${req.headers.host}${JWKS_PATH}` }),
        resource_name: 'mcp-warden',
      };
    } else if (path === JWKS_PATH && identity.jwks) {
      body = identity.jwks();
    } else {
      return false;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
    res.end(JSON.stringify(body));
    return true;
  }

  async function post(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
    sessionId: string | undefined,
  ): Promise<void> {
    let text: string;
    try {
      text = await readBody(req, settings.maxBodyBytes, settings.bodyTimeoutMs);
    } catch (error) {
      if (error instanceof BodyTooLarge) {
        refuseUnreadBody(
          req,
          res,
          413,
          ErrorCode.InvalidRequest,
          `Request body larger than ${settings.maxBodyBytes} bytes`,
        );
        return;
      }
      if (error instanceof BodyTimeout) {
        logger.warn({ limitMs: settings.bodyTimeoutMs }, 'request body not received in time; connection closed');
        return;
      }
      throw error;
    }
    const breach = checkJsonLimits(text, {
      maxDepth: settings.maxJsonDepth,
      maxKeys: settings.maxJsonKeys,
      maxNodes: settings.maxJsonNodes,
    });
    if (breach) {
      const { code, message } = jsonLimitError(breach);
      sendRpcError(res, 400, code, message, {}, topLevelRequestId(text));
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      sendRpcError(res, 400, ErrorCode.ParseError, 'Parse error: the body is not valid JSON');
      return;
    }
    if (Array.isArray(body)) {
      const version = headerValue(req.headers['mcp-protocol-version']);
      const negotiated = sessionId === undefined ? undefined : sessions.get(sessionId)?.protocolVersion;
      if (
        !sessionId ||
        !allowsBatch(version) ||
        !allowsBatch(negotiated) ||
        body.length === 0 ||
        body.some((m) => isInitializeRequest(m))
      ) {
        sendRpcError(res, 400, ErrorCode.InvalidRequest, 'Batch requests are not supported by this protocol version');
        return;
      }
    } else if (body === null || typeof body !== 'object') {
      sendRpcError(res, 400, ErrorCode.InvalidRequest, 'Invalid Request: expected a JSON-RPC message object');
      return;
    }
    // Checked here so a well-formed non-JSON-RPC body gets -32600 (the SDK transport would say -32700).
    if (!(Array.isArray(body) ? body : [body]).every((message) => JSONRPCMessageSchema.safeParse(message).success)) {
      sendRpcError(res, 400, ErrorCode.InvalidRequest, 'Invalid Request: not a JSON-RPC 2.0 message');
      return;
    }

    if (!Array.isArray(body)) {
      const h = (name: string) => headerValue(req.headers[name]);
      const route = routeEra(
        { protocolVersion: h('mcp-protocol-version'), method: h('mcp-method'), name: h('mcp-name'), sessionId },
        body as Record<string, unknown>,
      );
      if (route.era === '2026') {
        if ('refusal' in route) return stateless.refuse(res, principal, route.refusal);
        if ('notification' in route) return stateless.notification(res);
        return stateless.serve(req, res, principal, route.request);
      }
    }

    if (sessionId === undefined) {
      if (!isInitializeRequest(body)) {
        sendRpcError(res, 400, ErrorCode.InvalidRequest, 'Bad Request: no session; send initialize first');
        return;
      }
      // Sessions still initializing count too, so a burst of initialize requests cannot overshoot either limit.
      const owner = principalKey(principal);
      if (sessions.size + opening.length >= settings.maxSessions) {
        sendRpcError(res, 503, -32000, 'Too many open sessions; try again later', { 'retry-after': '5' });
        return;
      }
      if (ownedBy(owner) >= settings.maxSessionsPerPrincipal) {
        logger.warn(
          { subject: principal.subject, limit: settings.maxSessionsPerPrincipal },
          'session refused: this agent holds the most sessions it may',
        );
        sendRpcError(
          res,
          503,
          -32000,
          `Too many open sessions for this agent (at most ${settings.maxSessionsPerPrincipal}); close one (DELETE) or try again later`,
          { 'retry-after': '5' },
        );
        return;
      }
      opening.push(owner);
      try {
        await openSession(req, res, principal, body);
      } finally {
        opening.splice(opening.indexOf(owner), 1);
      }
      return;
    }
    const entry = sessionFor(res, sessionId, principal);
    if (!entry) return;
    await track(entry, res, async () => {
      // The tools/call hot path (hot-call.ts) answers what it can answer exactly; the SDK transport the rest.
      const auth = (req as IncomingMessage & { auth?: AuthInfo }).auth!;
      if (settings.hotPath && !Array.isArray(body) && (await serveHot(entry.session, sessionId, req, res, body, auth)))
        return;
      await entry.transport.handleRequest(req, res, body);
    });
  }

  /** Owners of sessions whose initialize is in flight. */
  const opening: string[] = [];

  function ownedBy(owner: string): number {
    let count = opening.filter((o) => o === owner).length;
    for (const entry of sessions.values()) if (entry.owner === owner) count += 1;
    return count;
  }

  async function openSession(
    req: IncomingMessage,
    res: ServerResponse,
    principal: Principal,
    body: unknown,
  ): Promise<void> {
    const requested = (body as { params?: { protocolVersion?: unknown } }).params?.protocolVersion;
    const protocolVersion =
      typeof requested === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(requested)
        ? requested
        : LATEST_PROTOCOL_VERSION;
    const entry = newSession(principal, protocolVersion);
    const { session, transport } = entry;
    await session.server.connect(transport);
    await track(entry, res, () => transport.handleRequest(req, res, body));
    if (!session.sessionId) await session.close(); // initialize failed: nothing to keep
  }

  /**
   * A session with its transport and their callbacks. Made where the initialize request is not in
   * scope: a callback made beside `req` and `res` would share their closure context, and the session
   * would keep that request, its response and its body for as long as it is open.
   */
  function newSession(principal: Principal, protocolVersion: string): HttpSession {
    const session = gateway.createSession({
      ingress: 'http',
      principalOf: (extra) => (extra.authInfo?.extra?.principal as Principal | undefined) ?? undefined,
      owner: () => principal,
    });
    const entry: HttpSession = {
      session,
      transport: undefined as never,
      owner: principalKey(principal),
      lastSeen: Date.now(),
      active: 0,
      protocolVersion,
    };
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomBytes(32).toString('base64url'),
      onsessioninitialized: (id) => {
        session.sessionId = id;
        sessions.set(id, entry);
        logger.info({ session: session.id, subject: principal.subject }, 'agent session opened');
      },
      onsessionclosed: (id) => {
        sessions.delete(id);
      },
    });
    entry.transport = transport;
    transport.onclose = () => {
      if (session.sessionId) sessions.delete(session.sessionId);
      void session.close();
    };
    return entry;
  }

  /** Finds the session and checks it belongs to the principal presenting it. */
  function sessionFor(
    res: ServerResponse,
    sessionId: string | undefined,
    principal: Principal,
  ): HttpSession | undefined {
    if (sessionId === undefined) {
      sendRpcError(res, 400, ErrorCode.InvalidRequest, 'Bad Request: Mcp-Session-Id header is required');
      return undefined;
    }
    const entry = sessions.get(sessionId);
    if (!entry) {
      sendRpcError(res, 404, -32001, 'Session not found');
      return undefined;
    }
    if (entry.owner !== principalKey(principal)) {
      logger.warn(
        { session: entry.session.id, subject: principal.subject },
        'session presented by a principal that did not create it',
      );
      sendRpcError(res, 403, -32000, 'Forbidden: this session belongs to another principal');
      return undefined;
    }
    return entry;
  }

  async function track(entry: HttpSession, res: ServerResponse, run: () => Promise<void>): Promise<void> {
    entry.active += 1;
    entry.lastSeen = Date.now();
    res.once('close', () => {
      entry.active -= 1;
      entry.lastSeen = Date.now();
    });
    await run();
  }

  const idleMs = settings.sessionIdleSeconds * 1000;
  const reaper = setInterval(
    () => {
      const now = Date.now();
      for (const [id, entry] of sessions) {
        if (entry.active > 0 || now - entry.lastSeen < idleMs) continue;
        sessions.delete(id);
        logger.info({ session: entry.session.id }, 'idle session closed');
        void entry.transport.close().catch(() => undefined);
        void entry.session.close();
      }
    },
    Math.min(30_000, Math.max(1_000, idleMs / 2)),
  );
  reaper.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  policy = buildOriginPolicy(options.host, address.port, settings.allowedHosts, settings.allowedOrigins);
  const displayHost = options.host.includes(':') ? `[${options.host}]` : options.host;

  return {
    url: `http://${displayHost}:${address.port}${MCP_PATH}`,
    async close() {
      clearInterval(reaper);
      await stateless.close();
      await Promise.all([...sessions.values()].map((entry) => entry.transport.close().catch(() => undefined)));
      sessions.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
