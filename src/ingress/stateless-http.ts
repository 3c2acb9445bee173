// Over 300 lines: the 2026 request path (pool, dispatch, discover, task handles, refusals, era wording); a split of the task-handle and refusal helpers into their own files is open.
// The 2026-07-28 (stateless) half of the `/mcp` endpoint. Each validated request runs through an
// AgentSession's handlers, so policy, audit, secrets and the egress stage are the ones 2025 sessions use;
// this module only adds what the stateless era needs around them: server/discover, resultType and cache
// hints, and one pooled session per principal that holds its downstream connections between requests.
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { GatewayConfig } from '../config/schema.js';
import { VERSION, type AgentSession } from '../gateway/agent-session.js';
import type { Gateway } from '../gateway/gateway.js';
import { systemClock } from '../model/clock.js';
import { principalKey, type Principal } from '../model/principal.js';
import type { Logger } from '../observe/logger.js';
import type { CallContext, CallMethod, ClientInfo } from '../pipeline/context.js';
import { InProcessTransport, type Answer } from './in-process-transport.js';
import { MISSING_CAPABILITY, RETRY_REFUSAL_CODE, RequestRounds, type Notify } from './request-rounds.js';
import { RequestStateSealer, loadRequestStateKey } from './request-state.js';
import {
  SERVER_INFO_KEY,
  STATELESS_VERSIONS,
  type EnvelopeRefusal,
  type StatelessRequest,
} from './stateless-envelope.js';

/** Methods served to 2026 clients so far; the rest answer -32601 until they are built and tested. */
const SERVED = new Set([
  'tools/list',
  'tools/call',
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'completion/complete',
]);
/** Methods 2026-07-28 removed (their 2026 requests are answered 404/-32601 like an unknown method). */
const REMOVED = new Set(['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);
/** A method this path does not serve is HTTP 404 as well as -32601 (2026-07-28, Streamable HTTP). */
function notServed(method: string, answer: Answer): boolean {
  return method !== 'server/discover' && !SERVED.has(method) && 'error' in answer && answer.error.code === -32601;
}
/** The -32601 answer to a method this path does not serve (removed in 2026-07-28, or not built yet). */
function unservedAnswer(method: string): Answer | undefined {
  if (method === 'server/discover' || SERVED.has(method)) return undefined;
  return {
    error: {
      code: -32601,
      message: REMOVED.has(method)
        ? `Method not found: ${method} was removed in 2026-07-28`
        : `Method not found: ${method} is not served to 2026-07-28 clients`,
    },
  };
}
/**
 * The requests whose result may be `input_required` at 2026-07-28 (multi-round-trip requests): a server
 * may ask the agent for sampling, elicitation or roots during them.
 */
const ROUNDS = new Set(['tools/call', 'prompts/get', 'resources/read']);
/** Results that carry cache hints: every list, and resources/read. */
const CACHED = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read']);
/**
 * Cache hints on every list and read. Lists are filtered per principal by policy and reads are
 * authorized per principal (so `private`), and a 2026 client has no stream yet on which a policy reload
 * or a revocation could reach it (subscriptions/listen is not built), so the only TTL that cannot
 * outlive a reload is 0: never reuse, ask again.
 */
export const LIST_CACHE = { ttlMs: 0, cacheScope: 'private' } as const;
/** 2025's "resource not found"; 2026-07-28 answers an unknown resource with -32602 (invalid params). */
const RESOURCE_NOT_FOUND_2025 = -32002;
const INVALID_PARAMS = -32602;
/** The `_meta` key under which a 2026 agent presents a task handle: `{"warden": {"task": "<id>"}}`. */
const HANDLE_KEY = 'warden';
/** JSON-RPC's generic server error, outside the range 2026-07-28 reserves. */
const SERVER_ERROR = -32000;
/** What a 2026 agent is told the gateway serves (the per-principal part is the instructions). */
const CAPABILITIES = { tools: {}, prompts: {}, resources: {}, completions: {} } as const;
const SERVER_INFO = { name: 'mcp-warden', version: VERSION };
const NAMESPACE = '__';
/** Pages of tools/list read to build one discover answer (a bound, not a expectation). */
const MAX_DISCOVER_PAGES = 100;
/**
 * What the pooled session's downstream connections declare: every kind the gateway can turn into an
 * `input_required` round. Whether a given request's round may carry one is the agent's own `_meta`
 * declaration, checked when the server asks (request-rounds.ts).
 */
const RELAY_CAPABILITIES = { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } };

interface Pooled {
  session: AgentSession;
  transport: InProcessTransport;
  ready: Promise<void>;
  lastSeen: number;
  active: number;
  /** The principal of the newest request: the owner a between-calls relay would be recorded under. */
  principal: Principal;
}

export interface StatelessIngressOptions {
  gateway: Gateway;
  settings: GatewayConfig;
  logger: Logger;
  /** How the SDK carries the principal to request handlers (`extra.authInfo`), as the 2025 path does. */
  authInfo: (principal: Principal) => AuthInfo;
}

export interface StatelessIngress {
  serve(req: IncomingMessage, res: ServerResponse, principal: Principal, request: StatelessRequest): Promise<void>;
  /** A request refused before dispatch: recorded when it names a target, then answered with its HTTP status. */
  refuse(res: ServerResponse, principal: Principal, refusal: EnvelopeRefusal): Promise<void>;
  /** A 2026 notification: accepted and dropped (cancellation is the closing of the request's HTTP exchange). */
  notification(res: ServerResponse): void;
  readonly sessions: number;
  close(): Promise<void>;
}

export function createStatelessIngress(options: StatelessIngressOptions): StatelessIngress {
  const { gateway, settings, logger } = options;
  const pool = new Map<string, Pooled>();
  const clock = gateway.governance?.clock;
  const ownClock = clock ? undefined : systemClock();
  const rounds = new RequestRounds(
    new RequestStateSealer(loadRequestStateKey(gateway.loaded.dataDir)),
    clock ?? ownClock!,
  );

  function pooled(principal: Principal): Pooled | undefined {
    const key = principalKey(principal);
    const existing = pool.get(key);
    if (existing) {
      existing.principal = principal;
      return existing;
    }
    if (pool.size >= settings.maxSessions) return undefined;
    const entry = {} as Pooled;
    entry.principal = principal;
    entry.session = gateway.createSession({
      ingress: 'http',
      principalOf: (extra) => (extra.authInfo?.extra?.principal as Principal | undefined) ?? undefined,
      owner: () => entry.principal,
      clientInfoOf: (extra) => extra.authInfo?.extra?.clientInfo as ClientInfo | undefined,
      taskHandleKey: handleKeyOf(principal),
      protocolVersion: STATELESS_VERSIONS[0]!,
      relayCapabilities: RELAY_CAPABILITIES,
      inputKeys: true,
    });
    entry.transport = new InProcessTransport();
    entry.transport.onAsk = (related, ask) => rounds.ask(related, ask);
    entry.transport.onNotify = (related, notification) => rounds.notification(related, notification);
    entry.ready = entry.session.server.connect(entry.transport);
    entry.lastSeen = Date.now();
    entry.active = 0;
    pool.set(key, entry);
    logger.info(
      { session: entry.session.id, subject: principal.subject },
      'stateless (2026-07-28) principal pool opened',
    );
    return entry;
  }

  async function run(
    entry: Pooled,
    req: IncomingMessage,
    principal: Principal,
    request: StatelessRequest,
    signal: AbortSignal,
    notify: Notify,
  ): Promise<Answer> {
    const info = options.authInfo(principal);
    const extra = {
      authInfo: {
        ...info,
        extra: { ...info.extra, principal, ...(request.clientInfo && { clientInfo: request.clientInfo }) },
      },
      requestInfo: { headers: req.headers },
    };
    if (request.method === 'server/discover') return discover(entry, extra, signal);
    const answer = ROUNDS.has(request.method)
      ? await call(entry, principal, request, extra, signal, notify)
      : await entry.transport.dispatch(request.method, request.params, extra, signal);
    return 'result' in answer ? { result: shape(request.method, answer.result) } : { error: eraError(answer.error) };
  }

  /** A call, prompt or read may ask the agent mid-way: it runs through the rounds, a retry's state checked first. */
  async function call(
    entry: Pooled,
    principal: Principal,
    request: StatelessRequest,
    extra: Parameters<InProcessTransport['dispatch']>[2],
    signal: AbortSignal,
    notify: Notify,
  ): Promise<Answer> {
    const callRequest = {
      notify,
      transport: entry.transport,
      method: request.method,
      params: request.params,
      extra,
      signal,
      principal,
      clientCapabilities: request.clientCapabilities,
      ...(request.logLevel !== undefined && { logLevel: request.logLevel }),
    };
    if (!('requestState' in request.params) && !('inputResponses' in request.params)) return rounds.start(callRequest);
    const outcome = await rounds.retry(callRequest);
    if ('answer' in outcome) return outcome.answer;
    const method = request.method as CallMethod;
    await gateway.pipeline.refuse(
      refusalContext(principal, method, targetOf(request) ?? '', request.id, request.version),
      {
        kind: 'invalid_params',
        message: outcome.message,
        reason: `2026-07-28 retry refused (requestState ${outcome.refused}): ${outcome.message}`,
      },
    );
    logger.warn({ subject: principal.subject, refused: outcome.refused }, 'requestState refused');
    return { error: { code: RETRY_REFUSAL_CODE, message: outcome.message } };
  }

  /**
   * A task handle in `_meta.warden.task`, re-authorized against the principal presenting it (same
   * issuer, subject and tenant; not ended, revoked or expired; within the token's own task grants): the
   * request then runs inside that task. A handle that does not resolve is refused, and recorded when the
   * request names a target; every failure reads the same to the agent. The `warden` key is the gateway's
   * and is never forwarded.
   */
  async function presentedTask(
    principal: Principal,
    request: StatelessRequest,
  ): Promise<{ principal: Principal; request: StatelessRequest } | { error: { code: number; message: string } }> {
    const meta = request.params._meta as Record<string, unknown> | undefined;
    if (meta === undefined || !(HANDLE_KEY in meta)) return { principal, request };
    const { [HANDLE_KEY]: value, ...rest } = meta;
    const { _meta: _m, ...plain } = request.params;
    const stripped = { ...request, params: Object.keys(rest).length > 0 ? { ...plain, _meta: rest } : plain };
    const id = isObject(value) && typeof value.task === 'string' ? value.task : undefined;
    const governance = gateway.governance;
    const resolved =
      id === undefined
        ? { ok: false as const, reason: '_meta.warden is not {"task": "<handle>"}' }
        : governance === undefined
          ? { ok: false as const, reason: 'no policy: there are no tasks' }
          : await governance.registry.resolveHandle(id, principal, handleKeyOf(principal), governance.clock.now());
    if (resolved.ok) return { principal: { ...principal, task: resolved.task }, request: stripped };
    const message =
      id === undefined
        ? 'Invalid params: _meta.warden must be {"task": "<task handle>"}'
        : `Invalid task handle: ${id} (unknown, ended, expired, revoked or not yours)`;
    const target = targetOf(stripped);
    if (target !== undefined && isCallMethod(request.method))
      await gateway.pipeline.refuse(refusalContext(principal, request.method, target, request.id, request.version), {
        kind: 'invalid_params',
        message,
        reason: `task handle refused: ${resolved.reason}`,
      });
    logger.warn({ subject: principal.subject, method: request.method }, `task handle refused: ${resolved.reason}`);
    return { error: { code: INVALID_PARAMS, message } };
  }

  /** The gateway's view for this principal: what it may list decides whose instructions it reads. */
  async function discover(
    entry: Pooled,
    extra: Parameters<InProcessTransport['dispatch']>[2],
    signal: AbortSignal,
  ): Promise<Answer> {
    const names: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_DISCOVER_PAGES; page += 1) {
      const answer = await entry.transport.dispatch(
        'tools/list',
        cursor === undefined ? {} : { cursor },
        extra,
        signal,
      );
      if ('error' in answer) return answer;
      for (const tool of (answer.result.tools as { name: string }[] | undefined) ?? []) names.push(tool.name);
      cursor = typeof answer.result.nextCursor === 'string' ? answer.result.nextCursor : undefined;
      if (cursor === undefined) break;
    }
    const visible = visibleServers(gateway.servers(), names);
    const instructions = gateway.instructions((id) => visible.has(id));
    return {
      result: shape('server/discover', {
        supportedVersions: [...STATELESS_VERSIONS],
        capabilities: CAPABILITIES,
        ...(instructions !== undefined && { instructions }),
      }),
    };
  }

  const idleMs = settings.sessionIdleSeconds * 1000;
  const reaper = setInterval(
    () => {
      const now = Date.now();
      for (const [key, entry] of pool) {
        if (entry.active > 0 || now - entry.lastSeen < idleMs || rounds.holds(entry.transport)) continue;
        pool.delete(key);
        logger.info({ session: entry.session.id }, 'idle stateless principal pool closed');
        void entry.session.close();
      }
    },
    Math.min(30_000, Math.max(1_000, idleMs / 2)),
  );
  reaper.unref();

  return {
    get sessions() {
      return pool.size;
    },

    async serve(req, res, principal, request) {
      // A removed or unbuilt method is answered before the pool: no session, no downstream connection.
      const unserved = unservedAnswer(request.method);
      if (unserved) {
        send(res, statusOf(request.method, unserved), request.id, unserved);
        return;
      }
      const entry = pooled(principal);
      if (!entry) {
        send(
          res,
          503,
          request.id,
          { error: { code: -32000, message: 'Too many open sessions; try again later' } },
          { 'retry-after': '5' },
        );
        return;
      }
      entry.active += 1;
      entry.lastSeen = Date.now();
      const abort = new AbortController();
      const onClose = () => {
        if (!res.writableFinished) abort.abort();
      };
      res.once('close', onClose);
      // The first notification of this request (its progress) turns the answer into an event stream.
      let streaming = false;
      const notify: Notify = (notification) => {
        if (res.destroyed || res.writableEnded) return;
        if (!streaming) {
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
          streaming = true;
        }
        res.write(sseEvent({ jsonrpc: '2.0', ...notification }));
      };
      try {
        await entry.ready;
        const presented = await presentedTask(principal, request);
        const answer =
          'error' in presented
            ? presented
            : await run(entry, req, presented.principal, presented.request, abort.signal, notify);
        if (streaming) {
          if (!res.destroyed) res.end(sseEvent({ jsonrpc: '2.0', id: request.id, ...answer }));
        } else send(res, statusOf(request.method, answer), request.id, answer);
      } finally {
        res.off('close', onClose);
        entry.active -= 1;
        entry.lastSeen = Date.now();
      }
    },

    async refuse(res, principal, refusal) {
      if (refusal.target !== undefined && isCallMethod(refusal.method)) {
        // Recorded under the body's target (what would have run), the header's claim in the reason.
        const ctx = refusalContext(principal, refusal.method, refusal.target, refusal.id, refusal.version);
        await gateway.pipeline.refuse(ctx, {
          kind: 'invalid_params',
          message: refusal.message,
          reason: `2026-07-28 request refused (${refusal.code}): ${refusal.message}`,
        });
      }
      logger.warn({ subject: principal.subject, code: refusal.code, method: refusal.method }, refusal.message);
      send(res, refusal.status, refusal.id, {
        error: {
          code: refusal.code,
          message: refusal.message,
          ...(refusal.data !== undefined && { data: refusal.data }),
        },
      });
    },

    notification(res) {
      res.writeHead(202, { 'cache-control': 'no-store' });
      res.end();
    },

    async close() {
      clearInterval(reaper);
      ownClock?.close();
      const entries = [...pool.values()];
      pool.clear();
      await Promise.all(entries.map((entry) => entry.session.close()));
    },
  };
}

/** A request refused before it ran, as the audit records it: under the body's target. */
function refusalContext(
  principal: Principal,
  method: CallMethod,
  target: string,
  id: string | number | null,
  version: string | undefined,
): CallContext {
  return {
    requestId: randomUUID(),
    ingress: 'http',
    protocolVersion: version ?? STATELESS_VERSIONS[0]!,
    jsonrpcId: id ?? '',
    traceId: randomBytes(16).toString('hex'),
    principal,
    method,
    server: '',
    target,
    downstreamTarget: target,
    startedAt: Date.now(),
  };
}

/** Every 2026 result says whether it is complete or asks for input (an MRTR round), and who answered. */
function shape(method: string, result: Record<string, unknown>): Record<string, unknown> {
  const meta =
    typeof result._meta === 'object' && result._meta !== null ? (result._meta as Record<string, unknown>) : {};
  const inputRequired = result.resultType === 'input_required';
  return {
    ...result,
    ...(CACHED.has(method) && !inputRequired && LIST_CACHE),
    resultType: inputRequired ? 'input_required' : 'complete',
    _meta: { ...meta, [SERVER_INFO_KEY]: SERVER_INFO },
  };
}

/**
 * An error as 2026-07-28 words it. A resource not found is -32602 (the gateway's own and a downstream's).
 * Codes -32020..-32099 are reserved for the protocol's own errors (header mismatch, missing capability,
 * unsupported version…) and the gateway's refusals never use them; a downstream's error in that range
 * (a 2025 server's -32042, say) would read as a protocol error of the gateway, so it reaches a 2026
 * agent as -32000 with the server's code in `data.serverCode`.
 */
export function eraError(error: { code: number; message: string; data?: unknown }): {
  code: number;
  message: string;
  data?: unknown;
} {
  if (error.code === RESOURCE_NOT_FOUND_2025) return { ...error, code: INVALID_PARAMS };
  if (error.code === MISSING_CAPABILITY) return missingCapabilityError(error);
  if (isReservedCode(error.code))
    return {
      code: SERVER_ERROR,
      message: error.message,
      data: { serverCode: error.code, ...(error.data !== undefined && { serverData: error.data }) },
    };
  return error;
}

/**
 * A MissingRequiredClientCapability error (the gateway's, or a 2026 server's about the capabilities the
 * agent declared) reaches the agent as itself: it names what the agent must declare. Only
 * `requiredCapabilities` entries that are objects are kept from a server's data.
 */
function missingCapabilityError(error: { code: number; message: string; data?: unknown }): {
  code: number;
  message: string;
  data: { requiredCapabilities: Record<string, unknown> };
} {
  const named = isObject(error.data) ? error.data.requiredCapabilities : undefined;
  const required = isObject(named) ? Object.entries(named).filter(([, value]) => isObject(value)) : [];
  return {
    code: MISSING_CAPABILITY,
    message: error.message,
    data: { requiredCapabilities: Object.fromEntries(required) },
  };
}

/** The HTTP status of a 2026 answer sent as one JSON body. */
function statusOf(method: string, answer: Answer): number {
  if (notServed(method, answer)) return 404;
  return 'error' in answer && answer.error.code === MISSING_CAPABILITY ? 400 : 200;
}

/** The JSON-RPC codes MCP 2026-07-28 reserves for protocol errors. */
export function isReservedCode(code: number): boolean {
  return code <= -32020 && code >= -32099;
}

/** Servers the principal sees at least one tool of: by prefix, and unprefixed servers for unprefixed names. */
export function visibleServers(
  servers: readonly { id: string; prefix: string | false }[],
  toolNames: readonly string[],
): Set<string> {
  const visible = new Set<string>();
  const prefixed = servers.filter((s): s is { id: string; prefix: string } => s.prefix !== false);
  for (const name of toolNames) {
    const owner = prefixed.find((s) => name.startsWith(`${s.prefix}${NAMESPACE}`));
    if (owner) visible.add(owner.id);
    else for (const s of servers) if (s.prefix === false) visible.add(s.id);
  }
  return visible;
}

/** What a task handle is bound to: the principal's issuer, subject and tenant, as the pool keys it. */
export function handleKeyOf(principal: Principal): string {
  return `2026:${principalKey(principal)}`;
}

/** The body's tool name, prompt name or resource URI, for the methods that name one. */
function targetOf(request: StatelessRequest): string | undefined {
  const value = request.method === 'resources/read' ? request.params.uri : request.params.name;
  return typeof value === 'string' ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCallMethod(method: string | undefined): method is CallMethod {
  return method === 'tools/call' || method === 'prompts/get' || method === 'resources/read';
}

function sseEvent(message: Record<string, unknown>): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

function send(
  res: ServerResponse,
  status: number,
  id: string | number | null,
  answer: Answer,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', id, ...answer }));
}
