// Over 300 lines: one listen stream's life (open, check, deliver, end) kept in one class; its checks and its filter are in listen-checks.ts and listen-filter.ts.
// `subscriptions/listen` for 2026-07-28 agents: one long-lived request per stream, authenticated by its
// own bearer token like every POST, whose event stream carries the `list_changed` and
// `resources/updated` notifications the agent opted in to, and nothing else.
//
// What a listener is told is decided per listener, for the principal of the request that opened it
// (with the task handle it presented): a list kind it asked for is announced when what that principal
// sees of it changed (names and definition hashes, filtered by the authorize step), whether the cause
// is a server's list_changed, a pin, a policy reload or a revocation; an identical view is not
// announced again. A resource update reaches it only for a URI it asked for, whose subscription the
// pipeline allowed (recorded as a `resources/subscribe` call) and which it may still read. A stream
// whose token expires, or whose agent, token or task is revoked (on this replica or, with PostgreSQL,
// another), or whose task handle no longer resolves, ends with a JSON-RPC error saying why; a gateway
// that stops ends each stream with the empty listen result (2026-07-28's graceful close).
import type { AgentSession } from '../gateway/agent-session.js';
import type { Governance } from '../gateway/governance.js';
import type { Aggregate, ListKind } from '../model/catalog.js';
import type { Clock } from '../model/clock.js';
import type { Principal } from '../model/principal.js';
import type { Logger } from '../observe/logger.js';
import type { ClientInfo, Ingress } from '../pipeline/context.js';
import type { Pipeline } from '../pipeline/orchestrator.js';
import type { ResourceUpdatedNotification } from '@modelcontextprotocol/sdk/types.js';
import type { Answer } from './in-process-transport.js';
import { listenEnding, viewSignature, type Ending } from './listen-checks.js';
import { honoredFilter, kindsOf, parseListenFilter, type ListenFilter } from './listen-filter.js';

/** The `_meta` key naming the listen stream a notification or the closing result belongs to. */
export const SUBSCRIPTION_ID_KEY = 'io.modelcontextprotocol/subscriptionId';
const ACKNOWLEDGED = 'notifications/subscriptions/acknowledged';
const LIST_CHANGED: Readonly<Record<ListKind, string>> = {
  tools: 'notifications/tools/list_changed',
  prompts: 'notifications/prompts/list_changed',
  resources: 'notifications/resources/list_changed',
};
const INVALID_PARAMS = -32602;
/** JSON-RPC's generic server error, outside the range 2026-07-28 reserves. */
const SERVER_ERROR = -32000;

/** Where one listener's messages go: the SSE answer of its HTTP request. */
export interface ListenSink {
  /** Writes one JSON-RPC message (the first one starts the event stream). */
  send(message: Record<string, unknown>): void;
  end(): void;
  /** Calls `fn` once when the agent closes the stream (or it ends). */
  onClose(fn: () => void): void;
}

/** One `subscriptions/listen` request, validated by the envelope and its task handle resolved. */
export interface ListenRequest {
  id: string | number;
  params: Record<string, unknown>;
  version: string;
  clientInfo?: ClientInfo;
  /** The request's principal, with the task its handle resolved to (if it presented one). */
  principal: Principal;
  /** The token's principal, before any handle: what a handle is re-resolved against. */
  token: Principal;
  /** The task handle the request presented in `_meta.warden`, if any. */
  handle?: string;
  /** The principal's pooled session, and a way to run a request in it as this listener (subscribe, unsubscribe). */
  session: AgentSession;
  dispatch(method: string, params: Record<string, unknown>): Promise<Answer>;
}

export interface ListenersOptions {
  pipeline: Pipeline;
  governance: Governance | undefined;
  clock: Clock;
  logger: Logger;
  /** The transport the streams come by, as audit events name it. */
  ingress: Ingress;
  /** The key a task handle is bound to for a principal (the pool's). */
  handleKey(principal: Principal): string;
  /** The `_meta` every 2026 result carries besides the subscription id (server info). */
  resultMeta: Record<string, unknown>;
}

interface Listener {
  request: ListenRequest;
  principal: Principal;
  filter: ListenFilter;
  kinds: ListKind[];
  /** URIs whose subscription the pipeline allowed. */
  uris: Set<string>;
  /** What this principal last saw of each list kind it listens to. */
  seen: Map<ListKind, string>;
  sink: ListenSink;
  /** Checks run one at a time, in order. */
  checking: Promise<void>;
  ended: boolean;
  cancelTimer: (() => void) | undefined;
  done: () => void;
}

export class Listeners {
  private readonly listeners = new Set<Listener>();
  private readonly unsubscribe: (() => void) | undefined;

  constructor(private readonly options: ListenersOptions) {
    this.unsubscribe = options.governance?.onChange(() => this.permissionsChanged());
  }

  get size(): number {
    return this.listeners.size;
  }

  /**
   * Serves one listen request: an error answer when it is refused before the stream opens (bad params,
   * a revoked or expired principal, an open that could not be recorded), else undefined once the
   * stream has ended.
   */
  async open(request: ListenRequest, sink: ListenSink): Promise<Answer | undefined> {
    const parsed = parseListenFilter(request.params);
    if ('message' in parsed) return { error: { code: INVALID_PARAMS, message: parsed.message } };
    const { filter } = parsed;
    const refused = await this.invalid(request, request.principal);
    if (refused) {
      await this.record('listen.refuse', request, { reason: refused.reason });
      return { error: { code: SERVER_ERROR, message: refused.message } };
    }
    const listener: Listener = {
      request,
      principal: request.principal,
      filter,
      kinds: kindsOf(filter),
      uris: new Set(),
      seen: new Map(),
      sink,
      checking: Promise.resolve(),
      ended: false,
      cancelTimer: undefined,
      done: () => undefined,
    };
    // Each URI is subscribed through the pipeline as this principal: authorized and recorded like a
    // 2025 resources/subscribe; what it refuses (hidden or unknown alike) is left out of the filter.
    const answers = await Promise.all(
      filter.resourceSubscriptions.map((uri) => request.dispatch('resources/subscribe', { uri })),
    );
    filter.resourceSubscriptions.forEach((uri, i) => {
      if ('result' in answers[i]!) listener.uris.add(uri);
    });
    const honored = honoredFilter(filter, [...listener.uris]);
    // The baseline each later change is compared with.
    if (listener.kinds.length > 0) {
      const view = await request.session.currentView();
      for (const kind of listener.kinds) listener.seen.set(kind, this.signature(view, kind, listener.principal));
    }
    const recorded = await this.record('listen.open', request, {
      requested: filter,
      honored,
    });
    if (!recorded) {
      await this.release(listener);
      return { error: { code: SERVER_ERROR, message: 'The listen stream could not be recorded; try again later' } };
    }
    const ended = new Promise<void>((resolve) => (listener.done = resolve));
    this.listeners.add(listener);
    sink.onClose(() => this.finish(listener, { message: '', reason: 'closed by the agent' }, 'closed'));
    sink.send({
      jsonrpc: '2.0',
      method: ACKNOWLEDGED,
      params: { notifications: honored, _meta: { [SUBSCRIPTION_ID_KEY]: request.id } },
    });
    this.arm(listener);
    this.options.logger.info(
      { subject: request.principal.subject, kinds: listener.kinds, uris: listener.uris.size },
      'listen stream opened',
    );
    await ended;
    return undefined;
  }

  /** A pooled session's view was dropped (a list changed, pins, a server back): its listeners compare. */
  catalogChanged(session: AgentSession, kinds: readonly ListKind[]): void {
    for (const listener of this.listeners)
      if (listener.request.session === session && listener.kinds.some((kind) => kinds.includes(kind)))
        this.schedule(listener);
  }

  /** A subscribed resource changed: told to each listener of that session that asked and may read it. */
  resourceUpdated(session: AgentSession, serverId: string, notification: ResourceUpdatedNotification): void {
    const uri = notification.params.uri;
    for (const listener of this.listeners) {
      if (listener.ended || listener.request.session !== session || !listener.uris.has(uri)) continue;
      if (!this.options.pipeline.shows(listener.principal, 'resources/read', serverId, uri)) continue;
      this.deliver(listener, notification.method, notification.params);
    }
  }

  /** A policy reload or a revocation (here or, through the shared store, on another replica). */
  permissionsChanged(): void {
    for (const listener of this.listeners) this.schedule(listener);
  }

  /** The gateway stops: every stream gets the empty listen result (a graceful close), then ends. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    await Promise.all(
      [...this.listeners].map((listener) =>
        this.finish(listener, { message: '', reason: 'gateway stopping' }, 'graceful'),
      ),
    );
  }

  private schedule(listener: Listener): void {
    listener.checking = listener.checking
      .then(() => this.check(listener))
      .catch((error: unknown) =>
        this.options.logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          'listen stream check failed',
        ),
      );
  }

  /** Ends the stream if its principal is no longer valid, else announces each list kind whose view changed. */
  private async check(listener: Listener): Promise<void> {
    if (listener.ended) return;
    const ending = await this.invalid(listener.request, listener.principal);
    if (listener.ended) return;
    if (ending) return this.finish(listener, ending, 'error');
    if (listener.kinds.length === 0) return;
    const view = await listener.request.session.currentView();
    for (const kind of listener.kinds) {
      const now = this.signature(view, kind, listener.principal);
      if (now === listener.seen.get(kind)) continue;
      listener.seen.set(kind, now);
      this.deliver(listener, LIST_CHANGED[kind], {});
    }
  }

  /** Why this principal may no longer listen (listen-checks.ts); a handle that resolves refreshes the listener's task. */
  private async invalid(request: ListenRequest, principal: Principal): Promise<Ending | undefined> {
    const checked = await listenEnding({
      governance: this.options.governance,
      now: this.options.clock.now(),
      principal,
      token: request.token,
      ...(request.handle !== undefined && { handle: request.handle }),
      handleKey: this.options.handleKey,
    });
    if ('message' in checked) return checked;
    if (checked.task)
      for (const listener of this.listeners)
        if (listener.request === request) listener.principal = { ...principal, task: checked.task };
    return undefined;
  }

  /** Expiry needs no event: the stream is checked again when the credential or its task expires. */
  private arm(listener: Listener): void {
    const times = [listener.principal.expiresAt, listener.principal.task?.expiresAt].filter(
      (time): time is number => time !== undefined,
    );
    if (times.length === 0) return;
    listener.cancelTimer = this.options.clock.at(Math.min(...times), () => this.schedule(listener));
  }

  private signature(view: Aggregate, kind: ListKind, principal: Principal): string {
    const { pipeline } = this.options;
    return viewSignature(view, kind, (...args) => pipeline.shows(principal, ...args));
  }

  private deliver(listener: Listener, method: string, params: Record<string, unknown>): void {
    if (listener.ended) return;
    const meta = typeof params._meta === 'object' && params._meta !== null ? params._meta : {};
    listener.sink.send({
      jsonrpc: '2.0',
      method,
      params: { ...params, _meta: { ...meta, [SUBSCRIPTION_ID_KEY]: listener.request.id } },
    });
  }

  /**
   * Ends a stream once: `error` tells the agent why (a JSON-RPC error for the listen request),
   * `graceful` sends the empty listen result, `closed` (the agent went away) sends nothing.
   */
  private async finish(listener: Listener, ending: Ending, how: 'error' | 'graceful' | 'closed'): Promise<void> {
    if (listener.ended) return;
    listener.ended = true;
    listener.cancelTimer?.();
    this.listeners.delete(listener);
    const id = listener.request.id;
    if (how === 'error')
      listener.sink.send({ jsonrpc: '2.0', id, error: { code: SERVER_ERROR, message: ending.message } });
    if (how === 'graceful')
      listener.sink.send({
        jsonrpc: '2.0',
        id,
        result: { _meta: { ...this.options.resultMeta, [SUBSCRIPTION_ID_KEY]: id } },
      });
    listener.sink.end();
    this.options.logger.info(
      { subject: listener.request.principal.subject, reason: ending.reason },
      'listen stream ended',
    );
    await this.record('listen.end', listener.request, { reason: ending.reason });
    await this.release(listener);
    listener.done();
  }

  /** Unsubscribes the URIs no other listener of the session still holds (recorded like any unsubscribe). */
  private async release(listener: Listener): Promise<void> {
    const session = listener.request.session;
    const held = new Set<string>();
    for (const other of this.listeners)
      if (other.request.session === session) for (const uri of other.uris) held.add(uri);
    const free = [...listener.uris].filter((uri) => !held.has(uri));
    listener.uris.clear();
    await Promise.all(
      free.map(async (uri) => {
        await listener.request.dispatch('resources/unsubscribe', { uri });
        session.subscriptions.delete(uri);
      }),
    );
  }

  /** Records an event about a listen stream; false when it could not be written. */
  private async record(type: string, request: ListenRequest, data: Record<string, unknown>): Promise<boolean> {
    const principal = request.principal;
    const outcome = await this.options.pipeline.record({
      type,
      subject: principal.subject,
      ...(principal.task && { taskId: principal.task.id }),
      data: {
        ingress: this.options.ingress,
        protocolVersion: request.version,
        jsonrpcId: request.id,
        // Self-reported by the agent: recorded, never used for a decision.
        ...(request.clientInfo && { clientInfo: { ...request.clientInfo, verified: false } }),
        ...data,
      },
    });
    if (!outcome.ok) this.options.logger.error({ type, reason: outcome.denial.reason }, 'listen event not recorded');
    return outcome.ok;
  }
}
