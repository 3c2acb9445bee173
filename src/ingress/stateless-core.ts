// The 2026-07-28 (stateless) request path, whatever carries it (Streamable HTTP or stdio). Each validated
// request runs through an AgentSession's handlers, so policy, audit, secrets and the egress stage are the
// ones 2025 sessions use; this module only adds what the stateless era needs around them:
// server/discover, resultType and cache hints, task handles, input_required rounds, and one pooled
// session per principal that holds its downstream connections between requests. The transport renders
// the answer (HTTP status and event stream, or one stdout line) and owns cancellation (the signal).
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { GatewayConfig } from '../config/schema.js';
import type { AgentSession } from '../gateway/agent-session.js';
import type { Gateway } from '../gateway/gateway.js';
import { systemClock } from '../model/clock.js';
import { principalKey, type Principal } from '../model/principal.js';
import { relayableCapabilities, type RequestEnvelope } from '../model/request-envelope.js';
import type { Logger } from '../observe/logger.js';
import type { CallMethod, ClientInfo, Ingress } from '../pipeline/context.js';
import { denialToWire } from '../pipeline/denial.js';
import { InProcessTransport, type Answer } from './in-process-transport.js';
import { RequestRounds, retryDenial, type Notify } from './request-rounds.js';
import { RequestStreams } from './request-streams.js';
import { RequestStateSealer, loadRequestStateKey } from './request-state.js';
import {
  CAPABILITIES,
  RELAY_CAPABILITIES,
  ROUNDS,
  eraError,
  handleKeyOf,
  shape,
  targetOf,
  unservedAnswer,
  visibleServers,
} from './stateless-answers.js';
import { STATELESS_VERSIONS, type EnvelopeRefusal, type StatelessRequest } from './stateless-envelope.js';
import { paramHeaderRefusal } from './stateless-params.js';
import { handleOf, presentedTask, refusalContext, refuseRequest } from './stateless-handles.js';
import { StatelessListen, type ListenSink, type Presented } from './stateless-listen.js';

/** Pages of tools/list read to build one discover answer (a bound, not a expectation). */
const MAX_DISCOVER_PAGES = 100;

interface Pooled {
  session: AgentSession;
  transport: InProcessTransport;
  ready: Promise<void>;
  lastSeen: number;
  active: number;
  /** The principal of the newest request: the owner a between-calls relay would be recorded under. */
  principal: Principal;
}

export interface StatelessCoreOptions {
  gateway: Gateway;
  settings: GatewayConfig;
  logger: Logger;
  /** How the SDK carries the principal to request handlers (`extra.authInfo`), as the 2025 path does. */
  authInfo: (principal: Principal) => AuthInfo;
  /** The transport this core serves, as sessions and audit records name it. */
  ingress: Ingress;
}

/** What the transport gives one request: its cancellation, its notification channel, its headers. */
export interface StatelessExchange {
  /** Aborted when the agent gives up on the request (HTTP exchange closed, or notifications/cancelled). */
  signal: AbortSignal;
  /** Progress and log messages of this request, on the way the transport carries them. */
  notify: Notify;
  /** The HTTP request's headers (trace context); none on stdio. */
  headers?: IncomingHttpHeaders;
  /** Where a `subscriptions/listen` stream's messages go; without one, listen is not served (-32601). */
  listen?: ListenSink;
}

/** An answer, and why it was not run when it was not: a method not served here, or the pool is full. */
export type StatelessOutcome =
  { kind: 'answered'; answer: Answer } | { kind: 'unserved'; answer: Answer } | { kind: 'busy'; answer: Answer };

export interface StatelessCore {
  handle(principal: Principal, request: StatelessRequest, exchange: StatelessExchange): Promise<StatelessOutcome>;
  /** A request refused before dispatch: recorded when it names a target; the error to answer with. */
  refuse(principal: Principal, refusal: EnvelopeRefusal): Promise<Answer>;
  readonly sessions: number;
  close(): Promise<void>;
}

type DispatchExtra = Parameters<InProcessTransport['dispatch']>[2];
export function createStatelessCore(options: StatelessCoreOptions): StatelessCore {
  const { gateway, settings, logger, ingress } = options;
  const handles = { gateway, logger, ingress };
  const pool = new Map<string, Pooled>();
  const clock = gateway.governance?.clock;
  const ownClock = clock ? undefined : systemClock();
  const rounds = new RequestRounds(
    new RequestStateSealer(loadRequestStateKey(gateway.loaded.dataDir)),
    clock ?? ownClock!,
    gateway.spends,
  );
  // Requests that are not calls (lists, completion/complete) stream here; the rest goes to the rounds.
  const streams = new RequestStreams(rounds);
  const listen = new StatelessListen({ gateway, logger, ingress, clock: clock ?? ownClock! });

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
      ingress,
      principalOf: (extra) => (extra.authInfo?.extra?.principal as Principal | undefined) ?? undefined,
      owner: () => entry.principal,
      clientInfoOf: (extra) => extra.authInfo?.extra?.clientInfo as ClientInfo | undefined,
      envelopeOf: (extra) => extra.authInfo?.extra?.envelope as RequestEnvelope | undefined,
      taskHandleKey: handleKeyOf(principal),
      protocolVersion: STATELESS_VERSIONS[0]!,
      relayCapabilities: RELAY_CAPABILITIES,
      inputKeys: true,
      changes: listen.changesOf(() => entry.session),
    });
    entry.transport = new InProcessTransport();
    entry.transport.onAsk = (related, ask) => rounds.ask(related, ask);
    entry.transport.onNotify = (related, notification) => streams.notification(related, notification);
    entry.ready = entry.session.server.connect(entry.transport);
    entry.lastSeen = Date.now();
    entry.active = 0;
    pool.set(key, entry);
    logger.info(
      { session: entry.session.id, subject: principal.subject, ingress },
      'stateless (2026-07-28) principal pool opened',
    );
    return entry;
  }

  async function run(
    entry: Pooled,
    principal: Principal,
    request: StatelessRequest,
    exchange: StatelessExchange & Presented,
  ): Promise<Answer> {
    const info = options.authInfo(principal);
    // What a 2026 server hears of this request's own declarations (never the pool connection's set).
    const envelope: RequestEnvelope = {
      clientCapabilities: relayableCapabilities(request.clientCapabilities, RELAY_CAPABILITIES),
      ...(request.logLevel !== undefined && { logLevel: request.logLevel }),
    };
    const extra: DispatchExtra = {
      authInfo: {
        ...info,
        extra: { ...info.extra, principal, envelope, ...(request.clientInfo && { clientInfo: request.clientInfo }) },
      },
      ...(exchange.headers !== undefined && { requestInfo: { headers: exchange.headers } }),
    };
    if (request.method === 'server/discover') return discover(entry, extra, exchange.signal);
    if (request.method === 'subscriptions/listen')
      return listen.serve({ ...entry, principal, presented: exchange, request, extra, sink: exchange.listen });
    const listed = async () => {
      const names = await toolNames(entry, extra, exchange.signal);
      return Array.isArray(names) ? names : undefined;
    };
    const mismatch = await paramHeaderRefusal(entry.session, request, exchange.headers, listed);
    if (mismatch) return refuse(principal, mismatch);
    const answer = ROUNDS.has(request.method)
      ? await call(entry, principal, request, extra, exchange)
      : await streams.run(entry.transport, request, extra, exchange);
    return 'result' in answer ? { result: shape(request.method, answer.result) } : { error: eraError(answer.error) };
  }

  const refuse = (principal: Principal, refusal: EnvelopeRefusal) => refuseRequest(handles, principal, refusal);

  /** A call, prompt or read may ask the agent mid-way: it runs through the rounds, a retry's state checked first. */
  async function call(
    entry: Pooled,
    principal: Principal,
    request: StatelessRequest,
    extra: DispatchExtra,
    exchange: StatelessExchange,
  ): Promise<Answer> {
    const callRequest = {
      notify: exchange.notify,
      transport: entry.transport,
      method: request.method,
      params: request.params,
      extra,
      signal: exchange.signal,
      principal,
      clientCapabilities: request.clientCapabilities,
      ...(request.logLevel !== undefined && { logLevel: request.logLevel }),
    };
    if (!('requestState' in request.params) && !('inputResponses' in request.params)) return rounds.start(callRequest);
    const outcome = await rounds.retry(callRequest);
    if ('answer' in outcome) return outcome.answer;
    const method = request.method as CallMethod;
    const denial = retryDenial(outcome);
    await gateway.pipeline.refuse(
      refusalContext(ingress, principal, method, targetOf(request) ?? '', request.id, request.version),
      denial,
    );
    logger.warn(
      { subject: principal.subject, refused: 'refused' in outcome ? outcome.refused : 'unavailable' },
      'requestState refused',
    );
    const wire = denialToWire(denial);
    return { error: { code: wire.code, message: wire.message } };
  }

  /** The names of the tools this principal may see, read as its tools/list answers them; or the list's error. */
  async function toolNames(entry: Pooled, extra: DispatchExtra, signal: AbortSignal): Promise<string[] | Answer> {
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
    return names;
  }

  /** The gateway's view for this principal: what it may list decides whose instructions it reads. */
  async function discover(entry: Pooled, extra: DispatchExtra, signal: AbortSignal): Promise<Answer> {
    const names = await toolNames(entry, extra, signal);
    if (!Array.isArray(names)) return names;
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

    async handle(principal, request, exchange) {
      // A removed or unbuilt method is answered before the pool: no session, no downstream connection.
      const unserved = unservedAnswer(request.method);
      if (unserved) return { kind: 'unserved', answer: unserved };
      const entry = pooled(principal);
      if (!entry)
        return {
          kind: 'busy',
          answer: { error: { code: -32000, message: 'Too many open sessions; try again later' } },
        };
      entry.active += 1;
      entry.lastSeen = Date.now();
      try {
        await entry.ready;
        const presented = await presentedTask(handles, principal, request);
        if ('error' in presented) return { kind: 'answered', answer: presented };
        const from = { ...exchange, token: principal, handle: handleOf(request) };
        return { kind: 'answered', answer: await run(entry, presented.principal, presented.request, from) };
      } finally {
        entry.active -= 1;
        entry.lastSeen = Date.now();
      }
    },

    refuse,

    async close() {
      clearInterval(reaper);
      await listen.close();
      ownClock?.close();
      const entries = [...pool.values()];
      pool.clear();
      await Promise.all(entries.map((entry) => entry.session.close()));
    },
  };
}
